//! Any text as a configuration file: an error or a config, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cardinal_config::Config::parse(text, "fuzz.yml");
    }
});
