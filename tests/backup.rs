//! Backups and restores (`fealty backup`, `fealty restore`, scheduled backups in `fealty serve`):
//! to a directory and to S3 (a real moto server on loopback), with and without a running server,
//! encrypted, and damaged files refused without touching the data directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pages::{Browser, PASSWORD, add_user, text};
use common::{Api, TestServer, fails, fealty_env, fresh_key, ok};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Any credentials do for moto without authentication.
const ANY_KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIAFEALTYTESTING01"),
    ("AWS_SECRET_ACCESS_KEY", "fealty-test-secret"),
];

/// A bucket on the moto server that checks signatures.
const LOCKED: &str = "s3://locked";

/// How long a failing S3 call may take before it says so.
const S3_ERROR_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn file_target(p: &Path) -> String {
    format!("file:{}", s(p))
}

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// The one non-empty line of `out`.
fn one_line(out: &str) -> String {
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got {out:?}");
    lines[0].trim().to_owned()
}

/// Asserts a one-line `error:` failure and returns the line in lower case.
fn error_line(o: &Output) -> String {
    let line = fails(o);
    assert!(
        line.starts_with("error:"),
        "errors start with `error:`: {line:?}"
    );
    line.to_lowercase()
}

fn mentions_any(line: &str, words: &[&str]) -> bool {
    words.iter().any(|w| line.contains(w))
}

/// `backup <ID> <BYTES> bytes, <M> members, <E> entries, last seq <S>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Made {
    id: String,
    bytes: u64,
    members: u64,
    entries: u64,
    seq: u64,
}

fn num(word: &str, line: &str) -> u64 {
    word.trim_end_matches(',')
        .parse()
        .unwrap_or_else(|_| panic!("{word:?} is not a number in {line:?}"))
}

fn parse_made(out: &str) -> Made {
    let line = one_line(out);
    let w: Vec<&str> = line.split_whitespace().collect();
    assert!(
        w.len() == 11
            && w[0] == "backup"
            && w[3] == "bytes,"
            && w[5].starts_with("member")
            && w[5].ends_with(',')
            && w[7].starts_with("entr")
            && w[7].ends_with(',')
            && w[8] == "last"
            && w[9] == "seq",
        "backup printed {line:?}, expected `backup <ID> <BYTES> bytes, <M> members, <E> entries, last seq <S>`"
    );
    let made = Made {
        id: w[1].to_owned(),
        bytes: num(w[2], &line),
        members: num(w[4], &line),
        entries: num(w[6], &line),
        seq: num(w[10], &line),
    };
    check_id(&made.id, made.seq);
    made
}

/// `restored <ID>: <M> members, <E> entries, last seq <S>, verified`.
fn parse_restored(out: &str) -> Made {
    let line = one_line(out);
    let w: Vec<&str> = line.split_whitespace().collect();
    assert!(
        w.len() == 10
            && w[0] == "restored"
            && w[1].ends_with(':')
            && w[3].starts_with("member")
            && w[5].starts_with("entr")
            && w[6] == "last"
            && w[7] == "seq"
            && w[8].ends_with(',')
            && w[9] == "verified",
        "restore printed {line:?}, expected `restored <ID>: <M> members, <E> entries, last seq <S>, verified`"
    );
    Made {
        id: w[1].trim_end_matches(':').to_owned(),
        bytes: 0,
        members: num(w[2], &line),
        entries: num(w[4], &line),
        seq: num(w[8], &line),
    }
}

fn assert_restored(out: &Output, made: &Made) {
    let r = parse_restored(&ok(out));
    assert_eq!(
        (r.id.as_str(), r.members, r.entries, r.seq),
        (made.id.as_str(), made.members, made.entries, made.seq),
        "restore reported something else than the backup it restored"
    );
}

/// The time in a backup id: `20261125T201530.123Z` (or, made before milliseconds, `…30Z`).
fn id_time(stamp: &str) -> Result<OffsetDateTime, time::error::Parse> {
    let format = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second][optional [.[subsecond digits:3]]]Z"
    );
    time::PrimitiveDateTime::parse(stamp, &format).map(|t| t.assume_utc())
}

/// `20261125T201530.123Z-000000000123`: UTC time (near now), then the last sequence.
fn check_id(id: &str, seq: u64) {
    let (stamp, tail) = id
        .split_once('-')
        .unwrap_or_else(|| panic!("backup id {id:?} is not `<time>-<seq>`"));
    assert_eq!(
        tail,
        format!("{seq:012}"),
        "backup id {id:?} should end in the last seq {seq}"
    );
    let when = id_time(stamp)
        .unwrap_or_else(|e| panic!("backup id {id:?} does not start with a UTC time: {e}"));
    let off = (OffsetDateTime::now_utc() - when).abs();
    assert!(
        off < time::Duration::minutes(10),
        "backup id {id:?} is not the current time"
    );
}

/// One `backup list` line:
/// `<kind>\t<ID>\t<created RFC3339>\t<BYTES>\t<entries>\t<last seq>\t<encryption>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    kind: String,
    id: String,
    created: OffsetDateTime,
    bytes: u64,
    entries: u64,
    seq: u64,
    encryption: String,
}

const LIST_HEADER: &str = "kind\tid\tcreated\tbytes\tentries\tlast_seq\tencryption";

/// Every line of `backup list` after its header (snapshots and segments).
fn parse_list_all(out: &str) -> Vec<Listed> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    assert_eq!(
        lines.next(),
        Some(LIST_HEADER),
        "backup list opens with its header: {out:?}"
    );
    lines
        .filter(|l| l.contains('\t'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(
                f.len(),
                7,
                "backup list line is not 7 tab-separated fields: {l:?}"
            );
            Listed {
                kind: f[0].to_owned(),
                id: f[1].to_owned(),
                created: OffsetDateTime::parse(f[2], &Rfc3339).unwrap_or_else(|e| {
                    panic!("created {:?} is not RFC 3339 ({e}) in {l:?}", f[2])
                }),
                bytes: num(f[3], l),
                entries: num(f[4], l),
                seq: num(f[5], l),
                encryption: f[6].to_owned(),
            }
        })
        .collect()
}

/// The snapshots `backup list` shows.
fn parse_list(out: &str) -> Vec<Listed> {
    parse_list_all(out)
        .into_iter()
        .filter(|l| l.kind == "snapshot")
        .collect()
}

/// Every file under `dir` with a digest of its bytes; `None` when `dir` does not exist.
fn dir_state(dir: &Path) -> Option<BTreeMap<PathBuf, String>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).expect("read directory") {
            let path = entry.expect("directory entry").path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                out.insert(rel.clone(), "dir".to_owned());
                walk(root, &path, out);
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).expect("read file");
                out.insert(rel, hex::encode(Sha256::digest(&bytes)));
            } else {
                out.insert(rel, "other".to_owned());
            }
        }
    }
    if !dir.exists() {
        return None;
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    Some(out)
}

fn assert_empty_dir(dir: &Path, what: &str) {
    let state = dir_state(dir);
    assert_eq!(
        state,
        Some(BTreeMap::new()),
        "{what}: the empty directory {} was written into",
        dir.display()
    );
}

/// `fealty export --format json --data DIR` (through the socket when a server runs there).
fn export(dir: &Path) -> Value {
    let out = ok(&fealty_env(
        &["export", "--format", "json", "--data", s(dir)],
        &[],
    ));
    serde_json::from_str(&out).expect("export json is JSON")
}

fn ledger(doc: &Value) -> &Vec<Value> {
    doc["ledger"].as_array().expect("ledger array")
}

fn members(doc: &Value) -> &Vec<Value> {
    doc["members"].as_array().expect("members array")
}

fn last_seq(doc: &Value) -> u64 {
    ledger(doc)
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .max()
        .unwrap_or(0)
}

/// `fealty verify --data DIR` passes with these counts.
fn assert_verifies(dir: &Path, entries: u64, members: u64) {
    let out = ok(&fealty_env(&["verify", "--data", s(dir)], &[]));
    assert!(
        out.trim()
            .starts_with(&format!("ok: {entries} entries, {members} member")),
        "verify on {} printed {out:?}, expected `ok: {entries} entries, {members} members`",
        dir.display()
    );
}

fn backup(dir: &Path, target: &str, extra: &[&str], envs: &[(&str, &str)]) -> Made {
    let mut args = vec!["backup", "--to", target, "--data", s(dir)];
    args.extend_from_slice(extra);
    parse_made(&ok(&fealty_env(&args, envs)))
}

fn restore(from: &str, into: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut args = vec!["restore", "--from", from, "--data", s(into)];
    args.extend_from_slice(extra);
    fealty_env(&args, envs)
}

/// Creates `n` members named `<tag> Member <i>` with a few earns and, for every other one, a
/// redemption. Returns the members as created.
async fn populate(api: &Api, tag: &str, n: usize, earns: i64) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        let m = api
            .create_member(&json!({
                "name": format!("{tag} Member {i}"),
                "email": format!("{}{i}@example.com", tag.to_lowercase()),
            }))
            .await;
        let id = m["id"].as_str().unwrap().to_owned();
        for e in 1..=earns {
            api.earn(&id, 10 * e + i as i64).await;
        }
        if i % 2 == 0 && earns > 0 {
            api.transaction(&id, &fresh_key(), &json!({"kind": "redeem", "points": 5}))
                .await
                .expect_status(201);
        }
        out.push(m);
    }
    out
}

/// A stopped data directory with a few members and entries.
async fn stopped_data_dir(tag: &str, n: usize) -> TempDir {
    let dir = tempdir();
    let mut server = TestServer::start_in(dir.path());
    populate(&server.client(), tag, n, 2).await;
    server.stop();
    dir
}

