//! Arbitrary bytes as an uploaded profile, in every format Pyroscope's `/ingest` and Push
//! API take (JFR too; `jfr_decode` mutates real recordings), must be decoded or refused with a reason, never panic; a decoded profile's
//! function filter must give one total per group and type.
#![no_main]
use cardinal_profiles::{Rejection, ingest, push};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let limit = 1 << 20;
    let raw = || ingest::Body { profile: Some(body.to_vec().into()), ..ingest::Body::default() };
    let result = match selector % 6 {
        0 => ingest::decode("name=f.cpu{a=b}&from=1&until=2&format=pprof", raw(), limit),
        1 => ingest::decode("name=f&from=1&until=2&format=folded", raw(), limit),
        2 => ingest::decode("name=f&from=1&until=2&format=lines&units=bytes", raw(), limit),
        5 => ingest::decode("name=f{a.b=c}&from=1&until=2&format=jfr&sampleRate=100", raw(), limit),
        3 => {
            let _ = push::decode("application/proto", body.to_vec().into(), limit, 0);
            return;
        }
        _ => {
            let q = String::from_utf8_lossy(body);
            let _ = ingest::Params::parse(&q);
            return;
        }
    };
    match result {
        Ok(upload) => {
            for p in &upload.profiles {
                let f = p.function_totals("main");
                assert_eq!(f.len(), p.groups.len());
                assert!(f.iter().zip(&p.groups).all(|(t, g)| t.len() == g.totals.len() && t.len() == p.types.len()));
            }
        }
        Err(Rejection::BadRequest(..) | Rejection::TooLarge(_)) => {}
        Err(e) => panic!("unexpected rejection {e:?}"),
    }
});
