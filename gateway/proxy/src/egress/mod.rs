//! The egress: the homeserver's own outbound federation, through
//! sectorgate.
//!
//! The homeserver is configured with sectorgate as its HTTPS proxy (Synapse:
//! `https_proxy`) and trusts the egress CA (Synapse:
//! `federation_custom_ca_list`). For each `CONNECT host:port` the egress
//! answers the TLS handshake with a certificate for that host issued by the
//! egress CA, reads the requests inside the tunnel, and decides on each:
//! its destination (the `X-Matrix` destination, else the `Host`) must be
//! part of the federation. Allowed requests are recorded and forwarded over
//! TLS (verified against the web PKI and the configured CAs) to the address
//! the gateway itself resolves for the destination, whatever host the
//! tunnel named; refused ones are recorded and answered 403, and nothing
//! reaches the other server. Events of servers outside the
//! federation are taken out of answers that carry events ([`filter`]).

mod certs;
mod filter;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use ruma::OwnedServerName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::ServerName as TlsName;
use sectorgate_action::{Catalog, x_matrix};
use sectorgate_audit::{AuditError, Direction, Peer};
use sectorgate_federation::Federation;
use sectorgate_policy::decide_destination;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::Gateway;
use crate::connection::accept_next;
use crate::peer;
use crate::record::{self, About, trace_id};
use crate::respond::{self, Fault};
use sectorgate_audit::now_ms;

/// The largest answer whose events are filtered.
const MAX_FILTERED_ANSWER: usize = 64 * 1024 * 1024;

/// The egress and what it needs.
pub struct Egress {
    gateway: Arc<Gateway>,
    federation: Arc<Federation>,
    minter: certs::Minter,
    upstream: TlsConnector,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress").finish_non_exhaustive()
    }
}

impl Egress {
    /// An egress for `gateway` (which must manage federation), issuing
    /// certificates with the CA in `ca_certificate`/`ca_key` (PEM) and
    /// reaching other servers with `upstream` TLS settings.
    pub fn new(
        gateway: Arc<Gateway>,
        ca_certificate: &str,
        ca_key: &str,
        upstream: rustls::ClientConfig,
    ) -> Result<Self, String> {
        let federation = gateway
            .federation
            .clone()
            .ok_or("the egress needs [federation]")?;
        Ok(Self {
            gateway,
            federation,
            minter: certs::Minter::new(ca_certificate, ca_key)?,
            upstream: TlsConnector::from(Arc::new(upstream)),
        })
    }
}

/// Serves the egress on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    egress: Arc<Egress>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept_next(&listener, "egress") => accepted,
            () = &mut shutdown => break,
        };
        let egress = Arc::clone(&egress);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let egress = Arc::clone(&egress);
                async move { Ok::<_, Infallible>(connect(egress, request)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "egress connection ended with an error");
            }
        });
    }
}

/// Where a tunnel goes.
#[derive(Clone, Debug)]
struct Target {
    host: String,
    port: u16,
}

/// Answers `CONNECT host:port` and serves the tunnel; refuses anything else.
fn connect(egress: Arc<Egress>, request: Request<Incoming>) -> Response<Body> {
    let target = request.uri().authority().map(|authority| Target {
        host: authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: authority.port_u16().unwrap_or(443),
    });
    let (true, Some(target)) = (request.method() == Method::CONNECT, target) else {
        let mut response = Response::new(Body::from("the egress only tunnels (CONNECT)"));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    };
    tokio::spawn(async move {
        match hyper::upgrade::on(request).await {
            Ok(upgraded) => tunnel(egress, TokioIo::new(upgraded), target).await,
            Err(error) => tracing::debug!(%error, "egress tunnel not upgraded"),
        }
    });
    Response::new(Body::empty())
}

/// The certificate for one tunnel.
#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

