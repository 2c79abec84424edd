//! HTTP/1 connections that hold no buffers while idle.
//!
//! hyper keeps a read and a write buffer (8 KiB each) for as long as it
//! serves a connection, idle or not; with thousands of clients keeping
//! connections alive between their requests, those buffers are most of the
//! gateway's memory. So a connection whose requests are all answered and
//! that has seen no new one for [`PARK_AFTER`] is taken back from hyper and
//! *parked*: it waits, holding only its socket, for the next request's
//! first bytes, and a fresh hyper connection serves that request.
//!
//! Taking it back: `graceful_shutdown` on a connection with nothing under
//! way ends hyper's part without closing anything, and `without_shutdown`
//! hands back the socket and any bytes hyper had read ahead, which are put
//! back in front of the next read. No request is under way then (each one is
//! counted from the call of the service until its response body is gone),
//! so no answer ever says `Connection: close` because of it.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use sectorgate_proxy::metrics::Metrics;

use crate::rewind::Rewind;

/// How long a connection with nothing under way idles in hyper before it
/// is parked.
pub(crate) const PARK_AFTER: Duration = Duration::from_secs(2);

/// How many bytes a parked connection reads to wake up.
const WAKE_READ: usize = 16;

/// A connection's requests: how many began, how many are under way.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    began: AtomicU64,
    under_way: AtomicUsize,
}

impl Activity {
    /// Requests begun on the connection so far.
    pub(crate) fn began(&self) -> u64 {
        self.began.load(Ordering::Relaxed)
    }

    fn idle(&self) -> bool {
        self.under_way.load(Ordering::Relaxed) == 0
    }
}

/// A request under way, from the service's call until its response body
/// is dropped.
#[derive(Debug)]
pub(crate) struct UnderWay(Arc<Activity>);

impl UnderWay {
    /// A request begins.
    pub(crate) fn begin(activity: &Arc<Activity>) -> Self {
        activity.began.fetch_add(1, Ordering::Relaxed);
        activity.under_way.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(activity))
    }

    /// The response, its request counted under way until its body is gone.
    pub(crate) fn until_sent(self, response: axum::response::Response) -> axum::response::Response {
        response.map(|body| {
            Body::new(Counted {
                body,
                _under_way: self,
            })
        })
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.under_way.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted under way.
struct Counted {
    body: Body,
    _under_way: UnderWay,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How a connection is served and parked.
pub(crate) struct Parking<'a> {
    pub(crate) builder: &'a http1::Builder,
    /// What the service counts.
    pub(crate) activity: &'a Activity,
    /// How long a parked connection waits for a request.
    pub(crate) idle_limit: Duration,
    /// Where parked connections are counted.
    pub(crate) metrics: Option<&'a Metrics>,
}

/// Serves HTTP/1 on `io`, parking it whenever it idles (see the module's
/// docs), until the client closes it, it stays parked for `idle_limit`,
/// or `stop` changes.
pub(crate) async fn serve<T, S>(
    parking: &Parking<'_>,
    io: &mut Rewind<T>,
    service: &S,
    stop: &mut watch::Receiver<()>,
) -> Result<(), hyper::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
    S: HttpService<Incoming, ResBody = Body> + Clone + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        // On the heap, so that hyper's connection, its buffers and timers
        // are freed while the connection is parked: a parked connection
        // holds only what this loop and its caller hold (the socket, the
        // service, one timer).
        let serving = Box::pin(until_idle(parking, &mut *io, service.clone(), stop));
        if serving.await? == Served::Ended {
            return Ok(());
        }
        let _parked = parking.metrics.map(Metrics::parked);
        if !woken(io, parking.idle_limit, stop).await {
            return Ok(());
        }
    }
}

/// How a connection's time in hyper ended.
#[derive(Debug, PartialEq, Eq)]
enum Served {
    /// Idle: taken back from hyper, to be parked.
    Idle,
    /// Closed by the client, ended by hyper, or stopping: shut down.
    Ended,
}

/// Serves `io` with hyper until the connection ends or idles for
/// [`PARK_AFTER`] with nothing under way.
async fn until_idle<T, S>(
    parking: &Parking<'_>,
    io: &mut Rewind<T>,
    service: S,
    stop: &mut watch::Receiver<()>,
) -> Result<Served, hyper::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
    S: HttpService<Incoming, ResBody = Body> + Clone + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = parking.activity;
    let mut connection = parking.builder.serve_connection(TokioIo::new(io), service);
    let mut to_park = false;
    let mut stopping = false;
    let mut seen = activity.began();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + PARK_AFTER, PARK_AFTER);
    loop {
        tokio::select! {
            done = poll_fn(|cx| connection.poll_without_shutdown(cx)) => {
                done?;
                break;
            }
            _ = ticks.tick(), if !to_park && !stopping => {
                let began = activity.began();
                if began == seen && activity.idle() {
                    to_park = true;
                    Pin::new(&mut connection).graceful_shutdown();
                }
                seen = began;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                Pin::new(&mut connection).graceful_shutdown();
            }
        }
    }
    let parts = connection.into_parts();
    let io = parts.io.into_inner();
    if stopping || !to_park {
        // hyper is done with it: as it would, shut it down.
        let _ = io.get_mut().shutdown().await;
        return Ok(Served::Ended);
    }
    // A copy, so that what hyper had read ahead does not keep its whole
    // read buffer while parked.
    io.rewind(Bytes::copy_from_slice(&parts.read_buf));
    Ok(Served::Idle)
}

/// Waits, parked, for the first bytes of the connection's next request
/// and puts them back in front of it; `false` when the client closed it,
/// it failed, it stayed idle for `idle_limit`, or `stop` changed.
async fn woken<T: AsyncRead + Unpin>(
    io: &mut Rewind<T>,
    idle_limit: Duration,
    stop: &mut watch::Receiver<()>,
) -> bool {
    let mut first = [0_u8; WAKE_READ];
    let read = tokio::select! {
        read = tokio::time::timeout(idle_limit, io.read(&mut first)) => read,
        _ = stop.changed() => return false,
    };
    match read {
        Ok(Ok(n)) if n > 0 => {
            io.rewind(Bytes::copy_from_slice(&first[..n]));
            true
        }
        _ => false,
    }
}
