//! [`Strict`]: a connection whose bytes reach hyper only as the framing
//! [`Tracker`] allows.
//!
//! Body bytes go through as they arrive; each request head is held back
//! until it is whole and has passed. A refused head never reaches hyper:
//! hyper sees the connection end there, finishes the answers it owes, and
//! closes; on that close the refusal's answer is written and the connection
//! shut.
//!
//! The first head on a connection must be whole within the head timeout:
//! hyper's own timer starts only once it knows which HTTP version it
//! speaks, which needs the first bytes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use sectorgate_proxy::framing::{Flaw, Scan, Tracker};

/// How many bytes one read asks for while a head is held back.
const READ_SIZE: usize = 8 * 1024;

/// A connection checked by a [`Tracker`]. `refuse` is called once, with
/// the flaw, when a head is refused, and returns the answer to send.
pub(crate) struct Strict<T, F> {
    io: T,
    tracker: Tracker,
    /// Bytes read but not yet passed on.
    held: BytesMut,
    /// How many of `held`'s leading bytes may be passed on.
    passable: usize,
    /// The answer to a refused head, and how much of it is written.
    answer: Option<(Vec<u8>, usize)>,
    eof: bool,
    refuse: F,
    /// Until the first head has passed: when it must have.
    first_head: Option<Pin<Box<Sleep>>>,
}

impl<T, F: FnMut(Flaw) -> Vec<u8>> Strict<T, F> {
    /// Checks the requests on `io`, whose heads may be `max_head` bytes and
    /// whose first head must be whole within `head_timeout`.
    pub(crate) fn new(io: T, max_head: usize, head_timeout: Duration, refuse: F) -> Self {
        Self {
            io,
            tracker: Tracker::new(max_head),
            held: BytesMut::new(),
            passable: 0,
            answer: None,
            eof: false,
            refuse,
            first_head: Some(Box::pin(tokio::time::sleep(head_timeout))),
        }
    }

    /// Waiting on the client: an error once the first head is overdue.
    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let overdue = self
            .first_head
            .as_mut()
            .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
        if overdue {
            let error = io::Error::new(io::ErrorKind::TimedOut, "no whole request head in time");
            return Poll::Ready(Err(error));
        }
        Poll::Pending
    }

    /// Applies a scan of the bytes not yet passed on: the first `passed`
    /// of them may go; with a refusal, nothing after them ever will.
    fn apply(&mut self, scan: Scan) -> usize {
        match scan {
            Scan::Pass(passed) => passed,
            Scan::Refuse(passed, flaw) => {
                tracing::info!(?flaw, "request refused before hyper");
                self.answer = Some(((self.refuse)(flaw), 0));
                passed
            }
        }
    }
}

impl<T: AsyncRead + Unpin, F: FnMut(Flaw) -> Vec<u8> + Unpin> AsyncRead for Strict<T, F> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            // Nothing can be read into a full buffer; a read of nothing must
            // not be taken for the end of the stream below.
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.passable > 0 {
                this.first_head = None;
                let n = this.passable.min(buf.remaining());
                buf.put_slice(&this.held[..n]);
                this.held.advance(n);
                this.passable -= n;
                if this.held.is_empty() {
                    // Frees the buffer: an idle connection holds none.
                    this.held = BytesMut::new();
                }
                return Poll::Ready(Ok(()));
            }
            if this.answer.is_some() {
                this.held.clear();
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                // An unfinished head goes to hyper, which treats a head cut
                // off by the client as it always does.
                if this.held.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                this.passable = this.held.len();
                continue;
            }
            if this.held.is_empty() {
                // Nothing held back: read straight into hyper's buffer and
                // keep back only what may not pass yet.
                let before = buf.filled().len();
                if Pin::new(&mut this.io).poll_read(cx, buf)?.is_pending() {
                    return this.pending(cx);
                }
                let read = &buf.filled()[before..];
                if read.is_empty() {
                    this.eof = true;
                    continue;
                }
                let scan = this.tracker.scan(read);
                let passed = this.apply(scan);
                let read_len = read.len();
                if passed < read_len {
                    if this.answer.is_none() {
                        this.held
                            .extend_from_slice(&buf.filled()[before + passed..]);
                    }
                    buf.set_filled(before + passed);
                }
                if passed > 0 {
                    this.first_head = None;
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            let mut scratch = [0_u8; READ_SIZE];
            let mut read = ReadBuf::new(&mut scratch);
            if Pin::new(&mut this.io)
                .poll_read(cx, &mut read)?
                .is_pending()
            {
                return this.pending(cx);
            }
            if read.filled().is_empty() {
                this.eof = true;
                continue;
            }
            this.held.extend_from_slice(read.filled());
            let scan = this.tracker.scan(&this.held);
            this.passable = this.apply(scan);
            if this.answer.is_some() {
                this.held.truncate(this.passable);
            }
        }
    }
}

