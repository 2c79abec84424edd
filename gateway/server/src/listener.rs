//! The *accept* step's connection handling: one accept loop per listener,
//! with limits on request heads (size, count, read time) and graceful
//! shutdown. A connection speaks HTTP/2 when it opens with HTTP/2's
//! preface, HTTP/1 otherwise; HTTP/1 connections are parked while idle
//! ([`crate::parking`]). Each connection's peer address reaches handlers
//! as axum's `ConnectInfo`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use sectorgate_policy::{RuleId, rules};
use sectorgate_proxy::connection::{accept_next, cause};
use sectorgate_proxy::framing::Flaw;
use sectorgate_proxy::{Gateway, Serves, pipeline, respond};
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::connections::{Admitted, PerAddress};
use crate::parking::{self, Activity, Parking, UnderWay};
use crate::rewind::{Rewind, sniff};
use crate::strict::Strict;

/// Limits applied to every connection before a request reaches the pipeline.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionLimits {
    /// Largest request head (request line and headers), in bytes.
    pub(crate) max_header_bytes: usize,
    /// Most header fields in one request.
    pub(crate) max_headers: usize,
    /// Time a client has to send a complete request head.
    pub(crate) header_read_timeout: Duration,
    /// Open connections per client address, if bounded.
    pub(crate) per_address: Option<Arc<PerAddress>>,
    /// How long requests in flight get to finish once accepting stopped.
    pub(crate) drain: Duration,
}

/// What a listener's requests are answered by.
#[derive(Clone)]
pub(crate) enum Handler {
    /// The Matrix APIs: the pipeline, called directly (no router between).
    Pipeline(Arc<Gateway>),
    /// The admin API's router.
    Router(Router),
}

/// Serves `handler` on `listener` until `shutdown` resolves, then lets
/// requests in flight finish (up to `limits.drain`). With `tls`, each connection is
/// a TLS one (the handshake bounded by the header read timeout). Every
/// request carries the APIs the listener `serves`. Requests refused here,
/// before the pipeline, are recorded in `audit`'s log.
pub(crate) async fn serve(
    listener: TcpListener,
    handler: Handler,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    serves: Serves,
    audit: Option<Arc<Gateway>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let listening = Arc::new(Listening {
        http1: http1_builder(&limits),
        http2: http2_builder(&limits),
        handler,
        limits,
        tls,
        serves,
        audit,
    });
    // Each connection holds a receiver: stopping is a change, and the
    // sender sees every receiver gone once the connections are.
    let (stop, stopped) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept_next(&listener, "matrix") => accepted,
            () = &mut shutdown => break,
        };
        let Ok(admitted) = listening.admit(peer) else {
            continue;
        };
        let listening = Arc::clone(&listening);
        let stopped = stopped.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            listening.connection(stream, peer, stopped).await;
        });
    }
    drop(listener);
    drop(stopped);
    let drain = listening.limits.drain;
    let _ = stop.send(());
    if tokio::time::timeout(drain, stop.closed()).await.is_err() {
        tracing::warn!("requests still in flight after {drain:?}; closing them");
    }
}

/// One listener's settings, shared by its connections.
struct Listening {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    handler: Handler,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    serves: Serves,
    audit: Option<Arc<Gateway>>,
}

/// HTTP/1.1 with the head limits.
fn http1_builder(limits: &ConnectionLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // A client that shuts its side after sending a request still gets
        // its answer.
        .half_close(true)
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    builder
}

/// HTTP/2 with the head limits.
fn http2_builder(limits: &ConnectionLimits) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

impl Listening {
    /// Counts a connection against its address's limit; `Err` when the
    /// address holds its limit's worth already (closed at once, recorded).
    fn admit(&self, peer: SocketAddr) -> Result<Option<Admitted>, ()> {
        let Some(counts) = &self.limits.per_address else {
            return Ok(None);
        };
        match counts.admit(peer.ip()) {
            Some(admitted) => Ok(Some(admitted)),
            None => {
                tracing::warn!(%peer, "too many connections from one address; closed");
                if let Some(gateway) = &self.audit {
                    gateway.record_edge_refusal(rules::LIMIT_CONNECTIONS.as_str(), 0);
                }
                Err(())
            }
        }
    }