/// The single `fealty-<ID>.fbk` files in `dir`, sorted.
fn backup_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("fealty-") && n.ends_with(".fbk"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port with nothing listening on it.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// ---------------------------------------------------------------------------------------------
// The backup file format
// ---------------------------------------------------------------------------------------------

/// A backup file cut into its parts (see notes/backup-spec.md, "File format").
struct Parts {
    magic: Vec<u8>,
    header: Value,
    body: Vec<u8>,
    /// Whether the trailer's `\n` is part of what the checksum covers.
    hash_covers_newline: bool,
    /// What follows the 64 hex digits (a final newline, or nothing).
    tail: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn split_backup(bytes: &[u8]) -> Parts {
    let l1 = find(bytes, b"\n").expect("a first line") + 1;
    let l2 = l1 + find(&bytes[l1..], b"\n").expect("a header line") + 1;
    let t = rfind(bytes, b"\nsha256 ").expect("a `\\nsha256 <hex>` trailer");
    assert!(t >= l2, "the trailer comes after the header");
    let hex_start = t + b"\nsha256 ".len();
    let digest = std::str::from_utf8(&bytes[hex_start..hex_start + 64]).expect("hex trailer");
    let tail = bytes[hex_start + 64..].to_vec();
    assert!(
        digest.bytes().all(|b| b.is_ascii_hexdigit()) && (tail.is_empty() || tail == b"\n"),
        "the trailer is not `\\nsha256 <64 hex>`: {:?}",
        String::from_utf8_lossy(&bytes[t..])
    );
    let hash_covers_newline = if sha_hex(&bytes[..t]) == digest.to_lowercase() {
        false
    } else if sha_hex(&bytes[..=t]) == digest.to_lowercase() {
        true
    } else {
        panic!("the trailer is not the sha256 of everything before it");
    };
    assert_eq!(
        &bytes[..l1],
        b"FEALTY-BACKUP 2\n",
        "line 1 of a backup is `FEALTY-BACKUP 2`"
    );
    let header: Value = serde_json::from_slice(&bytes[l1..l2 - 1]).expect("line 2 is JSON");
    Parts {
        magic: bytes[..l1].to_vec(),
        header,
        body: bytes[l2..t].to_vec(),
        hash_covers_newline,
        tail,
    }
}

impl Parts {
    /// The file again, with a correct trailer over whatever the parts now hold.
    fn seal(&self) -> Vec<u8> {
        let mut out = self.magic.clone();
        out.extend_from_slice(serde_json::to_string(&self.header).unwrap().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        self.reseal(out)
    }

    /// `prefix` followed by a correct trailer.
    fn reseal(&self, prefix: Vec<u8>) -> Vec<u8> {
        let mut covered = prefix.clone();
        if self.hash_covers_newline {
            covered.push(b'\n');
        }
        let mut out = prefix;
        out.extend_from_slice(b"\nsha256 ");
        out.extend_from_slice(sha_hex(&covered).as_bytes());
        out.extend_from_slice(&self.tail);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// moto, a real S3-protocol server on loopback
// ---------------------------------------------------------------------------------------------

/// `moto_server -H 127.0.0.1 -p PORT`, killed on drop.
struct MotoServer {
    child: Child,
    port: u16,
    http: reqwest::Client,
    _log_dir: TempDir,
}

impl MotoServer {
    async fn start() -> Self {
        let log_dir = tempdir();
        let log_path = log_dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).expect("moto log file");
        let port = dead_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `moto_server` ({e}): the S3 backup tests need moto's S3 server; \
                     install it with `python3 -m pip install 'moto[server]'` (scripts/test.sh does)"
                )
            });
        let mut moto = Self {
            child,
            port,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            _log_dir: log_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto_server exited ({status}) before answering: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            if moto
                .http
                .get(format!("{}/moto-api/data.json", moto.endpoint()))
                .send()
                .await
                .is_ok()
            {
                return moto;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 30 s: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn create_bucket(&self, bucket: &str) {
        let r = self
            .http
            .put(format!("{}/{bucket}", self.endpoint()))
            .send()
            .await
            .expect("PUT bucket");
        assert!(r.status().is_success(), "creating bucket {bucket}: {r:?}");
    }

    /// The object keys under `prefix` in `bucket` (moto without authentication).
    async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let text = self
            .http
            .get(format!(
                "{}/{bucket}?list-type=2&prefix={}",
                self.endpoint(),
                common::encode(prefix)
            ))
            .send()
            .await
            .expect("list objects")
            .text()
            .await
            .expect("list body");
        let mut keys: Vec<String> = text
            .split("<Key>")
            .skip(1)
            .filter_map(|p| p.split_once("</Key>").map(|(k, _)| k.to_owned()))
            .collect();
        keys.sort();
        keys
    }

    /// An IAM query call; moto routes an unsigned request by the service in its credential scope.
    async fn iam(&self, params: &[(&str, &str)]) -> String {
        let mut form = vec![("Version", "2010-05-08")];
        form.extend_from_slice(params);
        let r = self
            .http
            .post(format!("{}/", self.endpoint()))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAFEALTYSETUP/20250101/us-east-1/iam/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .form(&form)
            .send()
            .await
            .expect("IAM call");
        let status = r.status();
        let text = r.text().await.expect("IAM body");
        assert!(status.is_success(), "IAM {params:?}: {status} {text}");
        text
    }

    /// A user allowed everything, with a fresh access key: `(key id, secret)`.
    async fn user_with_key(&self) -> (String, String) {
        self.iam(&[("Action", "CreateUser"), ("UserName", "fealty")])
            .await;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "fealty"),
            ("PolicyName", "everything"),
            ("PolicyDocument", policy),
        ])
        .await;
        let text = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", "fealty")])
            .await;
        let tag = |name: &str| {
            text.split_once(&format!("<{name}>"))
                .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
                .map(|(v, _)| v.to_owned())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        (tag("AccessKeyId"), tag("SecretAccessKey"))
    }

    /// From now on every request must be signed by a known key (moto's `reset-auth`, the
    /// run-time form of `INITIAL_NO_AUTH_ACTION_COUNT`).
    async fn require_auth(&self) {
        let r = self
            .http
            .post(format!("{}/moto-api/reset-auth", self.endpoint()))
            .header("Content-Type", "text/plain")
            .body("0")
            .send()
            .await
            .expect("reset-auth");
        assert!(r.status().is_success(), "moto reset-auth: {r:?}");
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// 1. A file backup taken while the server takes writes
// ---------------------------------------------------------------------------------------------

/// Fields of a member that a later earn does not change.
const IDENTITY: [&str; 8] = [
    "id",
    "card_number",
    "card_token",
    "name",
    "email",
    "phone",
    "status",
    "created_at",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_backup_while_serving_under_writes_restores_exactly_up_to_its_last_seq() {
    let src = tempdir();
    let server = TestServer::start_in(src.path());
    let api = server.client();
    let store = tempdir();
    let target = file_target(store.path());

    let stop = Arc::new(AtomicBool::new(false));
    let backup_done = Arc::new(AtomicBool::new(false));
    let acked_max = Arc::new(AtomicU64::new(0));
    let after_min = Arc::new(AtomicU64::new(u64::MAX));
    let after_count = Arc::new(AtomicU64::new(0));
    // (member id, whether its creation was sent after the backup had returned)
    let created: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..3 {
        let (api, stop, done) = (api.clone(), stop.clone(), backup_done.clone());
        let (acked_max, after_min, after_count, created) = (
            acked_max.clone(),
            after_min.clone(),
            after_count.clone(),
            created.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let after = done.load(Ordering::SeqCst);
                let m = api
                    .create_member(&json!({
                        "name": format!("Live {w}-{i}"),
                        "email": format!("live{w}-{i}@example.com"),
                    }))
                    .await;
                let id = m["id"].as_str().unwrap().to_owned();
                created.lock().unwrap().push((id.clone(), after));
                for p in [7, 11] {
                    let after = done.load(Ordering::SeqCst);
                    let r = api.earn(&id, p + i).await;
                    let seq = r["entry"]["seq"].as_u64().expect("entry seq");
                    acked_max.fetch_max(seq, Ordering::SeqCst);
                    if after {
                        after_min.fetch_min(seq, Ordering::SeqCst);
                        after_count.fetch_add(1, Ordering::SeqCst);
                    }
                }
                i += 1;
            }
        }));
    }

    // Let the writers get going, then back up while they keep writing.
    let t0 = Instant::now();
    while acked_max.load(Ordering::SeqCst) < 30 {
        assert!(t0.elapsed() < Duration::from_secs(20), "writers too slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acked_before = acked_max.load(Ordering::SeqCst);
    let members_before: Vec<String> = created
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let args = [
        "backup".to_owned(),
        "--to".to_owned(),
        target.clone(),
        "--data".to_owned(),
        s(src.path()).to_owned(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fealty_env(&args, &[])
    })
    .await
    .unwrap();
    backup_done.store(true, Ordering::SeqCst);
    let made = parse_made(&ok(&out));
    eprintln!(
        "acknowledged before the backup: seq {acked_before}; backup last seq {}; acknowledged when it returned: {}",
        made.seq,
        acked_max.load(Ordering::SeqCst)
    );
    let t1 = Instant::now();
    while after_count.load(Ordering::SeqCst) < 9 {
        assert!(t1.elapsed() < Duration::from_secs(20), "writers stalled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.expect("writer task");
    }

    // What the backup holds, against what was acknowledged around it.
    let s_seq = made.seq;
    assert!(
        acked_before <= s_seq,
        "entries acknowledged before the backup started ({acked_before}) are missing from it (last seq {s_seq})"
    );
    assert!(
        s_seq < after_min.load(Ordering::SeqCst),
        "entries sent after the backup returned are in it"
    );
    assert_eq!(made.entries, s_seq, "sequence numbers have no gaps");
    let file = store.path().join(format!("fealty-{}.fbk", made.id));
    assert_eq!(
        std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .len(),
        made.bytes,
        "the file's size is the reported byte count"
    );
    assert_eq!(backup_files(store.path()).len(), 1);

    // Restore into a directory that does not exist yet.
    let restored_parent = tempdir();
    let new = restored_parent.path().join("restored");
    assert_restored(&restore(&target, &new, &[], &[]), &made);

    let source = export(src.path());
    assert!(last_seq(&source) > s_seq, "writes went on after the backup");
    let got = export(&new);
    let want_ledger: Vec<Value> = ledger(&source)
        .iter()
        .filter(|e| e["seq"].as_u64().unwrap() <= s_seq)
        .cloned()
        .collect();
    assert_eq!(
        ledger(&got).len(),
        want_ledger.len(),
        "restored ledger length"
    );
    assert_eq!(
        *ledger(&got),
        want_ledger,
        "the restored ledger is the source's up to the last seq, entry for entry"
    );

    let mut balance_at: HashMap<&str, i64> = HashMap::new();
    for e in &want_ledger {
        balance_at.insert(
            e["member_id"].as_str().unwrap(),
            e["balance_after"].as_i64().unwrap(),
        );
    }
    let source_members: HashMap<&str, &Value> = members(&source)
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m))
        .collect();
    let restored_ids: HashSet<&str> = members(&got)
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(members(&got).len() as u64, made.members);
    for m in members(&got) {
        let id = m["id"].as_str().unwrap();
        let orig = source_members
            .get(id)
            .unwrap_or_else(|| panic!("restored member {id} does not exist in the source"));
        for field in IDENTITY {
            assert_eq!(m[field], orig[field], "member {id} field {field}");
        }
        let want = balance_at.get(id).copied().unwrap_or(0);
        assert_eq!(
            m["balance"], want,
            "member {id}'s balance as of seq {s_seq}"
        );
        assert_eq!(m["lifetime_earned"], want, "member {id} only ever earned");
    }
    for id in balance_at.keys() {
        assert!(
            restored_ids.contains(id),
            "member {id} has entries in the backup but is missing"
        );
    }
    for id in &members_before {
        assert!(
            restored_ids.contains(id.as_str()),
            "member {id}, created before the backup started, is missing"
        );
    }
    let late: Vec<String> = created
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, after)| *after)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(!late.is_empty());
    for id in &late {
        assert!(
            !restored_ids.contains(id.as_str()),
            "member {id}, created after the backup returned, is in it"
        );
    }
    assert_verifies(&new, s_seq, made.members);

    // The restored directory serves, and its chain goes on from the last seq.
    let restored_server = TestServer::start_in(&new);
    let rapi = restored_server.client();
    let some = members(&got)[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        rapi.balance(&some).await,
        balance_at.get(some.as_str()).copied().unwrap_or(0)
    );
    assert_eq!(
        rapi.get(&format!("/members/{}", late[0])).await.status,
        404,
        "a member created after the backup is not in the restored server"
    );
    let next = rapi.earn(&some, 3).await;
    assert_eq!(next["entry"]["seq"].as_u64(), Some(s_seq + 1));
}

