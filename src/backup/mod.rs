//! Backups: a consistent snapshot from one read transaction, compressed (and encrypted when
//! asked) into one self-describing file, kept in a directory or an S3 bucket; and restores that
//! check everything before they report success.

pub mod format;
pub mod safety;
pub mod schedule;
pub mod segments;
pub mod target;

use crate::domain::retention::Retention;
use crate::progress::{Progress, Unit};
use crate::storage::{self, Store, StoreError, schema, snapshot};
use age::secrecy::SecretString;
use format::{Encryption, Header};
use redb::ReadableDatabase;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use target::{Target, TargetSpec};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a backup or restore failed; every message is one line.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackupError {
    /// The target could not be understood.
    #[error("{0}")]
    Target(String),
    /// The object store refused or could not be reached.
    #[error("{0}")]
    Store(String),
    /// A local file failed.
    #[error("{0}")]
    Io(String),
    /// The database failed.
    #[error("{0}")]
    Db(String),
    /// The checksum does not match: the file is damaged.
    #[error("checksum mismatch: the backup is damaged (or was changed) and was not restored")]
    Checksum,
    /// The file ends early.
    #[error("the backup is truncated (incomplete) and was not restored")]
    Truncated,
    /// The file is not a FealTY backup.
    #[error("not a FealTY backup file")]
    NotABackup,
    /// The file's content cannot be read.
    #[error("the backup cannot be read: {0}")]
    Format(String),
    /// The passphrase is missing or wrong.
    #[error("{0}")]
    Passphrase(String),
    /// The file was made by a newer FealTY.
    #[error("the backup is newer than this fealty: {0}; upgrade fealty to restore it")]
    Newer(String),
    /// The restored data fails its checks.
    #[error("the restored data fails its checks: {0}; nothing was restored")]
    Verify(String),
    /// The data directory is not empty.
    #[error("{0}")]
    NotEmpty(String),
    /// No backup matches.
    #[error("{0}")]
    NotFound(String),
}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> Self {
        BackupError::Db(e.to_string())
    }
}

/// What a backup run made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Made {
    /// The backup's id.
    pub id: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// What it holds.
    pub counts: snapshot::Counts,
}

/// One backup in a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its id.
    pub id: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// Its size.
    pub bytes: u64,
    /// The last ledger sequence in it (also the number of entries: sequences have no gaps).
    pub last_seq: u64,
}

const PREFIX: &str = "fealty-";
const SUFFIX: &str = ".fbk";

pub(crate) fn object_name(id: &str) -> String {
    format!("{PREFIX}{id}{SUFFIX}")
}

/// The last backup time this process gave out, in Unix milliseconds.
static LAST_ID_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// A time for a new backup id, a millisecond after the last one if the clock has not moved:
/// two backups never share an id (and so never overwrite each other in the target). Only one
/// process opens the database, and each backup takes longer than a millisecond.
fn id_time(now: OffsetDateTime) -> OffsetDateTime {
    use std::sync::atomic::Ordering;
    let ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX - 1);
    let next = |last: i64| last.max(ms - 1) + 1;
    // One atomic step, so two backups started together still get two times.
    let last = LAST_ID_MS
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(next(last)))
        .unwrap_or_else(|last| last);
    let taken = next(last);
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(taken) * 1_000_000).unwrap_or(now)
}

/// A backup id: UTC time to the millisecond and last sequence, so ids sort by time.
fn make_id(at: OffsetDateTime, last_seq: u64) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z-{last_seq:012}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Reads an id; ids made before milliseconds were added (`…T203207Z-…`) still read.
fn parse_id(id: &str) -> Option<(OffsetDateTime, u64)> {
    let (stamp, seq) = id.split_once('-')?;
    let fmt = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second][optional [.[subsecond digits:3]]]Z"
    );
    let at = time::PrimitiveDateTime::parse(stamp, &fmt)
        .ok()?
        .assume_utc();
    Some((at, seq.parse().ok()?))
}

