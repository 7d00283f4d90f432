//! `permset-bench fuzz`: long runs of the fuzz targets (permset-fuzz),
//! `--seconds N` each, from the committed corpus and regressions. Findings
//! are written to `fuzz/artifacts/<target>/` for replay; one JSON line per
//! target reports executions, behaviours and findings. The bounded run of
//! every CI run is permset-fuzz's test; this is the long one.

use std::time::Duration;

use anyhow::{bail, Result};
use permset_fuzz::driver::{self, Budget};
use permset_fuzz::{fuzz_dir, target, TARGETS};
use serde_json::json;

/// Options of `fuzz`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Only this target (`condition`, `workspace_file`, `record_json`, `sql_filter`).
    #[arg(long)]
    target: Option<String>,
    /// Seed of the mutator (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let names: Vec<&str> = match &args.target {
        Some(name) if TARGETS.contains(&name.as_str()) => vec![name.as_str()],
        Some(name) => bail!("unknown target `{name}`; the targets are {}", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    let seed = args.seed.unwrap_or_else(|| chrono::Utc::now().timestamp_micros().unsigned_abs());
    let mut findings = 0;
    for name in names {
        let Some(mut t) = target(name) else { continue };
        let mut seeds = driver::load_dir(&fuzz_dir().join("corpus").join(name));
        seeds.extend(driver::load_dir(&fuzz_dir().join("regressions").join(name)));
        let budget = Budget { executions: u64::MAX, time: Duration::from_secs(args.seconds) };
        let report = driver::fuzz(t.as_mut(), seeds, budget, seed);
        let artifacts = fuzz_dir().join("artifacts").join(name);
        for (i, f) in report.findings.iter().enumerate() {
            std::fs::create_dir_all(&artifacts)?;
            let path = artifacts.join(format!("finding-{seed}-{i}"));
            std::fs::write(&path, &f.input)?;
            eprintln!("FINDING {name} ({}): {}", path.display(), f.message);
        }
        findings += report.findings.len();
        let secs = report.elapsed.as_secs_f64();
        println!(
            "{}",
            json!({
                "mode": "fuzz", "target": name, "seed": seed, "seconds": secs,
                "executions": report.executions, "executions_per_s": report.executions as f64 / secs.max(1e-9),
                "seeds": report.seeds, "behaviours": report.signatures, "kept": report.kept,
                "findings": report.findings.len(),
            })
        );
    }
    if findings > 0 {
        bail!("{findings} findings (inputs under fuzz/artifacts/)");
    }
    Ok(())
}
