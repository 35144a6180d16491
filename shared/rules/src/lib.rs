//! Rule files in Prometheus's format. [`file`] parses and checks them; [`group`] runs a
//! group's rules at one timestamp; [`manager`] schedules groups in the daemon;
//! [`alert`] is an alerting rule's state machine (its labels and annotations expanded by
//! `cardinal-template`), and [`notifier`] delivers its alerts to Alertmanager;
//! [`unittest`] is promtool's `test rules`, with its input notation in [`series_desc`].

pub mod alert;
pub mod check;
pub mod file;
pub mod group;
pub mod manager;
pub mod notifier;
pub mod series_desc;
pub mod unittest;