// ---------------------------------------------------------------------------------------------
// 2. No server running
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn backup_and_restore_without_a_server_and_refusing_a_non_empty_dir() {
    let src = stopped_data_dir("Offline", 4).await;
    let other = stopped_data_dir("Othershop", 2).await;
    let store = tempdir();
    let target = file_target(store.path());

    let made = backup(src.path(), &target, &[], &[]);
    let source = export(src.path());
    assert_eq!(made.members, members(&source).len() as u64);
    assert_eq!(made.entries, ledger(&source).len() as u64);
    assert_eq!(made.seq, last_seq(&source));
    assert_eq!(
        backup_files(store.path()),
        vec![format!("fealty-{}.fbk", made.id)]
    );

    // Into an empty directory: the same members and ledger, and verify passes.
    let new = tempdir();
    assert_restored(&restore(&target, new.path(), &[], &[]), &made);
    assert_eq!(export(new.path()), source);
    assert_verifies(new.path(), made.entries, made.members);

    // A directory with a database in it is refused and left alone...
    let other_before = export(other.path());
    let state = dir_state(other.path());
    let line = error_line(&restore(&target, other.path(), &[], &[]));
    assert!(
        mentions_any(&line, &["force", "not empty", "non-empty", "exists"]),
        "the refusal should say why (non-empty, --force): {line}"
    );
    assert_eq!(
        dir_state(other.path()),
        state,
        "a refused restore changed the directory"
    );
    assert_eq!(export(other.path()), other_before);

    // With --force the old database is replaced.
    assert_restored(&restore(&target, other.path(), &["--force"], &[]), &made);
    assert_eq!(export(other.path()), source);
    assert_verifies(other.path(), made.entries, made.members);

    // A directory that holds any file at all is not empty either.
    let stray = tempdir();
    std::fs::write(stray.path().join("notes.txt"), "keep me").unwrap();
    let stray_state = dir_state(stray.path());
    let out = restore(&target, stray.path(), &[], &[]);
    assert!(
        !out.status.success(),
        "restore into a non-empty directory (it holds notes.txt) without --force succeeded: {:?}",
        common::stdout(&out)
    );
    error_line(&out);
    assert_eq!(
        dir_state(stray.path()),
        stray_state,
        "a refused restore wrote into the directory"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Encryption
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn encrypted_backups_hide_the_data_and_need_the_passphrase() {
    let passphrase = "correct horse battery staple";
    let src = tempdir();
    let server = TestServer::start_in(src.path());
    let created = populate(&server.client(), "Quokkafellow", 3, 2).await;
    let store = tempdir();
    let target = file_target(store.path());

    // Through the running server, with the passphrase in the CLI's environment.
    let made = backup(
        src.path(),
        &target,
        &[],
        &[("FEALTY_BACKUP_PASSPHRASE", passphrase)],
    );
    let bytes = std::fs::read(store.path().join(format!("fealty-{}.fbk", made.id))).unwrap();
    for m in &created {
        for field in ["name", "email", "card_number", "card_token"] {
            let v = m[field].as_str().unwrap();
            assert!(
                find(&bytes, v.as_bytes()).is_none(),
                "the member's {field} {v:?} is readable in an encrypted backup"
            );
        }
    }
    let parts = split_backup(&bytes);
    assert_eq!(
        parts.header["encryption"], "age-passphrase",
        "{}",
        parts.header
    );
    assert_eq!(parts.header["id"], made.id.as_str());

    // Wrong passphrase, or none: refused, nothing written.
    let new = tempdir();
    let line = error_line(&restore(
        &target,
        new.path(),
        &[],
        &[("FEALTY_BACKUP_PASSPHRASE", "Correct horse battery staple")],
    ));
    assert!(line.contains("passphrase"), "wrong passphrase: {line}");
    assert_empty_dir(new.path(), "wrong passphrase");
    let line = error_line(&restore(&target, new.path(), &[], &[]));
    assert!(line.contains("passphrase"), "no passphrase: {line}");
    assert_empty_dir(new.path(), "no passphrase");

    // The right one, from a file this time.
    let secrets = tempdir();
    let pass_file = secrets.path().join("passphrase");
    std::fs::write(&pass_file, passphrase).unwrap();
    assert_restored(
        &restore(
            &target,
            new.path(),
            &["--passphrase-file", s(&pass_file)],
            &[],
        ),
        &made,
    );
    assert_eq!(export(new.path()), export(src.path()));
    assert_verifies(new.path(), made.entries, made.members);
}

/// The server image hands the passphrase over as a file named in FEALTY_BACKUP_PASSPHRASE_FILE,
/// written byte for byte: characters a template or JSON would escape must survive as given.
#[tokio::test]
async fn the_passphrase_file_can_be_named_in_the_environment() {
    let passphrase = "a&b<c>d\"e\\f$g'h \\u0026";
    let src = stopped_data_dir("Envfile", 2).await;
    let secrets = tempdir();
    let pass_file = secrets.path().join("backup-passphrase");
    std::fs::write(&pass_file, passphrase).unwrap();
    let store = tempdir();
    let target = file_target(store.path());

    let made = backup(
        src.path(),
        &target,
        &[],
        &[("FEALTY_BACKUP_PASSPHRASE_FILE", s(&pass_file))],
    );
    let bytes = std::fs::read(store.path().join(format!("fealty-{}.fbk", made.id))).unwrap();
    assert_eq!(
        split_backup(&bytes).header["encryption"],
        "age-passphrase",
        "a backup with FEALTY_BACKUP_PASSPHRASE_FILE set is not encrypted"
    );

    // The very bytes of the file open it, typed as the owner kept them.
    let new = tempdir();
    assert_restored(
        &restore(
            &target,
            new.path(),
            &[],
            &[("FEALTY_BACKUP_PASSPHRASE", passphrase)],
        ),
        &made,
    );
    assert_eq!(export(new.path()), export(src.path()));
}

// ---------------------------------------------------------------------------------------------
// 4. Damaged backups
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn damaged_backups_are_refused_and_nothing_is_written() {
    let src = stopped_data_dir("Damage", 4).await;
    let victim = stopped_data_dir("Victim", 2).await;
    let store = tempdir();
    let made = backup(src.path(), &file_target(store.path()), &[], &[]);
    let name = format!("fealty-{}.fbk", made.id);
    let good = std::fs::read(store.path().join(&name)).unwrap();
    let source = export(src.path());

    // The format as the contract describes it.
    let parts = split_backup(&good);
    let h = &parts.header;
    assert_eq!(h["format_version"], 2, "{h}");
    assert!(h["schema_version"].is_u64(), "{h}");
    assert_eq!(h["id"], made.id.as_str(), "{h}");
    assert!(
        h["created_at"]
            .as_str()
            .is_some_and(|t| OffsetDateTime::parse(t, &Rfc3339).is_ok()),
        "{h}"
    );
    assert_eq!(h["members"], made.members, "{h}");
    assert_eq!(h["entries"], made.entries, "{h}");
    assert_eq!(h["last_seq"], made.seq, "{h}");
    assert_eq!(
        h["last_hash"],
        ledger(&source).last().unwrap()["hash"],
        "header last_hash is the last entry's hash: {h}"
    );
    assert_eq!(h["encryption"], "none", "{h}");
    assert!(parts.body.len() >= 16, "a body to damage");

    let body_start = rfind(&good, b"\nsha256 ").unwrap() - parts.body.len();
    let mid = body_start + parts.body.len() / 2;
    let mut flipped = good.clone();
    flipped[mid] ^= 0x01;
    let truncated = good[..mid].to_vec();
    let quarter = parts.body.len() / 4;
    let mut swapped_body = parts.body.clone();
    {
        let (a, b) = swapped_body.split_at_mut(2 * quarter);
        a[quarter..2 * quarter].swap_with_slice(&mut b[..quarter]);
    }
    assert_ne!(swapped_body, parts.body);
    let mut swapped = good[..body_start].to_vec();
    swapped.extend_from_slice(&swapped_body);
    swapped.extend_from_slice(&good[body_start + parts.body.len()..]);
    let swapped_resealed = Parts {
        body: swapped_body.clone(),
        ..clone_parts(&parts)
    }
    .seal();
    let with_header = |field: &str, value: u64| {
        let mut p = clone_parts(&parts);
        p.header[field] = json!(value);
        p.seal()
    };

    // A re-serialised header with the same values is still a good backup: what the version
    // cases change is the version alone.
    let resealed_same = clone_parts(&parts).seal();

    // (label, bytes, words one of which the error must contain)
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("flipped byte", flipped, &["checksum"]),
        ("truncated", truncated, &["truncat"]),
        ("two chunks swapped", swapped, &["checksum"]),
        (
            "two chunks swapped, checksum fixed",
            swapped_resealed,
            &[""],
        ),
        (
            "format_version 99",
            with_header("format_version", 99),
            &["version"],
        ),
        (
            "schema_version 99",
            with_header("schema_version", 99),
            &["newer", "schema"],
        ),
    ];
    let victim_export = export(victim.path());
    let victim_state = dir_state(victim.path());
    for (label, bytes, words) in cases {
        let bad = tempdir();
        std::fs::write(bad.path().join(&name), &bytes).unwrap();
        let target = file_target(bad.path());

        let empty = tempdir();
        let line = error_line(&restore(&target, empty.path(), &[], &[]));
        assert!(
            mentions_any(&line, words),
            "{label}: the error should name the problem ({words:?}): {line}"
        );
        if label.contains("_version") {
            assert!(
                !line.contains("checksum"),
                "{label}: the trailer was fixed, the version must be what is refused: {line}"
            );
        }
        assert_empty_dir(empty.path(), label);

        let line = error_line(&restore(&target, victim.path(), &["--force"], &[]));
        assert!(
            mentions_any(&line, words),
            "{label} (--force): the error should name the problem ({words:?}): {line}"
        );
        assert_eq!(
            dir_state(victim.path()),
            victim_state,
            "{label}: a refused --force restore changed the existing database"
        );
    }
    assert_eq!(export(victim.path()), victim_export);

    // Nothing to restore, or no such backup.
    let nothing = tempdir();
    let empty = tempdir();
    let line = error_line(&restore(
        &file_target(nothing.path()),
        empty.path(),
        &[],
        &[],
    ));
    assert!(
        line.contains("not found") || line.contains("no backup"),
        "{line}"
    );
    let line = error_line(&restore(
        &file_target(store.path()),
        empty.path(),
        &["--at", "20000101T000000Z-000000000001"],
        &[],
    ));
    assert!(line.contains("not found"), "{line}");
    assert_empty_dir(empty.path(), "no such backup");

    // The resealed copy with an unchanged header, and the original, restore.
    let same = tempdir();
    std::fs::write(same.path().join(&name), &resealed_same).unwrap();
    assert_restored(
        &restore(&file_target(same.path()), empty.path(), &[], &[]),
        &made,
    );
    assert_restored(
        &restore(&file_target(store.path()), victim.path(), &["--force"], &[]),
        &made,
    );
    assert_eq!(export(victim.path()), source);
}

fn clone_parts(p: &Parts) -> Parts {
    Parts {
        magic: p.magic.clone(),
        header: p.header.clone(),
        body: p.body.clone(),
        hash_covers_newline: p.hash_covers_newline,
        tail: p.tail.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// 5. S3 (moto)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn s3_backup_list_restore_at_and_prune() {
    let moto = MotoServer::start().await;
    moto.create_bucket("fealty-test").await;
    let endpoint = moto.endpoint();
    let target = "s3://fealty-test/shop1";
    let s3 = ["--s3-endpoint", endpoint.as_str()];

    let src = tempdir();
    let server = TestServer::start_in(src.path());
    let api = server.client();
    let created = populate(&api, "Cloud", 3, 2).await;
    let first = backup(src.path(), target, &s3, &ANY_KEYS);
    let id0 = created[0]["id"].as_str().unwrap();
    api.earn(id0, 40).await;
    api.earn(id0, 2).await;
    let second = backup(src.path(), target, &s3, &ANY_KEYS);
    assert_eq!(second.seq, first.seq + 2);
    assert!(
        second.id > first.id,
        "ids sort by time: {} then {}",
        first.id,
        second.id
    );
    assert_eq!(
        moto.keys("fealty-test", "shop1/").await,
        vec![
            format!("shop1/fealty-{}.fbk", first.id),
            format!("shop1/fealty-{}.fbk", second.id)
        ]
    );

    let list = |envs: &[(&str, &str)]| {
        let mut args = vec!["backup", "list", "--from", target];
        args.extend_from_slice(&s3);
        parse_list(&ok(&fealty_env(&args, envs)))
    };
    let listed = list(&ANY_KEYS);
    assert_eq!(
        listed.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        vec![second.id.as_str(), first.id.as_str()],
        "newest first"
    );
    for (l, m) in listed.iter().zip([&second, &first]) {
        assert_eq!(
            (l.bytes, l.entries, l.seq),
            (m.bytes, m.entries, m.seq),
            "{l:?}"
        );
        assert!((OffsetDateTime::now_utc() - l.created).abs() < time::Duration::minutes(10));
    }
    assert!(listed[0].created >= listed[1].created);

    // --at the first id: the older state.
    let old = tempdir();
    let mut args = vec!["--at", first.id.as_str()];
    args.extend_from_slice(&s3);
    assert_restored(&restore(target, old.path(), &args, &ANY_KEYS), &first);
    assert_eq!(last_seq(&export(old.path())), first.seq);
    assert_verifies(old.path(), first.entries, first.members);
    // The newest by default.
    let newest = tempdir();
    assert_restored(&restore(target, newest.path(), &s3, &ANY_KEYS), &second);
    assert_eq!(export(newest.path()), export(src.path()));
    // A time before every backup: nothing.
    let none = tempdir();
    let mut args = vec!["--at", "2000-01-01T00:00:00Z"];
    args.extend_from_slice(&s3);
    let line = error_line(&restore(target, none.path(), &args, &ANY_KEYS));
    assert!(line.contains("not found"), "{line}");
    assert_empty_dir(none.path(), "restore --at before every backup");

    // Prune: keep the last one.
    let prune = |keep_last: &str| {
        let mut args = vec![
            "backup",
            "prune",
            "--from",
            target,
            "--keep-last",
            keep_last,
            "--keep-daily",
            "0",
            "--keep-weekly",
            "0",
        ];
        args.extend_from_slice(&s3);
        fealty_env(&args, &ANY_KEYS)
    };
    let out = ok(&prune("1"));
    assert_eq!(
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>(),
        vec![format!("pruned {}", first.id)]
    );
    let listed = list(&ANY_KEYS);
    assert_eq!(
        listed.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        vec![second.id.as_str()]
    );
    assert_eq!(
        moto.keys("fealty-test", "shop1/").await,
        vec![format!("shop1/fealty-{}.fbk", second.id)]
    );
    // Even a policy that keeps nothing keeps the newest (or is refused outright).
    let out = prune("0");
    if out.status.success() {
        assert!(
            !common::stdout(&out).contains("pruned"),
            "prune removed the newest backup: {}",
            common::stdout(&out)
        );
    } else {
        error_line(&out);
    }
    assert_eq!(
        list(&ANY_KEYS).len(),
        1,
        "the newest backup survives every prune"
    );
}

#[tokio::test]
async fn s3_errors_are_one_line_and_prompt() {
    let src = stopped_data_dir("Errors", 2).await;

    // Wrong credentials: moto with authentication on and one known key. The target is the
    // bucket's root: moto's signature check rejects even a correctly signed listing whose
    // `prefix=` holds a `/` (boto3 gets SignatureDoesNotMatch too), so no prefix here.
    let moto = MotoServer::start().await;
    moto.create_bucket("locked").await;
    let (key, secret) = moto.user_with_key().await;
    moto.require_auth().await;
    let endpoint = moto.endpoint();
    let s3 = ["--s3-endpoint", endpoint.as_str()];
    let good = [
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    let made = backup(src.path(), LOCKED, &s3, &good);
    let wrong_secret = [
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
    ];
    let credential_words = [
        "credential",
        "access key",
        "accesskey",
        "signature",
        "denied",
        "forbidden",
        "403",
        "auth",
    ];
    for (label, envs) in [("unknown key", &ANY_KEYS), ("wrong secret", &wrong_secret)] {
        let t = Instant::now();
        let line = error_line(&fealty_env(
            &[
                "backup",
                "--to",
                LOCKED,
                "--data",
                s(src.path()),
                s3[0],
                s3[1],
            ],
            envs,
        ));
        assert!(
            t.elapsed() < S3_ERROR_LIMIT,
            "{label}: took {:?}",
            t.elapsed()
        );
        assert!(
            mentions_any(&line, &credential_words),
            "{label}: the error should name the credentials: {line}"
        );
        let line = error_line(&fealty_env(
            &["backup", "list", "--from", LOCKED, s3[0], s3[1]],
            envs,
        ));
        assert!(
            mentions_any(&line, &credential_words),
            "{label} (list): the error should name the credentials: {line}"
        );
        let empty = tempdir();
        let line = error_line(&restore(LOCKED, empty.path(), &s3, envs));
        assert!(
            mentions_any(&line, &credential_words),
            "{label} (restore): the error should name the credentials: {line}"
        );
        assert_empty_dir(empty.path(), label);
    }
    // The right key still works: only the credentials were wrong.
    let mut args = vec!["backup", "list", "--from", LOCKED];
    args.extend_from_slice(&s3);
    let listed = parse_list(&ok(&fealty_env(&args, &good)));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, made.id);
    let restored = tempdir();
    assert_restored(&restore(LOCKED, restored.path(), &s3, &good), &made);

    // A missing bucket.
    let open = MotoServer::start().await;
    let endpoint = open.endpoint();
    let t = Instant::now();
    let line = error_line(&fealty_env(
        &[
            "backup",
            "--to",
            "s3://no-such-bucket/shop",
            "--data",
            s(src.path()),
            "--s3-endpoint",
            &endpoint,
        ],
        &ANY_KEYS,
    ));
    assert!(
        t.elapsed() < S3_ERROR_LIMIT,
        "missing bucket: took {:?}",
        t.elapsed()
    );
    assert!(
        line.contains("bucket"),
        "the error should name the bucket: {line}"
    );

    // Nothing listening.
    let dead = format!("http://127.0.0.1:{}", dead_port());
    for args in [
        vec![
            "backup",
            "--to",
            "s3://fealty-test/shop",
            "--data",
            s(src.path()),
            "--s3-endpoint",
            &dead,
        ],
        vec![
            "backup",
            "list",
            "--from",
            "s3://fealty-test/shop",
            "--s3-endpoint",
            &dead,
        ],
    ] {
        let t = Instant::now();
        let line = error_line(&fealty_env(&args, &ANY_KEYS));
        assert!(
            t.elapsed() < S3_ERROR_LIMIT,
            "server down ({}): took {:?}",
            args[1],
            t.elapsed()
        );
        assert!(
            mentions_any(
                &line,
                &[
                    "connect",
                    "refused",
                    "unreachable",
                    "reach",
                    "down",
                    "network"
                ]
            ),
            "server down: the error should say the server cannot be reached: {line}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Scheduled backups in `fealty serve`
// ---------------------------------------------------------------------------------------------

/// The backup state from `/api/v1/status` (the public `/readyz` says only ready or not).
async fn readyz_backup(api: &Api) -> Value {
    let r = api.get("/api/v1/status").await;
    let body = r.json();
    assert!(
        body["backup"].is_object(),
        "/api/v1/status ({}) lacks a `backup` object: {body}",
        r.status
    );
    body["backup"].clone()
}

#[tokio::test]
async fn serve_backs_up_at_start_and_on_schedule_and_reports_in_readyz() {
    let data = tempdir();
    let store = tempdir();
    let target = file_target(store.path());
    let server = TestServer::start_with(
        data.path(),
        &["--backup-to", &target, "--backup-every", "10s"],
        &[],
    );
    let store_path = store.path().to_path_buf();
    let first = wait_until(Duration::from_secs(15), "a backup at start", || {
        backup_files(&store_path).into_iter().next()
    });
    let api = server.client();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let b = readyz_backup(&api).await;
        if !b["last_success"].is_null() {
            break b;
        }
        assert!(Instant::now() < deadline, "last_success stays null: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        status["target"]
            .as_str()
            .is_some_and(|t| t.contains(s(store.path()))),
        "backup.target: {status}"
    );
    let when = status["last_success"]
        .as_str()
        .expect("last_success is a string");
    let when = OffsetDateTime::parse(when, &Rfc3339).expect("last_success is RFC 3339");
    assert!((OffsetDateTime::now_utc() - when).abs() < time::Duration::minutes(1));
    assert!(status["last_error"].is_null(), "{status}");
    assert!(
        status["age_seconds"]
            .as_i64()
            .is_some_and(|a| (0..60).contains(&a)),
        "age_seconds: {status}"
    );

    // The start-up backup restores.
    let restored = tempdir();
    let r = parse_restored(&ok(&restore(&target, restored.path(), &[], &[])));
    assert_eq!(format!("fealty-{}.fbk", r.id), first);

    // A write, then the next scheduled backup holds it.
    let m = api.create_member(&json!({"name": "Scheduled Sam"})).await;
    let entry = api.earn(m["id"].as_str().unwrap(), 12).await;
    let seq = entry["entry"]["seq"].as_u64().unwrap();
    let later = wait_until(Duration::from_secs(25), "a second scheduled backup", || {
        backup_files(&store_path)
            .into_iter()
            .find(|n| *n != first && n.ends_with(&format!("-{seq:012}.fbk")))
    });
    assert!(later > first);
    let again = tempdir();
    let r = parse_restored(&ok(&restore(&target, again.path(), &[], &[])));
    assert_eq!(r.seq, seq, "the newest backup holds the new entry");
}

#[tokio::test]
async fn serve_keeps_serving_when_scheduled_backups_fail() {
    let data = tempdir();
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let mut envs = vec![("FEALTY_S3_ENDPOINT", dead.as_str())];
    envs.extend_from_slice(&ANY_KEYS);
    let server = TestServer::start_with(
        data.path(),
        &[
            "--backup-to",
            "s3://fealty-test/shop",
            "--backup-every",
            "10s",
        ],
        &envs,
    );
    let api = server.client();
    let deadline = Instant::now() + Duration::from_secs(25);
    let status = loop {
        let b = readyz_backup(&api).await;
        if !b["last_error"].is_null() {
            break b;
        }
        assert!(Instant::now() < deadline, "last_error stays null: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        status["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "last_error is a message: {status}"
    );
    assert!(status["last_success"].is_null(), "{status}");
    assert!(
        status["target"]
            .as_str()
            .is_some_and(|t| t.contains("fealty-test")),
        "{status}"
    );

    // The till still works.
    let m = api.create_member(&json!({"name": "Still Serving"})).await;
    let id = m["id"].as_str().unwrap();
    api.transaction(id, &fresh_key(), &json!({"kind": "earn", "points": 25}))
        .await
        .expect_status(201);
    assert_eq!(api.balance(id).await, 25);
    readyz_backup(&api).await;

    // And the failure was logged.
    let logged = server
        .stdout_lines()
        .into_iter()
        .chain(server.stderr_lines())
        .any(|l| {
            let l = l.to_lowercase();
            l.contains("backup")
                && (l.contains("error") || l.contains("fail") || l.contains("warn"))
        });
    assert!(logged, "a failing backup is logged");
}

// ---------------------------------------------------------------------------------------------
// 7. Shipped segments between snapshots (point-in-time restore)
// ---------------------------------------------------------------------------------------------

/// The shortest `--ship-every` allowed.
const SHIP_EVERY: &str = "10s";

/// How long a shipped change may take to reach the target: one interval and some slack.
const SHIP_WAIT: Duration = Duration::from_secs(25);

/// `fealty-seg-<from:012>-<to:012>-<unix time>.fseg`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seg {
    from: u64,
    to: u64,
    at: i64,
    name: String,
}

/// Reads a segment's object name (a key's last path part); `None` for anything else.
fn parse_seg(name: &str) -> Option<Seg> {
    let base = name.rsplit('/').next()?;
    let rest = base.strip_prefix("fealty-seg-")?.strip_suffix(".fseg")?;
    let f: Vec<&str> = rest.split('-').collect();
    if f.len() != 3 || f[0].len() != 12 || f[1].len() != 12 {
        return None;
    }
    Some(Seg {
        from: f[0].parse().ok()?,
        to: f[1].parse().ok()?,
        at: f[2].parse().ok()?,
        name: base.to_owned(),
    })
}

/// The segments in a `file:` target directory, oldest first.
fn segment_files(dir: &Path) -> Vec<Seg> {
    let mut segs: Vec<Seg> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| parse_seg(&e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    segs.sort_by_key(|s| (s.at, s.from));
    segs
}

/// The segment whose entries end at `to`.
fn segment_ending_at(segs: &[Seg], to: u64) -> Seg {
    segs.iter()
        .find(|s| s.to == to && s.from <= to)
        .cloned()
        .unwrap_or_else(|| panic!("no segment ends at seq {to}: {segs:?}"))
}

/// `--backup-to TARGET --backup-every 1h --ship-every 10s`, then `extra`.
fn shipping<'a>(target: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--backup-to",
        target,
        "--backup-every",
        "1h",
        "--ship-every",
        SHIP_EVERY,
    ];
    args.extend_from_slice(extra);
    args
}

/// Waits until `/api/v1/status` says everything up to `seq` is safely in the target; returns
/// `backup.safe_seq`.
async fn wait_safe_seq(api: &Api, seq: u64) -> u64 {
    let deadline = Instant::now() + SHIP_WAIT;
    loop {
        let b = readyz_backup(api).await;
        if let Some(safe) = b["safe_seq"].as_u64()
            && safe >= seq
        {
            return safe;
        }
        assert!(
            b["safe_seq"].is_null() || b["safe_seq"].is_u64(),
            "backup.safe_seq is an integer or null: {b}"
        );
        assert!(
            Instant::now() < deadline,
            "backup.safe_seq did not reach {seq} within {SHIP_WAIT:?}: {b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seq_of(r: &Value) -> u64 {
    r["entry"]["seq"].as_u64().expect("entry seq")
}

fn id_of(m: &Value) -> String {
    m["id"].as_str().expect("member id").to_owned()
}

/// The export `doc` as of sequence `seq`: the ledger up to it, every member's balance then.
fn balances_at(doc: &Value, seq: u64) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = members(doc).iter().map(|m| (id_of(m), 0)).collect();
    for e in ledger(doc) {
        if e["seq"].as_u64().unwrap() <= seq {
            out.insert(
                e["member_id"].as_str().unwrap().to_owned(),
                e["balance_after"].as_i64().unwrap(),
            );
        }
    }
    out
}

fn member_balances(doc: &Value) -> BTreeMap<String, i64> {
    members(doc)
        .iter()
        .map(|m| (id_of(m), m["balance"].as_i64().expect("balance")))
        .collect()
}

fn ledger_upto(doc: &Value, seq: u64) -> Vec<Value> {
    ledger(doc)
        .iter()
        .filter(|e| e["seq"].as_u64().unwrap() <= seq)
        .cloned()
        .collect()
}

/// A unix time as RFC 3339.
fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// The creation time in a backup id (`20261125T201530Z-…`) as unix seconds.
fn id_unix(id: &str) -> i64 {
    id_time(id.split_once('-').unwrap().0)
        .unwrap()
        .unix_timestamp()
}

#[tokio::test]
async fn s3_shipped_segments_restore_everything_up_to_safe_seq_after_kill9() {
    let moto = MotoServer::start().await;
    moto.create_bucket("fealty-pitr").await;
    let endpoint = moto.endpoint();
    let target = "s3://fealty-pitr/pitr";
    let s3 = ["--s3-endpoint", endpoint.as_str()];

    // A shop with history, and an API key made before the start-up snapshot (so the restored
    // database knows the key the retried request presents).
    let data = stopped_data_dir("Pitr", 2).await;
    let key = common::api_key(data.path(), "till", &[]);
    let before = export(data.path());
    let s0 = last_seq(&before);
    assert!(s0 > 0);
    let old_ids: Vec<String> = members(&before).iter().map(id_of).collect();

    let mut server = TestServer::start_with(data.path(), &shipping(target, &s3), &ANY_KEYS);
    let api = server.client_with(&key);
    assert_eq!(
        wait_safe_seq(&api, s0).await,
        s0,
        "the start-up snapshot holds everything so far"
    );
    let keys = moto.keys("fealty-pitr", "pitr/").await;
    let snapshots: Vec<&String> = keys.iter().filter(|k| k.ends_with(".fbk")).collect();
    assert_eq!(snapshots.len(), 1, "one start-up snapshot: {keys:?}");
    let snapshot_id = snapshots[0]
        .strip_prefix("pitr/fealty-")
        .and_then(|k| k.strip_suffix(".fbk"))
        .unwrap()
        .to_owned();
    check_id(&snapshot_id, s0);

    // After the snapshot: a member with no points, a changed member, points for old and new
    // members, a redemption, and an earn with an Idempotency-Key that will be retried. The last
    // write is an entry, so once it is safe every change before it is too.
    let quiet = api
        .create_member(&json!({"name": "Pitr Quiet", "email": "quiet@example.com"}))
        .await;
    api.patch(
        &format!("/members/{}", old_ids[1]),
        &json!({"name": "Pitr Renamed", "phone": "+441632960123"}),
    )
    .await
    .expect_status(200);
    let fresh = api
        .create_member(&json!({"name": "Pitr Fresh", "email": "fresh@example.com"}))
        .await;
    let fresh_id = id_of(&fresh);
    let earn_body = json!({"kind": "earn", "points": 30, "reference": "till-9"});
    let first = api.transaction(&fresh_id, "pitr-earn-1", &earn_body).await;
    let first_json = first.expect_status(201);
    api.earn(&old_ids[0], 17).await;
    api.transaction(
        &old_ids[0],
        &fresh_key(),
        &json!({"kind": "redeem", "points": 4}),
    )
    .await
    .expect_status(201);
    let last = seq_of(&api.earn(&old_ids[1], 8).await);
    assert!(last >= s0 + 4);

    let safe = wait_safe_seq(&api, last).await;
    assert_eq!(safe, last, "backup.safe_seq is never beyond the last entry");
    let keys = moto.keys("fealty-pitr", "pitr/").await;
    let segs: Vec<Seg> = keys.iter().filter_map(|k| parse_seg(k)).collect();
    assert!(
        keys.iter()
            .all(|k| k.ends_with(".fbk") || parse_seg(k).is_some()),
        "only snapshots and segments are in the target: {keys:?}"
    );
    segment_ending_at(&segs, last);
    assert_eq!(
        segs.iter().filter(|s| s.to >= s.from).map(|s| s.from).min(),
        Some(s0 + 1),
        "the first segment continues the snapshot: {segs:?}"
    );

    // The server dies without warning.
    let source = export(data.path());
    assert_eq!(last_seq(&source), last);
    server.kill9();

    let parent = tempdir();
    let restored = parent.path().join("restored");
    let r = parse_restored(&ok(&restore(target, &restored, &s3, &ANY_KEYS)));
    assert_eq!(r.id, snapshot_id, "the snapshot the segments continue");
    assert_eq!(
        (r.members, r.entries, r.seq),
        (members(&source).len() as u64, last, last),
        "restore reports the snapshot plus the shipped segments"
    );
    let got = export(&restored);
    assert_eq!(
        *ledger(&got),
        ledger_upto(&source, safe),
        "every entry up to safe_seq, entry for entry"
    );
    assert_eq!(member_balances(&got), member_balances(&source));
    assert_eq!(member_balances(&got), balances_at(&source, safe));
    let by_id: HashMap<String, &Value> = members(&got).iter().map(|m| (id_of(m), m)).collect();
    for m in members(&source) {
        let id = id_of(m);
        let g = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("member {id} ({}) is missing", m["name"]));
        for field in IDENTITY.iter().chain(&["balance", "lifetime_earned"]) {
            assert_eq!(g[*field], m[*field], "member {id} field {field}");
        }
    }
    assert_eq!(by_id[&id_of(&quiet)]["balance"], 0);
    assert_eq!(by_id[&old_ids[1]]["name"], "Pitr Renamed");
    assert_eq!(got, source, "the restored export is the source's");
    assert_verifies(&restored, last, members(&source).len() as u64);

    // The retried earn is answered from the shipped idempotency record, not awarded again.
    let again_server = TestServer::start_in(&restored);
    let rapi = again_server.client_with(&key);
    let again = rapi.transaction(&fresh_id, "pitr-earn-1", &earn_body).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(
        again.header("idempotent-replayed"),
        Some("true"),
        "a retry after the restore is a replay: {}",
        again.text
    );
    assert_eq!(again.json(), first_json, "the replay is the first answer");
    assert_eq!(rapi.balance(&fresh_id).await, 30, "no double award");
    assert_eq!(rapi.all_transactions(&fresh_id, 50).await.len(), 1);
    // The chain goes on from the restored last seq.
    assert_eq!(seq_of(&rapi.earn(&fresh_id, 1).await), last + 1);
}

#[tokio::test]
async fn restore_at_a_snapshot_id_or_a_time_between_segments() {
    let data = stopped_data_dir("Timeline", 2).await;
    let at_start = export(data.path());
    let s0 = last_seq(&at_start);
    let old_ids: Vec<String> = members(&at_start).iter().map(id_of).collect();
    let store = tempdir();
    let target = file_target(store.path());
    let server = TestServer::start_with(data.path(), &shipping(&target, &[]), &[]);
    let api = server.client();
    wait_safe_seq(&api, s0).await;
    let snaps = backup_files(store.path());
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let snapshot_id = snaps[0]
        .strip_prefix("fealty-")
        .and_then(|n| n.strip_suffix(".fbk"))
        .unwrap()
        .to_owned();
    check_id(&snapshot_id, s0);

    // Batch A, shipped; then batch B, shipped at the next interval.
    let early = id_of(&api.create_member(&json!({"name": "Timeline Early"})).await);
    api.earn(&early, 10).await;
    let seq_a = seq_of(&api.earn(&old_ids[0], 20).await);
    assert_eq!(wait_safe_seq(&api, seq_a).await, seq_a);
    let late = id_of(&api.create_member(&json!({"name": "Timeline Late"})).await);
    api.earn(&late, 5).await;
    let seq_b = seq_of(&api.earn(&old_ids[0], 7).await);
    assert_eq!(wait_safe_seq(&api, seq_b).await, seq_b);
    let source = export(data.path());
    drop(server);

    let segs = segment_files(store.path());
    let seg_a = segment_ending_at(&segs, seq_a);
    let seg_b = segs
        .iter()
        .find(|s| s.from == seq_a + 1)
        .cloned()
        .unwrap_or_else(|| panic!("no segment continues at seq {}: {segs:?}", seq_a + 1));
    assert_eq!(seg_b.to, seq_b, "{segs:?}");
    assert!(
        seg_b.at > seg_a.at,
        "segments are made one interval apart: {segs:?}"
    );
    assert!(seg_a.at > id_unix(&snapshot_id), "{segs:?}");

    // --at the snapshot's id: the snapshot alone.
    let only = tempdir();
    let r = parse_restored(&ok(&restore(
        &target,
        only.path(),
        &["--at", &snapshot_id],
        &[],
    )));
    assert_eq!(
        (r.id.as_str(), r.members, r.entries, r.seq),
        (snapshot_id.as_str(), old_ids.len() as u64, s0, s0),
        "--at <snapshot id> restores the snapshot without the segments"
    );
    assert_eq!(export(only.path()), at_start);
    assert_verifies(only.path(), s0, old_ids.len() as u64);

    // --at a time after the snapshot and before the first segment: the snapshot alone too.
    let before_a = tempdir();
    let when = rfc3339(seg_a.at - 1);
    let r = parse_restored(&ok(&restore(
        &target,
        before_a.path(),
        &["--at", &when],
        &[],
    )));
    assert_eq!(
        (r.id.as_str(), r.seq),
        (snapshot_id.as_str(), s0),
        "--at {when}"
    );

    // --at a time between the two segments: the snapshot and segment A, not B.
    let mid = tempdir();
    let when = rfc3339(seg_a.at + (seg_b.at - seg_a.at) / 2);
    let r = parse_restored(&ok(&restore(&target, mid.path(), &["--at", &when], &[])));
    assert_eq!(
        (r.id.as_str(), r.seq, r.entries),
        (snapshot_id.as_str(), seq_a, seq_a),
        "--at {when} (segments at {} and {}) stops after the first segment",
        seg_a.at,
        seg_b.at
    );
    let got = export(mid.path());
    assert_eq!(*ledger(&got), ledger_upto(&source, seq_a));
    let ids: HashSet<String> = members(&got).iter().map(id_of).collect();
    assert!(
        ids.contains(&early),
        "a member from before {when} is missing"
    );
    assert!(
        !ids.contains(&late),
        "a member from after {when} is restored"
    );
    assert_eq!(r.members, old_ids.len() as u64 + 1);
    let mut want = balances_at(&source, seq_a);
    want.remove(&late);
    assert_eq!(member_balances(&got), want, "balances as of seq {seq_a}");
    assert_verifies(mid.path(), seq_a, old_ids.len() as u64 + 1);

    // No --at: everything shipped.
    let all = tempdir();
    let r = parse_restored(&ok(&restore(&target, all.path(), &[], &[])));
    assert_eq!((r.id.as_str(), r.seq), (snapshot_id.as_str(), seq_b));
    assert_eq!(export(all.path()), source);
}

#[tokio::test]
async fn a_manual_backup_between_shipped_segments_restores_everything_shipped_after_it() {
    let data = stopped_data_dir("Straddle", 1).await;
    let s0 = last_seq(&export(data.path()));
    let ids: Vec<String> = members(&export(data.path())).iter().map(id_of).collect();
    let store = tempdir();
    let target = file_target(store.path());
    let server = TestServer::start_with(data.path(), &shipping(&target, &[]), &[]);
    let api = server.client();
    wait_safe_seq(&api, s0).await;
    // Just after a shipment, so the next one comes an interval later: an entry, a manual
    // snapshot that holds it, another entry; shipping continues the scheduled snapshot, so its
    // next segment straddles the manual one.
    let e0 = seq_of(&api.earn(&ids[0], 1).await);
    wait_safe_seq(&api, e0).await;
    let e1 = seq_of(&api.earn(&ids[0], 2).await);
    let made = parse_made(&ok(&server.cli(&["backup", "--to", &target])));
    assert_eq!(made.seq, e1);
    let e2 = seq_of(&api.earn(&ids[0], 3).await);
    wait_safe_seq(&api, e2).await;
    let source = export(data.path());
    drop(server);
    let segs = segment_files(store.path());
    assert!(
        segs.iter().any(|s| s.from <= e1 && s.to >= e2),
        "a segment straddles the manual snapshot at seq {e1}: {segs:?}"
    );

    let all = tempdir();
    let r = parse_restored(&ok(&restore(&target, all.path(), &[], &[])));
    assert_eq!(
        (r.id.as_str(), r.seq),
        (made.id.as_str(), e2),
        "the newest snapshot, then every entry shipped after it"
    );
    assert_eq!(export(all.path()), source);
}

#[tokio::test]
async fn a_damaged_segment_fails_the_restore_and_nothing_is_written() {
    let data = stopped_data_dir("Dented", 2).await;
    let s0 = last_seq(&export(data.path()));
    let store = tempdir();
    let target = file_target(store.path());
    let mut server = TestServer::start_with(data.path(), &shipping(&target, &[]), &[]);
    let api = server.client();
    wait_safe_seq(&api, s0).await;
    let m = id_of(&api.create_member(&json!({"name": "Dented New"})).await);
    api.earn(&m, 9).await;
    let last = seq_of(&api.earn(&m, 6).await);
    wait_safe_seq(&api, last).await;
    server.kill9();

    let snapshot = backup_files(store.path()).remove(0);
    let snapshot_id = snapshot
        .strip_prefix("fealty-")
        .and_then(|n| n.strip_suffix(".fbk"))
        .unwrap()
        .to_owned();
    let seg = segment_ending_at(&segment_files(store.path()), last);
    let path = store.path().join(&seg.name);
    let good = std::fs::read(&path).unwrap();
    // A segment is a backup file too: header, body, checksum trailer.
    let parts = split_backup(&good);
    assert!(parts.body.len() >= 8, "a body to damage");
    let body_start = rfind(&good, b"\nsha256 ").unwrap() - parts.body.len();
    let mut bad = good.clone();
    bad[body_start + parts.body.len() / 2] ^= 0x01;
    std::fs::write(&path, &bad).unwrap();

    // Into an empty directory, a directory not made yet, and over a database with --force.
    let empty = tempdir();
    let line = error_line(&restore(&target, empty.path(), &[], &[]));
    assert!(
        line.contains("checksum"),
        "the error should name the checksum: {line}"
    );
    assert_empty_dir(empty.path(), "a damaged segment");
    let parent = tempdir();
    let missing = parent.path().join("new");
    let line = error_line(&restore(&target, &missing, &[], &[]));
    assert!(line.contains("checksum"), "{line}");
    assert!(
        !missing.exists(),
        "a failed restore left {}",
        missing.display()
    );
    let victim = stopped_data_dir("Bystander", 1).await;
    let victim_state = dir_state(victim.path());
    let line = error_line(&restore(&target, victim.path(), &["--force"], &[]));
    assert!(line.contains("checksum"), "{line}");
    assert_eq!(
        dir_state(victim.path()),
        victim_state,
        "a refused --force restore changed the existing database"
    );

    // The snapshot itself is sound: asked for alone it restores.
    let alone = tempdir();
    let r = parse_restored(&ok(&restore(
        &target,
        alone.path(),
        &["--at", &snapshot_id],
        &[],
    )));
    assert_eq!((r.id, r.seq), (snapshot_id, s0));
}

// ---------------------------------------------------------------------------------------------
// 8. A backup made by an earlier build still restores
// ---------------------------------------------------------------------------------------------

/// `tests/fixtures/backup-v1/fealty-20261125T203207Z-000000000009.fbk` was made by fealty 0.1.0
/// (backup format_version 1, database schema_version 4, not encrypted) with `fealty backup --to
/// file:tests/fixtures/backup-v1` from a data directory holding two rewards (Coffee 25, Cake 40),
/// three members and nine entries: earns (points and an amount), a reward redemption, a plain
/// redemption, an adjustment and a reversal. It is regenerated only when the backup format changes,
/// and then kept beside the new one: every later build must still restore this file (see
/// tests/fixtures/README.md).
#[tokio::test]
async fn the_format_v1_fixture_restores_and_verifies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backup-v1");
    let fixture_state = dir_state(&dir);
    let target = file_target(&dir);
    let new = tempdir();
    let r = parse_restored(&ok(&restore(&target, new.path(), &[], &[])));
    assert_eq!(
        (r.id.as_str(), r.members, r.entries, r.seq),
        ("20261125T203207Z-000000000009", 3, 9, 9)
    );
    assert_verifies(new.path(), 9, 3);
    let doc = export(new.path());
    let balances: BTreeMap<String, (i64, i64)> = members(&doc)
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                (
                    m["balance"].as_i64().unwrap(),
                    m["lifetime_earned"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        balances,
        BTreeMap::from([
            ("Ada Fixture".to_owned(), (47, 72)),
            ("Ben Fixture".to_owned(), (30, 45)),
            ("Cleo Fixture".to_owned(), (15, 15)),
        ])
    );
    let kinds: Vec<&str> = ledger(&doc)
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "earn", "earn", "earn", "earn", "redeem", "redeem", "adjust", "reversal", "earn"
        ]
    );
    assert_eq!(
        ledger(&doc)[8]["hash"],
        "bd40cd88c7952cdbde6359b276daf62fc24e1d2bf87bfad571bbd25bcacc8b2e"
    );
    assert_eq!(
        dir_state(&dir),
        fixture_state,
        "restore changed the fixture"
    );

    // The restored shop serves its rewards.
    let server = TestServer::start_in(new.path());
    let rewards = server.client().get("/rewards").await.expect_status(200);
    let mut names: Vec<(&str, i64)> = rewards["items"]
        .as_array()
        .expect("reward items")
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["cost"].as_i64().unwrap()))
        .collect();
    names.sort();
    assert_eq!(names, [("Cake", 40), ("Coffee", 25)]);
}

