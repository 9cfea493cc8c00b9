//! The backup file: a readable header, a zstd body (age-encrypted when asked), and a SHA-256
//! trailer over everything before it, so damage and truncation are found before anything is read.

use super::BackupError;
use crate::storage::snapshot::Counts;
use age::secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The first line of every backup, before its format version.
const MAGIC: &str = "FEALTY-BACKUP ";
/// The body format this build writes: table sections, plain JSON values (see
/// `docs/backup-format.md`).
pub const FORMAT_VERSION: u32 = 2;
/// The oldest body format this build still reads: every line `["table", key, value]`.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// The scrypt work factor of new encrypted backups, N = 2^17: deriving the key takes 128 MiB
/// (to encrypt, and again to restore), which fits beside a server on a 1 GB machine. age's own
/// calibration picks ~1 s of work, which on a fast machine means 512 MiB or more.
const SCRYPT_LOG_N: u8 = 17;
/// `\nsha256 ` and 64 hex digits.
const TRAILER_LEN: u64 = 72;

/// How the body is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    /// Readable by anyone holding the file.
    None,
    /// age, with a passphrase (scrypt).
    AgePassphrase,
}

/// The second line of every backup: what it is, readable without the passphrase.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// The body format.
    pub format_version: u32,
    /// The database schema the rows are in.
    pub schema_version: u64,
    /// The backup's id (its time and last sequence).
    pub id: String,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created_at: String,
    /// What the snapshot holds.
    #[serde(flatten)]
    pub counts: Counts,
    /// How the body is protected.
    pub encryption: Encryption,
    /// For a segment (changes shipped after a snapshot): the first sequence it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_from: Option<u64>,
}

/// Counts bytes and hashes them on their way to `inner`.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn io(context: &'static str) -> impl Fn(std::io::Error) -> BackupError {
    move |e| BackupError::Io(format!("{context}: {e}"))
}

/// Writes a backup file: header, then `body` through zstd (and age), then the trailer; fsynced.
pub fn write(
    path: &Path,
    header: &Header,
    passphrase: Option<&SecretString>,
    body: impl FnOnce(&mut dyn Write) -> Result<(), BackupError>,
) -> Result<u64, BackupError> {
    let file = File::create(path).map_err(io("cannot create the backup file"))?;
    let mut out = Hashing {
        inner: std::io::BufWriter::new(file),
        hash: Sha256::new(),
        bytes: 0,
    };
    let head = serde_json::to_string(header).map_err(|e| BackupError::Io(e.to_string()))?;
    write!(out, "{MAGIC}{}\n{head}\n", header.format_version)
        .map_err(io("cannot write the backup"))?;
    match passphrase {
        None => {
            let mut z = zstd::Encoder::new(&mut out, 3).map_err(io("cannot compress"))?;
            body(&mut z)?;
            z.finish().map_err(io("cannot compress"))?;
        }
        Some(p) => {
            let mut recipient = age::scrypt::Recipient::new(p.clone());
            recipient.set_work_factor(SCRYPT_LOG_N);
            let enc =
                age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                    .map_err(|e| BackupError::Io(format!("cannot encrypt: {e}")))?;
            let mut sealed = enc.wrap_output(&mut out).map_err(io("cannot encrypt"))?;
            let mut z = zstd::Encoder::new(&mut sealed, 3).map_err(io("cannot compress"))?;
            body(&mut z)?;
            z.finish().map_err(io("cannot compress"))?;
            sealed.finish().map_err(io("cannot encrypt"))?;
        }
    }
    let digest = hex::encode(out.hash.finalize_reset());
    let size = out.bytes + TRAILER_LEN;
    let mut inner = out.inner;
    write!(inner, "\nsha256 {digest}").map_err(io("cannot write the backup"))?;
    let file = inner
        .into_inner()
        .map_err(|e| BackupError::Io(format!("cannot write the backup: {e}")))?;
    file.sync_all()
        .map_err(io("cannot flush the backup to disk"))?;
    Ok(size)
}

