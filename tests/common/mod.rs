//! Helpers shared by the integration test crates: a real `fealty serve` process on a
//! temporary data directory, the CLI, and a small HTTP client with bearer auth.

#![allow(dead_code)]

pub mod hook;
pub mod pages;
pub mod smtp;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_fealty");

/// How long the server may take to say it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one CLI invocation may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Every scope an API key can have.
pub const ALL_SCOPES: [&str; 8] = [
    "members:read",
    "members:write",
    "points:write",
    "rewards:write",
    "settings:write",
    "cards:read",
    "integrations:write",
    "webhooks:write",
];

/// A running `fealty serve` on a data directory; the process is killed on drop.
pub struct TestServer {
    dir: Option<TempDir>,
    data: PathBuf,
    child: Option<Child>,
    addr: String,
    /// The `--listen` address given (port 0: any free one).
    listen: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a fresh temporary data directory that lives as long as the server.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("create temporary data directory");
        let mut server = Self::start_in(dir.path());
        server.dir = Some(dir);
        server
    }

    /// Starts a server on an existing data directory (which the caller keeps alive).
    pub fn start_in(dir: &Path) -> Self {
        Self::start_listening(dir, "127.0.0.1:0")
    }

    /// Starts a server on an existing data directory, listening on `listen` (e.g. `[::]:0`).
    pub fn start_listening(dir: &Path, listen: &str) -> Self {
        let mut server = Self {
            dir: None,
            data: dir.to_path_buf(),
            child: None,
            addr: String::new(),
            listen: listen.to_owned(),
            stdout: Arc::default(),
            stderr: Arc::default(),
            readers: Vec::new(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--data")
            .arg(&self.data)
            .args(["--listen", &self.listen])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fealty serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        self.stdout = Arc::default();
        self.stderr = Arc::default();
        let (tx, rx) = mpsc::channel();
        self.readers = vec![
            collect_lines(stdout, Arc::clone(&self.stdout), Some(tx)),
            collect_lines(stderr, Arc::clone(&self.stderr), None),
        ];
        self.child = Some(child);
        self.addr = self.wait_for_listening(&rx);
    }

    fn wait_for_listening(&mut self, rx: &Receiver<String>) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                        let bound: std::net::SocketAddr = addr
                            .parse()
                            .unwrap_or_else(|e| panic!("{line:?} has no address: {e}"));
                        let asked: std::net::SocketAddr =
                            self.listen.parse().expect("--listen address");
                        assert!(
                            bound.ip() == asked.ip() && bound.port() != 0,
                            "unexpected listening address in {line:?}"
                        );
                        return addr.to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill9();
                    panic!(
                        "server did not print `listening on http://…` within {START_TIMEOUT:?}; stdout: {:?}; stderr: {:?}",
                        self.stdout_lines(),
                        self.stderr_lines()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().and_then(|c| c.wait().ok());
                    self.child = None;
                    panic!(
                        "server exited ({status:?}) before listening; stdout: {:?}; stderr: {:?}",
                        self.stdout_lines(),
                        self.stderr_lines()
                    );
                }
            }
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.pid().expect("the server is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Every stderr line so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits up to `timeout` for a stdout line starting with `prefix`.
    pub fn wait_for_stdout(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self
                .stdout_lines()
                .into_iter()
                .find(|l| l.trim_start().starts_with(prefix))
            {
                return Some(l);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for a stderr line containing `text`: the log is read by another
    /// thread, so a line written before the server said it was listening may not be here yet.
    pub fn wait_for_stderr(&self, text: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.stderr_lines().into_iter().find(|l| l.contains(text)) {
                return Some(l);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL (on Unix `Child::kill` sends SIGKILL) and reap the process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.join_readers();
    }

    /// Asks the server to shut down with SIGTERM and waits for it (SIGKILL after 15 s).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    break child.wait().ok();
                }
            }
        };
        self.join_readers();
        status
    }

    /// Starts the server again on the same data directory (after `kill9` or `stop`).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    /// Runs a CLI subcommand on this server's data directory (see [`cli`]).
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.data, args)
    }

    /// Runs a CLI subcommand with `input` on stdin.
    pub fn cli_stdin(&self, args: &[&str], input: &str) -> Output {
        cli_stdin(&self.data, args, input)
    }

    /// A new API key with every scope, made with `fealty apikey create`.
    pub fn api_key(&self) -> String {
        api_key(&self.data, "test", &[])
    }

    /// A new API key with just `scopes`.
    pub fn api_key_with(&self, name: &str, scopes: &[&str]) -> String {
        api_key(&self.data, name, scopes)
    }

    /// A client for this server using a new all-scope key.
    pub fn client(&self) -> Api {
        Api::new(&self.url(""), &self.api_key())
    }

    /// A client for this server using `key`.
    pub fn client_with(&self, key: &str) -> Api {
        Api::new(&self.url(""), key)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
        if thread::panicking() {
            eprintln!("--- fealty serve stdout ---");
            for l in self.stdout_lines() {
                eprintln!("{l}");
            }
            eprintln!("--- fealty serve stderr ---");
            for l in self.stderr_lines() {
                eprintln!("{l}");
            }
        }
    }
}

