//! HTTPS with ACME end to end, offline: Let's Encrypt's own test CA (Pebble) on loopback issues
//! a certificate to the real binary over TLS-ALPN-01, with `pebble-challtestsrv` as the DNS
//! server that answers 127.0.0.1 for every name.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// The real binary serving HTTPS for `DOMAIN`; collects its log.
struct Fealty {
    _proc: Proc,
    log: Arc<Mutex<String>>,
}

fn start_fealty(data: &Path, dir: &Path, acme: u16, https: u16, http: u16) -> Fealty {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--domain",
            DOMAIN,
            "--acme-email",
            "owner@shop.test",
        ])
        .args(["--acme-directory", &format!("https://127.0.0.1:{acme}/dir")])
        .arg("--acme-ca-cert")
        .arg(dir.join("ca.pem"))
        .args(["--https-listen", &format!("127.0.0.1:{https}")])
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
    Fealty {
        _proc: Proc(child),
        log,
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
    need("pebble");
    need("pebble-challtestsrv");
    need("openssl");
    let dir = tempfile::tempdir().unwrap();
    make_pebble_certs(dir.path());
    let (acme, mgmt, dns, chall_mgmt) = (free_port(), free_port(), free_port(), free_port());
    let (https, http) = (free_port(), free_port());
    let config = serde_json::json!({ "pebble": {
        "listenAddress": format!("127.0.0.1:{acme}"),
        "managementListenAddress": format!("127.0.0.1:{mgmt}"),
        "certificate": dir.path().join("cert.pem"),
        "privateKey": dir.path().join("key.pem"),
        "httpPort": free_port(),
        // TLS-ALPN-01 is checked on the port FealTY serves HTTPS on.
        "tlsPort": https,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false
    }});
    std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
    let _dns = Proc(
        Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{chall_mgmt}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _pebble = Proc(
        Command::new("pebble")
            .arg("-config")
            .arg(dir.path().join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(acme, "pebble");

    let data = dir.path().join("data");
    let fealty = start_fealty(&data, dir.path(), acme, https, http);
    wait_port(https, "fealty https");

    // Pebble's issuing root, to check the certificate FealTY serves.
    let pebble_api = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("ca.pem")).unwrap())
                .unwrap(),
        )
        .build()
        .unwrap();
    let root = pebble_api
        .get(format!("https://127.0.0.1:{mgmt}/roots/0"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let client = https_client(&root, https, http);

    let deadline = Instant::now() + Duration::from_secs(60);
    let res = loop {
        match client
            .get(format!("https://{DOMAIN}:{https}/healthz"))
            .send()
            .await
        {
            Ok(r) => break r,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no valid certificate within 60 s: {e}; log: {}",
                    fealty.log.lock().unwrap()
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
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
    let again = start_fealty(&data, dir.path(), acme, https, http);
    wait_port(https, "fealty https after restart");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !again.log.lock().unwrap().contains("DeployedCachedCert") {
        assert!(
            Instant::now() < deadline,
            "no cached certificate: {}",
            again.log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