// ---------------------------------------------------------------------------------------------
// Ids, listing, status, flags
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn backups_made_back_to_back_each_keep_their_own_file() {
    let src = stopped_data_dir("Quick", 2).await;
    let store = tempdir();
    let target = file_target(store.path());
    // Second-resolution ids made several of these one file: the last overwrote the others.
    let made: Vec<Made> = (0..5)
        .map(|_| backup(src.path(), &target, &[], &[]))
        .collect();
    let ids: HashSet<&str> = made.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 5, "every backup has its own id: {made:?}");
    assert_eq!(backup_files(store.path()).len(), 5);
    let listed = parse_list(&ok(&fealty_env(
        &["backup", "list", "--from", &target],
        &[],
    )));
    let newest_first: Vec<&str> = made.iter().rev().map(|m| m.id.as_str()).collect();
    assert_eq!(
        listed.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        newest_first
    );
}

#[tokio::test]
async fn ship_every_below_its_minimum_names_that_flag() {
    let data = tempdir();
    let store = tempdir();
    let target = file_target(store.path());
    for (flag, rest) in [
        ("--ship-every", ["--backup-every", "1h"]),
        ("--backup-every", ["--ship-every", "1m"]),
    ] {
        let mut args = vec!["serve", "--backup-to", &target, flag, "5s"];
        args.extend_from_slice(&rest);
        args.extend_from_slice(&["--data", s(data.path())]);
        let line = error_line(&fealty_env(&args, &[]));
        assert!(
            line.contains(flag) && !line.contains(rest[0]),
            "the error names {flag} only: {line}"
        );
    }
}