fn collect_lines<R: Read + Send + 'static>(
    pipe: R,
    sink: Arc<Mutex<Vec<String>>>,
    tx: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &tx {
                let _ = tx.send(line.clone());
            }
            if let Ok(mut v) = sink.lock() {
                v.push(line);
            }
        }
    })
}

/// Where `--data DIR` goes: after the subcommand's name (one word, or two for `apikey` and `user`).
fn with_data<'a>(dir: &'a Path, args: &[&'a str]) -> Vec<std::ffi::OsString> {
    let words = match args.first() {
        Some(&"apikey" | &"user") => 2,
        Some(_) => 1,
        None => 0,
    }
    .min(args.len());
    let mut out: Vec<std::ffi::OsString> = args[..words].iter().map(Into::into).collect();
    out.push("--data".into());
    out.push(dir.as_os_str().to_owned());
    out.extend(args[words..].iter().map(Into::into));
    out
}

/// Runs `fealty <subcommand> --data DIR <rest>`; the server's control socket is used if it runs.
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(BIN).args(with_data(dir, args)), None)
}

/// Like [`cli`], with `input` on stdin.
pub fn cli_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    run(
        Command::new(BIN).args(with_data(dir, args)),
        Some(input.as_bytes()),
    )
}

/// Runs a command to completion with a time limit, collecting its output.
fn run(cmd: &mut Command, input: Option<&[u8]>) -> Output {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fealty");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A command that does not read its stdin may close it early; that is not our failure.
        let _ = stdin.write_all(input);
    }
    let read_all = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = read_all(Box::new(child.stdout.take().expect("piped stdout")));
    let err = read_all(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + CLI_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for fealty") {
            Some(s) => break s,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`fealty {cmd:?}` did not finish within {CLI_TIMEOUT:?}");
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Panics with both streams unless the command succeeded; returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed ({}); stdout: {:?}; stderr: {:?}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts the command failed with exactly one non-empty line on stderr; returns that line.
pub fn fails(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "command should have failed; stdout: {:?}; stderr: {:?}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "errors are one line on stderr, got {err:?}");
    lines[0].to_owned()
}

/// Creates an API key with `fealty apikey create` (no scopes given = all scopes).
pub fn api_key(dir: &Path, name: &str, scopes: &[&str]) -> String {
    let mut args = vec!["apikey", "create", "--name", name];
    for s in scopes {
        args.extend(["--scope", s]);
    }
    let out = ok(&cli(dir, &args));
    let key = out.trim().to_owned();
    assert!(is_api_key(&key), "apikey create printed {out:?}");
    key
}

/// Whether `key` looks like `fty_<12 hex>_<secret>`.
pub fn is_api_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("fty_") else {
        return false;
    };
    let Some((id, secret)) = rest.split_once('_') else {
        return false;
    };
    id.len() == 12
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && !secret.is_empty()
        && !secret.contains(char::is_whitespace)
}

/// The id part of a presented key.
pub fn key_id(key: &str) -> &str {
    key.strip_prefix("fty_")
        .and_then(|r| r.split_once('_'))
        .map(|(id, _)| id)
        .expect("an API key")
}

/// The Luhn check digit for `body` (the library's own rule, unit-tested against known numbers).
pub fn luhn_digit(body: &str) -> char {
    fealty::domain::card::luhn_check_digit(body)
}

/// Whether `digits` are all digits and end in a valid Luhn check digit.
pub fn luhn_ok(digits: &str) -> bool {
    digits.bytes().all(|b| b.is_ascii_digit()) && fealty::domain::card::luhn_valid(digits)
}

