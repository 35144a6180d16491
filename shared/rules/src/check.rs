//! promtool's `check rules`: errors (exit 1) and the duplicate-rule lint (exit 3).

use crate::file::{self, RuleFile};
use std::collections::BTreeMap;

/// Checks each file, printing promtool-style lines; returns the exit code.
pub fn run(paths: &[String]) -> u8 {
    let mut code = 0;
    for p in paths {
        println!("Checking {p}");
        match file::load(p) {
            Ok(f) => {
                let n: usize = f.groups.iter().map(|g| g.rules.len()).sum();
                let dups = duplicates(&f);
                if dups.is_empty() {
                    println!("  SUCCESS: {n} rules found\n");
                } else {
                    println!("  SUCCESS: {n} rules found");
                    println!("  WARNING: {} duplicate rule(s) found.", dups.len());
                    for d in dups {
                        println!("Metric: {d}");
                    }
                    println!();
                    code = code.max(3);
                }
            }
            Err(errors) => {
                eprintln!("  FAILED:");
                for e in errors {
                    eprintln!("{e}");
                }
                eprintln!();
                code = 1;
            }
        }
    }
    code
}

/// Rules with the same name and labels in one file: their outputs would collide.
pub fn duplicates(f: &RuleFile) -> Vec<String> {
    let mut seen: BTreeMap<(String, Vec<(String, String)>), usize> = BTreeMap::new();
    for g in &f.groups {
        for r in &g.rules {
            let labels: Vec<(String, String)> = r.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            *seen.entry((r.name().to_string(), labels)).or_default() += 1;
        }
    }
    seen.into_iter().filter(|(_, n)| *n > 1).map(|((name, _), _)| name).collect()
}
