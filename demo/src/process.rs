//! The daemons as child processes: ours (this same binary, `demo collector|master`) or
//! Prometheus, started with the same flags (ours are named as Prometheus names them),
//! and what the kernel says they cost.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What runs a role: this binary, or a Prometheus binary.
#[derive(Clone, Debug)]
pub enum Program {
    Cardinal,
    Prometheus(std::path::PathBuf),
}

/// A daemon child process, stopped with SIGTERM (then killed) when dropped.
pub struct Daemon {
    pub name: &'static str,
    child: Child,
}

impl Daemon {
    /// Starts `role` (collector or master) with `<dir>/<role>.yml`, data in
    /// `<dir>/<role>-data`, its log in `<dir>/<role>.log`, and `flags` besides.
    pub fn spawn(
        program: &Program,
        role: &'static str,
        dir: &Path,
        listen: &str,
        flags: &[&str],
    ) -> Result<Daemon, String> {
        let mut cmd = match program {
            Program::Cardinal => {
                let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
                c.arg(role);
                c
            }
            Program::Prometheus(bin) => Command::new(bin),
        };
        let log = std::fs::File::create(dir.join(format!("{role}.log"))).map_err(|e| e.to_string())?;
        let child = cmd
            .arg(format!("--config.file={}", dir.join(format!("{role}.yml")).display()))
            .arg(format!("--web.listen-address={listen}"))
            .arg(format!("--storage.tsdb.path={}", dir.join(format!("{role}-data")).display()))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting the {role}: {e}"))?;
        Ok(Daemon { name: role, child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for `/-/ready` to answer 200, failing early if the process exits.
    pub async fn ready(&mut self, addr: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let url = format!("http://{addr}/-/ready");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the {} exited ({status}); see its log", self.name));
            }
            if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("the {} was not ready on {addr} within {timeout:?}", self.name))
    }

    /// CPU seconds (user and system, every thread) the process has used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // Fields after the parenthesised command name start at field 3 (state); utime and
        // stime are fields 14 and 15, in USER_HZ ticks (100 a second in Linux's ABI).
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    /// The most resident memory the process has had (VmHWM), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        self.status_bytes("VmHWM:")
    }

    /// The process's resident memory now (VmRSS), in bytes.
    pub fn rss(&self) -> Option<u64> {
        self.status_bytes("VmRSS:")
    }

    fn status_bytes(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM lets the daemon sync its WAL; `kill` is the fallback.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                println!("{} stopped", self.name);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes of every file under `dir` (what the storage takes on disk, apparent size).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_child_s_cpu_and_memory_and_a_directory_s_size() {
        let busy = "i=0; while [ $i -lt 10000000 ]; do i=$((i+1)); done";
        let child = Daemon { name: "busy", child: Command::new("sh").args(["-c", busy]).spawn().expect("sh") };
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.cpu_seconds().is_some_and(|s| s < 0.2) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(child.cpu_seconds().is_some_and(|s| (0.2..20.0).contains(&s)), "{:?}", child.cpu_seconds());
        assert!(child.peak_rss().is_some_and(|b| b > 100_000 && b < 1 << 30), "{:?}", child.peak_rss());
        assert!(child.rss().is_some_and(|b| b > 100_000 && b <= child.peak_rss().unwrap()), "{:?}", child.rss());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 23]).unwrap();
        assert_eq!(dir_bytes(dir.path()), 123);
    }
}
