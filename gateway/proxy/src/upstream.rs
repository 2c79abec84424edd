//! The homeserver's connections: HTTP/1.1, pooled, each driven by the
//! request that uses it.
//!
//! A request takes an idle connection (or opens one), sends itself and reads
//! the answer's head while polling the connection's I/O in its own task; the
//! answer's body ([`UpstreamBody`]) goes on polling it as the body is read.
//! There is no connection task, no channel hand-off between tasks and no
//! pool task: the connection goes back to the pool when its answer's body
//! ends and the connection is ready for the next request, and is closed
//! otherwise (a body dropped half-read, an answer with `Connection: close`,
//! an error).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, Uri};
use http::{HeaderValue, Request, Response};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Most idle connections kept; more are closed when they come back.
const MAX_IDLE: usize = 1024;

/// An idle connection unused for this long is closed, not reused. The pool
/// hands out its most recently used connection first, so a steady load keeps
/// reusing its working set whatever this is, and only the surplus a burst
/// left behind (about 37 KiB each, mostly hyper's buffers) waits this long.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// How often idle connections past [`IDLE_TIMEOUT`] are looked for: a
/// surplus connection is closed at most this much after it expired.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The homeserver's address and the pool of connections to it.
#[derive(Clone)]
pub(crate) struct Upstream {
    authority: Authority,
    host: HeaderValue,
    connect_timeout: Duration,
    idle: Arc<Idle>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

/// Connections ready for a request, the most recently used last.
#[derive(Default)]
struct Idle(Mutex<Vec<(Box<Conn>, Instant)>>);

/// One connection: the handle requests are sent through, and the
/// connection's I/O, polled by whoever uses it. Boxed wherever it goes, as
/// it is large (hyper's buffers' state).
struct Conn {
    sender: SendRequest<Body>,
    io: Connection<TokioIo<TcpStream>, Body>,
    /// The I/O ended (closed or failed): it must not be polled again.
    ended: bool,
}

impl Conn {
    /// Moves the connection's I/O on; `true` once it has ended.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.ended {
            match Pin::new(&mut self.io).poll(cx) {
                Poll::Ready(Ok(())) => self.ended = true,
                Poll::Ready(Err(error)) => {
                    tracing::debug!(%error, "homeserver connection ended");
                    self.ended = true;
                }
                Poll::Pending => {}
            }
        }
        self.ended
    }

    /// Whether the next request can be sent on it now.
    fn reusable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        !self.drive(&mut cx) && self.sender.is_ready()
    }
}

/// Why the homeserver could not be asked.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// No connection could be opened within the connect timeout.
    Connect(std::io::Error),
    /// The exchange failed (its cause says where: the connection, or the
    /// request's own body).
    Http(hyper::Error),
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(error) => write!(f, "cannot connect to the homeserver: {error}"),
            Self::Http(error) => write!(f, "homeserver exchange failed: {error}"),
        }
    }
}

impl Error for UpstreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Connect(error) => Some(error),
            Self::Http(error) => Some(error),
        }
    }
}

impl Upstream {
    /// The homeserver at `base` (an `http://` URL with an authority).
    pub(crate) fn new(base: &Uri, connect_timeout: Duration) -> Self {
        let authority = base
            .authority()
            .cloned()
            .unwrap_or_else(|| Authority::from_static("localhost"));
        let host = HeaderValue::from_str(authority.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Self {
            authority,
            host,
            connect_timeout,
            idle: Arc::default(),
        }
    }

    /// Sends `request` (its URI's path and query, its `Host` header or the
    /// homeserver's) and returns the answer, its body streaming.
    pub(crate) async fn request(
        &self,
        mut request: Request<Body>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        request
            .headers_mut()
            .entry(HOST)
            .or_insert_with(|| self.host.clone());
        *request.uri_mut() = origin_form(request.uri());
        let (mut conn, reused) = match self.take_idle() {
            Some(conn) => (conn, true),
            None => (self.connect().await?, false),
        };
        match exchange(&mut conn, request).await {
            Ok(response) => Ok(self.answer(conn, response)),
            // An idle connection the homeserver closed before the request
            // was sent: once more on a new one.
            Err(Unsent(Some(request), _)) if reused => {
                let mut conn = self.connect().await?;
                match exchange(&mut conn, request).await {
                    Ok(response) => Ok(self.answer(conn, response)),
                    Err(Unsent(_, error)) => Err(UpstreamError::Http(error)),
                }
            }
            Err(Unsent(_, error)) => Err(UpstreamError::Http(error)),
        }
    }

    /// Every [`SWEEP_EVERY`], runs `also` and, while it says to go on,
    /// closes the idle connections past their time: a task of its own.
    pub(crate) fn sweeper(
        &self,
        mut also: impl FnMut() -> bool + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let upstream = self.clone();
        async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                if !also() {
                    break;
                }
                upstream.close_expired();
            }
        }
    }

    /// Closes the idle connections that waited longer than [`IDLE_TIMEOUT`].
    fn close_expired(&self) {
        let now = Instant::now();
        self.idle
            .lock()
            .retain(|(_, since)| now.duration_since(*since) < IDLE_TIMEOUT);
    }

    fn answer(&self, conn: Box<Conn>, response: Response<Incoming>) -> Response<UpstreamBody> {
        let pool = Arc::downgrade(&self.idle);
        response.map(|body| UpstreamBody {
            body,
            conn: Some(conn),
            ended: false,
            pool,
        })
    }

    /// The most recently used idle connection still open and not expired.
    fn take_idle(&self) -> Option<Box<Conn>> {
        let now = Instant::now();
        let mut idle = self.idle.lock();
        while let Some((mut conn, since)) = idle.pop() {
            if now.duration_since(since) < IDLE_TIMEOUT && conn.reusable() {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Box<Conn>, UpstreamError> {
        let address = (
            self.authority.host().trim_matches(['[', ']']),
            self.authority.port_u16().unwrap_or(80),
        );
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(address))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
            .map_err(UpstreamError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, io) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Http)?;
        Ok(Box::new(Conn {
            sender,
            io,
            ended: false,
        }))
    }
}

