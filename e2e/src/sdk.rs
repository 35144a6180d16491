//! Profiling SDKs as their users install them, from the package registries: npm's
//! `@pyroscope/nodejs` and PyPI's `pyroscope-io`, installed once into a cache directory
//! under the test's target directory, and the small apps (`e2e/sdk/`) that run under them.
//! Without the runtime or the registry a test skips, saying why; under `CI=true` it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The versions the tests pin: what `docs/profiles.md` says was tested.
pub const NODE_SDK: &str = "@pyroscope/nodejs@0.6.4";
pub const PYTHON_SDK: &str = "pyroscope-io==1.4.0";

/// The directory holding the small SDK apps.
pub fn apps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk")
}

/// Where the SDK's packages are, installing them on first use; `None` (said why) when the
/// runtime is missing or the install fails.
pub fn install(cache: &Path, sdk: Sdk) -> Option<PathBuf> {
    let (tool, installer) = match sdk {
        Sdk::Node => ("node", "npm"),
        Sdk::Python => ("python3", "pip"),
    };
    crate::prometheus::find_tool(tool)?;
    let dir = cache.join(format!("sdk-{}", sdk.package().replace(['@', '/', '='], "_")));
    let done = dir.join(".installed");
    if done.exists() {
        return Some(sdk.path(&dir));
    }
    std::fs::create_dir_all(&dir).expect("SDK cache directory");
    let out = match sdk {
        Sdk::Node => Command::new(crate::prometheus::find_tool(installer)?)
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(sdk.package())
            .output(),
        Sdk::Python => Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(dir.join("site"))
            .arg(sdk.package())
            .output(),
    };
    match out {
        Ok(o) if o.status.success() => {
            std::fs::write(&done, sdk.package()).expect("mark the SDK installed");
            Some(sdk.path(&dir))
        }
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            crate::skip(&format!("installing {} failed ({why})", sdk.package()));
            None
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Sdk {
    Node,
    Python,
}

impl Sdk {
    fn package(self) -> &'static str {
        match self {
            Sdk::Node => NODE_SDK,
            Sdk::Python => PYTHON_SDK,
        }
    }

    /// What goes on `NODE_PATH` or `PYTHONPATH`.
    fn path(self, dir: &Path) -> PathBuf {
        match self {
            Sdk::Node => dir.join("node_modules"),
            Sdk::Python => dir.join("site"),
        }
    }

    /// Runs `app` (in `e2e/sdk/`) under the SDK at `path` with `args`; returns what it
    /// printed last on stdout, which the apps make a JSON report.
    pub fn run(self, path: &Path, app: &str, args: &[&str]) -> serde_json::Value {
        let (bin, var) = match self {
            Sdk::Node => ("node", "NODE_PATH"),
            Sdk::Python => ("python3", "PYTHONPATH"),
        };
        let out = Command::new(bin).arg(apps().join(app)).args(args).env(var, path).output().expect("run the SDK app");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{app} failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{app} printed {last:?}: {e}"))
    }
}