async fn tunnel(egress: Arc<Egress>, stream: TokioIo<hyper::upgrade::Upgraded>, target: Target) {
    let certified = match egress.minter.for_host(&target.host) {
        Ok(certified) => certified,
        Err(error) => {
            tracing::warn!(%error, host = %target.host, "no egress certificate for this host");
            return;
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(builder) =
        rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
    else {
        return;
    };
    let mut config = builder
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneCert(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = match TlsAcceptor::from(Arc::new(config)).accept(stream).await {
        Ok(tls) => tls,
        Err(error) => {
            tracing::debug!(%error, host = %target.host, "egress TLS handshake failed");
            return;
        }
    };
    let upstream: Arc<Mutex<Upstream>> = Arc::new(Mutex::new(None));
    let service = hyper::service::service_fn(move |request| {
        let (egress, target, upstream) =
            (Arc::clone(&egress), target.clone(), Arc::clone(&upstream));
        async move { Ok::<_, Infallible>(outbound(&egress, request, &target, &upstream).await) }
    });
    if let Err(error) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(%error, "egress tunnel ended with an error");
    }
}

/// A tunnel's connection to the other server, and the address it goes to.
type Upstream = Option<(Target, SendRequest<Body>)>;

/// The server a request inside a tunnel is for.
fn destination(parts: &http::request::Parts, target: &Target) -> Option<OwnedServerName> {
    if let Ok(Some(x_matrix)) = x_matrix(&parts.headers)
        && let Some(destination) = x_matrix.destination
    {
        return Some(destination);
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map_or_else(|| format!("{}:{}", target.host, target.port), str::to_owned);
    OwnedServerName::try_from(host).ok()
}

/// The two ends a record names: the local server asks, the destination
/// (or, when the request names none, the host it was tunnelled to) is asked.
fn ends(
    egress: &Egress,
    profile: &sectorgate_policy::Profile,
    destination: Option<&OwnedServerName>,
    target: &Target,
) -> Result<(Peer, Peer), AuditError> {
    let named = destination.map_or_else(|| target.host.clone(), ToString::to_string);
    let now = now_ms();
    let local = peer::server(
        &egress.gateway,
        profile,
        egress.federation.local().as_str(),
        now,
    )?;
    Ok((local, peer::server(&egress.gateway, profile, &named, now)?))
}

/// Decides on, records and forwards one request of the homeserver's.
async fn outbound(
    egress: &Egress,
    request: Request<Incoming>,
    target: &Target,
    upstream: &Mutex<Upstream>,
) -> Response<Body> {
    let gateway = &egress.gateway;
    let request_id = gateway.request_ids.next();
    let (parts, body) = request.into_parts();
    let endpoint = Catalog::global()
        .lookup(&parts.method, parts.uri.path())
        .endpoint()
        .map(|endpoint| endpoint.to_string());
    let allowlist = egress.federation.allowlist();
    let facts = egress.federation.facts(&allowlist, None);
    let destination = destination(&parts, target);
    let decision = match &destination {
        Some(destination) => decide_destination(destination, &facts),
        None => sectorgate_policy::decide_bad_authorization(
            "the request names no server it is for".to_owned(),
        ),
    };
    tracing::info!(
        request_id = %request_id,
        host = %target.host,
        endpoint = endpoint.as_deref().unwrap_or("-"),
        rule = decision.rule.as_str(),
        verdict = decision.verdict_str(),
        "outbound federation request"
    );
    let in_force = gateway.in_force();
    let (local, to) = match ends(egress, &in_force.profile, destination.as_ref(), target) {
        Ok(peers) => peers,
        Err(error) => {
            tracing::error!(%error, "no pseudonym for the audit record; refusing the request");
            return respond::fault(&Fault::AuditUnavailable, &request_id);
        }
    };
    let about = About {
        profile: &in_force.reference,
        request_id: &request_id,
        trace_id: trace_id(&parts.headers),
        direction: Direction::Outbound,
        endpoint: endpoint.clone(),
        action: "outbound",
        destination: Some(to),
        by_gateway: None,
    };
    let recorded = match record::settle(gateway, local, &decision, about).await {
        Ok(recorded) => recorded,
        Err(answer) => return answer,
    };
    let Some(destination) = destination else {
        return recorded.answer(
            respond::fault(&Fault::UpstreamUnreachable, &request_id),
            None,
        );
    };
    let address = egress.federation.address(&destination).await;
    let Some(resolved) = target_of(&address) else {
        return recorded.answer(
            respond::fault(&Fault::UpstreamUnreachable, &request_id),
            None,
        );
    };
    let request = Request::from_parts(parts, recorded.count_in(Body::new(body)));
    let response = match send(egress, request, &resolved, upstream).await {
        Ok(response) => response,
        Err(fault) => return recorded.answer(respond::fault(&fault, &request_id), None),
    };
    let status = response.status().as_u16();
    let answer = match endpoint.as_deref().and_then(filter::events_field) {
        Some(field) if response.status() == StatusCode::OK => {
            filtered(response, field, &facts, &request_id).await
        }
        _ => response.map(Body::new),
    };
    recorded.answer(answer, Some(status))
}

/// A `host:port` address as a target.
fn target_of(address: &str) -> Option<Target> {
    let (host, port) = address.rsplit_once(':')?;
    Some(Target {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: port.parse().ok()?,
    })
}

/// Sends over the tunnel's upstream connection to `target`, opening it
/// first if needed.
async fn send(
    egress: &Egress,
    request: Request<Body>,
    target: &Target,
    upstream: &Mutex<Upstream>,
) -> Result<Response<Incoming>, Fault> {
    let config = &egress.gateway.config;
    let mut current = upstream.lock().await;
    let reusable = current.as_ref().is_some_and(|(to, sender)| {
        to.host == target.host && to.port == target.port && !sender.is_closed()
    });
    if !reusable {
        let opened = tokio::time::timeout(config.connect_timeout, open(egress, target)).await;
        *current = Some((
            target.clone(),
            match opened {
                Ok(Ok(opened)) => opened,
                Ok(Err(error)) => {
                    tracing::warn!(%error, host = %target.host, "cannot reach the destination");
                    return Err(Fault::UpstreamUnreachable);
                }
                Err(_) => return Err(Fault::UpstreamTimeout),
            },
        ));
    }
    let Some((_, sender)) = current.as_mut() else {
        return Err(Fault::UpstreamUnreachable);
    };
    let exchange = async {
        sender.ready().await?;
        sender.send_request(request).await
    };
    match tokio::time::timeout(config.response_timeout, exchange).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(_)) => Err(Fault::UpstreamUnreachable),
        Err(_) => Err(Fault::UpstreamTimeout),
    }
}

async fn open(egress: &Egress, target: &Target) -> Result<SendRequest<Body>, String> {
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| e.to_string())?;
    let name = TlsName::try_from(target.host.clone()).map_err(|e| e.to_string())?;
    let tls = egress
        .upstream
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "egress upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// The answer with the events of non-members taken out.
async fn filtered(
    response: Response<Incoming>,
    field: &str,
    facts: &sectorgate_policy::federation::FederationFacts<'_>,
    request_id: &str,
) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes: Bytes = match Limited::new(body, MAX_FILTERED_ANSWER).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return respond::fault(&Fault::UpstreamUnreachable, request_id),
    };
    let Ok(mut answer) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let removed = filter::filter(&mut answer, field, facts);
    if removed == 0 {
        return Response::from_parts(parts, Body::from(bytes));
    }
    tracing::warn!(
        request_id,
        removed,
        "events of servers outside the federation taken out of an answer"
    );
    let body = answer.to_string();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Response::from_parts(parts, Body::from(body))
}
