//! A scrape target whose response the test controls.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use parking_lot::Mutex;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Builds a body at request time.
pub type BodyFn = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
struct Spec {
    body: Vec<u8>,
    /// When set, the body is made by this at each request (time-varying exporters).
    generator: Option<BodyFn>,
    status: u16,
    content_type: String,
    delay: Duration,
    gzip: bool,
}

#[derive(Default)]
struct Shared {
    spec: Option<Spec>,
    requests: Vec<HeaderMap>,
}

/// An HTTP exporter on 127.0.0.1 serving whatever body the test sets, on any path.
#[derive(Clone)]
pub struct TestTarget {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl TestTarget {
    pub async fn start(body: &str) -> TestTarget {
        let shared = Arc::new(Mutex::new(Shared {
            spec: Some(Spec {
                body: body.as_bytes().to_vec(),
                generator: None,
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8".into(),
                delay: Duration::ZERO,
                gzip: false,
            }),
            requests: Vec::new(),
        }));
        let app = axum::Router::new().fallback(serve).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        TestTarget { addr, shared }
    }

    fn edit(&self, f: impl FnOnce(&mut Spec)) {
        f(self.shared.lock().spec.as_mut().expect("spec set at start"));
    }

    pub fn set_body(&self, body: &str) {
        self.set_body_bytes(body.as_bytes());
    }

    /// Serves what `f` returns at each request.
    pub fn set_generator(&self, f: BodyFn) {
        self.edit(|s| s.generator = Some(f));
    }

    /// Any bytes, valid UTF-8 or not.
    pub fn set_body_bytes(&self, body: &[u8]) {
        self.edit(|s| s.body = body.to_vec());
    }

    pub fn set_status(&self, status: u16) {
        self.edit(|s| s.status = status);
    }

    pub fn set_content_type(&self, ct: &str) {
        self.edit(|s| s.content_type = ct.to_string());
    }

    pub fn set_delay(&self, d: Duration) {
        self.edit(|s| s.delay = d);
    }

    pub fn set_gzip(&self, on: bool) {
        self.edit(|s| s.gzip = on);
    }

    /// Headers of every request received so far.
    pub fn requests(&self) -> Vec<HeaderMap> {
        self.shared.lock().requests.clone()
    }
}

async fn serve(State(shared): State<Arc<Mutex<Shared>>>, headers: HeaderMap) -> Response {
    let spec = {
        let mut s = shared.lock();
        s.requests.push(headers);
        s.spec.clone().expect("spec set at start")
    };
    tokio::time::sleep(spec.delay).await;
    let body = spec.generator.as_ref().map_or(spec.body, |g| g().into_bytes());
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(spec.status).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, spec.content_type);
    let body = if spec.gzip {
        resp = resp.header(header::CONTENT_ENCODING, "gzip");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&body).expect("gzip into memory");
        enc.finish().expect("gzip into memory")
    } else {
        body
    };
    resp.body(Body::from(body)).expect("valid response")
}