/// Writes a snapshot of `store` to a local backup file (on a blocking thread, from one read transaction).
pub async fn snapshot_file(
    store: &Store,
    path: PathBuf,
    passphrase: Option<SecretString>,
    progress: Progress,
) -> Result<Made, BackupError> {
    store
        .read(move |tx| {
            Ok(write_snapshot(
                tx,
                &path,
                schema::CURRENT,
                passphrase.as_ref(),
                &progress,
            ))
        })
        .await?
}

/// Writes the snapshot `tx` reads, in schema `schema_version`, to a local backup file; the
/// rows stream through zstd (and age), so memory stays flat whatever the size of the data.
pub fn write_snapshot(
    tx: &redb::ReadTransaction,
    path: &Path,
    schema_version: u64,
    passphrase: Option<&SecretString>,
    progress: &Progress,
) -> Result<Made, BackupError> {
    let counts = snapshot::counts(tx)?;
    let now = id_time(crate::clock::now());
    let header = Header {
        format_version: format::FORMAT_VERSION,
        schema_version,
        id: make_id(now, counts.last_seq),
        created_at: now.format(&Rfc3339).unwrap_or_default(),
        counts: counts.clone(),
        encryption: if passphrase.is_some() {
            Encryption::AgePassphrase
        } else {
            Encryption::None
        },
        segment_from: None,
    };
    let bytes = format::write(path, &header, passphrase, |w| {
        let mut w = std::io::BufWriter::new(w);
        snapshot::write(tx, &mut w, progress).map_err(|e| BackupError::Db(e.to_string()))?;
        std::io::Write::flush(&mut w).map_err(|e| BackupError::Io(e.to_string()))
    })?;
    Ok(Made {
        id: header.id,
        bytes,
        counts,
    })
}

/// Backs `store` up to `spec`: snapshot to a temporary file beside the database (streamed
/// through zstd and age, so memory stays flat), then upload in parts; `progress` counts the
/// rows, then the bytes sent.
pub async fn run(
    store: &Store,
    spec: &TargetSpec,
    passphrase: Option<SecretString>,
    progress: &Progress,
) -> Result<Made, BackupError> {
    let target = Target::open(spec)?;
    let tmp = tempfile::Builder::new()
        .prefix(".backup-")
        .tempfile_in(store.data_dir())
        .map_err(|e| BackupError::Io(format!("cannot make a temporary file: {e}")))?;
    progress.step("rows");
    let made = snapshot_file(
        store,
        tmp.path().to_path_buf(),
        passphrase,
        progress.clone(),
    )
    .await?;
    progress.step("upload");
    progress.set(0);
    progress.set_total(made.bytes);
    target
        .upload(tmp.path(), &object_name(&made.id), progress)
        .await?;
    Ok(made)
}

/// The backups in `spec`, newest first.
pub async fn list(spec: &TargetSpec) -> Result<Vec<Listed>, BackupError> {
    let target = Target::open(spec)?;
    let mut out: Vec<Listed> = target
        .list()
        .await?
        .into_iter()
        .filter_map(|o| {
            let id = o
                .name
                .strip_prefix(PREFIX)?
                .strip_suffix(SUFFIX)?
                .to_owned();
            let (created_at, last_seq) = parse_id(&id)?;
            Some(Listed {
                id,
                created_at,
                bytes: o.size,
                last_seq,
            })
        })
        .collect();
    // By time, not by id text: ids from before milliseconds (`…07Z-…`) sort after `…07.001Z-…`.
    out.sort_by_key(|b| std::cmp::Reverse((b.created_at, b.last_seq)));
    Ok(out)
}

/// Whether a listed object is a snapshot (restorable by itself) or a segment (changes shipped
/// after one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole snapshot.
    Snapshot,
    /// Changes shipped after a snapshot.
    Segment,
}

