//! The safety copy an upgrade makes before it migrates the database: a regular backup file in
//! `DATA/safety/`, so `fealty restore --from file:DATA/safety` brings back the file as the older
//! build left it. The newest two are kept: this upgrade's and the one before it.

use super::{BackupError, PREFIX, SUFFIX, object_name, parse_id, write_snapshot};
use crate::domain::retention::Retention;
use crate::progress::{Progress, Unit};
use crate::storage::io_reason;
use crate::storage::schema::Migration;
use redb::ReadTransaction;
use std::path::{Path, PathBuf};

/// The directory inside the data directory that holds the safety copies.
pub const SAFETY_DIR: &str = "safety";

/// The newest two, whatever their age.
const KEEP: Retention = Retention {
    last: 2,
    daily: 0,
    weekly: 0,
};

/// How a copy being written starts its name: never listed as a backup, and removed when a
/// crash left it behind.
const PARTIAL_PREFIX: &str = ".safety-";

fn io(what: String) -> impl Fn(std::io::Error) -> BackupError {
    move |e| BackupError::Io(format!("{what}: {}", io_reason(&e)))
}

/// Writes a safety copy of the file `tx` reads (still in schema `m.from`) into
/// `data_dir`'s safety directory, then removes all but the newest two; returns the copy's path.
///
/// The copy counts only once it is complete and synced: until then it has a name no listing or
/// restore picks up.
pub fn write(data_dir: &Path, tx: &ReadTransaction, m: Migration) -> Result<PathBuf, BackupError> {
    let dir = data_dir.join(SAFETY_DIR);
    crate::private_files::private_dir(&dir)
        .map_err(io(format!("cannot make {}", dir.display())))?;
    let partial = tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempfile_in(&dir)
        .map_err(io(format!("cannot write in {}", dir.display())))?;
    let progress = Progress::new("safety copy", None, Unit::Items);
    let made = write_snapshot(tx, partial.path(), m.from, None, &progress)?;
    progress.finish();
    let path = dir.join(object_name(&made.id));
    partial
        .persist(&path)
        .map_err(|e| io("cannot put the safety copy in place".into())(e.error))?;
    // The rename is durable only once the directory is.
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("cannot sync {}", dir.display())))?;
    if let Err(e) = prune(&dir) {
        // The new copy is safe; an old one left over costs only space.
        tracing::warn!(error = %e, "older safety copies could not be removed");
    }
    Ok(path)
}

/// Removes every safety copy but the newest two, and what an interrupted copy left behind.
fn prune(dir: &Path) -> Result<(), BackupError> {
    let mut copies = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(format!("cannot read {}", dir.display())))? {
        let name = entry
            .map_err(io(format!("cannot read {}", dir.display())))?
            .file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PARTIAL_PREFIX) {
            std::fs::remove_file(dir.join(name)).map_err(io(format!("cannot remove {name}")))?;
        } else if let Some((id, at)) = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|id| parse_id(id).map(|(at, _)| (id.to_owned(), at)))
        {
            copies.push((id, at));
        }
    }
    for id in KEEP.prune(&copies) {
        let name = object_name(&id);
        std::fs::remove_file(dir.join(&name)).map_err(io(format!("cannot remove {name}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::storage::tables::{LEDGER, MEMBERS, META};
    use redb::ReadableDatabase;

    fn names(dir: &Path) -> Vec<String> {
        let mut all: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        all.sort();
        all
    }

    /// Four upgrades in a row leave the newest two copies, and a crash's leftover is cleared.
    #[test]
    fn only_the_newest_two_copies_are_kept() {
        let data = tempfile::tempdir().unwrap();
        let db = redb::Database::create(data.path().join("old.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META)
            .unwrap()
            .insert("schema_version", 4)
            .unwrap();
        tx.open_table(LEDGER).unwrap();
        tx.open_table(MEMBERS).unwrap();
        tx.commit().unwrap();
        let m = Migration { from: 4, to: 5 };
        let mut made = Vec::new();
        for i in 0..4 {
            if i == 2 {
                std::fs::write(data.path().join(SAFETY_DIR).join(".safety-left"), b"x").unwrap();
            }
            let path = write(data.path(), &db.begin_read().unwrap(), m).unwrap();
            made.push(path.file_name().unwrap().to_str().unwrap().to_owned());
        }
        assert_eq!(names(&data.path().join(SAFETY_DIR)), made[2..].to_vec());
        let header =
            super::super::format::read_header(&data.path().join(SAFETY_DIR).join(&made[3]))
                .unwrap();
        assert_eq!(header.schema_version, 4, "the copy is in the file's schema");
    }
}
