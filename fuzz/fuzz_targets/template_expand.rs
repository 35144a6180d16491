//! Any text as an alert annotation template: expanded or an error text, never a panic
//! (and never unbounded recursion).
#![no_main]
use cardinal_model::Labels;
use cardinal_template::{AlertData, Env, Value, expand_alert};
use libfuzzer_sys::fuzz_target;

struct Fixed;

impl Env for Fixed {
    fn query(&self, _: &str) -> Result<Vec<Value>, String> {
        Ok(vec![Value::sample(&Labels::from_pairs([("instance", "a:1")]), 1.5)])
    }
    fn external_url(&self) -> &str {
        "http://fuzz:9090"
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let labels = Labels::from_pairs([("instance", "a:1"), ("job", "j")]);
        let data = AlertData { labels: &labels, external_labels: &labels, external_url: "http://fuzz", value: 2.5 };
        let _ = expand_alert("Fuzz", text, &data, &Fixed);
    }
});
