//! Profiles in, series out. Uploads arrive Pyroscope's ways (`/ingest` in pprof or text
//! formats, the Push API); each is decoded into a [`Profile`] — one total per sample type
//! and per set of sample labels — and the [`Recorder`] adds the totals of matching
//! profiles to counters in the head, where rules, alerts and `/federate` see them.
//!
//! A request is decoded whole before anything is recorded, so a rejected request
//! leaves no trace.

mod dedup;
pub mod ingest;
pub mod jfr;
pub mod labels;
pub mod pprof;
pub mod profile;
pub mod proto;
pub mod push;
pub mod recorder;
pub mod synthetic;
pub mod text;
mod wire;

pub use profile::{Group, Profile, ProfileType};
pub use recorder::{Recorder, Upload};

use std::io::Read;

/// Why a request was refused. Bad requests carry a short reason for the rejection metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    BadRequest(&'static str, String),
    TooLarge(String),
    Unavailable(String),
}

impl Rejection {
    pub(crate) fn bad(reason: &'static str, msg: impl Into<String>) -> Self {
        Rejection::BadRequest(reason, msg.into())
    }

    /// The label value for `cardinal_profiles_rejected_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::BadRequest(r, _) => r,
            Rejection::TooLarge(_) => "too_large",
            Rejection::Unavailable(_) => "unavailable",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Rejection::BadRequest(_, m) | Rejection::TooLarge(m) | Rejection::Unavailable(m) => m,
        }
    }
}

/// Gunzips `body` if it is gzip (by its magic bytes), refusing output above `max_bytes`:
/// a small bomb cannot make the daemon allocate without bound.
pub fn gunzip_if_gzip(body: bytes::Bytes, max_bytes: usize) -> Result<bytes::Bytes, Rejection> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(body);
    }
    // The gzip trailer says the size (mod 2^32): one allocation of the right size.
    let stated = body.len().checked_sub(4).map(|at| u32::from_le_bytes(body[at..].try_into().expect("4 bytes")));
    let capacity = stated.map_or(body.len() * 4, |s| s as usize).min(max_bytes) + 1;
    let mut out = Vec::with_capacity(capacity);
    flate2::bufread::GzDecoder::new(&body[..])
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Rejection::bad("invalid_gzip", format!("invalid gzip stream: {e}")))?;
    if out.len() > max_bytes {
        return Err(Rejection::TooLarge(format!("decompressed profile exceeds the limit of {max_bytes} bytes")));
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests;
