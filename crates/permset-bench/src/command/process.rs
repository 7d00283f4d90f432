//! What this process has used, read from Linux's `/proc/self`: resident
//! memory (the `memory` and `tenants` modes) and CPU time (the `server`
//! mode's CPU per decision, a figure that other tenants of the machine do
//! not move the way they move throughput).

use std::time::Duration;

use anyhow::{Context as _, Result};

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
pub(crate) fn status_bytes(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.strip_prefix(':')))
        .with_context(|| format!("no `{field}` in /proc/self/status"))?;
    let kb: u64 =
        value.trim().trim_end_matches("kB").trim().parse().with_context(|| format!("`{field}: {value}`"))?;
    Ok(kb * 1024)
}

/// Bytes as MiB.
pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// User plus system CPU time of every thread of this process so far, from
/// `/proc/self/stat` (in the kernel's fixed 100 ticks per second: 10 ms
/// resolution, so time phases of a second or more).
pub(crate) fn cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).context("no `)` in /proc/self/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64> {
        fields.get(i).context("short /proc/self/stat")?.parse().context("a tick count in /proc/self/stat")
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_and_a_cpu_time_that_grows_with_work() {
        assert!(status_bytes("VmRSS").unwrap() > 0);
        assert!(status_bytes("NoSuchField").is_err());
        let before = cpu_time().unwrap();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        assert!(cpu_time().unwrap() > before, "100 ms of spinning shows as CPU time");
    }
}