impl<T: AsyncWrite + Unpin, F: Unpin> AsyncWrite for Strict<T, F> {
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

    /// Writes a refused head's answer, if there is one, before shutting
    /// the connection: hyper has written every answer it owed by now.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some((answer, written)) = &mut this.answer {
            while *written < answer.len() {
                let n = ready!(Pin::new(&mut this.io).poll_write(cx, &answer[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
            ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const GOOD: &[u8] = b"GET /a HTTP/1.1\r\nhost: h\r\n\r\n";
    const BAD: &[u8] =
        b"POST /a HTTP/1.1\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n";

    /// Sends `chunks` through a `Strict`, one write each, and returns what
    /// reached the reader and what the refusal sent back.
    async fn through(chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let (client, server) = tokio::io::duplex(64);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let timeout = Duration::from_secs(5);
        let mut strict = Strict::new(server, 1024, timeout, |flaw: Flaw| {
            format!("refused: {}", flaw.reason()).into_bytes()
        });
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|chunk| chunk.to_vec()).collect();
        let writer = tokio::spawn(async move {
            for chunk in chunks {
                client_write.write_all(&chunk).await.expect("write");
                tokio::task::yield_now().await;
            }
            client_write.shutdown().await.expect("shutdown");
        });
        let mut passed = Vec::new();
        strict.read_to_end(&mut passed).await.expect("read");
        strict.shutdown().await.expect("shutdown");
        writer.await.expect("writer");
        let mut answered = Vec::new();
        client_read
            .read_to_end(&mut answered)
            .await
            .expect("answer");
        (passed, answered)
    }

    #[tokio::test]
    async fn good_requests_pass_whole_however_they_arrive() {
        let body = b"PUT /a HTTP/1.1\r\ncontent-length: 300\r\n\r\n";
        let payload = vec![b'\n'; 300];
        let all = [GOOD, body, &payload, GOOD].concat();
        let (passed, answered) = through(&[&all]).await;
        assert_eq!(passed, all);
        assert!(answered.is_empty());
        let pieces: Vec<&[u8]> = all.chunks(7).collect();
        let (passed, _) = through(&pieces).await;
        assert_eq!(passed, all);
    }

    #[tokio::test]
    async fn a_refused_head_never_passes_and_is_answered_on_shutdown() {
        let (passed, answered) = through(&[GOOD, BAD, GOOD]).await;
        assert_eq!(passed, GOOD);
        assert_eq!(
            answered,
            b"refused: both Content-Length and Transfer-Encoding"
        );
        let all = [GOOD, BAD, GOOD].concat();
        let (passed, _) = through(&[&all]).await;
        assert_eq!(passed, GOOD);
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_head_not_whole_in_time_ends_the_connection() {
        let (mut client, server) = tokio::io::duplex(64);
        let timeout = Duration::from_secs(5);
        let mut strict = Strict::new(server, 1024, timeout, |_: Flaw| Vec::new());
        client
            .write_all(b"GET /a HTTP/1.1\r\n")
            .await
            .expect("write");
        let mut passed = Vec::new();
        let error = strict
            .read_to_end(&mut passed)
            .await
            .expect_err("timed out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(passed.is_empty());
        // Once a head has passed, waiting is hyper's business.
        let (mut client, server) = tokio::io::duplex(64);
        let mut strict = Strict::new(server, 1024, timeout, |_: Flaw| Vec::new());
        client.write_all(GOOD).await.expect("write");
        let mut first = vec![0; GOOD.len()];
        strict.read_exact(&mut first).await.expect("the head");
        let idle = tokio::time::timeout(Duration::from_secs(60), strict.read(&mut first)).await;
        assert!(
            idle.is_err(),
            "the connection was ended after its first head"
        );
    }

    #[tokio::test]
    async fn a_read_into_a_full_buffer_is_not_the_end() {
        let (mut client, server) = tokio::io::duplex(64);
        let timeout = Duration::from_secs(5);
        let mut strict = Strict::new(server, 1024, timeout, |_: Flaw| Vec::new());
        client.write_all(GOOD).await.expect("write");
        let mut none: [u8; 0] = [];
        let mut full = ReadBuf::new(&mut none);
        std::future::poll_fn(|cx| Pin::new(&mut strict).poll_read(cx, &mut full))
            .await
            .expect("a read into a full buffer");
        let mut head = vec![0; GOOD.len()];
        strict
            .read_exact(&mut head)
            .await
            .expect("the head, still there");
        assert_eq!(head, GOOD);
    }

    #[tokio::test]
    async fn an_unfinished_head_reaches_hyper_at_the_end() {
        let (passed, answered) = through(&[b"GET /a HTTP/1.1\r\nho"]).await;
        assert_eq!(passed, b"GET /a HTTP/1.1\r\nho");
        assert!(answered.is_empty());
    }
}
