//! Arbitrary bytes as a rollup state file must be refused or read without panicking (a
//! damaged file at start), also behind a valid header and checksum.
#![no_main]
use cardinal_rollup::checkpoint::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
    let mut framed = b"CRLS\x01\0\0\0".to_vec();
    framed.extend_from_slice(data);
    let crc = crc32fast::hash(&framed);
    framed.extend_from_slice(&crc.to_le_bytes());
    let _ = decode(&framed);
});
