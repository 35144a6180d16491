//! Any bytes through both text formats: the parser must return errors, never panic, and
//! whatever it accepts must decode into labels or a clean error.
#![no_main]
use cardinal_exposition::{Entry, Format, Parser, parse_labels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut labels = Vec::new();
    for format in [Format::PromText, Format::OpenMetrics] {
        let mut p = Parser::new(data, format);
        while let Ok(Some(e)) = p.next() {
            if let Entry::Sample(s) = e {
                let _ = parse_labels(s.name, s.labels, &mut labels);
            }
        }
    }
});