impl Idle {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Box<Conn>, Instant)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn give_back(&self, conn: Box<Conn>) {
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push((conn, Instant::now()));
        }
    }
}

/// A request that failed, and the request itself when it was never sent.
struct Unsent(Option<Request<Body>>, hyper::Error);

/// Sends `request` on `conn` once it is ready, driving its I/O until the
/// answer's head has come.
async fn exchange(conn: &mut Conn, request: Request<Body>) -> Result<Response<Incoming>, Unsent> {
    // A connection that ended is never ready: its handle says why.
    let ready = std::future::poll_fn(|cx| {
        let _ = conn.drive(cx);
        conn.sender.poll_ready(cx)
    });
    if let Err(error) = ready.await {
        return Err(Unsent(Some(request), error));
    }
    let mut sent = std::pin::pin!(conn.sender.try_send_request(request));
    std::future::poll_fn(|cx| {
        let _ = conn.drive(cx);
        sent.as_mut().poll(cx)
    })
    .await
    .map_err(|mut error| Unsent(error.take_message(), error.into_error()))
}

/// The homeserver's answer body; reading it moves its connection's I/O on.
pub(crate) struct UpstreamBody {
    body: Incoming,
    /// The connection, until the body has ended or failed.
    conn: Option<Box<Conn>>,
    /// The body's last frame has been read.
    ended: bool,
    pool: Weak<Idle>,
}

impl fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl UpstreamBody {
    /// Puts the connection back in the pool if the answer is complete and
    /// the connection takes another request; closes it otherwise.
    fn release(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let complete = self.ended || self.body.is_end_stream();
        if !complete || !conn.reusable() {
            return;
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.give_back(conn);
        }
    }
}

impl hyper::body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(conn) = &mut this.conn {
            let _ = conn.drive(cx);
        }
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        match &frame {
            Poll::Ready(None) => {
                this.ended = true;
                this.release();
            }
            Poll::Ready(Some(Err(_))) => this.conn = None,
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        self.release();
    }
}