/// One object in a destination, with what its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// Snapshot or segment.
    pub kind: Kind,
    /// Its id (a segment's: first and last sequence, and the Unix time it was made).
    pub id: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// Its size.
    pub bytes: u64,
    /// Its header, if it could be read.
    pub header: Option<Header>,
}

/// Every snapshot and segment in `spec`, newest first, each with its header (one short ranged
/// read per object).
pub async fn describe_all(spec: &TargetSpec) -> Result<Vec<Described>, BackupError> {
    let target = Target::open(spec)?;
    let mut out = Vec::new();
    for o in target.list().await? {
        let found = match o
            .name
            .strip_prefix(PREFIX)
            .and_then(|n| n.strip_suffix(SUFFIX))
        {
            Some(id) => parse_id(id).map(|(at, _)| (Kind::Snapshot, id.to_owned(), at)),
            None => segments::parse_object(&o.name).map(|(id, at)| (Kind::Segment, id, at)),
        };
        let Some((kind, id, created_at)) = found else {
            continue;
        };
        // A header is a few hundred bytes.
        let start = target.read_start(&o.name, o.size.min(4096)).await?;
        out.push(Described {
            kind,
            id,
            created_at,
            bytes: o.size,
            header: format::header_of_start(&start).ok(),
        });
    }
    out.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Ok(out)
}

/// Removes the backups `policy` does not keep; returns their ids.
pub async fn prune(spec: &TargetSpec, policy: Retention) -> Result<Vec<String>, BackupError> {
    let all = list(spec).await?;
    let pairs: Vec<(String, OffsetDateTime)> =
        all.iter().map(|b| (b.id.clone(), b.created_at)).collect();
    let gone = policy.prune(&pairs);
    let target = Target::open(spec)?;
    for id in &gone {
        target.delete(&object_name(id)).await?;
    }
    let oldest_kept = all
        .iter()
        .filter(|b| !gone.contains(&b.id))
        .map(|b| b.created_at)
        .min();
    if let Some(t) = oldest_kept {
        segments::prune_before(spec, t).await?;
    }
    Ok(gone)
}

/// Which backup to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The newest.
    Newest,
    /// This id.
    Id(String),
    /// The newest made at or before this time.
    AtOrBefore(OffsetDateTime),
}

impl Pick {
    /// Reads `--at`: an id, or an RFC 3339 time.
    pub fn parse(at: Option<&str>) -> Result<Self, BackupError> {
        match at {
            None => Ok(Self::Newest),
            Some(a) if parse_id(a).is_some() => Ok(Self::Id(a.to_owned())),
            Some(a) => OffsetDateTime::parse(a, &Rfc3339)
                .map(Self::AtOrBefore)
                .map_err(|_| {
                    BackupError::Target(format!(
                        "--at {a:?} is neither a backup id nor an RFC 3339 time"
                    ))
                }),
        }
    }
}

/// What a restore put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The backup's header.
    pub header: Header,
}

const DB_TMP: &str = "fealty.redb.restoring";

