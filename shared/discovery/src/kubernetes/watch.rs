//! Following one kind of object at one path: listed a page of 500 at a time, then
//! watched from the list's resourceVersion (with bookmarks); a `410 Gone` re-lists, any
//! other failure resumes the watch with backoff, and what was known stays meanwhile, so
//! an API server outage never empties a job.

use super::Object;
use super::api::{Api, Failure, MAX_READ};
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Retry delays after a failed list or watch: 1 s doubling to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The server ends a watch after this; it is resumed from the last resourceVersion.
const WATCH_SECONDS: u64 = 300;

/// A watch that sends nothing (not even a bookmark, which servers send every minute)
/// for this long is presumed dead and resumed.
const SILENCE: Duration = Duration::from_secs(WATCH_SECONDS + 30);

/// What the watchers of one kind keep of each object (its target group, or the object
/// itself for a role that joins kinds), one map per watched namespace, keyed by
/// `namespace/name`. Every change wakes the role's sender through `changed`.
pub struct Known<V> {
    maps: Mutex<Vec<BTreeMap<String, V>>>,
    changed: Arc<Notify>,
}

impl<V: Clone> Known<V> {
    pub fn new(slots: usize, changed: Arc<Notify>) -> Arc<Known<V>> {
        Arc::new(Known { maps: Mutex::new(vec![BTreeMap::new(); slots]), changed })
    }

    fn set(&self, slot: usize, key: String, value: Option<V>) {
        let mut maps = self.maps.lock();
        match value {
            Some(v) => maps[slot].insert(key, v),
            None => maps[slot].remove(&key),
        };
        self.changed.notify_one();
    }

    fn replace(&self, slot: usize, map: BTreeMap<String, V>) {
        self.maps.lock()[slot] = map;
        self.changed.notify_one();
    }

    /// Everything known, in every namespace.
    pub fn values(&self) -> Vec<V> {
        self.maps.lock().iter().flat_map(|m| m.values().cloned()).collect()
    }

    /// Everything known, by `namespace/name`.
    pub fn by_key(&self) -> BTreeMap<String, V> {
        self.maps.lock().iter().flat_map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone()))).collect()
    }
}

/// How a role keeps an object: `None` forgets it (a pod without an IP has no targets).
pub type Keep<T, V> = fn(T) -> Option<V>;

/// Lists `path`, then follows it, for as long as the discovery runs.
pub async fn follow<T: Object, V: Clone>(
    api: Api,
    path: String,
    query: Vec<(&'static str, String)>,
    slot: usize,
    known: Arc<Known<V>>,
    keep: Keep<T, V>,
) {
    let mut backoff = Backoff::default();
    loop {
        let mut version = match list(&api, &path, &query, keep).await {
            Ok((map, version)) => {
                known.replace(slot, map);
                version
            }
            Err(e) => {
                tracing::error!(path, error = ?e, "Kubernetes SD: list failed; keeping the last known targets");
                backoff.wait().await;
                continue;
            }
        };
        loop {
            match watch(&api, &path, &query, &mut version, |kind, object| apply(kind, object, slot, &known, keep)).await
            {
                Ok(()) => backoff = Backoff::default(),
                Err(Failure::Gone) => break,
                Err(Failure::Other(e)) => {
                    tracing::warn!(path, error = e, "Kubernetes SD: watch failed; resuming");
                    backoff.wait().await;
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct List<T> {
    metadata: ListMeta,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
    #[serde(rename = "continue")]
    next: String,
}

/// What the role keeps of every object at `path`, read a page of 500 at a time (the
/// objects of one page in memory at once), and the list's resourceVersion.
async fn list<T: Object, V>(
    api: &Api,
    path: &str,
    query: &[(&str, String)],
    keep: Keep<T, V>,
) -> Result<(BTreeMap<String, V>, String), Failure> {
    let mut map = BTreeMap::new();
    let mut next = String::new();
    loop {
        let mut q = query.to_vec();
        q.push(("limit", "500".into()));
        if !next.is_empty() {
            q.push(("continue", next.clone()));
        }
        let body = cardinal_client::read_bounded(api.get(path, &q).await?, MAX_READ).await.map_err(Failure::Other)?;
        let page: List<T> = serde_json::from_slice(&body).map_err(|e| Failure::Other(format!("{path}: {e}")))?;
        for object in page.items {
            let key = object.meta().key();
            map.extend(keep(object).map(|v| (key, v)));
        }
        if page.metadata.next.is_empty() {
            return Ok((map, page.metadata.resource_version));
        }
        next = page.metadata.next;
    }
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

/// Follows the changes at `path` after `version`, handing each event to `apply`, until
/// the server ends the watch.
async fn watch(
    api: &Api,
    path: &str,
    query: &[(&str, String)],
    version: &mut String,
    mut apply: impl FnMut(&str, serde_json::Value) -> Result<String, Failure>,
) -> Result<(), Failure> {
    let mut q = query.to_vec();
    q.extend([
        ("watch", "1".to_string()),
        ("resourceVersion", version.clone()),
        ("allowWatchBookmarks", "true".into()),
        ("timeoutSeconds", WATCH_SECONDS.to_string()),
    ]);
    let mut resp = api.get(path, &q).await?;
    let mut line = Vec::new();
    loop {
        let chunk =
            tokio::time::timeout(SILENCE, resp.chunk()).await.map_err(|_| Failure::Other("silent watch".into()))?;
        let Some(chunk) = chunk.map_err(|e| Failure::Other(cardinal_client::error_chain(&e)))? else { return Ok(()) };
        for part in chunk.split_inclusive(|&b| b == b'\n') {
            line.extend_from_slice(part);
            if line.len() > MAX_READ {
                return Err(Failure::Other(format!("a watch event larger than {} MiB", MAX_READ >> 20)));
            }
            if line.ends_with(b"\n") {
                let event: Event = serde_json::from_slice(&std::mem::take(&mut line))
                    .map_err(|e| Failure::Other(format!("watch event: {e}")))?;
                if event.kind == "ERROR" {
                    // A Status object; 410 means our resourceVersion is too old.
                    return match event.object["code"].as_u64() {
                        Some(410) => Err(Failure::Gone),
                        _ => Err(Failure::Other(format!("watch error: {}", event.object["message"]))),
                    };
                }
                *version = apply(&event.kind, event.object)?;
            }
        }
    }
}

/// One watch event into what is known; the object's resourceVersion.
fn apply<T: Object, V: Clone>(
    kind: &str,
    object: serde_json::Value,
    slot: usize,
    known: &Known<V>,
    keep: Keep<T, V>,
) -> Result<String, Failure> {
    let object: T = serde_json::from_value(object).map_err(|e| Failure::Other(format!("watch event: {e}")))?;
    let (key, version) = (object.meta().key(), object.meta().resource_version.clone());
    match kind {
        "ADDED" | "MODIFIED" => known.set(slot, key, keep(object)),
        "DELETED" => known.set(slot, key, None),
        _ => {} // BOOKMARK: only the resourceVersion moves on.
    }
    Ok(version)
}

/// 1 s, doubling to [`MAX_BACKOFF`].
#[derive(Default)]
struct Backoff(Option<Duration>);

impl Backoff {
    async fn wait(&mut self) {
        let d = self.0.map_or(Duration::from_secs(1), |d| (d * 2).min(MAX_BACKOFF));
        self.0 = Some(d);
        tokio::time::sleep(d).await;
    }
}
