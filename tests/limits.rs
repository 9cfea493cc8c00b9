//! Slow and idle clients cannot take the server down: a request header must come within the
//! header timeout, a silent connection is closed after the idle timeout, connections over the
//! cap are closed at once, and `/healthz` answers new clients once the others are gone.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use common::TestServer;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long the server has to close a connection whose timeout (1–3 s) has passed: generous,
/// the machine is shared.
const CLOSE_WITHIN: Duration = Duration::from_secs(20);

/// Reads until the server closes the connection; `None` if it is still open after `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.saturating_sub(start.elapsed());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            // The server may answer (e.g. 408) before it closes.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(start.elapsed()),
        }
    }
}

/// Whether the server has closed `stream` (end of file or reset) within `wait`.
fn is_closed(stream: &mut TcpStream, wait: Duration) -> bool {
    closed_within(stream, wait).is_some()
}

fn healthz(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn a_partial_request_line_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &[], &[("FEALTY_HEADER_TIMEOUT", "1s")]);
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.write_all(b"GET /healthz HT").unwrap();
    let took = closed_within(&mut slow, CLOSE_WITHIN);
    assert!(
        took.is_some(),
        "a connection that never finished its request line was still open after {CLOSE_WITHIN:?}"
    );
    // A header trickled in a byte at a time does not reset the deadline.
    let mut trickle = TcpStream::connect(server.addr()).unwrap();
    let start = Instant::now();
    let mut closed = false;
    for b in b"GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if trickle.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        closed || is_closed(&mut trickle, Duration::from_secs(1)),
        "a header sent one byte every 300 ms was still being read after {:?}",
        start.elapsed()
    );
    assert!(healthz(server.addr()).unwrap().contains("200 OK"));
}

#[test]
fn a_stalled_request_body_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &[], &[("FEALTY_IDLE_TIMEOUT", "2s")]);
    let key = server.api_key();
    let mut stalled = TcpStream::connect(server.addr()).unwrap();
    // The header is complete, so only the idle timeout can end the wait for the body.
    write!(
        stalled,
        "POST /api/v1/members HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    )
    .unwrap();
    assert!(
        is_closed(&mut stalled, CLOSE_WITHIN),
        "a connection silent in the middle of a body was still open after {CLOSE_WITHIN:?}"
    );
}

#[test]
fn idle_connections_over_the_cap_are_shed_and_healthz_answers_once_they_are_gone() {
    const CAP: usize = 40;
    const OPENED: usize = 160;
    let dir = tempfile::tempdir().unwrap();
    // Settings from the environment, as the service file gives them.
    let server = TestServer::start_with(
        dir.path(),
        &[],
        &[
            ("FEALTY_MAX_CONNECTIONS", &CAP.to_string()),
            ("FEALTY_HEADER_TIMEOUT", "3s"),
        ],
    );
    let mut idle: Vec<TcpStream> = (0..OPENED)
        .map(|_| TcpStream::connect(server.addr()).unwrap())
        .collect();
    // Those over the cap are closed as they come, long before any timeout.
    let shed = idle
        .iter_mut()
        .filter_map(|s| is_closed(s, Duration::from_millis(500)).then_some(()))
        .count();
    assert!(
        shed >= OPENED - CAP - 10,
        "{shed} of {OPENED} idle connections were closed at once with a cap of {CAP}"
    );
    // The rest go when their time is up, and new clients are served again.
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(
            is_closed(s, CLOSE_WITHIN),
            "idle connection {i} was still open after the header timeout"
        );
    }
    let deadline = Instant::now() + CLOSE_WITHIN;
    loop {
        match healthz(server.addr()) {
            Some(r) if r.contains("200 OK") && r.ends_with("ok") => break,
            other => assert!(
                Instant::now() < deadline,
                "/healthz did not answer after the idle connections were gone: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The AAAA record is only worth publishing if the server answers there: `[::]` takes both
/// families on one listener (the service listens so, whatever the host's `bindv6only`).
#[test]
fn the_ipv6_wildcard_answers_on_ipv4_and_ipv6_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_listening(dir.path(), "[::]:0");
    let port: std::net::SocketAddr = server.addr().parse().unwrap();
    let port = port.port();
    for addr in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        let answer = healthz(&addr).unwrap_or_else(|| panic!("no answer at {addr}"));
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
            "/healthz at {addr}: {answer}"
        );
    }
    assert!(server.stop().is_some_and(|s| s.success()));
}
