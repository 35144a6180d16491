//! Any bytes as the query string and form body of a query API request: the parameters the
//! API reads (`match[]`, `start`, `end`, `time`, `step`, `timeout`) must parse or be
//! refused with a message, never panic or overflow.
#![no_main]
use cardinal_api::query::{Params, match_params, parse_duration_param, parse_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As in promql_query: a panic inside promql-parser (`match[]` is parsed by it) is an
    // error to the daemons, caught where they call it; libfuzzer-sys's hook would abort
    // before the catch. A panic that escapes still aborts when the input returns.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let (query, body) = data.split_at(data.len() / 2);
    let p = Params::new(std::str::from_utf8(query).ok(), body);
    let _ = match_params(&p.all("match[]"));
    for name in ["start", "end", "time"] {
        let _ = parse_time(p.get(name).unwrap_or(""));
    }
    for name in ["step", "timeout"] {
        let _ = parse_duration_param(p.get(name).unwrap_or(""));
    }
});
