//! HTTPS with ACME end to end, offline: Let's Encrypt's own test CA (Pebble) on loopback issues
//! a certificate to the real binary over TLS-ALPN-01, with `pebble-challtestsrv` as the DNS
//! server that answers 127.0.0.1 for every name.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]
#![allow(clippy::expect_used, reason = "the shared helpers fail loudly")]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fealty");
const DOMAIN: &str = "rewards.shop.test";

/// Kills its process when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dir` and every directory under it are 0700, every file 0600 (the control socket included).
fn assert_owner_only(dir: &Path) {
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            assert_owner_only(&entry.path());
        } else {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", entry.path().display());
        }
    }
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: the TLS test needs Debian's `pebble` package and `openssl` (scripts/test.sh installs them)"
    );
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a certificate for Pebble's own HTTPS listener on 127.0.0.1.
fn make_pebble_certs(dir: &Path) {
    let d = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=pebble test ca",
        "-keyout",
        &d("ca.key"),
        "-out",
        &d("ca.pem"),
    ]));
    run(Command::new("openssl").args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &d("key.pem"),
        "-out",
        &d("csr.pem"),
    ]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &d("csr.pem"),
        "-CA",
        &d("ca.pem"),
        "-CAkey",
        &d("ca.key"),
        "-CAcreateserial",
        "-out",
        &d("cert.pem"),
        "-extfile",
        &d("ext.cnf"),
    ]));
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process's stdout and stderr, gathered as they come.
fn collect_log(child: &mut Child) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        });
    }
    log
}

/// Waits until `log` contains `needle`, for at most `secs` seconds.
async fn wait_for_log(log: &Mutex<String>, needle: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !log.lock().unwrap().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} within {secs} s: {}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pebble, the ACME test CA, with `pebble-challtestsrv` as its DNS server; both on loopback.
struct Ca {
    acme: u16,
    mgmt: u16,
    dns: u16,
    dns_mgmt: u16,
    /// Pebble's log: one line per request it handles.
    log: Arc<Mutex<String>>,
    _procs: [Proc; 2],
}

impl Ca {
    /// Validates TLS-ALPN-01 on `tls_port`; the DNS server answers `default_ipv4` (none if
    /// empty) for every A question, and nothing for AAAA.
    fn start(dir: &Path, tls_port: u16, default_ipv4: &str) -> Ca {
        need("pebble");
        need("pebble-challtestsrv");
        need("openssl");
        make_pebble_certs(dir);
        let (acme, mgmt, dns, dns_mgmt) = (
            common::free_port(),
            common::free_port(),
            common::free_port(),
            common::free_port(),
        );
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.join("cert.pem"),
            "privateKey": dir.join("key.pem"),
            "httpPort": common::free_port(),
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
        let dns_server = Proc(
            Command::new("pebble-challtestsrv")
                .args(["-defaultIPv4", default_ipv4, "-defaultIPv6", ""])
                .args(["-dns01", &format!("127.0.0.1:{dns}")])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-management", &format!("127.0.0.1:{dns_mgmt}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut pebble = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = collect_log(&mut pebble);
        wait_port(acme, "pebble");
        wait_port(dns_mgmt, "pebble-challtestsrv");
        Ca {
            acme,
            mgmt,
            dns,
            dns_mgmt,
            log,
            _procs: [dns_server, Proc(pebble)],
        }
    }

    /// How many certificate orders Pebble has been sent.
    fn orders(&self) -> usize {
        self.log.lock().unwrap().matches("POST /order-plz").count()
    }

    /// Pebble's issuing root, to check the certificate FealTY serves.
    async fn root(&self, dir: &Path) -> Vec<u8> {
        let pebble_api = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap())
                    .unwrap(),
            )
            .build()
            .unwrap();
        pebble_api
            .get(format!("https://127.0.0.1:{}/roots/0", self.mgmt))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    /// Makes the DNS server answer `ip` for `host`'s A record.
    async fn add_a(&self, host: &str, ip: &str) {
        let body = serde_json::json!({ "host": format!("{host}."), "addresses": [ip] });
        self.dns_api("add-a", body).await;
    }