/// Restores a backup from `spec` into `data_dir`, checking everything first.
pub async fn restore(
    spec: &TargetSpec,
    pick: Pick,
    data_dir: &Path,
    force: bool,
    passphrase: Option<SecretString>,
) -> Result<Restored, BackupError> {
    // A fresh volume holds `lost+found`; anything else means the directory is in use.
    let occupied = std::fs::read_dir(data_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.file_name() != "lost+found")
        })
        .unwrap_or(false);
    if occupied && !force {
        return Err(BackupError::NotEmpty(format!(
            "{} is not empty; restore into an empty directory, or add --force to replace its database",
            data_dir.display()
        )));
    }
    if crate::control::server_running(data_dir) {
        return Err(BackupError::NotEmpty(format!(
            "a fealty server is running on {}; stop it before restoring over it",
            data_dir.display()
        )));
    }
    let all = list(spec).await?;
    let chosen = match &pick {
        Pick::Newest => all.first(),
        Pick::Id(id) => all.iter().find(|b| &b.id == id),
        Pick::AtOrBefore(t) => all.iter().find(|b| b.created_at <= *t),
    }
    .cloned();
    let Some(chosen) = chosen else {
        return Err(not_found(spec, all.is_empty()).await);
    };
    let download = tempfile::Builder::new()
        .prefix(".restore-")
        .tempfile()
        .map_err(|e| BackupError::Io(format!("cannot make a temporary file: {e}")))?;
    let got = Progress::new("download", Some(chosen.bytes), Unit::Bytes);
    Target::open(spec)?
        .download(&object_name(&chosen.id), download.path(), &got)
        .await?;
    got.finish();
    // Changes shipped after the snapshot, up to the time asked for (none when an id is asked for).
    let until = match &pick {
        Pick::Id(_) => None,
        Pick::Newest => Some(OffsetDateTime::now_utc() + time::Duration::days(1)),
        Pick::AtOrBefore(t) => Some(*t),
    };
    let segs = match until {
        Some(t) => segments::fetch_after(spec, chosen.last_seq, chosen.created_at, t).await?,
        None => Vec::new(),
    };
    let file = download.path().to_path_buf();
    let dir = data_dir.to_path_buf();
    let seg_files: Vec<PathBuf> = segs.iter().map(|s| s.path().to_path_buf()).collect();
    let restored = tokio::task::spawn_blocking(move || {
        let rows = Progress::new("rows", None, Unit::Items);
        restore_file_with(&file, &seg_files, &dir, passphrase.as_ref(), &rows)
    })
    .await
    .map_err(|e| BackupError::Io(e.to_string()))?;
    drop(segs);
    restored
}

/// Why nothing matched: with no snapshot at all, says so, and whether segments are there.
async fn not_found(spec: &TargetSpec, no_snapshot: bool) -> BackupError {
    if !no_snapshot {
        return BackupError::NotFound(format!(
            "no backup in {} matches (not found)",
            spec.describe()
        ));
    }
    let segments = segments::count(spec).await.unwrap_or(0);
    BackupError::NotFound(if segments > 0 {
        format!(
            "no restorable snapshot in {}: it holds {segments} shipped segments, which only \
             continue a snapshot (not found)",
            spec.describe()
        )
    } else {
        format!("no backup in {} (not found)", spec.describe())
    })
}

/// Restores a local backup file into `data_dir`: rows into a new file, migrations, then the
/// chain, balances and counts are checked; only then does it replace the database.
pub fn restore_file(
    file: &Path,
    data_dir: &Path,
    passphrase: Option<&SecretString>,
) -> Result<Restored, BackupError> {
    restore_file_with(file, &[], data_dir, passphrase, &Progress::hidden())
}

/// Like [`restore_file`], replaying shipped segments (in order) after the snapshot; `rows`
/// counts the rows loaded.
pub fn restore_file_with(
    file: &Path,
    segments: &[PathBuf],
    data_dir: &Path,
    passphrase: Option<&SecretString>,
    rows: &Progress,
) -> Result<Restored, BackupError> {
    let created = !data_dir.exists();
    crate::private_files::private_dir(data_dir)
        .map_err(|e| BackupError::Io(format!("cannot make {} private: {e}", data_dir.display())))?;
    let tmp = data_dir.join(DB_TMP);
    let _ = std::fs::remove_file(&tmp);
    let result = load_and_check(file, segments, &tmp, passphrase, rows);
    match result {
        Ok(header) => {
            std::fs::rename(&tmp, data_dir.join(storage::DB_FILE)).map_err(|e| {
                BackupError::Io(format!("cannot put the restored database in place: {e}"))
            })?;
            Ok(Restored { header })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if created {
                let _ = std::fs::remove_dir(data_dir);
            }
            Err(e)
        }
    }
}

