//! A writer on a blocking thread feeding an async reader through a small bounded channel: when
//! the reader is slower (a socket, an HTTP client), the writer waits, so memory stays flat.

use std::io::{self, Write};
use tokio::sync::mpsc;

/// Bytes a chunk gathers before it is sent.
pub const CHUNK: usize = 64 * 1024;
/// Chunks in flight at most: with the one being filled, about 320 KiB per pipe.
const DEPTH: usize = 4;

/// Makes a pipe: write on a blocking thread, receive chunks on the async side.
pub fn pipe() -> (PipeWriter, mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (
        PipeWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        },
        rx,
    )
}

/// The writing end; use it only on a blocking thread (it blocks while the channel is full).
pub struct PipeWriter {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader went away"))
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn a_writer_waits_for_the_reader_and_stops_when_it_goes() {
        let (mut w, mut rx) = pipe();
        let writer = std::thread::spawn(move || {
            let block = vec![7u8; CHUNK];
            // Far more than the channel holds: this only finishes if chunks are taken out.
            for _ in 0..(DEPTH * 4) {
                w.write_all(&block)?;
            }
            w.flush()?;
            // The reader has gone: writing fails rather than piling up.
            loop {
                w.write_all(&block)?;
            }
        });
        let mut got = 0;
        while got < DEPTH * 4 * CHUNK {
            got += rx.blocking_recv().unwrap().len();
        }
        drop(rx);
        let err: io::Result<()> = writer.join().unwrap();
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