#[tokio::test]
async fn a_manual_backup_through_the_server_shows_in_its_status_and_dashboard() {
    let data = tempdir();
    let server = TestServer::start_in(data.path());
    add_user(&server, "olive", "owner");
    let api = server.client();
    let r = api.get("/api/v1/status").await.json();
    assert!(r["backup"].is_null(), "no backups scheduled: {r}");
    let m = api.create_member(&json!({"name": "Manual Mo"})).await;
    api.earn(m["id"].as_str().unwrap(), 5).await;
    let store = tempdir();
    let target = file_target(store.path());
    let made = parse_made(&ok(&server.cli(&["backup", "--to", &target])));
    let b = readyz_backup(&api).await;
    assert_eq!(b["last_id"], made.id.as_str(), "{b}");
    assert_eq!(b["safe_seq"], made.seq, "{b}");
    assert!(
        b["last_error"].is_null() && b["last_success"].is_string(),
        "{b}"
    );
    let mut browser = Browser::new(&server);
    browser.login_ok("olive", PASSWORD).await;
    let page = text(&browser.page("/admin").await);
    assert!(
        page.contains(&format!("Last backup to {target}")),
        "the dashboard shows the manual backup: {page}"
    );

    // On a terminal, the shell shows a spinner while the server works, then the result.
    let drawn = on_a_terminal(&["backup", "--to", &target, "--data", s(data.path())]);
    assert!(
        drawn.contains("0s)"),
        "a spinner with the time waited: {drawn:?}"
    );
    let result = drawn
        .rfind("backup 2")
        .and_then(|at| drawn[at..].lines().next())
        .unwrap_or_else(|| panic!("no result line: {drawn:?}"));
    let made = parse_made(result);
    assert_eq!(readyz_backup(&api).await["last_id"], made.id.as_str());
}

