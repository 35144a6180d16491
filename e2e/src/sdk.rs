//! Profiling SDKs as their users install them, from the package registries: npm's
//! `@pyroscope/nodejs`, PyPI's `pyroscope-io` and crates.io's `pyroscope` (with its
//! `pyroscope_pprofrs` backend), installed (or, for Rust, built into the app) once into a
//! cache directory under the test's target directory, and the small apps (`e2e/sdk/`)
//! that run under them.
//! Without the runtime or the registry a test skips, saying why; under `CI=true` it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The versions the tests pin: what `docs/profiles.md` says was tested.
pub const NODE_SDK: &str = "@pyroscope/nodejs@0.6.4";
pub const PYTHON_SDK: &str = "pyroscope-io==1.4.0";
/// Pinned in `e2e/sdk/rust/Cargo.toml` (and its lock file).
pub const RUST_SDK: &str = "pyroscope=0.5.8 + pyroscope_pprofrs=0.2.10";

/// The directory holding the small SDK apps.
pub fn apps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk")
}

/// Where the SDK's packages are, installing them on first use; `None` (said why) when the
/// runtime is missing or the install fails.
pub fn install(cache: &Path, sdk: Sdk) -> Option<PathBuf> {
    let dir = cache.join(format!("sdk-{}", sdk.package().replace(['@', '/', '=', ' ', '+'], "_")));
    let command = match sdk {
        Sdk::Node => {
            crate::prometheus::find_tool("node")?;
            let mut npm = Command::new(crate::prometheus::find_tool("npm")?);
            npm.args(["install", "--no-audit", "--no-fund", "--prefix"]).arg(&dir).arg(sdk.package());
            npm
        }
        Sdk::Python => pip(&dir, sdk.package())?,
        // The cargo running the tests, building as a user ships: in release. (A debug
        // build's pprof-rs takes so long in its SIGPROF handler that ticks arriving during
        // it are lost: 25% of the samples.)
        Sdk::Rust => {
            crate::prometheus::find_tool("cc")?;
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args(["build", "--release", "--locked", "--quiet", "--manifest-path"]);
            cargo.arg(apps().join("rust/Cargo.toml")).arg("--target-dir").arg(&dir);
            cargo
        }
    };
    installed(&dir, sdk.package(), command).then(|| sdk.path(&dir))
}

/// A PyPI package (`name==version`) installed once into the cache: what goes on
/// `PYTHONPATH`, or `None` (said why) without Python or the registry.
pub fn python_package(cache: &Path, spec: &str) -> Option<PathBuf> {
    let dir = cache.join(format!("pypi-{}", spec.replace(['=', '<', '>'], "_")));
    installed(&dir, spec, pip(&dir, spec)?).then(|| dir.join("site"))
}

/// pip installing `spec` into `dir/site`.
fn pip(dir: &Path, spec: &str) -> Option<Command> {
    let mut pip = Command::new(crate::prometheus::find_tool("python3")?);
    pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"]);
    pip.arg(dir.join("site")).arg(spec);
    Some(pip)
}

/// Runs `install` into `dir` unless an earlier run finished it; `false` (the skip
/// recorded) when it fails.
fn installed(dir: &Path, what: &str, mut install: Command) -> bool {
    let done = dir.join(".installed");
    if done.exists() {
        return true;
    }
    std::fs::create_dir_all(dir).expect("package cache directory");
    match install.output() {
        Ok(o) if o.status.success() => {
            std::fs::write(&done, what).expect("mark the package installed");
            true
        }
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            crate::skip(&format!("installing {what} failed ({why})"));
            false
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Sdk {
    Node,
    Python,
    Rust,
}

impl Sdk {
    fn package(self) -> &'static str {
        match self {
            Sdk::Node => NODE_SDK,
            Sdk::Python => PYTHON_SDK,
            Sdk::Rust => RUST_SDK,
        }
    }

    /// What goes on `NODE_PATH` or `PYTHONPATH`; for Rust, the app built with the SDK.
    fn path(self, dir: &Path) -> PathBuf {
        match self {
            Sdk::Node => dir.join("node_modules"),
            Sdk::Python => dir.join("site"),
            Sdk::Rust => dir.join("release/rust-burner"),
        }
    }

    /// Runs `app` (in `e2e/sdk/`) under the SDK at `path` with `args` (for Rust, the
    /// app `path` is); returns what it printed last on stdout, which the apps make a JSON
    /// report.
    pub fn run(self, path: &Path, app: &str, args: &[&str]) -> serde_json::Value {
        let mut cmd = match self {
            Sdk::Node => Command::new("node"),
            Sdk::Python => Command::new("python3"),
            Sdk::Rust => Command::new(path),
        };
        match self {
            Sdk::Node => cmd.arg(apps().join(app)).env("NODE_PATH", path),
            Sdk::Python => cmd.arg(apps().join(app)).env("PYTHONPATH", path),
            Sdk::Rust => &mut cmd,
        };
        let out = cmd.args(args).output().expect("run the SDK app");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{app} failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{app} printed {last:?}: {e}"))
    }
}
