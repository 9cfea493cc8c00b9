//! The process's own figures, read from `/proc` at scrape time.

/// Resident memory in bytes (`VmRSS` in `/proc/self/status`), or `None` where there is no `/proc`.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_rss(&status)
}

/// The `VmRSS` line of a `/proc/<pid>/status` text, in bytes.
fn vm_rss(status: &str) -> Option<u64> {
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_vm_rss_in_bytes() {
        let status = "Name:\tfealty\nVmHWM:\t   9000 kB\nVmRSS:\t    4312 kB\nThreads:\t9\n";
        assert_eq!(super::vm_rss(status), Some(4312 * 1024));
        assert_eq!(super::vm_rss("Name:\tfealty\n"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(super::resident_bytes().is_some_and(|b| b > 0));
    }
}