/// Checks the trailer's checksum over the whole file, without reading the body's content.
fn check_sum(file: &mut File) -> Result<u64, BackupError> {
    let size = file.metadata().map_err(io("cannot read the backup"))?.len();
    if size < TRAILER_LEN + MAGIC.len() as u64 {
        return Err(BackupError::Truncated);
    }
    let mut hash = Sha256::new();
    let mut limited = (&mut *file).take(size - TRAILER_LEN);
    std::io::copy(&mut limited, &mut HashSink(&mut hash)).map_err(io("cannot read the backup"))?;
    let mut trailer = String::new();
    file.read_to_string(&mut trailer)
        .map_err(|_| BackupError::Truncated)?;
    let Some(sum) = trailer.strip_prefix("\nsha256 ") else {
        return Err(BackupError::Truncated);
    };
    if sum != hex::encode(hash.finalize()) {
        return Err(BackupError::Checksum);
    }
    Ok(size - TRAILER_LEN)
}

struct HashSink<'a>(&'a mut Sha256);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads the header from the first bytes of a backup (no checksum: for listing).
pub fn header_of_start(start: &[u8]) -> Result<Header, BackupError> {
    let mut lines = start.split(|&b| b == b'\n');
    let magic = lines.next().ok_or(BackupError::NotABackup)?;
    if !magic.starts_with(MAGIC.as_bytes()) {
        return Err(BackupError::NotABackup);
    }
    let line = lines.next().ok_or(BackupError::Truncated)?;
    serde_json::from_slice(line)
        .map_err(|e| BackupError::Format(format!("the header cannot be read: {e}")))
}

/// Reads only the header, after checking the whole file's checksum.
pub fn read_header(path: &Path) -> Result<Header, BackupError> {
    open(path, None, false).map(|(h, _)| h)
}

/// Checks a backup and opens its body as lines of the snapshot.
pub fn open_body(
    path: &Path,
    passphrase: Option<&SecretString>,
) -> Result<(Header, Box<dyn BufRead>), BackupError> {
    let (h, body) = open(path, passphrase, true)?;
    Ok((h, body.ok_or(BackupError::Format("missing body".into()))?))
}

type Body = Option<Box<dyn BufRead>>;

fn open(
    path: &Path,
    passphrase: Option<&SecretString>,
    with_body: bool,
) -> Result<(Header, Body), BackupError> {
    let mut file = File::open(path).map_err(io("cannot open the backup"))?;
    let end = check_sum(&mut file)?;
    file.seek(SeekFrom::Start(0))
        .map_err(io("cannot read the backup"))?;
    let mut r = BufReader::new(file.take(end));
    let mut magic = String::new();
    r.read_line(&mut magic)
        .map_err(|_| BackupError::NotABackup)?;
    let magic_version: u32 = magic
        .trim_end()
        .strip_prefix(MAGIC)
        .and_then(|v| v.parse().ok())
        .ok_or(BackupError::NotABackup)?;
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(|_| BackupError::NotABackup)?;
    let header: Header = serde_json::from_str(line.trim_end())
        .map_err(|e| BackupError::Format(format!("the header cannot be read: {e}")))?;
    if header.format_version > FORMAT_VERSION || magic_version > FORMAT_VERSION {
        return Err(BackupError::Newer(format!(
            "backup format version {} (this fealty reads {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})",
            header.format_version.max(magic_version)
        )));
    }
    if header.format_version != magic_version || header.format_version < OLDEST_FORMAT_VERSION {
        return Err(BackupError::Format(format!(
            "the first line says format {magic_version}, the header {}",
            header.format_version
        )));
    }
    if header.schema_version > crate::storage::schema::CURRENT {
        return Err(BackupError::Newer(format!(
            "database schema version {} (this fealty knows up to {})",
            header.schema_version,
            crate::storage::schema::CURRENT
        )));
    }
    if !with_body {
        return Ok((header, None));
    }
    let plain: Box<dyn BufRead> = match (header.encryption, passphrase) {
        (Encryption::None, _) => Box::new(r),
        (Encryption::AgePassphrase, None) => {
            return Err(BackupError::Passphrase(
                "the backup is encrypted: give its passphrase".into(),
            ));
        }
        (Encryption::AgePassphrase, Some(p)) => {
            let dec = age::Decryptor::new_buffered(r)
                .map_err(|e| BackupError::Format(format!("encrypted body unreadable: {e}")))?;
            let identity = age::scrypt::Identity::new(p.clone());
            let reader = dec
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .map_err(|_| {
                    BackupError::Passphrase("the passphrase does not open this backup".into())
                })?;
            Box::new(BufReader::new(reader))
        }
    };
    let z = zstd::Decoder::with_buffer(plain)
        .map_err(|e| BackupError::Format(format!("body unreadable: {e}")))?;
    Ok((header, Some(Box::new(BufReader::new(z)))))
}
