//! Memory checks before allocations whose size users choose (input shapes, mock networks):
//! the bytes they need against the memory this machine has available, so that a batch too
//! large is a clear error instead of an allocation failure (an abort) or the OOM killer.

use std::fmt::Write as _;

/// One allocation a command is about to make, described for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// What it holds, e.g. `x: [1, 3, 224, 224] float32`.
    pub what: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The bytes this process can still allocate without swapping: `MemAvailable` from
/// /proc/meminfo, lowered to what the cgroup's memory limit leaves; `None` where neither is
/// readable (then nothing is checked and allocations fail on their own, as errors).
#[must_use]
pub fn available() -> Option<u64> {
    let meminfo =
        std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| mem_available(&text));
    match (meminfo, cgroup_headroom()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `MemAvailable` of /proc/meminfo's text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    kib.checked_mul(1024)
}

/// What the cgroup (v2) memory limit of this process leaves: `memory.max - memory.current`;
/// `None` without a limit or where the files are unreadable.
fn cgroup_headroom() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = groups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let max = read("memory.max")?.trim().parse::<u64>().ok()?;
    let current = read("memory.current").and_then(|c| c.trim().parse::<u64>().ok()).unwrap_or(0);
    Some(max.saturating_sub(current))
}

/// `bytes` for people: `512 B`, `1.5 KiB`, `56.1 GiB`.
#[must_use]
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The sum of `needs` times `copies` (saturating: a sum past `u64` is more than any machine).
#[must_use]
pub fn total(needs: &[Need], copies: u64) -> u64 {
    needs.iter().fold(0u64, |sum, n| sum.saturating_add(n.bytes)).saturating_mul(copies)
}

/// Refuses when `needs` (`copies` times each: input iterations) exceed the memory available,
/// with the message [`refusal`] writes; passes where the available memory is unknown.
pub fn ensure_fits(subject: &str, needs: &[Need], copies: u64, hint: &str) -> anyhow::Result<()> {
    match available().and_then(|free| refusal(subject, needs, copies, free, hint)) {
        Some(message) => Err(anyhow::anyhow!(message)),
        None => Ok(()),
    }
}

/// The message refusing `needs` (`copies` times each) when they exceed `available` bytes:
/// `the input shapes need 56.1 GiB (x: [100000, 3, 224, 224] float32 = 56.1 GiB), more than
/// the 12.0 GiB available; use a smaller batch/shape`; `None` when they fit.
#[must_use]
pub fn refusal(
    subject: &str,
    needs: &[Need],
    copies: u64,
    available: u64,
    hint: &str,
) -> Option<String> {
    let sum = total(needs, copies);
    if sum <= available {
        return None;
    }
    let mut parts = String::new();
    for (i, n) in needs.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(parts, "{sep}{} = {}", n.what, human(n.bytes));
    }
    if copies > 1 {
        let _ = write!(parts, "; times {copies} iterations");
    }
    Some(format!(
        "{subject} need {} ({parts}), more than the {} available; {hint}",
        human(sum),
        human(available)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meminfo() {
        let text = "MemTotal:       16303220 kB\nMemFree:  1 kB\nMemAvailable:   12582912 kB\n";
        assert_eq!(mem_available(text), Some(12 * 1024 * 1024 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
        // This machine's, when it has one, parses.
        if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
            assert!(mem_available(&text).is_some_and(|b| b > 0), "{text}");
        }
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(60_211_200_000), "56.1 GiB");
        assert_eq!(human(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn refuses_only_what_does_not_fit() {
        let needs = [
            Need { what: "x: [100000, 3, 224, 224] float32".into(), bytes: 60_211_200_000 },
            Need { what: "ids: [100000] int64".into(), bytes: 800_000 },
        ];
        let gib = 1 << 30;
        let message =
            refusal("the input shapes", &needs, 1, 12 * gib, "use a smaller batch/shape").unwrap();
        assert_eq!(
            message,
            "the input shapes need 56.1 GiB (x: [100000, 3, 224, 224] float32 = 56.1 GiB, \
             ids: [100000] int64 = 781.2 KiB), more than the 12.0 GiB available; use a smaller \
             batch/shape"
        );
        assert!(refusal("the input shapes", &needs, 1, 64 * gib, "").is_none());
        let twice = refusal("the input shapes", &needs, 2, 64 * gib, "").unwrap();
        assert!(
            twice.contains("need 112.2 GiB") && twice.contains("times 2 iterations"),
            "{twice}"
        );
        let huge = [Need { what: "x".into(), bytes: u64::MAX }];
        assert!(refusal("s", &huge, 3, u64::MAX - 1, "").unwrap().contains("16.0 EiB"));
    }
}