/// A valid 12-digit card number built from an 11-digit body.
pub fn card_number(body: u64) -> String {
    let body = format!("{:011}", body % 100_000_000_000);
    let check = luhn_digit(&body);
    format!("{body}{check}")
}

/// Whether `s` is a ULID in canonical form.
pub fn is_ulid(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
}

/// An HTTP response read to the end.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (panics with the body otherwise).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "response ({}) is not JSON ({e}): {:?}",
                self.status, self.text
            )
        })
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, returning the JSON body.
    pub fn expect_status(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.text
        );
        self.json()
    }

    /// Asserts an `application/problem+json` error with this status and code; returns the body.
    pub fn expect_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status, status,
            "expected {status} {code}, got {}: {}",
            self.status, self.text
        );
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/problem+json"),
            "error content-type is {ct:?} for {status} {code}: {}",
            self.text
        );
        let body = self.json();
        for field in ["type", "title", "detail", "code"] {
            assert!(
                body.get(field).is_some_and(Value::is_string),
                "problem lacks string `{field}`: {body}"
            );
        }
        assert_eq!(body["status"], status, "problem `status`: {body}");
        assert_eq!(body["code"], code, "problem `code`: {body}");
        body
    }
}

/// A reqwest client with a base URL and a bearer key.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    /// A client for `base` (`http://host:port`) presenting `key`.
    pub fn new(base: &str, key: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build HTTP client");
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        }
    }

    /// The same server with another key.
    pub fn with_key(&self, key: &str) -> Self {
        Self {
            key: key.to_owned(),
            ..self.clone()
        }
    }

    /// `path` under `/api/v1` unless it already starts at the root (`/healthz`, `/api/...`).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("/api/") || path.starts_with("/healthz") || path.starts_with("/readyz")
        {
            format!("{}{path}", self.base)
        } else {
            format!("{}/api/v1{path}", self.base)
        }
    }

    /// A request with the bearer key.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.key)
    }

    /// Sends and reads a request.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        Self::try_send(req).await.expect("HTTP request")
    }

    /// Sends and reads a request, returning transport errors.
    pub async fn try_send(req: reqwest::RequestBuilder) -> Result<Resp, reqwest::Error> {
        let r = req.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await?;
        Ok(Resp {
            status,
            headers,
            text,
        })
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(reqwest::Method::POST, path).json(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(reqwest::Method::PATCH, path).json(body))
            .await
    }

    /// POST with an `Idempotency-Key`.
    pub async fn post_idem(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("Idempotency-Key", key)
                .json(body),
        )
        .await
    }

    /// Creates a member, returning it.
    pub async fn create_member(&self, body: &Value) -> Value {
        self.post("/members", body).await.expect_status(201)
    }

    /// Fetches a member.
    pub async fn member(&self, id: &str) -> Value {
        self.get(&format!("/members/{id}")).await.expect_status(200)
    }

    /// A member's balance as the API reports it.
    pub async fn balance(&self, id: &str) -> i64 {
        self.member(id).await["balance"]
            .as_i64()
            .expect("balance is an integer")
    }

    /// Posts a transaction with `key`.
    pub async fn transaction(&self, member: &str, key: &str, body: &Value) -> Resp {
        self.post_idem(&format!("/members/{member}/transactions"), key, body)
            .await
    }

    /// Earns `points` with a fresh idempotency key; returns the 201 body.
    pub async fn earn(&self, member: &str, points: i64) -> Value {
        let key = fresh_key();
        self.transaction(
            member,
            &key,
            &serde_json::json!({"kind": "earn", "points": points}),
        )
        .await
        .expect_status(201)
    }

    /// Every ledger entry of a member, newest first, following cursors with `limit`.
    pub async fn all_transactions(&self, member: &str, limit: u32) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut path = format!("/members/{member}/transactions?limit={limit}");
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(&encode(c));
            }
            let page = self.get(&path).await.expect_status(200);
            let items = page["items"].as_array().expect("items").clone();
            assert!(items.len() <= limit as usize, "page larger than limit");
            out.extend(items);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => {
                    assert!(page["next_cursor"].is_null(), "next_cursor: {page}");
                    return out;
                }
            }
        }
        panic!("transactions paging never ended");
    }
}

