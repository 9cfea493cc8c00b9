//! Limits every listener (plain HTTP, HTTPS, the redirect) puts on its connections, so slow or
//! idle clients cannot hold the file descriptors the server needs to answer others: a deadline
//! for a request's header (HTTP/1 applies it to the wait for the next request on a kept-alive
//! connection too), one for the TLS handshake, an idle timeout (no byte either way) and a cap
//! on open connections, beyond which new ones are closed at once. Every listener is bound here
//! too, so the IPv6 wildcard means both address families everywhere.

use axum_server::accept::Accept;
use hyper_util::rt::TokioTimer;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Backlog of connections waiting to be accepted, as tokio's own `TcpListener::bind` uses.
const BACKLOG: u32 = 1024;

/// Listens on `addr`. The IPv6 wildcard `[::]` takes IPv4 connections too whatever the host's
/// `net.ipv6.bindv6only` says, so one listener serves both the A and the AAAA record.
/// On a host without IPv6 (disabled in the kernel) the wildcard falls back to `0.0.0.0`.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    match bind_exactly(addr) {
        Err(e) if addr.is_ipv6() && addr.ip().is_unspecified() && no_ipv6(&e) => {
            let v4 = SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, addr.port()));
            tracing::warn!(%addr, fallback = %v4, "this host has no IPv6: listening on IPv4 only");
            bind_exactly(v4)
        }
        other => other,
    }
}

/// Whether `e` says the host cannot do IPv6 at all.
fn no_ipv6(e: &io::Error) -> bool {
    e.raw_os_error().is_some_and(|code| {
        code == rustix::io::Errno::AFNOSUPPORT.raw_os_error()
            || code == rustix::io::Errno::ADDRNOTAVAIL.raw_os_error()
    })
}

fn bind_exactly(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv6() {
        let socket = TcpSocket::new_v6()?;
        if addr.ip().is_unspecified() {
            rustix::net::sockopt::set_ipv6_v6only(&socket, false)?;
        }
        socket
    } else {
        TcpSocket::new_v4()?
    };
    // As `TcpListener::bind` does: a restart must not wait out the old sockets' TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The connection limits, settings of `fealty serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's header.
    pub header_read: Duration,
    /// How long a connection may pass no byte in either direction.
    pub idle: Duration,
    /// How long a client may take to finish the TLS handshake.
    pub tls_handshake: Duration,
    /// How many connections may be open at once, over all listeners.
    pub max_connections: usize,
}

impl Default for Limits {
    /// Sized for a 1 GB, one-core server: a few thousand connections of a few tens of KiB each
    /// stay well inside the memory, and the descriptors inside the service's `LimitNOFILE`.
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            tls_handshake: Duration::from_secs(10),
            max_connections: 2048,
        }
    }
}

/// The limits and the one connection count all listeners of a server share.
#[derive(Debug, Clone)]
pub struct Connections {
    limits: Limits,
    permits: Arc<Semaphore>,
}

impl Connections {
    /// Connections under `limits`, none open yet.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
        }
    }

    /// A server on `listener` whose connections are accepted by `acceptor` (TLS, or none)
    /// under the limits.
    pub fn server<A>(
        &self,
        listener: tokio::net::TcpListener,
        acceptor: A,
    ) -> axum_server::Server<SocketAddr, Guard<A>> {
        let mut server = axum_server::Server::<SocketAddr>::from_listener(listener);
        server
            .http_builder()
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read);
        server.acceptor(Guard {
            inner: acceptor,
            limits: self.limits,
            permits: self.permits.clone(),
        })
    }
}

/// Wraps an acceptor: takes a place under the cap, bounds the handshake, then watches the
/// connection for idleness.
#[derive(Debug, Clone)]
pub struct Guard<A> {
    inner: A,
    limits: Limits,
    permits: Arc<Semaphore>,
}

type Accepting<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

impl<A, S> Accept<tokio::net::TcpStream, S> for Guard<A>
where
    A: Accept<tokio::net::TcpStream, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Idle<A::Stream>;
    type Service = A::Service;
    type Future = Accepting<(Idle<A::Stream>, A::Service)>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let Ok(place) = self.permits.clone().try_acquire_owned() else {
            // Dropping the stream closes it now: its descriptor is worth more to the
            // connections already served than a wait would be to this one.
            tracing::debug!("connection cap reached; a new connection was closed");
            return Box::pin(std::future::ready(Err(io::Error::other(
                "too many connections",
            ))));
        };
        let accepting = self.inner.accept(stream, service);
        let limits = self.limits;
        Box::pin(async move {
            let (stream, service) = tokio::time::timeout(limits.tls_handshake, accepting)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake too slow"))??;
            // Wrapped after the handshake, so the first request's bytes are what it waits for.
            let stream = Idle::new(stream, limits.header_read, limits.idle, place);
            Ok((stream, service))
        })
    }
}

/// A connection that fails once no byte has passed either way for its idle timeout (or none
/// came at all within the header timeout), and holds its place under the cap until dropped.
#[derive(Debug)]
pub struct Idle<T> {
    inner: T,
    timeout: Duration,
    deadline: Instant,
    sleep: Pin<Box<Sleep>>,
    _place: OwnedSemaphorePermit,
}

impl<T> Idle<T> {
    /// `first` bounds the wait for the first byte of the first request: hyper's header timer
    /// starts only once the first bytes have told HTTP/1 from HTTP/2, so a client that sends
    /// nothing needs this one.
    fn new(inner: T, first: Duration, timeout: Duration, place: OwnedSemaphorePermit) -> Self {
        let deadline = Instant::now() + first.min(timeout);
        Self {
            inner,
            timeout,
            deadline,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            _place: place,
        }
    }

    fn active(&mut self) {
        // The timer is moved lazily, when it fires: resetting it on every read would cost more.
        self.deadline = Instant::now() + self.timeout;
    }

    /// Pending until the idle deadline, then the error that ends the connection.
    fn poll_idle<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        while self.sleep.as_mut().poll(cx).is_ready() {
            if Instant::now() >= self.deadline {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                )));
            }
            let deadline = self.deadline;
            self.sleep.as_mut().reset(deadline);
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.active();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    this.active();
                }
                Poll::Ready(result)
            }
            // A client that stops reading is as idle as one that stops sending.
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    this.active();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.poll_idle(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_ipv6_wildcard_is_dual_stack_and_other_addresses_keep_their_family()
    -> io::Result<()> {
        let any6 = bind("[::]:0".parse().map_err(io::Error::other)?)?;
        assert!(!rustix::net::sockopt::ipv6_v6only(&any6)?);
        let v4 = bind("127.0.0.1:0".parse().map_err(io::Error::other)?)?;
        assert!(v4.local_addr()?.is_ipv4());
        Ok(())
    }
}
