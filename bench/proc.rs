//! A process's memory as Linux reports it in `/proc`, shared by the benchmarks that print peak
//! resident memory (VmHWM) beside their targets.

#![allow(dead_code, reason = "each benchmark uses the part it needs")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::process::{Child, ExitStatus};
use std::time::Duration;

/// A field of `/proc/PID/status` counted in kB, in bytes; 0 once the process is gone.
fn status_bytes(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// A process's peak resident memory so far (bytes).
pub fn vm_hwm(pid: u32) -> u64 {
    status_bytes(pid, "VmHWM:")
}

/// A process's resident memory now (bytes): where the next peak starts from, since memory the
/// allocator keeps for reuse after an operation stays resident.
pub fn vm_rss(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS:")
}

/// Starts a process's peak again from its present size (root; Linux: 5 in `clear_refs`).
pub fn reset_hwm(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// Waits for `child` to exit, sampling its peak every `every`; its exit and its peak (bytes).
/// Its output must be drained elsewhere (or go to a file) so it cannot block on a full pipe.
pub fn wait_sampling_peak(child: &mut Child, every: Duration) -> (ExitStatus, u64) {
    let pid = child.id();
    let mut peak = 0;
    loop {
        peak = peak.max(vm_hwm(pid));
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak);
        }
        std::thread::sleep(every);
    }
}
