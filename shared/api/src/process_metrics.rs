//! The process collector's series every Prometheus exporter serves (client_golang's
//! names and help), read from `/proc/self` as its procfs does: CPU at procfs's fixed 100
//! ticks a second, resident memory, virtual memory, file descriptors, start time.
//! Operators' dashboards and the mixin read them; elsewhere than Linux they are left out.

use cardinal_exposition::text;

/// Appends the process series to `out`; `started` is the process's start time.
pub fn write(out: &mut String, started: std::time::SystemTime) {
    let start = started.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let mut family = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(v) = value {
            text::write_help(out, name, help);
            text::write_type(out, name, kind);
            text::write_sample(out, name, std::iter::empty(), v, None);
        }
    };
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let stat = stat.as_deref().and_then(Stat::parse);
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let limits = std::fs::read_to_string("/proc/self/limits").ok();
    let fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64);
    family(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        stat.map(|s| s.cpu_seconds),
    );
    family("process_open_fds", "gauge", "Number of open file descriptors.", fds);
    family("process_max_fds", "gauge", "Maximum number of open file descriptors.", limits.as_deref().and_then(max_fds));
    family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", stat.map(|s| s.virtual_bytes));
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        status.as_deref().and_then(rss_bytes),
    );
    family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        Some(start),
    );
}

/// What `/proc/self/stat` says of CPU and virtual memory.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    virtual_bytes: f64,
}

/// procfs's `userHZ`: the kernel reports CPU time in ticks of 1/100 s to user space.
const TICKS_PER_SECOND: f64 = 100.0;

impl Stat {
    /// The fields after the command name (which may hold spaces and parentheses):
    /// utime and stime are the 14th and 15th of the line, vsize the 23rd.
    fn parse(line: &str) -> Option<Stat> {
        let rest = &line[line.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        Some(Stat { cpu_seconds: (field(14)? + field(15)?) / TICKS_PER_SECOND, virtual_bytes: field(23)? })
    }
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn rss_bytes(status: &str) -> Option<f64> {
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim();
    Some(kb.parse::<f64>().ok()? * 1024.0)
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_as_procfs_reads_them() {
        let stat =
            "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 9 0 100 123456789 5000 ...";
        assert_eq!(Stat::parse(stat), Some(Stat { cpu_seconds: 4.0, virtual_bytes: 123456789.0 }));
        assert_eq!(Stat::parse("garbage"), None);
        assert_eq!(rss_bytes("Name:\tcollector\nVmRSS:\t   51200 kB\nThreads: 9\n"), Some(52_428_800.0));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1048576              1048576              files     \n";
        assert_eq!(max_fds(limits), Some(1_048_576.0));
    }

    #[test]
    fn this_process_is_described() {
        let mut out = String::new();
        write(&mut out, std::time::SystemTime::now());
        for name in
            ["process_cpu_seconds_total ", "process_open_fds ", "process_max_fds ", "process_resident_memory_bytes "]
        {
            assert!(out.contains(&format!("\n{name}")), "{name} in {out}");
        }
    }
}
