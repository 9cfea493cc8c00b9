//! The control socket's reply: a run of frames, each a kind byte, a 4-byte big-endian length and
//! that many bytes, ending with one exit frame. Output of any size passes in bounded chunks.

use std::io::{self, Read};

/// Largest frame accepted; a larger length means the stream is not ours.
pub const MAX_FRAME: usize = 1024 * 1024;

const STDOUT: u8 = b'o';
const STDERR: u8 = b'e';
const PROGRESS: u8 = b'p';
const EXIT: u8 = b'x';

/// One piece of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Bytes for stdout.
    Stdout(Vec<u8>),
    /// Bytes for stderr.
    Stderr(Vec<u8>),
    /// Where the command has got to, for a progress bar on the caller's terminal.
    Progress {
        /// Count so far.
        pos: u64,
        /// Count to reach; 0 when unknown.
        total: u64,
        /// The step now running.
        step: String,
    },
    /// The command's exit code; the last frame.
    Exit(i32),
}

impl Frame {
    /// The frame as bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, body): (u8, std::borrow::Cow<'_, [u8]>) = match self {
            Frame::Stdout(b) => (STDOUT, b.into()),
            Frame::Stderr(b) => (STDERR, b.into()),
            Frame::Progress { pos, total, step } => {
                let mut b = Vec::with_capacity(16 + step.len());
                b.extend_from_slice(&pos.to_be_bytes());
                b.extend_from_slice(&total.to_be_bytes());
                b.extend_from_slice(step.as_bytes());
                (PROGRESS, b.into())
            }
            Frame::Exit(code) => (EXIT, code.to_be_bytes().to_vec().into()),
        };
        let mut out = Vec::with_capacity(5 + body.len());
        out.push(kind);
        // Bodies are built below MAX_FRAME (stdout chunks are `pipe::CHUNK`).
        out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Reads the next frame; `None` when the stream ends before one starts.
    pub fn read(r: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut head = [0u8; 5];
        match r.read_exact(&mut head[..1]) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other?,
        }
        r.read_exact(&mut head[1..])?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_FRAME {
            return Err(bad("a frame longer than the limit"));
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)?;
        Ok(Some(match head[0] {
            STDOUT => Frame::Stdout(body),
            STDERR => Frame::Stderr(body),
            PROGRESS if len >= 16 => {
                let (pos, rest) = body.split_at(8);
                let (total, step) = rest.split_at(8);
                Frame::Progress {
                    pos: u64::from_be_bytes(pos.try_into().map_err(|_| bad("progress"))?),
                    total: u64::from_be_bytes(total.try_into().map_err(|_| bad("progress"))?),
                    step: String::from_utf8_lossy(step).into_owned(),
                }
            }
            EXIT if len == 4 => {
                Frame::Exit(i32::from_be_bytes([body[0], body[1], body[2], body[3]]))
            }
            _ => return Err(bad("an unknown frame")),
        }))
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} on the control socket"),
    )
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn frames_read_back_as_written() {
        let frames = [
            Frame::Stdout(b"a,b\n".to_vec()),
            Frame::Progress {
                pos: 3,
                total: 10,
                step: "export".into(),
            },
            Frame::Stderr(Vec::new()),
            Frame::Exit(-1),
        ];
        let wire: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        let mut r = wire.as_slice();
        for f in &frames {
            assert_eq!(Frame::read(&mut r).unwrap().as_ref(), Some(f));
        }
        assert_eq!(Frame::read(&mut r).unwrap(), None);
        // Cut short inside a frame: an error, not a quiet end.
        assert!(Frame::read(&mut &wire[..3]).is_err());
    }
}
