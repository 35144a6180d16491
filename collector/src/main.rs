//! The collector: the shared daemon in its short-retention role (see `cardinal_daemon`).

fn main() -> std::process::ExitCode {
    cardinal_daemon::main(cardinal_daemon::Role::COLLECTOR)
}
