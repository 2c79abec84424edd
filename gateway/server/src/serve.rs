//! `sectorgate serve`: wire config, telemetry, audit, profile and listeners.
//!
//! The config is read and checked once ([`Config::load_with`]); what the
//! check loaded (the profile, tokens, registrations, the federation's
//! parts, the egress CA) is used as is.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use sectorgate_federation::Federation;
use sectorgate_proxy::capture::Capture;
use sectorgate_proxy::egress::{self, Egress};
use sectorgate_proxy::metrics::Metrics;
use sectorgate_proxy::{Gateway, ProxyConfig, Serves};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::audit::StoreError;
use crate::cli::ServeArgs;
use crate::config::{Config, ConfigError, Loaded};
use crate::connections::PerAddress;
use crate::listener::{self, ConnectionLimits, Handler};
use crate::stopping::Stopping;
use crate::witness::Witnesses;
use crate::{admin, audit, reload, telemetry, tls};

/// Runs the gateway until SIGINT or SIGTERM.
pub(crate) fn run(args: ServeArgs) -> ExitCode {
    let (config, loaded) =
        match Config::load_with(args.config.config.as_deref(), args.profile.as_deref()) {
            Ok(checked) => checked,
            Err(error) => {
                eprintln!("sectorgate: {error}");
                return ExitCode::FAILURE;
            }
        };
    let _telemetry = match telemetry::init(&config.telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("sectorgate: {error}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, loaded, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime: a worker thread per core the process may use, or as many
/// as `TOKIO_WORKER_THREADS` says; with one, a single-threaded runtime (no
/// work stealing, no wakes between threads).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let threads = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|threads| threads.parse::<usize>().ok())
        .filter(|&threads| threads > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

/// Why the gateway stopped before it could serve.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] sectorgate_audit::AuditError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("federation TLS: {0}")]
    Tls(#[from] sectorgate_federation::TlsError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A listener, certificate or file that could not be set up.
    #[error("{0}")]
    Setup(String),
}

impl From<String> for ServeError {
    fn from(message: String) -> Self {
        Self::Setup(message)
    }
}

/// A Matrix listener, bound: its socket, its TLS, the APIs it serves.
type MatrixListener = (TcpListener, Option<TlsAcceptor>, Serves);

/// Everything bound, before serving starts.
struct Bound {
    matrix: Vec<MatrixListener>,
    egress: Option<(TcpListener, Arc<Egress>)>,
    admin: TcpListener,
}

async fn serve(mut config: Config, loaded: Loaded, args: ServeArgs) -> Result<(), ServeError> {
    let Loaded {
        profile,
        homeserver,
        appservice_token,
        appservices,
        federation: federation_parts,
        egress_ca,
        support,
    } = loaded;
    let pseudonyms = audit::pseudonyms(&config)?;
    let store = audit::store(&config).await?;
    let proxy_config = ProxyConfig {
        homeserver,
        connect_timeout: config.homeserver.connect_timeout,
        response_timeout: config.homeserver.response_timeout,
        limits: config.limits.clone(),
        trusted_proxies: config.listen.trusted_proxies.clone(),
        appservice_token,
        appservices,
        rate_limits: config.rate_limits.to_proxy(),
        support: support.map(Into::into),
    };
    if profile.shadow {
        tracing::warn!(profile = %profile.id, "the profile is in SHADOW mode: its denials are recorded, and the requests forwarded anyway");
    }
    tracing::info!(
        profile = %profile.revision(),
        digest = %profile.digest,
        homeserver = %config.homeserver.url,
        audit = %audit::redact(&config.audit.database),
        "starting sectorgate {}",
        env!("CARGO_PKG_VERSION")
    );
    let watched = crate::watch::Watched::default();
    watched.set(reload::watched(
        args.config.config.as_deref(),
        &config,
        &profile,
    ));
    let asks = crate::watch::spawn(watched.clone());
    let federation = federation(&config, federation_parts)?;
    let views_store = store.clone();
    let audit_log = audit::spawn(&config, store).await?;
    let mut gateway = Gateway::new(
        proxy_config,
        profile,
        audit_log.clone(),
        pseudonyms,
        federation.clone(),
    );
    if let Some(record) = config.record.take() {
        let capture = Capture::open(record.user.clone(), &record.file)
            .map_err(|e| format!("record.file {}: {e}", record.file.display()))?;
        tracing::warn!(user = %record.user, file = %record.file.display(), "RECORDING this user's exchanges for client certification ([record])");
        gateway = gateway.with_capture(capture);
    }
    let gateway = Arc::new(gateway);
    let (tiles, index, witnesses) =
        audit_views(&config, &views_store, gateway.shared_metrics()).await?;
    let bound = bind_all(&config, &gateway, egress_ca, &asks).await?;
    announce(&bound, &args)?;
    let source = reload::Source {
        file: args.config.config.clone(),
        profile: args.profile.clone(),
    };
    let targets = reload::Targets {
        gateway: Arc::clone(&gateway),
        federation: federation.clone(),
        watched,
    };
    let reloads = reload::spawn(source, &config, targets, asks);
    serve_all(&config, bound, gateway, federation, reloads, tiles.clone()).await;
    close(&audit_log, &tiles, index.as_ref(), witnesses.as_ref()).await;
    tracing::info!("stopped");
    Ok(())
}

/// What is kept up to the audit log off the hot path, started: the tiles
/// (`[audit] tiles`), the query index (`[audit] index`) and the witnesses'
/// cosignatures; the tiles and the index report the size they cover to
/// `metrics`.
async fn audit_views(
    config: &Config,
    store: &sectorgate_audit::Store,
    metrics: Arc<Metrics>,
) -> Result<AuditViews, ServeError> {
    let origin = audit::origin(config);
    let tiles = crate::tiles::Tiles::new(
        store.clone(),
        Arc::from(origin.as_str()),
        audit::tile_folder(config)?,
        Arc::clone(&metrics),
    );
    tiles.spawn();
    let index = audit::query_index(config).await?.map(|index| {
        crate::index::Index::new(store.clone(), Arc::from(origin.as_str()), index, metrics)
    });
    if let Some(index) = &index {
        index.spawn();
    }
    let witnesses = Witnesses::from_config(config, store.clone(), origin)?;
    if let Some(witnesses) = &witnesses {
        witnesses.spawn();
    }
    Ok((tiles, index, witnesses))
}

/// The views [`audit_views`] started.
type AuditViews = (
    crate::tiles::Tiles,
    Option<crate::index::Index>,
    Option<Witnesses>,
);

/// Writes the outcome records still queued, then brings the tiles and the
/// query index up to the checkpoint that closes the log and submits it to
/// the witnesses.
async fn close(
    audit_log: &sectorgate_audit::AuditLog,
    tiles: &crate::tiles::Tiles,
    index: Option<&crate::index::Index>,
    witnesses: Option<&Witnesses>,
) {
    if let Err(error) = audit_log.close().await {
        tracing::error!(%error, "the last audit records could not be written");
    }
    if let Err(error) = tiles.catch_up().await {
        tracing::warn!(%error, "audit tiles: not brought up to the last checkpoint");
    }
    if let Some(index) = index
        && let Err(error) = index.catch_up().await
    {
        tracing::warn!(%error, "audit query index: not brought up to the last record");
    }
    if let Some(witnesses) = witnesses {
        witnesses.round().await;
    }
}

/// The federation state, built and refreshing, when `[federation]` is set.
fn federation(
    config: &Config,
    parts: Option<crate::config::FederationParts>,
) -> Result<Option<Arc<Federation>>, ServeError> {
    let (Some(section), Some(parts)) = (&config.federation, parts) else {
        tracing::warn!("no [federation] section: signed server-server requests are refused");
        return Ok(None);
    };
    let built = Arc::new(section.build(parts)?);
    tracing::info!(server_name = %built.local(), allow = ?section.allow, "federation managed");
    sectorgate_federation::spawn_refresher(Arc::clone(&built));
    Ok(Some(built))
}

/// Binds every listener: the Matrix ones, the egress, the admin one.
async fn bind_all(
    config: &Config,
    gateway: &Arc<Gateway>,
    egress_ca: Option<(String, String)>,
    asks: &crate::watch::Asks,
) -> Result<Bound, ServeError> {
    let mut matrix = Vec::new();
    for listener in config.matrix_listeners() {
        let tls = match &listener.tls {
            Some(files) => Some(tls::acceptor(files, asks.clone(), Arc::clone(gateway))?),
            None => None,
        };
        let bound = bind(listener.bind, "matrix").await?;
        matrix.push((bound, tls, listener.serves()));
    }
    let egress = match (&config.egress, &config.federation, egress_ca) {
        (Some(egress), Some(federation), Some((certificate, key))) => {
            let upstream = sectorgate_federation::tls::client_config(&federation.trusted_ca_files)?;
            let built = Egress::new(Arc::clone(gateway), &certificate, &key, upstream)?;
            Some((bind(egress.bind, "egress").await?, Arc::new(built)))
        }
        _ => None,
    };
    let admin = bind(config.listen.admin, "admin").await?;
    Ok(Bound {
        matrix,
        egress,
        admin,
    })
}

/// Logs where the gateway listens, and writes it to `--addr-file`.
fn announce(bound: &Bound, args: &ServeArgs) -> Result<(), ServeError> {
    let addrs = bound
        .matrix
        .iter()
        .map(|(listener, _, _)| listener.local_addr())
        .collect::<Result<Vec<_>, _>>()?;
    let admin_addr = bound.admin.local_addr()?;
    let egress_addr = match &bound.egress {
        Some((listener, _)) => Some(listener.local_addr()?),
        None => None,
    };
    tracing::info!(listeners = ?addrs, %admin_addr, egress = ?egress_addr, "listening");
    if let Some(path) = &args.addr_file {
        let json = serde_json::json!({
            "client": addrs.first(), "listeners": addrs, "admin": admin_addr, "egress": egress_addr,
        });
        std::fs::write(path, json.to_string())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Serves every listener until SIGINT or SIGTERM, then drains (see
/// `[shutdown]`): `/ready` turns 503 at once, the listeners accept for the
/// grace period, then stop and let requests in flight finish.
async fn serve_all(
    config: &Config,
    bound: Bound,
    gateway: Arc<Gateway>,
    federation: Option<Arc<Federation>>,
    reloads: reload::Reloads,
    tiles: crate::tiles::Tiles,
) {
    let limits = &config.limits;
    let admin_limits = ConnectionLimits {
        max_header_bytes: limits.max_header_bytes,
        max_headers: limits.max_headers,
        header_read_timeout: limits.header_read_timeout,
        per_address: None,
        drain: config.shutdown.drain,
    };
    let matrix_limits = ConnectionLimits {
        per_address: (limits.max_connections_per_address > 0).then(|| {
            PerAddress::new(
                limits.max_connections_per_address,
                config.listen.trusted_proxies.clone(),
            )
        }),
        ..admin_limits.clone()
    };
    let stopping = Stopping::after_signal(config.shutdown.grace);
    let matrix = Handler::Pipeline(Arc::clone(&gateway));
    let edge = Arc::clone(&gateway);
    let admin = admin::router(gateway, federation, stopping.draining(), reloads, tiles);
    let matrix_served =
        futures_util::future::join_all(bound.matrix.into_iter().map(|(listener, tls, serves)| {
            let audit = Some(Arc::clone(&edge));
            let (handler, limits) = (matrix.clone(), matrix_limits.clone());
            listener::serve(
                listener,
                handler,
                limits,
                tls,
                serves,
                audit,
                stopping.stopped(),
            )
        }));
    let egress_served = async {
        if let Some((listener, egress)) = bound.egress {
            egress::serve(listener, egress, stopping.stopped()).await;
        }
    };
    let admin_served = listener::serve(
        bound.admin,
        Handler::Router(admin),
        admin_limits,
        None,
        Serves::BOTH,
        None,
        stopping.stopped(),
    );
    tokio::join!(matrix_served, egress_served, admin_served);
}

async fn bind(addr: SocketAddr, name: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({name}): {e}"))
}
