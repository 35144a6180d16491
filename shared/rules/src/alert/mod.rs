//! An alerting rule's state machine, as Prometheus's `AlertingRule`: each result
//! element is an alert, pending until it has been active for `for`, then firing;
//! `keep_firing_for` holds a vanished firing alert; resolved alerts are kept (and
//! re-sent) for 15 minutes. `ALERTS` and `ALERTS_FOR_STATE` record the states, and the
//! latter restores `for` progress after a restart.

use crate::file::Rule;
use cardinal_model::{Labels, LabelsBuilder, Timestamp, labels::METRIC_NAME};
use cardinal_template::{AlertData, AlertTemplate, Env, alert_data};
use std::collections::HashMap;

/// How long a resolved alert is kept and re-sent, as Prometheus's `resolvedRetention`.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// Ordered by severity, so a rule's state is its alerts' maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert. Times are milliseconds since the epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub state: AlertState,
    pub value: f64,
    pub active_at: Timestamp,
    pub fired_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub last_sent_at: Option<Timestamp>,
    pub valid_until: Timestamp,
    pub keep_firing_since: Option<Timestamp>,
}

impl Alert {
    /// Pending alerts are never sent; a resolution is sent at once; otherwise the alert
    /// is re-sent once `resend_delay` has passed (strictly), as Prometheus does.
    fn needs_sending(&self, t: Timestamp, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        match (self.resolved_at, self.last_sent_at) {
            (Some(r), Some(s)) if r > s => true,
            (Some(_), None) => true,
            (_, Some(s)) => s + resend_delay_ms < t,
            (None, None) => true,
        }
    }
}

/// What the templates of a rule's labels and annotations can see besides the alert.
pub struct Expansion<'a> {
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    pub env: &'a dyn Env,
}

#[derive(Clone, Debug)]
pub struct AlertingRule {
    pub name: String,
    hold_ms: i64,
    keep_firing_ms: i64,
    /// Label and annotation templates, parsed once.
    labels: Vec<(String, AlertTemplate)>,
    annotations: Vec<(String, AlertTemplate)>,
    /// Active alerts by their label set, including resolved ones still retained.
    active: HashMap<Labels, Alert>,
    /// False until the `for` state has been restored after a start; until then no
    /// `ALERTS`/`ALERTS_FOR_STATE` samples are written, so the restore reads the
    /// state from before the restart.
    pub restored: bool,
}

impl AlertingRule {
    pub fn new(rule: &Rule, group_labels: &std::collections::BTreeMap<String, String>, restored: bool) -> Self {
        let ms = |d: Option<cardinal_config::Dur>| d.map_or(0, |d| d.0.as_millis() as i64);
        let parse = |(k, v): (&String, &String)| (k.clone(), AlertTemplate::new(v));
        let labels = group_labels.iter().chain(&rule.labels).map(parse).collect();
        AlertingRule {
            name: rule.alert.clone().unwrap_or_default(),
            hold_ms: ms(rule.for_),
            keep_firing_ms: ms(rule.keep_firing_for),
            labels,
            annotations: rule.annotations.iter().map(parse).collect(),
            active: HashMap::new(),
            restored,
        }
    }

    pub fn hold_ms(&self) -> i64 {
        self.hold_ms
    }

