//! A real SMTP server on loopback (Python's aiosmtpd) that keeps every message it receives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Writes each message it receives to its own file in the directory given.
pub const SMTP_SERVER: &str = r#"
import logging, os, sys, warnings
warnings.simplefilter("ignore")
logging.getLogger("mail.log").setLevel(logging.ERROR)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

out = sys.argv[2]

class Keep:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(out) if f.endswith(".eml")])
        path = os.path.join(out, "%04d.eml" % n)
        with open(path + ".part", "wb") as f:
            f.write(envelope.content)
        os.rename(path + ".part", path)
        return "250 OK"

def accept(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)

mode = sys.argv[3] if len(sys.argv) > 3 else "plain"
if mode == "plain":
    c = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]),
                   authenticator=accept, auth_require_tls=False)
else:
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    # Mail and the log-in only over TLS: a message that arrives went encrypted.
    if mode == "starttls":
        c = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]),
                       authenticator=accept, auth_require_tls=True,
                       require_starttls=True, tls_context=ctx)
    else:
        # TLS from the first byte (aiosmtpd's auth_require_tls looks for STARTTLS only).
        c = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]),
                       authenticator=accept, auth_require_tls=False, ssl_context=ctx)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

/// aiosmtpd on a free loopback port, stopped when dropped.
pub struct Smtp {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Smtp {
    pub fn start() -> Smtp {
        Self::start_with(&[])
    }

    /// On `port` (one a server was told of before the mail server came up).
    pub fn start_on(port: u16) -> Smtp {
        Self::spawn(port, &[])
    }

    /// With `["starttls" | "tls", cert, key]`: a mail server that takes mail only over TLS.
    pub fn start_with(tls: &[&str]) -> Smtp {
        Self::spawn(super::free_port(), tls)
    }

    fn spawn(port: u16, tls: &[&str]) -> Smtp {
        let dir = tempfile::tempdir().expect("mail directory");
        let mut child = Command::new("python3")
            .args(["-c", SMTP_SERVER, &port.to_string()])
            .arg(dir.path())
            .args(tls)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test.sh installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("aiosmtpd starts");
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        Smtp { child, port, dir }
    }

    /// Every message received so far, as text with quoted-printable soft breaks joined.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("mail directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                String::from_utf8_lossy(&std::fs::read(p).expect("a message"))
                    .replace("=\r\n", "")
                    .replace("=\n", "")
            })
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"");
        }
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
