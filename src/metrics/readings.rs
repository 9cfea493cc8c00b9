//! The gauges read at scrape time, each from something already kept: no scan of the data.

use crate::backup::schedule::StatusCell as BackupStatus;
use crate::storage::{DB_FILE, Store, StoreError};
use crate::tls::StatusCell as TlsStatus;

/// Figures of the moment; `None` where unknown or not configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readings {
    /// Members.
    pub members: Option<u64>,
    /// Ledger entries.
    pub entries: Option<u64>,
    /// The database file's size in bytes.
    pub database_bytes: Option<u64>,
    /// Seconds since the last good backup.
    pub backup_age_seconds: Option<u64>,
    /// Ledger sequences written but not yet safe in the backup target.
    pub shipped_lag: Option<u64>,
    /// When the certificate in use was put in use (Unix seconds).
    pub tls_deployed_at: Option<u64>,
    /// Whether the last certificate order or cache read failed.
    pub tls_renewal_failing: Option<bool>,
    /// When the certificate in use expires (Unix seconds).
    pub tls_expires_at: Option<u64>,
    /// Bytes still free on the data directory's filesystem.
    pub disk_free_bytes: Option<u64>,
    /// The size of the data directory's filesystem in bytes.
    pub disk_size_bytes: Option<u64>,
    /// The process's resident memory in bytes.
    pub resident_bytes: Option<u64>,
}

impl Readings {
    /// Reads everything now. The counts come from the tables' own lengths, which redb keeps
    /// in each table's header, and the last ledger entry: a few page reads however big the data.
    pub async fn gather(
        store: &Store,
        backup: &BackupStatus,
        tls: &TlsStatus,
    ) -> Result<Readings, StoreError> {
        let counts = store.read(crate::storage::snapshot::counts).await?;
        let now = crate::clock::now();
        let backup = backup.get();
        let tls = tls.get();
        let unix = |t: time::OffsetDateTime| u64::try_from(t.unix_timestamp()).ok();
        let disk = crate::disk::space(store.data_dir()).ok();
        Ok(Readings {
            members: Some(counts.members),
            entries: Some(counts.entries),
            database_bytes: std::fs::metadata(store.data_dir().join(DB_FILE))
                .ok()
                .map(|m| m.len()),
            backup_age_seconds: backup
                .as_ref()
                .and_then(|b| b.last_success)
                .map(|at| u64::try_from((now - at).whole_seconds()).unwrap_or(0)),
            shipped_lag: backup
                .as_ref()
                .map(|b| counts.last_seq.saturating_sub(b.safe_seq.unwrap_or(0))),
            tls_deployed_at: tls.as_ref().and_then(|t| t.deployed_at).and_then(unix),
            tls_renewal_failing: tls.as_ref().map(|t| t.last_error.is_some()),
            tls_expires_at: tls.as_ref().and_then(|t| t.expires_at).and_then(unix),
            disk_free_bytes: disk.map(|d| d.free),
            disk_size_bytes: disk.map(|d| d.total),
            resident_bytes: super::process::resident_bytes(),
        })
    }
}