    /// Calls the DNS server's management API.
    async fn dns_api(&self, call: &str, body: serde_json::Value) {
        let res = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/{call}", self.dns_mgmt))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{call}: {}", res.status());
    }
}

/// The real binary serving HTTPS for `DOMAIN` with certificates from `ca`, asking `ca`'s DNS
/// server whether the name leads here; collects its log.
struct Fealty {
    _proc: Proc,
    log: Arc<Mutex<String>>,
}

fn start_fealty(data: &Path, dir: &Path, ca: &Ca, https: u16, http: u16, extra: &[&str]) -> Fealty {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--domain",
            DOMAIN,
            "--acme-email",
            "owner@shop.test",
        ])
        .args([
            "--acme-directory",
            &format!("https://127.0.0.1:{}/dir", ca.acme),
        ])
        .arg("--acme-ca-cert")
        .arg(dir.join("ca.pem"))
        .args(["--acme-dns-server", &format!("127.0.0.1:{}", ca.dns)])
        .args(["--https-listen", &format!("127.0.0.1:{https}")])
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .args(extra)
        // Short, so a silent client is let go quickly.
        .env("FEALTY_HEADER_TIMEOUT", "2s")
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect_log(&mut child);
    Fealty {
        _proc: Proc(child),
        log,
    }
}

/// `fealty status` through the server on `data`: its exit code and the line starting with
/// `label`, and the whole screen.
fn status_line(data: &Path, label: &str) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(["status", "--data"])
        .arg(data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text:?}"))
        .trim()
        .to_owned();
    (out.status.code(), line, text)
}