/// Rows per write transaction of a restore, and bytes: redb holds a transaction's dirty
/// pages in memory until it commits, so both bound a restore's memory.
const BATCH_ROWS: usize = 50_000;
const BATCH_BYTES: usize = 8 * 1024 * 1024;

fn load_and_check(
    file: &Path,
    segments: &[PathBuf],
    db_path: &Path,
    passphrase: Option<&SecretString>,
    progress: &Progress,
) -> Result<Header, BackupError> {
    let (header, body) = format::open_body(file, passphrase)?;
    let db = storage::open::builder()
        .create(db_path)
        .map_err(|e| BackupError::Db(e.to_string()))?;
    let mut lines = body.lines();
    let mut loader = snapshot::Loader::default();
    let v1 = header.format_version == 1;
    loop {
        let tx = db
            .begin_write()
            .map_err(|e| BackupError::Db(e.to_string()))?;
        let (mut n, mut bytes) = (0, 0);
        for line in lines.by_ref() {
            let line = line
                .map_err(|e| BackupError::Format(format!("body ends early or is damaged ({e})")))?;
            if v1 {
                snapshot::load_line(&tx, &line)
            } else {
                loader.line(&tx, &line)
            }
            .map_err(|e| BackupError::Format(e.to_string()))?;
            n += 1;
            bytes += line.len();
            if n == BATCH_ROWS || bytes >= BATCH_BYTES {
                break;
            }
        }
        tx.commit().map_err(|e| BackupError::Db(e.to_string()))?;
        progress.inc(n as u64);
        if n < BATCH_ROWS && bytes < BATCH_BYTES {
            break;
        }
    }
    loader
        .finish()
        .map_err(|e| BackupError::Format(e.to_string()))?;
    progress.step("verify");
    schema::migrate(&db)?;
    let tx = db
        .begin_write()
        .map_err(|e| BackupError::Db(e.to_string()))?;
    schema::ensure_tables(&tx)?;
    tx.commit().map_err(|e| BackupError::Db(e.to_string()))?;
    {
        let rx = db
            .begin_read()
            .map_err(|e| BackupError::Db(e.to_string()))?;
        let counts = snapshot::counts(&rx)?;
        if counts != header.counts {
            return Err(BackupError::Verify(format!(
                "the header promises {} members, {} entries up to seq {}, the body holds {} members, {} entries up to seq {}",
                header.counts.members,
                header.counts.entries,
                header.counts.last_seq,
                counts.members,
                counts.entries,
                counts.last_seq
            )));
        }
    }
    let mut header = header;
    let mut last_seq = header.counts.last_seq;
    for seg in segments {
        last_seq = segments::apply(&db, seg, passphrase)?;
    }
    let rx = db
        .begin_read()
        .map_err(|e| BackupError::Db(e.to_string()))?;
    let check = storage::ledger::verify(&rx)?;
    if let Some(p) = check.problem {
        return Err(BackupError::Verify(p));
    }
    let counts = snapshot::counts(&rx)?;
    if counts.last_seq != last_seq {
        return Err(BackupError::Verify(format!(
            "expected entries up to seq {last_seq}, found {}",
            counts.last_seq
        )));
    }
    header.counts = counts;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_in_the_same_millisecond_differ_and_old_ids_still_read() {
        let now = crate::clock::now();
        let a = make_id(id_time(now), 7);
        let b = make_id(id_time(now), 7);
        assert_ne!(a, b);
        assert!(parse_id(&a).is_some_and(|(_, seq)| seq == 7), "{a}");
        assert!(parse_id(&b).is_some_and(|(t, _)| t > now - time::Duration::seconds(1)));
        assert_eq!(
            parse_id("20261125T203207Z-000000000009").map(|(t, seq)| (t.unix_timestamp(), seq)),
            Some((1_795_638_727, 9))
        );
    }
}
