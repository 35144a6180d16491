//! What the collector and the master are made of: the same daemon in two roles. The
//! collector keeps hours in its head and drops what ages out; the master keeps months,
//! compacting its head into on-disk blocks. Everything else — flags, config, scraping,
//! rules, the HTTP API, reloads, the WAL — is one code path.
//!
//! A sample's path: `cardinal_scrape` (discovery → target → scrape loop) or
//! `cardinal_api::write` (remote write) appends into `cardinal_tsdb::Head`, which logs it
//! to the WAL; `cardinal_api::federate` serves the head on `/federate`; on the master,
//! `cardinal_tsdb::Db` compacts the head into blocks on disk.

mod cli;
mod run;
mod sharding;

pub use cli::Role;
use std::process::ExitCode;

/// Parses the command line for `role` and runs the daemon or the subcommand asked for.
pub fn main(role: Role) -> ExitCode {
    main_with_args(role, std::env::args_os())
}

/// Like [`main`], with the arguments given (the first is the program name).
pub fn main_with_args(role: Role, args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = match cli::parse(&role, args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(code) = cli::run_subcommand(&cli) {
        return code;
    }
    run::main(role, cli)
}