/// `uri` as sent to the homeserver: its path and query alone.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(path) if path.as_str() != "/" => Uri::from(path.clone()),
        _ => Uri::from_static("/"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// How the stand-in homeserver answers each request.
    #[derive(Clone, Copy)]
    enum Answer {
        /// `Content-Length` body, connection kept.
        Sized,
        /// A chunked body, connection kept.
        Chunked,
        /// A body larger than one read, connection kept.
        Large,
        /// An answer with `Connection: close`, then the socket closed.
        Close,
        /// An answer, then the socket closed without saying so.
        Drop,
    }

    /// A homeserver that answers every request as `answer` says; returns
    /// its address and how many connections it accepted.
    async fn homeserver(answer: Answer) -> (Uri, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 1024];
                    loop {
                        let Ok(read) = stream.read(&mut buffer).await else {
                            return;
                        };
                        if read == 0 {
                            return;
                        }
                        head.extend_from_slice(&buffer[..read]);
                        while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                            head.drain(..end + 4);
                            let reply = match answer {
                                Answer::Sized | Answer::Drop => {
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec()
                                }
                                Answer::Chunked => b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".to_vec(),
                                Answer::Large => {
                                    let mut reply =
                                        b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n".to_vec();
                                    reply.resize(reply.len() + 1_000_000, b'x');
                                    reply
                                }
                                Answer::Close => b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}".to_vec(),
                            };
                            if stream.write_all(&reply).await.is_err() {
                                return;
                            }
                            if matches!(answer, Answer::Close | Answer::Drop) {
                                return;
                            }
                        }
                    }
                });
            }
        });
        let uri = format!("http://{address}").parse().expect("uri");
        (uri, accepted)
    }

    fn get(base: &Uri) -> Request<Body> {
        Request::get(format!("{base}_matrix/client/versions"))
            .body(Body::empty())
            .expect("request")
    }

    async fn read_all(upstream: &Upstream, base: &Uri) -> Bytes {
        let response = upstream.request(get(base)).await.expect("answered");
        assert_eq!(response.status(), 200);
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
    }

    #[tokio::test]
    async fn a_connection_whose_answer_was_read_is_used_again() {
        for answer in [Answer::Sized, Answer::Chunked, Answer::Large] {
            let (base, accepted) = homeserver(answer).await;
            let upstream = Upstream::new(&base, Duration::from_secs(5));
            for _ in 0..3 {
                assert!(!read_all(&upstream, &base).await.is_empty());
            }
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                1,
                "one connection for three requests"
            );
        }
    }

    /// A sweep at once keeps the connection just used; the next one, 5 s
    /// later, is told to stop, and the sweeper ends.
    #[tokio::test]
    async fn the_sweeper_keeps_a_fresh_connection_and_ends_when_told() {
        let (base, accepted) = homeserver(Answer::Sized).await;
        let upstream = Upstream::new(&base, Duration::from_secs(5));
        assert!(!read_all(&upstream, &base).await.is_empty());
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&asked);
        upstream
            .sweeper(move || counted.fetch_add(1, Ordering::SeqCst) == 0)
            .await;
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert!(!read_all(&upstream, &base).await.is_empty());
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "the connection used just before was kept"
        );
    }

    #[tokio::test]
    async fn a_connection_whose_answer_was_left_half_read_is_closed() {
        let (base, accepted) = homeserver(Answer::Large).await;
        let upstream = Upstream::new(&base, Duration::from_secs(5));
        let mut body = upstream
            .request(get(&base))
            .await
            .expect("answered")
            .into_body();
        let first = body.frame().await.expect("a frame").expect("data");
        assert!(first.is_data());
        drop(body);
        assert_eq!(read_all(&upstream, &base).await.len(), 1_000_000);
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "the half-read one was not reused"
        );
    }

    #[tokio::test]
    async fn a_connection_the_homeserver_closes_is_not_used_again() {
        for answer in [Answer::Close, Answer::Drop] {
            let (base, accepted) = homeserver(answer).await;
            let upstream = Upstream::new(&base, Duration::from_secs(5));
            for _ in 0..3 {
                assert_eq!(read_all(&upstream, &base).await, "{}");
                // The close reaches the gateway after the answer, or not.
                tokio::task::yield_now().await;
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 3);
        }
    }

    #[tokio::test]
    async fn the_request_goes_in_origin_form_with_the_homeservers_host() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let base: Uri = format!("http://{}", listener.local_addr().expect("address"))
            .parse()
            .expect("uri");
        let seen = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accepts");
            let mut head = vec![0u8; 4096];
            let read = stream.read(&mut head).await.expect("reads");
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .expect("answers");
            String::from_utf8_lossy(&head[..read]).into_owned()
        });
        let upstream = Upstream::new(&base, Duration::from_secs(5));
        let response = upstream.request(get(&base)).await.expect("answered");
        assert_eq!(response.status(), 204);
        let head = seen.await.expect("served");
        assert!(
            head.starts_with("GET /_matrix/client/versions HTTP/1.1\r\n"),
            "{head}"
        );
        let host = format!("host: {}\r\n", base.authority().expect("authority"));
        assert!(head.to_ascii_lowercase().contains(&host), "{head}");
    }

    #[tokio::test]
    async fn no_homeserver_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let base: Uri = format!("http://{}", listener.local_addr().expect("address"))
            .parse()
            .expect("uri");
        drop(listener);
        let upstream = Upstream::new(&base, Duration::from_secs(5));
        let error = upstream
            .request(get(&base))
            .await
            .expect_err("nobody listens");
        assert!(matches!(error, UpstreamError::Connect(_)), "{error}");
    }
}
