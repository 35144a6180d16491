//! The master: the shared daemon in its long-retention role, compacting into blocks
//! (see `cardinal_daemon`).

fn main() -> std::process::ExitCode {
    cardinal_daemon::main(cardinal_daemon::Role::MASTER)
}