/// Asks for `/healthz` over HTTPS until a certificate `client` trusts is served.
async fn wait_for_certificate(
    client: &reqwest::Client,
    https: u16,
    fealty: &Fealty,
) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client
            .get(format!("https://{DOMAIN}:{https}/healthz"))
            .send()
            .await
        {
            Ok(r) => return r,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no valid certificate within 60 s: {e}; log: {}",
                    fealty.log.lock().unwrap()
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

fn https_client(root_pem: &[u8], https: u16, http: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root_pem).unwrap())
        .resolve(DOMAIN, ([127, 0, 0, 1], https).into())
        .resolve(&format!("{DOMAIN}.http"), ([127, 0, 0, 1], http).into())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn certificates_come_from_the_acme_ca_are_cached_and_http_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let (https, http) = (common::free_port(), common::free_port());
    // TLS-ALPN-01 is checked on the port FealTY serves HTTPS on.
    let ca = Ca::start(dir.path(), https, "127.0.0.1");

    // Made by someone else, readable by all: the keys must not be.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fealty = start_fealty(&data, dir.path(), &ca, https, http, &[]);
    wait_port(https, "fealty https");

    let root = ca.root(dir.path()).await;
    let client = https_client(&root, https, http);
    let res = wait_for_certificate(&client, https, &fealty).await;
    assert_eq!(res.status(), 200);
    let hsts = res
        .headers()
        .get("strict-transport-security")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(hsts.as_deref(), Some("max-age=31536000"));
    assert!(
        fealty
            .log
            .lock()
            .unwrap()
            .contains(&format!("listening on https://127.0.0.1:{https}"))
    );
    assert!(fealty.log.lock().unwrap().contains("DeployedNewCert"));
    // The new certificate's expiry is read as it reaches the cache, right after it is in use.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (code, cert, screen) = loop {
        let seen = status_line(&data, "certificate:");
        if seen.1.contains("; expires ") || Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(cert.starts_with("in use since "), "{screen}");
    assert!(cert.contains("; expires 20"), "{screen}");
    let (_, listeners, _) = status_line(&data, "listeners:");
    assert_eq!(
        listeners,
        format!("https://127.0.0.1:{https}, http://127.0.0.1:{http} (redirects to HTTPS)")
    );
    // No backups are scheduled here: that alone needs attention, the certificate does not.
    assert_eq!(code, Some(1), "{screen}");
    let attention = screen.split_once("needs attention:").unwrap().1;
    assert!(attention.contains("no backups are scheduled"), "{screen}");
    assert!(!attention.contains("certificate"), "{screen}");
    assert_owner_only(&data);

    // A client that completes the handshake and then says nothing is let go.
    let mut silent = Command::new("openssl")
        .args(["s_client", "-quiet", "-servername", DOMAIN])
        .args(["-connect", &format!("127.0.0.1:{https}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _keep_open = silent.stdin.take();
    let started = Instant::now();
    let ended = loop {
        if let Some(status) = silent.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = silent.kill();
    let _ = silent.wait();
    assert!(
        ended.is_some(),
        "a silent TLS client was still connected after 30 s"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the silent client ended at once ({ended:?}): no handshake?"
    );
    let acme_files = std::fs::read_dir(data.join("acme")).unwrap().count();
    assert!(
        acme_files >= 2,
        "the account and the certificate are cached"
    );

    // Port 80's only job: send people to HTTPS, keeping the path.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = plain
        .get(format!("http://127.0.0.1:{http}/admin?x=1"))
        .header("Host", DOMAIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("https://{DOMAIN}:{https}/admin?x=1")
    );

    // A restart uses the cached certificate and account instead of asking again.
    drop(fealty);
    let again = start_fealty(&data, dir.path(), &ca, https, http, &[]);
    wait_port(https, "fealty https after restart");
    wait_for_log(&again.log, "DeployedCachedCert", 20).await;
    // A new client: the old one's pooled connection died with the first server.
    let client = https_client(&root, https, http);
    let res = client
        .get(format!("https://{DOMAIN}:{https}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        !again.log.lock().unwrap().contains("DeployedNewCert"),
        "a restart must not order a new certificate"
    );
}

/// The real binary with `--domain` and an ACME directory nobody answers: the HTTPS listener
/// has no certificate, but it and the redirect listener take connections.
fn start_without_ca(data: &Path, https: u16, http: u16, envs: &[(&str, &str)]) -> Fealty {
    let mut child = Command::new(BIN)
        .args(["serve", "--domain", DOMAIN, "--domain", "Cards.Shop.Test"])
        .args(["--acme-email", "owner@shop.test"])
        .args([
            "--acme-directory",
            &format!("https://127.0.0.1:{}/dir", common::free_port()),
        ])
        // Nothing answers there: the names never resolve, and no DNS server off this machine
        // is asked.
        .args([
            "--acme-dns-server",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .args(["--https-listen", &format!("127.0.0.1:{https}")])
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .envs(envs.iter().copied())
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect_log(&mut child);
    wait_port(https, "fealty https");
    wait_port(http, "fealty http redirect");
    Fealty {
        _proc: Proc(child),
        log,
    }
}

/// The `Location` of the redirect port's answer to `GET /p?q=1` with `host` (none if `None`).
fn redirect_location(http: u16, host: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let host_line = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    write!(
        s,
        "GET /p?q=1 HTTP/1.0\r\n{host_line}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.0 308"), "{host:?}: {out}");
    out.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("location:")
                .then(|| l["location:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| panic!("{host:?}: no Location in {out}"))
}

#[test]
fn the_redirect_names_only_a_configured_domain() {
    let dir = tempfile::tempdir().unwrap();
    let (https, http) = (common::free_port(), common::free_port());
    let _fealty = start_without_ca(&dir.path().join("data"), https, http, &[]);
    let first = format!("https://{DOMAIN}:{https}/p?q=1");
    for host in [
        Some("evil.example"),
        Some("a@evil.example"),
        Some(&format!("evil.example:{http}") as &str),
        Some("[::1]"),
        Some("[::1]:80"),
        Some("rewards.shop.test.evil.example"),
        None,
    ] {
        assert_eq!(redirect_location(http, host), first, "Host: {host:?}");
    }
    // A configured name is kept, whatever its case or port.
    assert_eq!(redirect_location(http, Some(DOMAIN)), first);
    assert_eq!(
        redirect_location(http, Some(&format!("REWARDS.shop.test:{http}"))),
        first
    );
    assert_eq!(
        redirect_location(http, Some("cards.shop.test")),
        format!("https://Cards.Shop.Test:{https}/p?q=1")
    );
}

/// Reads until the server closes; whether it did within `within`.
fn closed_within(s: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::{ErrorKind, Read};
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.saturating_sub(start.elapsed());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_and_surplus_connections_are_closed_on_the_https_and_redirect_listeners() {
    use std::io::Write;
    const CAP: usize = 20;
    const OPENED: usize = 80;
    // Generous: the machine is shared; the timeouts below are 1–2 s.
    let within = Duration::from_secs(20);
    let dir = tempfile::tempdir().unwrap();
    let (https, http) = (common::free_port(), common::free_port());
    let fealty = start_without_ca(
        &dir.path().join("data"),
        https,
        http,
        &[
            ("FEALTY_TLS_HANDSHAKE_TIMEOUT", "2s"),
            ("FEALTY_HEADER_TIMEOUT", "1s"),
            ("FEALTY_MAX_CONNECTIONS", &CAP.to_string()),
        ],
    );
    // A TLS record header that promises a ClientHello that never comes.
    let mut handshake = std::net::TcpStream::connect(("127.0.0.1", https)).unwrap();
    handshake
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    assert!(
        closed_within(&mut handshake, within),
        "an unfinished TLS handshake was still open after {within:?}; log: {}",
        fealty.log.lock().unwrap()
    );
    let mut partial = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
    partial.write_all(b"GET /admin HT").unwrap();
    assert!(
        closed_within(&mut partial, within),
        "a partial request line on the redirect port was still open after {within:?}"
    );

    let mut idle: Vec<_> = (0..OPENED)
        .map(|i| {
            let port = if i % 2 == 0 { https } else { http };
            std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()
        })
        .collect();
    let shed = idle
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(500)))
        .filter(|closed| *closed)
        .count();
    assert!(
        shed >= OPENED - CAP - 10,
        "{shed} of {OPENED} connections were closed at once with a cap of {CAP}"
    );
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(
            closed_within(s, within),
            "connection {i} was still open after the timeouts"
        );
    }
    assert_eq!(
        redirect_location(http, Some(DOMAIN)),
        format!("https://{DOMAIN}:{https}/p?q=1"),
        "the redirect answers again once the idle connections are gone"
    );
}

#[tokio::test]
async fn the_first_order_waits_until_the_name_resolves_to_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let (https, http) = (common::free_port(), common::free_port());
    // No A record for any name until the test adds one.
    let ca = Ca::start(dir.path(), https, "");
    let fealty = start_fealty(&dir.path().join("data"), dir.path(), &ca, https, http, &[]);
    let waiting = format!(
        "waiting for DNS: {DOMAIN} has no A/AAAA record at 127.0.0.1:{} yet",
        ca.dns
    );
    wait_for_log(&fealty.log, &waiting, 30).await;
    // The nameserver is asked every few seconds: several rounds, and still no order.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        ca.orders(),
        0,
        "an order went out before the name resolved; pebble: {}",
        ca.log.lock().unwrap()
    );
    assert_eq!(
        fealty.log.lock().unwrap().matches(&waiting).count(),
        1,
        "the same reason is logged at most once a minute: {}",
        fealty.log.lock().unwrap()
    );

    ca.add_a(DOMAIN, "127.0.0.1").await;
    let root = ca.root(dir.path()).await;
    let res = wait_for_certificate(&https_client(&root, https, http), https, &fealty).await;
    assert_eq!(res.status(), 200);
    assert!(fealty.log.lock().unwrap().contains("DNS is ready"));
    assert_eq!(ca.orders(), 1, "one order, once the name resolved");

    // A cached certificate is served at once, whatever the DNS says.
    drop(fealty);
    ca.dns_api(
        "clear-a",
        serde_json::json!({ "host": format!("{DOMAIN}.") }),
    )
    .await;
    let again = start_fealty(&dir.path().join("data"), dir.path(), &ca, https, http, &[]);
    wait_for_log(&again.log, "DeployedCachedCert", 20).await;
    let res = wait_for_certificate(&https_client(&root, https, http), https, &again).await;
    assert_eq!(res.status(), 200);
    assert_eq!(ca.orders(), 1, "no order after the restart");
}

#[tokio::test]
async fn after_a_failed_order_the_next_waits_for_the_schedule_and_reuses_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let (https, http) = (common::free_port(), common::free_port());
    // 127.0.0.2 is this machine's (all of 127/8 is loopback), so the DNS check passes, but
    // FealTY listens on 127.0.0.1 only: Pebble's validation is refused, and the order fails.
    let ca = Ca::start(dir.path(), https, "127.0.0.2");
    // A tenth of the schedule: the first retry comes 6 s after the failure, not 1 s.
    let fealty = start_fealty(
        &dir.path().join("data"),
        dir.path(),
        &ca,
        https,
        http,
        &["--acme-retry-scale", "0.1"],
    );
    wait_for_log(&fealty.log, "the next order in 6 s", 60).await;
    assert_eq!(ca.orders(), 1, "pebble: {}", ca.log.lock().unwrap());
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        ca.orders(),
        1,
        "a second order within 4 s of the failure: {}",
        fealty.log.lock().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while ca.orders() < 2 {
        assert!(
            Instant::now() < deadline,
            "no second order within 60 s: {}",
            fealty.log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The second failure waits five minutes (scaled: 30 s).
    wait_for_log(&fealty.log, "the next order in 30 s", 60).await;
    let log = fealty.log.lock().unwrap().clone();
    assert!(
        log.contains("could not confirm that this server answers for the name"),
        "the failure is said in plain words: {log}"
    );
    let (code, cert, screen) = status_line(&dir.path().join("data"), "certificate:");
    assert_eq!(code, Some(1), "{screen}");
    assert!(cert.starts_with("none yet; next attempt "), "{screen}");
    assert!(
        screen.contains("  - the certificate: ") && screen.contains("could not confirm"),
        "the error is named under needs attention: {screen}"
    );
    assert!(
        screen.contains("  - no certificate is in use yet"),
        "{screen}"
    );
    // One account, made once and sent with every order.
    let accounts = ca
        .log
        .lock()
        .unwrap()
        .matches("There are now 1 accounts")
        .count();
    assert!(
        !ca.log.lock().unwrap().contains("There are now 2 accounts"),
        "a second account was made: {}",
        ca.log.lock().unwrap()
    );
    assert!(accounts >= 1, "pebble: {}", ca.log.lock().unwrap());
}

/// rustls-acme's cache file for the certificate of `domains` from the ACME `directory`.
fn cached_cert_file(domains: &[&str], directory: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for d in domains {
        h.update(d.as_bytes());
        h.update([0]);
    }
    h.update(directory.as_bytes());
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize());
    format!("cached_cert_{hash}")
}

/// A P-256 key and a self-signed certificate for `DOMAIN` valid from `from` to `until`, as
/// rustls-acme caches them: the key, then the certificate. `openssl ca` is the one command
/// that sets both dates, so the certificate can be made already expired.
fn certificate_for(dir: &Path, from: time::OffsetDateTime, until: time::OffsetDateTime) -> Vec<u8> {
    let date = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    let d = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        format!(
            "[ca]\ndefault_ca = c\n[c]\ndatabase = {}\nnew_certs_dir = {}\nserial = {}\n\
             default_md = sha256\npolicy = p\nx509_extensions = ext\n[p]\ncommonName = supplied\n\
             [ext]\nsubjectAltName = DNS:{DOMAIN}\n",
            d("index.txt"),
            d(""),
            d("serial")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    run(Command::new("openssl").args([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &d("key.pem"),
    ]));
    run(Command::new("openssl").args([
        "req",
        "-new",
        "-key",
        &d("key.pem"),
        "-subj",
        &format!("/CN={DOMAIN}"),
        "-out",
        &d("csr.pem"),
    ]));
    run(Command::new("openssl").args([
        "ca",
        "-batch",
        "-notext",
        "-selfsign",
        "-config",
        &d("ca.cnf"),
        "-keyfile",
        &d("key.pem"),
        "-in",
        &d("csr.pem"),
        "-startdate",
        &from.format(date).unwrap(),
        "-enddate",
        &until.format(date).unwrap(),
        "-out",
        &d("cert.pem"),
    ]));
    let mut pem = std::fs::read(dir.join("key.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("cert.pem")).unwrap());
    pem
}

/// Puts `pem` in the data directory's certificate cache, where a server ordering from
/// `directory` for `DOMAIN` finds it at start.
fn place_cached_certificate(data: &Path, directory: &str, pem: &[u8]) {
    let cache = data.join("acme");
    std::fs::create_dir_all(&cache).unwrap();
    for d in [data, &cache] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let file = cache.join(cached_cert_file(&[DOMAIN], directory));
    std::fs::write(&file, pem).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A browser for the server on `data` serving HTTPS on `https`, with an owner `olive` made
/// (not yet logged in). It takes whatever certificate is served: the test's own, expired or
/// not, is what is looked at, not judged.
fn owner_browser(data: &Path, https: u16) -> common::pages::Browser {
    common::ok(&common::cli_stdin(
        data,
        &[
            "user",
            "add",
            "--username",
            "olive",
            "--role",
            "owner",
            "--password-stdin",
        ],
        &format!("{}\n", common::pages::PASSWORD),
    ));
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .resolve(DOMAIN, ([127, 0, 0, 1], https).into())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    common::pages::Browser {
        http,
        base: format!("https://{DOMAIN}:{https}"),
        last: String::new(),
    }
}

/// The dashboard's certificate lines, joined by ` | `.
async fn dashboard_certificate(browser: &mut common::pages::Browser) -> String {
    let html = browser.page("/admin").await;
    ["tls-status", "tls-expiry"]
        .iter()
        .filter_map(|id| common::pages::by_id(&html, id))
        .map(|e| e.text())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// What an owner sees of a server started on a cached certificate that expires at `until`.
struct Seen {
    /// `fealty status`'s exit code, its certificate line and the whole screen.
    code: Option<i32>,
    certificate: String,
    screen: String,
    /// `/readyz`'s status code.
    readyz: u16,
    /// The dashboard's certificate lines.
    dashboard: String,
    /// The certificate alerts a webhook received, in order.
    alerts: Vec<String>,
}

/// Starts the real binary on a cached certificate valid from `from` to `until` (the CA and the
/// DNS never answer, so nothing else is ever served) and looks at it the ways an owner can.
async fn serve_cached_certificate(
    from: time::Duration,
    until: time::Duration,
    expected_alerts: usize,
) -> Seen {
    need("openssl");
    let dir = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let pem = certificate_for(&dir.path().join("made"), now + from, now + until);
    // On a filesystem of its own when it can be, so a full disk on the machine running the
    // test is not what the status reports; unmounted after the server stops.
    let _disk = common::is_root().then(|| common::Tmpfs::mount(&dir.path().join("disk"), "64m"));
    let data = dir.path().join("disk").join("data");
    let (https, http) = (common::free_port(), common::free_port());
    let directory = format!("https://127.0.0.1:{}/dir", common::free_port());
    place_cached_certificate(&data, &directory, &pem);
    let backups = format!("file:{}", dir.path().join("backups").display());
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--domain",
            DOMAIN,
            "--acme-email",
            "owner@shop.test",
        ])
        .args(["--acme-directory", &directory])
        .args([
            "--acme-dns-server",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .args(["--https-listen", &format!("127.0.0.1:{https}")])
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .args(["--backup-to", &backups, "--backup-every", "1h"])
        .args(["--alerts-check-every", "1s"])
        .arg("--data")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect_log(&mut child);
    let _fealty = Proc(child);
    wait_for_log(&log, "DeployedCachedCert", 30).await;

    let mut browser = owner_browser(&data, https);
    let readyz = browser
        .http
        .get(browser.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();

    // The first backup is made at start; until it is, status has that to say too.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (code, certificate, screen) = loop {
        let seen = status_line(&data, "certificate:");
        if !seen.2.contains("none made yet") || Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    browser.login_ok("olive", common::pages::PASSWORD).await;
    let dashboard = dashboard_certificate(&mut browser).await;
    let alerts = certificate_alerts(&mut browser, expected_alerts).await;
    Seen {
        code,
        certificate,
        screen,
        readyz,
        dashboard,
        alerts,
    }
}

/// Points the owner's alerts at a webhook receiver and collects the certificate alerts that
/// start: once `expected` have come (or after a few seconds of nothing when none is expected,
/// to show that none comes).
/// The server looked at its certificate before the webhook was set, so what arrives is the
/// alert told to a channel added while it lasts.
async fn certificate_alerts(browser: &mut common::pages::Browser, expected: usize) -> Vec<String> {
    let hook = common::hook::Hook::start().await;
    common::hook::send_alerts_to(browser, &hook.url).await;
    let certificate = |alerts: &[String]| -> Vec<String> {
        alerts
            .iter()
            .filter(|a| a.starts_with("certificate"))
            .cloned()
            .collect()
    };
    // None expected: a few seconds of looks show that none comes.
    let secs = if expected == 0 { 4 } else { 30 };
    hook.wait_alerts("started", secs, |a| {
        expected > 0 && certificate(a).len() >= expected
    })
    .await;
    // Another few looks must not repeat them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    certificate(&hook.alerts("started"))
}

fn rfc3339(d: time::Duration) -> String {
    let at = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        + d;
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .chars()
        .take("2026-12-02T03".len())
        .collect()
}

#[tokio::test]
async fn the_certificate_s_expiry_is_read_from_the_cache_and_shown() {
    let seen =
        serve_cached_certificate(time::Duration::days(-1), time::Duration::days(60), 0).await;
    let expiry = rfc3339(time::Duration::days(60));
    assert_eq!(
        seen.alerts,
        Vec::<String>::new(),
        "no alert for a good certificate"
    );
    assert!(
        seen.certificate.starts_with("in use since ")
            && seen.certificate.contains(" (from the cache); expires ")
            && seen.certificate.contains(&expiry),
        "{}",
        seen.screen
    );
    // Not root: the data is on the machine's own disk, which may be full enough to be named.
    let attention: Vec<&str> = seen
        .screen
        .split_once("\nneeds attention:\n")
        .map(|(_, rest)| rest.lines().collect())
        .unwrap_or_default();
    assert!(
        attention
            .iter()
            .all(|l| l.contains("the disk holding the data")),
        "{}",
        seen.screen
    );
    let expected = if attention.is_empty() { 0 } else { 1 };
    assert_eq!(seen.code, Some(expected), "{}", seen.screen);
    assert_eq!(seen.readyz, 200);
    assert!(
        seen.dashboard
            .contains("The HTTPS certificate is valid until "),
        "{}",
        seen.dashboard
    );
}

#[tokio::test]
async fn a_certificate_expiring_within_14_days_needs_attention() {
    let seen =
        serve_cached_certificate(time::Duration::days(-1), time::Duration::days(10), 1).await;
    let expiry = rfc3339(time::Duration::days(10));
    assert_eq!(seen.code, Some(1), "{}", seen.screen);
    assert!(
        seen.screen
            .contains(&format!("  - the certificate expires at {expiry}"))
            && seen.screen.contains("and has not been renewed yet"),
        "{}",
        seen.screen
    );
    assert_eq!(seen.readyz, 200, "still served and valid");
    assert_eq!(seen.alerts, ["certificate-expiry"], "one owner alert, once");
    assert!(
        seen.dashboard.contains("The HTTPS certificate expires at ")
            && seen.dashboard.contains(" and has not been renewed yet."),
        "{}",
        seen.dashboard
    );
}

#[tokio::test]
async fn an_expired_certificate_makes_readyz_fail_and_is_said_plainly() {
    let seen =
        serve_cached_certificate(time::Duration::days(-10), time::Duration::hours(-1), 2).await;
    assert_eq!(seen.readyz, 503, "browsers refuse the site");
    let mut alerts = seen.alerts.clone();
    alerts.sort();
    assert_eq!(
        alerts,
        ["certificate-expired", "certificate-expiry"],
        "the owner is told it has expired, once"
    );
    assert_eq!(seen.code, Some(1), "{}", seen.screen);
    assert!(seen.certificate.contains("; EXPIRED "), "{}", seen.screen);
    assert!(
        seen.screen.contains("  - the certificate expired at ")
            && seen
                .screen
                .contains("browsers refuse the site until a new one is in use"),
        "{}",
        seen.screen
    );
    assert!(
        !seen.screen.contains("  - the certificate expires at "),
        "the lesser warning is not said beside it: {}",
        seen.screen
    );
    assert!(
        seen.dashboard.contains("The HTTPS certificate expired at ")
            && seen.dashboard.contains("browsers refuse the site"),
        "{}",
        seen.dashboard
    );
}

#[tokio::test]
async fn a_failed_renewal_shows_in_plain_words_with_its_time_and_the_next_attempt() {
    need("pebble");
    need("openssl");
    let dir = tempfile::tempdir().unwrap();
    let (https, http) = (common::free_port(), common::free_port());
    // As in the failed-order test: the DNS check passes, Pebble's validation is refused.
    let ca = Ca::start(dir.path(), https, "127.0.0.2");
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    // Two thirds of its life gone: due for renewal at once.
    let pem = certificate_for(
        &dir.path().join("made"),
        now - time::Duration::days(10),
        now + time::Duration::days(2),
    );
    let data = dir.path().join("data");
    place_cached_certificate(&data, &format!("https://127.0.0.1:{}/dir", ca.acme), &pem);
    let fealty = start_fealty(
        &data,
        dir.path(),
        &ca,
        https,
        http,
        &["--acme-retry-scale", "0.1", "--alerts-check-every", "1s"],
    );
    wait_for_log(&fealty.log, "DeployedCachedCert", 30).await;
    wait_for_log(&fealty.log, "the next order in 6 s", 60).await;

    let mut browser = owner_browser(&data, https);
    browser.login_ok("olive", common::pages::PASSWORD).await;
    let hook = common::hook::Hook::start().await;
    common::hook::send_alerts_to(&mut browser, &hook.url).await;
    // Between an order going out and its failure there is no next attempt to name.
    let deadline = Instant::now() + Duration::from_secs(60);
    let said = loop {
        let said = dashboard_certificate(&mut browser).await;
        if said.contains("The next attempt is at ") || Instant::now() > deadline {
            break said;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let renewal = said.split(" | ").next().unwrap();
    assert!(
        renewal.starts_with("The HTTPS certificate could not be renewed at ")
            && renewal.contains(": the certificate authority could not confirm that this server answers for the name")
            && renewal.contains(". The next attempt is at "),
        "{said}"
    );
    for dump in ["Auth {", "Invalid", "{", "\\"] {
        assert!(
            !renewal.contains(dump),
            "a raw dump ({dump:?}) on the dashboard: {said}"
        );
    }
    assert!(
        said.contains("The HTTPS certificate expires at "),
        "the certificate still in use and its expiry: {said}"
    );
    let (code, _, screen) = status_line(&data, "certificate:");
    assert_eq!(code, Some(1), "{screen}");
    assert!(
        screen.contains("\n             last error at 20")
            && screen.contains(": the certificate authority could not confirm"),
        "the error's time and words on the status screen: {screen}"
    );

    // The owner is told once, in the same words, with when it failed and the next attempt,
    // however many orders fail meanwhile.
    let started = hook
        .wait_alerts("started", 30, |a| {
            a.iter().any(|k| k == "certificate-renewal")
        })
        .await;
    assert!(
        started.iter().any(|k| k == "certificate-renewal"),
        "{started:?}"
    );
    // A second failed order, and a few more looks.
    wait_for_log(&fealty.log, "the next order in 30 s", 60).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let renewals: Vec<serde_json::Value> = hook
        .bodies()
        .into_iter()
        .filter(|b| b["alert"] == "certificate-renewal")
        .collect();
    assert_eq!(renewals.len(), 1, "{renewals:#?}");
    let text = renewals[0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("the certificate authority could not confirm")
            && text.contains(" (at 20")
            && text.contains("; the next attempt is at 20"),
        "{text}"
    );
}
