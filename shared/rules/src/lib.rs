//! Rule files in Prometheus's format. [`file`] parses and checks them; [`eval`] runs a
//! group's rules at one timestamp; [`unittest`] is promtool's `test rules`, with its
//! input notation in [`series_desc`].

pub mod check;
pub mod eval;
pub mod file;
pub mod series_desc;
pub mod unittest;
