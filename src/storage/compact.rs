//! Giving back free space: a redb file never shrinks by itself, and bursts of copy-on-write
//! (a migration, an import, a busy day) can leave most of it free. At start, before anything
//! else uses the database, a file that is mostly free space is compacted.

use super::StoreError;
use redb::Database;
use std::path::Path;

/// Files smaller than this are left alone: the space is not worth the pause.
const MIN_FILE: u64 = 64 * 1024 * 1024;

/// Compacts the database when more than half of its file is free space; returns the file's
/// size before and after, if it did.
pub fn if_sparse(db: &mut Database, path: &Path) -> Result<Option<(u64, u64)>, StoreError> {
    let before = std::fs::metadata(path)
        .map_err(|e| StoreError::Db(format!("cannot read the size of {}: {e}", path.display())))?
        .len();
    if before < MIN_FILE {
        return Ok(None);
    }
    let tx = db.begin_write()?;
    let stats = tx.stats()?;
    tx.abort()?;
    let used = stats.allocated_pages() * stats.page_size() as u64;
    if used.saturating_mul(2) > before {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    tracing::info!(
        file_mib = before / (1024 * 1024),
        used_mib = used / (1024 * 1024),
        "compacting the database: most of the file is free space"
    );
    db.compact()
        .map_err(|e| StoreError::Db(format!("compaction failed: {e}")))?;
    let after = std::fs::metadata(path)
        .map_err(|e| StoreError::Db(format!("cannot read the size of {}: {e}", path.display())))?
        .len();
    tracing::info!(
        file_mib = after / (1024 * 1024),
        seconds = started.elapsed().as_secs_f64(),
        "database compacted"
    );
    Ok(Some((before, after)))
}
