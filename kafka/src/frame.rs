//! Kafka's framing: a big-endian `i32` size, then that many bytes of request.

use std::fmt;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The read buffer grows by at most this much ahead of the bytes that came, so that a
/// peer claiming a large frame and sending little holds little memory.
const GROWTH_STEP: usize = 64 << 10;

/// Why no frame could be read: each closes the connection.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The peer closed the connection between frames.
    Closed,
    /// The size prefix is negative or above the limit.
    Size { size: i32, max: usize },
    /// The connection ended inside a frame.
    Truncated { size: usize, got: usize },
    /// Reading failed.
    Io(std::io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("closed by the peer"),
            Self::Size { size, max } => {
                write!(
                    f,
                    "request size {size} outside 0..={max} (max_request_bytes)"
                )
            }
            Self::Truncated { size, got } => {
                write!(f, "connection ended {got} bytes into a {size}-byte request")
            }
            Self::Io(e) => write!(f, "read failed: {e}"),
        }
    }
}

/// Reads one frame's body. Its buffer grows with the bytes that arrive, never past `max`.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Bytes, FrameError> {
    let mut prefix = [0u8; 4];
    match reader.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let size = i32::from_be_bytes(prefix);
    let len = usize::try_from(size)
        .ok()
        .filter(|&n| n <= max)
        .ok_or(FrameError::Size { size, max })?;
    let mut body = Vec::with_capacity(len.min(GROWTH_STEP));
    while body.len() < len {
        if body.len() == body.capacity() {
            body.reserve_exact((len - body.len()).min(body.len().max(GROWTH_STEP)));
        }
        let room = (body.capacity() - body.len()).min(len - body.len());
        let start = body.len();
        body.resize(start + room, 0);
        let got = match reader.read(&mut body[start..]).await {
            Ok(n) => n,
            Err(e) => return Err(FrameError::Io(e)),
        };
        body.truncate(start + got);
        if got == 0 {
            return Err(FrameError::Truncated {
                size: len,
                got: body.len(),
            });
        }
    }
    Ok(Bytes::from(body))
}
