//! The space of the filesystem holding the data directory, as the kernel reports it: one
//! system call, cheap enough for every status, scrape and dashboard.

use crate::domain::disk::Space;
use std::path::Path;

/// The space of the filesystem `dir` is on. Free is what an unprivileged writer may still use,
/// as `df` shows it: the blocks the filesystem keeps back for root do not count.
pub fn space(dir: &Path) -> std::io::Result<Space> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(Space {
        free: s.f_bavail.saturating_mul(s.f_frsize),
        total: s.f_blocks.saturating_mul(s.f_frsize),
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests fail loudly")]

    #[test]
    fn the_data_directory_filesystem_has_a_size_and_some_space_free() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let s = super::space(dir.path()).expect("statvfs");
        assert!(s.total > 0 && s.free <= s.total, "{s:?}");
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        assert!(super::space(std::path::Path::new("/no/such/fealty/dir")).is_err());
    }
}