    /// Advances the state machine with the query result at `t`. Returns the `ALERTS`
    /// and `ALERTS_FOR_STATE` samples to record, or an error (duplicate label sets,
    /// `limit` exceeded) after which nothing is recorded.
    pub fn eval(
        &mut self,
        results: Vec<(Labels, f64)>,
        t: Timestamp,
        limit: u64,
        x: &Expansion,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let mut current: HashMap<Labels, Alert> = HashMap::with_capacity(results.len());
        for (labels, value) in results {
            let alert = self.new_alert(labels, value, t, x);
            if current.contains_key(&alert.labels) {
                return Err("vector contains metrics with the same labelset after applying alert labels".into());
            }
            current.insert(alert.labels.clone(), alert);
        }
        for (labels, alert) in &current {
            match self.active.get_mut(labels) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = alert.value;
                    a.annotations = alert.annotations.clone();
                }
                _ => {
                    self.active.insert(labels.clone(), alert.clone());
                }
            }
        }
        let mut out = Vec::new();
        let mut active_or_pending = 0;
        let mut gone = Vec::new();
        for (labels, a) in self.active.iter_mut() {
            if !current.contains_key(labels) {
                let keep_firing = advance_missing(a, t, self.keep_firing_ms);
                if a.state == AlertState::Pending || a.resolved_at.is_some_and(|r| t - r > RESOLVED_RETENTION_MS) {
                    gone.push(labels.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(t);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_or_pending += 1;
            if a.state == AlertState::Pending && t - a.active_at >= self.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(t);
            }
            if self.restored {
                out.push((series(labels, "ALERTS", Some(a.state)), 1.0));
                out.push((series(labels, "ALERTS_FOR_STATE", None), (a.active_at.div_euclid(1000)) as f64));
            }
        }
        for labels in gone {
            self.active.remove(&labels);
        }
        if limit > 0 && active_or_pending > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {active_or_pending} alerts"));
        }
        Ok(out)
    }

    fn new_alert(&self, labels: Labels, value: f64, t: Timestamp, x: &Expansion) -> Alert {
        // Templates see the result's labels as they are, `__name__` included.
        let data = alert_data(&AlertData {
            labels: &labels,
            external_labels: x.external_labels,
            external_url: x.external_url,
            value,
        });
        let mut b = LabelsBuilder::new(labels);
        b.del(METRIC_NAME);
        for (k, t) in &self.labels {
            b.set(k.clone(), t.expand(&self.name, &data, x.env));
        }
        b.set("alertname", self.name.clone());
        let annotations =
            Labels::from_pairs(self.annotations.iter().map(|(k, t)| (k.clone(), t.expand(&self.name, &data, x.env))));
        Alert {
            labels: b.build(),
            annotations,
            state: AlertState::Pending,
            value,
            active_at: t,
            fired_at: None,
            resolved_at: None,
            last_sent_at: None,
            valid_until: 0,
            keep_firing_since: None,
        }
    }

    /// The alerts to send at `t`, marked as sent. `valid_until` allows for two missed
    /// evaluations or sends, as Prometheus's `4 * max(resend_delay, interval)`.
    pub fn to_send(&mut self, t: Timestamp, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let mut out: Vec<Alert> = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(t, resend_delay_ms) {
                a.last_sent_at = Some(t);
                a.valid_until = t + 4 * resend_delay_ms.max(interval_ms);
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Pending and firing alerts, in label order.
    pub fn active_alerts(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self.active.values().filter(|a| a.state != AlertState::Inactive).cloned().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The rule's state: its most severe active alert's.
    pub fn state(&self) -> AlertState {
        self.active.values().map(|a| a.state).max().unwrap_or(AlertState::Inactive)
    }

    /// Restores `for` progress after a restart from each alert's last `ALERTS_FOR_STATE`
    /// sample (`last_for_state(labels)` gives its time and value, within the outage
    /// tolerance), as Prometheus's `RestoreForState`: time spent pending before the
    /// restart counts, the downtime does not, and an alert about to fire gets at
    /// least `grace_ms` more.
    pub fn restore(
        &mut self,
        t: Timestamp,
        grace_ms: i64,
        last_for_state: impl Fn(&Labels) -> Option<(Timestamp, f64)>,
    ) {
        self.restored = true;
        if self.hold_ms < grace_ms {
            return;
        }
        for a in self.active.values_mut() {
            let Some((down_at, active_s)) = last_for_state(&series(&a.labels, "ALERTS_FOR_STATE", None)) else {
                continue;
            };
            if cardinal_model::is_stale_nan(active_s) {
                continue;
            }
            let down_at = down_at.div_euclid(1000) * 1000;
            let restored_active_at = active_s as i64 * 1000;
            let remaining = self.hold_ms - (down_at - restored_active_at);
            a.active_at = if remaining <= 0 {
                // It was firing already; the next evaluation fires it again.
                restored_active_at
            } else if remaining < grace_ms {
                t + grace_ms - self.hold_ms
            } else {
                restored_active_at + (t - down_at)
            };
        }
    }
}

/// A vanished alert: whether `keep_firing_for` holds it firing at `t`.
fn advance_missing(a: &mut Alert, t: Timestamp, keep_firing_ms: i64) -> bool {
    if a.state != AlertState::Firing || keep_firing_ms <= 0 {
        return false;
    }
    let since = *a.keep_firing_since.get_or_insert(t);
    t - since < keep_firing_ms
}

/// `ALERTS{alertstate}` or `ALERTS_FOR_STATE` for an alert's labels.
fn series(labels: &Labels, name: &str, state: Option<AlertState>) -> Labels {
    let mut b = LabelsBuilder::new(labels.clone());
    b.set(METRIC_NAME, name);
    if let Some(s) = state {
        b.set("alertstate", s.as_str());
    }
    b.build()
}

#[cfg(test)]
mod tests;
