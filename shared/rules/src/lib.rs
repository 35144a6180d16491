//! Rule files in Prometheus's format. [`file`] parses and checks them; [`group`] runs a
//! group's rules at one timestamp; [`manager`] schedules groups in the daemon;
//! [`unittest`] is promtool's `test rules`, with its input notation in [`series_desc`].

pub mod check;
pub mod file;
pub mod group;
pub mod manager;
pub mod series_desc;
pub mod unittest;
