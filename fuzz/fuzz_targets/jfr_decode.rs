//! Java Flight Recordings, mutated from real ones (seed the corpus with
//! `shared/profiles/tests/fixtures/*.jfr`), with and without a labels snapshot: decoded or
//! refused with a reason, never a panic, a hang or an unbounded allocation; a decoded
//! profile's function filter gives one total per group and type.
#![no_main]
use cardinal_profiles::{Rejection, ingest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let (jfr, labels) = match selector % 2 {
        0 => (body, None),
        _ => {
            let at = body.len().min(usize::from(selector));
            (&body[at..], Some(body[..at].to_vec().into()))
        }
    };
    let form = ingest::Body { jfr: Some(jfr.to_vec().into()), labels, ..ingest::Body::default() };
    match ingest::decode("name=app{region=eu}&from=1&until=2&format=jfr", form, 8 << 20) {
        Ok(upload) => {
            for p in &upload.profiles {
                let f = p.function_totals("Burn.spin");
                assert_eq!(f.len(), p.groups.len());
                assert!(f.iter().all(|t| t.len() == p.types.len()));
            }
        }
        Err(Rejection::BadRequest(..) | Rejection::TooLarge(_)) => {}
        Err(e) => panic!("unexpected rejection {e:?}"),
    }
});
