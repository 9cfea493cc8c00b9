//! What FealTY writes is for its owner alone: the database holds password hashes and personal
//! data, backups the same, the ACME directory private keys. Two rules make that so whoever
//! made a directory first: the process umask makes everything new owner-only, and a data
//! directory is tightened (with what is already in it) before use.

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Mode of every directory FealTY makes or owns.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file FealTY makes or owns.
pub const FILE_MODE: u32 = 0o600;

/// Makes every file and directory this process creates from now on owner-only.
pub fn owner_only_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates `dir` if needed, then makes it and everything under it owner-only (symbolic links are
/// left alone, not followed).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    tighten(dir)
}

fn tighten(dir: &Path) -> io::Result<()> {
    restrict(dir, DIR_MODE)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tighten(&entry.path())?;
        } else if !kind.is_symlink() {
            restrict(&entry.path(), FILE_MODE)?;
        }
    }
    Ok(())
}

fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    let now = std::fs::symlink_metadata(path)?.permissions().mode() & 0o777;
    // A file that is already tighter (e.g. 0400) stays as it is.
    if now & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(now & mode))?;
    }
    Ok(())
}