#[tokio::test]
async fn backup_list_shows_segments_and_encryption_and_a_lost_snapshot_is_reported() {
    let data = tempdir();
    let store = tempdir();
    let target = file_target(store.path());
    let server = TestServer::start_with(data.path(), &shipping(&target, &[]), &[]);
    let api = server.client();
    let m = api.create_member(&json!({"name": "Listed Lu"})).await;
    let seq = seq_of(&api.earn(m["id"].as_str().unwrap(), 7).await);
    wait_safe_seq(&api, seq).await;
    let sealed = fealty_env(
        &["backup", "--to", &target, "--data", s(data.path())],
        &[("FEALTY_BACKUP_PASSPHRASE", "list passphrase")],
    );
    let sealed = parse_made(&ok(&sealed));

    let out = ok(&fealty_env(&["backup", "list", "--from", &target], &[]));
    let all = parse_list_all(&out);
    let kinds: HashSet<(&str, &str)> = all
        .iter()
        .map(|l| (l.kind.as_str(), l.encryption.as_str()))
        .collect();
    assert!(kinds.contains(&("snapshot", "none")), "{out}");
    assert!(kinds.contains(&("snapshot", "age-passphrase")), "{out}");
    assert!(kinds.contains(&("segment", "none")), "{out}");
    let seg = all.iter().find(|l| l.kind == "segment").unwrap();
    assert_eq!(seg.seq, seq, "{out}");
    assert_eq!(all[0].id, sealed.id, "newest first: {out}");

    // The snapshots are lost (removed by hand): the segments alone restore nothing.
    for name in backup_files(store.path()) {
        std::fs::remove_file(store.path().join(name)).unwrap();
    }
    let seq = seq_of(&api.earn(m["id"].as_str().unwrap(), 3).await);
    let deadline = Instant::now() + SHIP_WAIT;
    let status = loop {
        let b = readyz_backup(&api).await;
        if b["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no restorable snapshot"))
        {
            break b;
        }
        assert!(Instant::now() < deadline, "the status never said so: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status["safe_seq"].as_u64() >= Some(seq), "{status}");
    let out = ok(&fealty_env(&["backup", "list", "--from", &target], &[]));
    assert!(parse_list(&out).is_empty(), "{out}");
    assert!(out.contains("no restorable snapshot"), "{out}");
    let empty = tempdir();
    let line = error_line(&restore(&target, empty.path(), &[], &[]));
    assert!(line.contains("no restorable snapshot"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Progress, and the format read by hand
// ---------------------------------------------------------------------------------------------

/// Runs `fealty ARGS` under a pseudo-terminal (`script` from util-linux): everything it wrote
/// to the terminal, stdout and stderr together.
fn on_a_terminal(args: &[&str]) -> String {
    let quoted: Vec<String> = std::iter::once(common::BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &quoted.join(" "), "/dev/null"])
        .stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && (k.starts_with("FEALTY_") || k.starts_with("AWS_"))
        {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("script (util-linux) runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn backup_and_restore_draw_progress_on_a_terminal_and_only_their_line_otherwise() {
    let src = stopped_data_dir("Progress", 300).await;
    let store = tempdir();
    let target = file_target(store.path());

    // Off a terminal (stderr is a pipe): one line on stdout, nothing on stderr.
    let piped = fealty_env(&["backup", "--to", &target, "--data", s(src.path())], &[]);
    assert!(
        piped.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&piped.stderr)
    );
    let made = parse_made(&ok(&piped));
    let into = tempdir();
    let piped = restore(&target, into.path(), &[], &[]);
    assert!(
        piped.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&piped.stderr)
    );
    assert_restored(&piped, &made);

    // On a terminal: the steps are drawn, then cleared, and the result line follows.
    let drawn = on_a_terminal(&["backup", "--to", &target, "--data", s(src.path())]);
    assert!(drawn.contains("rows"), "backup draws its rows: {drawn:?}");
    assert!(
        drawn.contains("backup 2"),
        "then its result line: {drawn:?}"
    );
    let again = tempdir();
    let drawn = on_a_terminal(&["restore", "--from", &target, "--data", s(again.path())]);
    assert!(
        drawn.contains("download") && drawn.contains("rows"),
        "restore draws the download and the rows: {drawn:?}"
    );
    assert!(
        drawn.contains("verified"),
        "then its result line: {drawn:?}"
    );
}

/// The recipe in docs/backup-format.md, run by bash on a backup the binary made.
#[tokio::test]
async fn the_documented_recipe_reads_a_backup_without_fealty() {
    let src = stopped_data_dir("Recipe", 5).await;
    let store = tempdir();
    let made = backup(src.path(), &file_target(store.path()), &[], &[]);
    let file = store.path().join(format!("fealty-{}.fbk", made.id));
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let doc = std::fs::read_to_string(docs.join("backup-format.md")).unwrap();
    // The recipe's shell block, without the encrypted variant (age asks on a terminal).
    let recipe = doc
        .split("## The recipe")
        .nth(1)
        .and_then(|r| r.split("```sh\n").nth(1))
        .and_then(|r| r.split("```").next())
        .expect("a sh block under `## The recipe`")
        .lines()
        .filter(|l| !l.starts_with("f=") && !l.starts_with("age "))
        .collect::<Vec<_>>()
        .join("\n");
    let work = tempdir();
    std::os::unix::fs::symlink(&docs, work.path().join("docs")).unwrap();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &recipe])
        .current_dir(work.path())
        .env("f", &file)
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    // 1: the two digests agree.
    assert_eq!(lines[0].len(), 64);
    assert_eq!(lines[0], lines[1], "{text}");
    // 2: the header.
    assert_eq!(lines[2], "FEALTY-BACKUP 2");
    let header: Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(header["id"], made.id.as_str());
    // 5: the tables with their counts; 6: the members' rows match theirs.
    let members_line = format!("{{\"table\":\"members\",\"rows\":{}}}", made.members);
    assert!(lines.contains(&members_line.as_str()), "{text}");
    let member_rows = std::fs::read_to_string(work.path().join("members.jsonl")).unwrap();
    assert_eq!(member_rows.lines().count() as u64, made.members);
    for row in member_rows.lines() {
        let row: Value = serde_json::from_str(row).unwrap();
        assert_eq!(row[0], row[1]["id"], "members are plain JSON: {row}");
    }
    assert!(lines.contains(&made.members.to_string().as_str()), "{text}");
    // 7: the hash chain, ending in the header's last hash.
    let last = lines.last().unwrap();
    assert_eq!(
        *last,
        format!(
            "ok: {} entries, chain intact, last hash {}",
            made.entries,
            header["last_hash"].as_str().unwrap()
        )
    );
}

/// `tests/fixtures/backup-v1-schema5/` holds a backup in format 1 made by the last build before
/// format 2 (database schema 5, so its ledger and idempotency rows are binary records in base64),
/// the export that build made of the same data, and the API key the entries were made with. See
/// tests/fixtures/README.md.
#[tokio::test]
async fn the_format_v1_schema_5_fixture_restores_exactly_and_still_answers_its_retries() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backup-v1-schema5");
    let before: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("export.json")).unwrap()).unwrap();
    let key = std::fs::read_to_string(dir.join("api-key.txt")).unwrap();
    let new = tempdir();
    let r = parse_restored(&ok(&restore(&file_target(&dir), new.path(), &[], &[])));
    assert_eq!(
        (r.id.as_str(), r.members, r.entries, r.seq),
        ("20261201T232045Z-000000000005", 2, 5, 5)
    );
    let after = export(new.path());
    assert_eq!(ledger(&after), ledger(&before), "every entry as it was");
    assert_eq!(
        members(&after),
        members(&before),
        "every member as they were"
    );

    // Backed up again, the data goes through format 2 and comes back the same.
    let store = tempdir();
    let made = backup(new.path(), &file_target(store.path()), &[], &[]);
    let again = tempdir();
    assert_restored(
        &restore(&file_target(store.path()), again.path(), &[], &[]),
        &made,
    );
    assert_eq!(export(again.path()), after);

    // The idempotency records came along: a retry is answered with the first entry.
    let server = TestServer::start_in(again.path());
    let api = server.client_with(key.trim());
    let ada = &ledger(&before)[0];
    let retry = api
        .transaction(
            ada["member_id"].as_str().unwrap(),
            "f1-1",
            &json!({"kind": "earn", "points": 40, "reference": "order-1"}),
        )
        .await
        .expect_status(201);
    assert_eq!(retry["entry"]["seq"], 1, "{retry}");
    assert_eq!(retry["entry"]["hash"], ada["hash"]);
}

