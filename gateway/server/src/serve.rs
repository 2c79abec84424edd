//! `sectorgate serve`: wire config, telemetry, audit, profile and listeners.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use sectorgate_proxy::capture::Capture;
use sectorgate_proxy::egress::{self, Egress};
use sectorgate_proxy::{Gateway, Limits, ProxyConfig, Serves};
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::connections::PerAddress;
use crate::listener::{self, ConnectionLimits};
use crate::{admin, audit, telemetry, tls};

/// Runs the gateway until SIGINT or SIGTERM.
pub(crate) fn run(args: ServeArgs) -> ExitCode {
    let config = match Config::load_with(args.config.config.as_deref(), args.profile.as_deref()) {
        Ok(config) => config,
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, args: ServeArgs) -> Result<(), String> {
    let profile = config.profile.load().map_err(|e| e.to_string())?;
    let pseudonyms = audit::pseudonyms(&config).map_err(|e| e.to_string())?;
    let store = audit::store(&config).await.map_err(|e| e.to_string())?;
    let homeserver = config
        .homeserver
        .url
        .parse()
        .map_err(|_| "homeserver.url is not a URL".to_owned())?;
    let proxy_config = ProxyConfig {
        homeserver,
        connect_timeout: config.homeserver.connect_timeout,
        response_timeout: config.homeserver.response_timeout,
        limits: Limits {
            max_json_body_bytes: config.limits.max_json_body_bytes,
            max_json_depth: config.limits.max_json_depth,
            max_upload_bytes: config.limits.max_upload_bytes,
            body_read_timeout: config.limits.body_read_timeout,
        },
        trusted_proxies: config.listen.trusted_proxies.clone(),
        appservice_token: config
            .homeserver
            .appservice_token()
            .map_err(|e| e.to_string())?,
        appservices: config
            .appservices
            .iter()
            .map(|entry| entry.load().map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?,
        rate_limits: config.rate_limits.to_proxy(),
    };
    if profile.shadow {
        tracing::warn!(profile = %profile.id, "the profile is in SHADOW mode: its denials are recorded, and the requests forwarded anyway");
    }
    tracing::info!(
        profile = %profile.revision(),
        homeserver = %config.homeserver.url,
        audit = %audit::redact(&config.audit.database),
        "starting sectorgate {}",
        env!("CARGO_PKG_VERSION")
    );
    let federation = match &config.federation {
        Some(federation) => {
            let built = federation.build().map_err(|e| e.to_string())?;
            tracing::info!(server_name = %built.local(), allow = ?federation.allow, "federation managed");
            let built = Arc::new(built);
            sectorgate_federation::spawn_refresher(Arc::clone(&built));
            Some(built)
        }
        None => {
            tracing::warn!("no [federation] section: signed server-server requests are refused");
            None
        }
    };
    let audit_log = audit::spawn(&config, store)
        .await
        .map_err(|e| e.to_string())?;
    let mut gateway = Gateway::new(
        proxy_config,
        profile,
        audit_log.clone(),
        pseudonyms,
        federation.clone(),
    );
    if let Some(record) = &config.record {
        let capture = Capture::open(record.user.clone(), &record.file)
            .map_err(|e| format!("record.file {}: {e}", record.file.display()))?;
        tracing::warn!(user = %record.user, file = %record.file.display(), "RECORDING this user's exchanges for client certification ([record])");
        gateway = gateway.with_capture(capture);
    }
    let gateway = Arc::new(gateway);

    let mut matrix_listeners = Vec::new();
    for listener in config.matrix_listeners() {
        let tls = match &listener.tls {
            Some(files) => Some(tls::acceptor(files)?),
            None => None,
        };
        let bound = bind(listener.bind, "matrix").await?;
        matrix_listeners.push((bound, tls, listener.serves()));
    }
    let egress = match (&config.egress, &config.federation) {
        (Some(egress), Some(federation)) => {
            let (certificate, key) = egress.ca().map_err(|e| e.to_string())?;
            let upstream = sectorgate_federation::tls::client_config(&federation.trusted_ca_files)
                .map_err(|e| e.to_string())?;
            let built = Egress::new(Arc::clone(&gateway), &certificate, &key, upstream)?;
            Some((bind(egress.bind, "egress").await?, Arc::new(built)))
        }
        _ => None,
    };
    let admin_listener = bind(config.listen.admin, "admin").await?;
    let addrs = matrix_listeners
        .iter()
        .map(|(bound, _, _)| bound.local_addr())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let admin_addr = admin_listener.local_addr().map_err(|e| e.to_string())?;
    let egress_addr = match &egress {
        Some((bound, _)) => Some(bound.local_addr().map_err(|e| e.to_string())?),
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

    let limits = ConnectionLimits {
        max_header_bytes: config.limits.max_header_bytes,
        max_headers: config.limits.max_headers,
        header_read_timeout: config.limits.header_read_timeout,
        per_address: None,
    };
    let matrix_limits = ConnectionLimits {
        per_address: (config.limits.max_connections_per_address > 0).then(|| {
            PerAddress::new(
                config.limits.max_connections_per_address,
                config.listen.trusted_proxies.clone(),
            )
        }),
        ..limits.clone()
    };
    let matrix = sectorgate_proxy::router(Arc::clone(&gateway));
    let edge = Arc::clone(&gateway);
    let admin = admin::router(gateway, federation);
    let matrix_served =
        futures_util::future::join_all(matrix_listeners.into_iter().map(|(bound, tls, serves)| {
            listener::serve(
                bound,
                matrix.clone(),
                matrix_limits.clone(),
                tls,
                serves,
                Some(Arc::clone(&edge)),
                shutdown_signal(),
            )
        }));
    let egress_served = async {
        if let Some((bound, egress)) = egress {
            egress::serve(bound, egress, shutdown_signal()).await;
        }
    };
    tokio::join!(
        matrix_served,
        egress_served,
        listener::serve(
            admin_listener,
            admin,
            limits,
            None,
            Serves::BOTH,
            None,
            shutdown_signal()
        ),
    );
    // The outcome records still queued are written before the end.
    if let Err(error) = audit_log.close().await {
        tracing::error!(%error, "the last audit records could not be written");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn bind(addr: SocketAddr, name: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({name}): {e}"))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
