//! Prometheus remote_write 1.0. [`proto`] holds the wire messages (hand-written prost
//! structs), [`receive`] turns a request body into validated series for an all-or-nothing
//! append, and [`send`] forwards what the WAL holds to another system.

pub mod proto;
pub mod receive;
pub mod send;
pub mod wal_reader;