/// A redeploy stops the server before its machine is deleted: what it acknowledged since the last
/// shipment must be in the target when it has stopped, not an interval later.
#[tokio::test]
async fn a_stopped_server_has_shipped_every_change_it_acknowledged() {
    let data = stopped_data_dir("Stopping", 1).await;
    let s0 = last_seq(&export(data.path()));
    let ids: Vec<String> = members(&export(data.path())).iter().map(id_of).collect();
    let store = tempdir();
    let target = file_target(store.path());
    // Shipping is an hour away, so only the stop can ship the entries below.
    let args = [
        "--backup-to",
        target.as_str(),
        "--backup-every",
        "1h",
        "--ship-every",
        "1h",
    ];
    let mut server = TestServer::start_with(data.path(), &args, &[]);
    let api = server.client();
    wait_safe_seq(&api, s0).await;
    api.earn(&ids[0], 7).await;
    let last = seq_of(&api.earn(&ids[0], 8).await);
    assert!(
        segment_files(store.path()).is_empty(),
        "nothing shipped yet"
    );

    let status = server.stop().expect("the server stops");
    assert!(status.success(), "clean exit: {status:?}");
    let log = server.stderr_lines().join("\n");
    assert!(
        log.contains("last changes shipped at stop") && log.contains("database closed"),
        "the log says the last changes were shipped and the database closed: {log}"
    );
    let segs = segment_files(store.path());
    segment_ending_at(&segs, last);
    let source = export(data.path());
    let restored = tempdir();
    let r = parse_restored(&ok(&restore(&target, restored.path(), &[], &[])));
    assert_eq!(
        r.seq, last,
        "the restore reaches the last acknowledged entry"
    );
    assert_eq!(export(restored.path()), source);
}