    /// Serves one connection (after its TLS handshake, if any) behind the
    /// framing check; a request it refused is recorded.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn's future holds each argument twice"
    )]
    fn connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        stop: watch::Receiver<()>,
    ) -> impl Future<Output = ()> + Send + '_ {
        // An `async` block, not an `async fn`: see `serve_http`.
        async move {
            let _open = self
                .audit
                .as_ref()
                .map(|gateway| gateway.metrics().connection());
            let _ = stream.set_nodelay(true);
            let activity = Arc::new(Activity::default());
            let service = Service {
                handler: self.handler.clone(),
                serves: self.serves,
                peer,
                activity: Arc::clone(&activity),
            };
            let refused_audit = self.audit.clone();
            let refuse = move |reason| framing_refusal(refused_audit.as_deref(), reason);
            let (max_head, head_timeout) = (
                self.limits.max_header_bytes,
                self.limits.header_read_timeout,
            );
            let result = match &self.tls {
                // Boxed, so that each connection's task is as large as the
                // protocol it speaks needs, not the largest of them all.
                None => {
                    let stream = Strict::new(stream, max_head, head_timeout, refuse);
                    Box::pin(self.serve_http(Rewind::new(stream), service, &activity, stop)).await
                }
                Some(acceptor) => {
                    let handshake = Box::pin(handshake(acceptor, stream, peer, head_timeout));
                    let Some(stream) = handshake.await else {
                        return;
                    };
                    let stream = Strict::new(stream, max_head, head_timeout, refuse);
                    Box::pin(self.serve_http(Rewind::new(stream), service, &activity, stop)).await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "connection ended with an error");
                let served = activity.began();
                if let (Some(gateway), Some((rule, status))) =
                    (&self.audit, refusal(&*error, served))
                {
                    tracing::info!(%peer, rule = rule.as_str(), status, "request refused before the pipeline");
                    gateway.record_edge_refusal(rule.as_str(), status);
                }
            }
        }
    }

    /// HTTP/2 when the connection opens with its preface, HTTP/1 otherwise.
    /// The connection is used in place, never moved: it is the largest
    /// part of what a parked connection holds. (An `async` block using its
    /// captures in place, not an `async fn`, whose future would hold each
    /// argument twice.)
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn's future holds each argument twice"
    )]
    fn serve_http<'a, T>(
        &'a self,
        mut io: Rewind<T>,
        service: Service,
        activity: &'a Activity,
        mut stop: watch::Receiver<()>,
    ) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send + 'a
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        async move {
            let (h2, read) = sniff(io.get_mut()).await?;
            io.rewind(read);
            if h2 {
                let serving = Box::pin(self.serve_h2(io, service, stop));
                return serving.await;
            }
            let parking = Parking {
                builder: &self.http1,
                activity,
                idle_limit: self.limits.header_read_timeout,
                metrics: self.audit.as_ref().map(|gateway| gateway.metrics()),
            };
            parking::serve(&parking, &mut io, &service, &mut stop).await?;
            Ok(())
        }
    }

    /// HTTP/2 on `io` until it ends or, once `stop` changes, its streams
    /// under way end.
    async fn serve_h2<T>(
        &self,
        io: Rewind<T>,
        service: Service,
        mut stop: watch::Receiver<()>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let connection = self.http2.serve_connection(TokioIo::new(io), service);
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            done = &mut connection => return Ok(done?),
            _ = stop.changed() => connection.as_mut().graceful_shutdown(),
        }
        Ok(connection.await?)
    }
}

/// What the service answers with.
type ServiceFuture = Pin<
    Box<
        dyn std::future::Future<Output = Result<axum::response::Response, std::convert::Infallible>>
            + Send,
    >,
>;

/// The handler, told each request's peer and the APIs served, each
/// request counted under way until its answer is sent.
#[derive(Clone)]
struct Service {
    handler: Handler,
    serves: Serves,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<axum::http::Request<Incoming>> for Service {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = ServiceFuture;

    fn call(&self, request: axum::http::Request<Incoming>) -> Self::Future {
        let under_way = UnderWay::begin(&self.activity);
        let (peer, serves, request) = (self.peer, self.serves, request.map(Body::new));
        match &self.handler {
            Handler::Pipeline(gateway) => {
                let gateway = Arc::clone(gateway);
                Box::pin(async move {
                    let response = pipeline::serve(&gateway, peer, serves, request).await;
                    Ok(under_way.until_sent(response))
                })
            }
            Handler::Router(router) => {
                let router = router.clone();
                let mut request = request;
                request.extensions_mut().insert(ConnectInfo(peer));
                Box::pin(async move {
                    let response = router.oneshot(request).await;
                    response.map(|response| under_way.until_sent(response))
                })
            }
        }
    }
}

/// The TLS handshake, bounded by the head's read time.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%error, %peer, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// Records a request head refused before hyper (its framing or its
/// target), and returns its answer.
fn framing_refusal(audit: Option<&Gateway>, flaw: Flaw) -> Vec<u8> {
    let rule = flaw.rule();
    let status = StatusCode::BAD_REQUEST;
    let request_id = audit.map_or_else(String::new, |gateway| {
        gateway.record_edge_refusal(rule.as_str(), status.as_u16())
    });
    let errcode = match flaw {
        Flaw::Framing(_) => "M_UNKNOWN",
        Flaw::Target(_) => "M_UNRECOGNIZED",
    };
    respond::raw_refusal(status, errcode, &flaw.message(), rule.as_str(), &request_id)
}

/// The rule and status of a request the connection layer refused, from the
/// error that ended its connection: an oversized head (431), a malformed
/// one (400), or a first head never completed in time (closed, no status).
/// A keep-alive connection that idles out after serving requests is no
/// refusal.
fn refusal(error: &(dyn std::error::Error + 'static), served: u64) -> Option<(RuleId, u16)> {
    let timed_out = |error: &std::io::Error| error.kind() == std::io::ErrorKind::TimedOut;
    if served == 0 && cause::<std::io::Error>(error).is_some_and(timed_out) {
        // The first head, not whole in time (see `Strict`).
        return Some((rules::HEAD_TIMEOUT, 0));
    }
    let error = error.downcast_ref::<hyper::Error>()?;
    if error.is_parse_too_large() {
        Some((rules::HEAD_TOO_LARGE, 431))
    } else if error.is_parse() {
        Some((rules::HEAD_MALFORMED, 400))
    } else if error.is_timeout() && served == 0 {
        Some((rules::HEAD_TIMEOUT, 0))
    } else {
        None
    }
}
