//! A real headless Chromium (Debian's `chromium`) to load the status pages: the DOM after
//! the page's scripts ran, and a screenshot. Tests skip, saying why, without it.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    pub fn find() -> Option<Browser> {
        // The caller records the skip, naming what it could not check.
        let bin = ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(crate::prometheus::which)?;
        Some(Browser { bin, profile: tempfile::tempdir().expect("temp dir") })
    }

    /// Runs headless Chromium on `url` with `args`, giving the page's scripts and fetches
    /// up to 10 s of virtual time to settle first.
    fn run(&self, url: &str, args: &[String]) -> std::process::Output {
        // Root in a container has no sandbox to drop into.
        let out = Command::new(&self.bin)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(args)
            .arg(url)
            .output()
            .expect("run chromium");
        assert!(out.status.success(), "chromium on {url}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// The page's DOM once it has loaded and its scripts have run.
    pub fn dom(&self, url: &str) -> String {
        String::from_utf8(self.run(url, &["--dump-dom".into()]).stdout).expect("UTF-8 DOM")
    }

    /// A 1280-wide PNG of the page at `path`.
    pub fn screenshot(&self, url: &str, path: &Path) {
        let args = ["--window-size=1280,1600".into(), format!("--screenshot={}", path.display())];
        self.run(url, &args);
        let png = std::fs::read(path).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot at {}", path.display());
    }
}

/// The text of the element with `id`, for markup whose figures are leaf elements.
pub fn text_by_id(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = at + dom[at..].find('>')? + 1;
    let end = start + dom[start..].find('<')?;
    Some(dom[start..end].trim().to_string())
}

/// A count as the pages print it ("33,700") as a number.
pub fn parse_count(text: &str) -> u64 {
    text.replace(',', "").parse().unwrap_or_else(|_| panic!("not a count: {text:?}"))
}
