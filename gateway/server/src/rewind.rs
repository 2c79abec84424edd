//! [`Rewind`]: a connection with bytes already read put back in front of
//! it, and [`sniff`], which reads just enough of a connection's first
//! bytes to tell HTTP/2's connection preface from an HTTP/1 request.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// What an HTTP/2 client sends first (RFC 9113, section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection whose reads return `prefix` first.
pub(crate) struct Rewind<T> {
    prefix: Bytes,
    io: T,
}

impl<T> Rewind<T> {
    /// `io`, nothing put back yet.
    pub(crate) fn new(io: T) -> Self {
        Self {
            prefix: Bytes::new(),
            io,
        }
    }

    /// Puts `bytes` back in front of what is still to be read.
    pub(crate) fn rewind(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.prefix = if self.prefix.is_empty() {
            bytes
        } else {
            let mut joined = BytesMut::with_capacity(bytes.len() + self.prefix.len());
            joined.extend_from_slice(&bytes);
            joined.extend_from_slice(&self.prefix);
            joined.freeze()
        };
    }

    /// The connection underneath.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }
}

/// Whether the connection speaks HTTP/2 (it opens with the preface), and
/// its first bytes, read while telling: as many as it took.
pub(crate) async fn sniff<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<(bool, Bytes)> {
    let mut read = [0_u8; H2_PREFACE.len()];
    let mut filled = 0;
    while filled < read.len() {
        let n = io.read(&mut read[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
        if read[..filled] != H2_PREFACE[..filled] {
            break;
        }
    }
    let h2 = read[..filled] == *H2_PREFACE;
    Ok((h2, Bytes::copy_from_slice(&read[..filled])))
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            if this.prefix.is_empty() {
                // Frees the bytes' buffer now, not when the next ones come.
                this.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_preface_is_told_from_a_request_and_nothing_read_is_lost() {
        for (input, h2, kept) in [
            (&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nrest"[..], true, 24),
            (&b"GET / HTTP/1.1\r\n\r\n"[..], false, 18),
            (&b"PRX"[..], false, 3),
            (&b""[..], false, 0),
        ] {
            let mut io = input;
            let (is_h2, read) = sniff(&mut io).await.expect("sniff");
            assert_eq!((is_h2, read.len()), (h2, kept), "{input:?}");
            let mut rewound = Rewind::new(io);
            rewound.rewind(read);
            let mut all = Vec::new();
            rewound.read_to_end(&mut all).await.expect("read");
            assert_eq!(all, input);
        }
    }

    #[tokio::test]
    async fn rewound_bytes_come_before_those_not_yet_read() {
        let mut rewound = Rewind::new(&b"ef"[..]);
        rewound.rewind(Bytes::from_static(b"cd"));
        rewound.rewind(Bytes::from_static(b"ab"));
        let mut all = Vec::new();
        rewound.read_to_end(&mut all).await.expect("read");
        assert_eq!(all, b"abcdef");
    }
}
