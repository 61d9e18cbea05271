//! Each run's figures as a JSON file, and `compare` of two such files.
//!
//! A report is flat: `figures` maps a name (`e2e_per_s`,
//! `steady.accept.p99_ms`, ...) to a number, so that two runs compare name
//! by name whatever their commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args as ClapArgs;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Sorts `samples` and gives their median, 99th percentile and maximum.
pub fn summary(samples: &mut [Duration]) -> Latency {
    samples.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Latency {
        n: samples.len(),
        p50_ms: ms(percentile(samples, 0.50)),
        p99_ms: ms(percentile(samples, 0.99)),
        max_ms: ms(samples.last().copied().unwrap_or_default()),
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub bench: String,
    pub backend: String,
    /// Unix time of the run, seconds.
    pub at: i64,
    pub version: String,
    pub params: BTreeMap<String, f64>,
    pub figures: BTreeMap<String, f64>,
}

impl Report {
    pub fn new(bench: &str, backend: &str) -> Report {
        Report {
            bench: bench.to_string(),
            backend: backend.to_string(),
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            version: env!("CARGO_PKG_VERSION").to_string(),
            params: BTreeMap::new(),
            figures: BTreeMap::new(),
        }
    }

    pub fn param(&mut self, name: &str, value: f64) {
        self.params.insert(name.to_string(), value);
    }

    pub fn figure(&mut self, name: &str, value: f64) {
        if value.is_finite() {
            self.figures.insert(name.to_string(), value);
        }
    }

    pub fn latency(&mut self, name: &str, l: &Latency) {
        self.figure(&format!("{name}.p50_ms"), l.p50_ms);
        self.figure(&format!("{name}.p99_ms"), l.p99_ms);
        self.figure(&format!("{name}.max_ms"), l.max_ms);
    }

    /// Writes the report to `path`, or to `bench-results/<bench>-<backend>-<time>.json`.
    pub fn write(&self, path: Option<&Path>) -> anyhow::Result<PathBuf> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let dir = PathBuf::from("bench-results");
                std::fs::create_dir_all(&dir)?;
                dir.join(format!(
                    "{}-{}-{}.json",
                    self.bench,
                    self.backend.to_lowercase(),
                    self.at
                ))
            }
        };
        std::fs::write(&path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("figures written to {}", path.display());
        Ok(path)
    }

    fn read(path: &Path) -> anyhow::Result<Report> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a report", path.display()))
    }
}

#[derive(ClapArgs, Debug)]
pub struct CompareArgs {
    /// The baseline run.
    pub a: PathBuf,
    /// The run compared with it.
    pub b: PathBuf,
}

/// Prints every figure of both runs side by side with the ratio B / A.
pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let a = Report::read(&args.a)?;
    let b = Report::read(&args.b)?;
    println!(
        "A: {} ({} {}, at {})",
        args.a.display(),
        a.bench,
        a.backend,
        a.at
    );
    println!(
        "B: {} ({} {}, at {})",
        args.b.display(),
        b.bench,
        b.backend,
        b.at
    );
    for (name, (pa, pb)) in joined(&a.params, &b.params) {
        if pa != pb {
            println!("  parameter {name} differs: A {} B {}", show(pa), show(pb));
        }
    }
    let rows = joined(&a.figures, &b.figures);
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(6).max(6);
    println!(
        "{:width$}  {:>12}  {:>12}  {:>8}",
        "figure", "A", "B", "B/A"
    );
    for (name, (fa, fb)) in rows {
        let ratio = match (fa, fb) {
            (Some(x), Some(y)) if x != 0.0 => format!("{:.3}", y / x),
            _ => "-".to_string(),
        };
        println!(
            "{name:width$}  {:>12}  {:>12}  {ratio:>8}",
            show(fa),
            show(fb)
        );
    }
    Ok(())
}

type Pair = (Option<f64>, Option<f64>);

fn joined(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> Vec<(String, Pair)> {
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| (n.clone(), (a.get(n).copied(), b.get(n).copied())))
        .collect()
}

fn show(v: Option<f64>) -> String {
    match v {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.3}"),
        None => "-".to_string(),
    }
}