/// A new, unique idempotency key.
pub fn fresh_key() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "test-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Removes every `FEALTY_*` and `AWS_*` variable this process has from `cmd`'s environment,
/// then sets `envs`: backup settings come only from the test.
fn isolated_env(cmd: &mut Command, envs: &[(&str, &str)]) {
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && (k.starts_with("FEALTY_") || k.starts_with("AWS_"))
        {
            cmd.env_remove(k);
        }
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
}

/// Runs `fealty ARGS` exactly as given (no `--data` is added) with a time limit, without the
/// caller's `FEALTY_*`/`AWS_*` variables and with `envs` set.
pub fn fealty_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    isolated_env(&mut cmd, envs);
    run(&mut cmd, None)
}

impl TestServer {
    /// Starts `fealty serve --data DIR --listen 127.0.0.1:0 EXTRA_ARGS` on an existing data
    /// directory, without the caller's `FEALTY_*`/`AWS_*` variables and with `envs` set.
    /// (`restart` starts it again without the extra flags.)
    pub fn start_with(dir: &Path, extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut server = Self {
            dir: None,
            data: dir.to_path_buf(),
            child: None,
            addr: String::new(),
            listen: "127.0.0.1:0".to_owned(),
            stdout: Arc::default(),
            stderr: Arc::default(),
            readers: Vec::new(),
        };
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--data")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra_args);
        isolated_env(&mut cmd, envs);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fealty serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        server.readers = vec![
            collect_lines(stdout, Arc::clone(&server.stdout), Some(tx)),
            collect_lines(stderr, Arc::clone(&server.stderr), None),
        ];
        server.child = Some(child);
        server.addr = server.wait_for_listening(&rx);
        server
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether the tests run as root (and so may mount filesystems).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A size-limited filesystem mounted for one test, unmounted when dropped (even on failure).
pub struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` reads it) on `dir`.
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {}", stderr(&out));
        Tmpfs(dir.to_path_buf())
    }

    /// Bytes free on it.
    pub fn free(&self) -> u64 {
        let s = rustix::fs::statvfs(&self.0).unwrap();
        s.f_bavail * s.f_frsize
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        let s = rustix::fs::statvfs(&self.0).unwrap();
        s.f_blocks * s.f_frsize
    }

    /// Writes to `file` on it until no more than `percent` of it is free.
    pub fn fill_to(&self, file: &str, percent: u64) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.0.join(file))
            .unwrap();
        let chunk = vec![0x5a_u8; 64 * 1024];
        while self.free() * 100 > self.size() * percent {
            f.write_all(&chunk).unwrap();
        }
        f.sync_all().unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let umount = |args: &[&str]| {
            Command::new("umount")
                .args(args)
                .arg(&self.0)
                .status()
                .is_ok_and(|s| s.success())
        };
        // Lazily if something still holds it open, so the mount never outlives the test.
        if !umount(&[]) {
            umount(&["-l"]);
        }
    }
}

/// A data directory on a filesystem of its own when the tests run as root, so a filling disk on
/// the machine running them is not what a test that expects "all well" sees (nor an alert it
/// counts).
pub struct OwnDisk {
    // Unmounted before the directory under it is removed: fields drop in order.
    _disk: Option<Tmpfs>,
    path: PathBuf,
    _files: TempDir,
}

impl OwnDisk {
    /// A fresh one (a 64 MiB tmpfs when root, else a plain temporary directory).
    pub fn new() -> OwnDisk {
        let files = tempfile::tempdir().unwrap();
        let path = files.path().join("disk");
        let disk = is_root().then(|| Tmpfs::mount(&path, "64m"));
        std::fs::create_dir_all(&path).unwrap();
        OwnDisk {
            _disk: disk,
            path,
            _files: files,
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Adds 1000 to the `points` of ledger entry `seq`, behind the hash chain's back.
pub fn tamper(dir: &Path, seq: u64) {
    let db = redb::Database::open(dir.join("fealty.redb")).expect("open the database");
    let tx = db.begin_write().unwrap();
    {
        let mut table = tx.open_table(fealty::storage::tables::LEDGER).unwrap();
        // The stored record keeps its hash; only the points change.
        let mut entry = fealty::storage::ledger::entry(&table, seq)
            .unwrap()
            .expect("entry exists");
        entry.body.points += 1000;
        let bytes = fealty::storage::records::encode_entry(&entry).unwrap();
        table.insert(seq, bytes.as_slice()).unwrap();
    }
    tx.commit().unwrap();
}
