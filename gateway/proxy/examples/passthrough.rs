//! The gateway's HTTP path with nothing in between: HTTP/1.1 in (hyper, the
//! listener's settings), the pipeline's forward step out, on one
//! current-thread runtime and jemalloc, as the gateway runs on one core,
//! with the pool's sweep task. No policy and no audit: what the two hops
//! cost by themselves, for `scripts/bench-proxy.sh --only
//! nginx,passthrough`. Not a product: it checks and records nothing.
//!
//! ```sh
//! cargo run --release -p sectorgate-proxy --example passthrough -- 127.0.0.1:8090 http://127.0.0.1:8008
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use sectorgate_proxy::passthrough::PassThrough;
use sectorgate_proxy::{Limits, ProxyConfig, RateLimits};
use tokio::net::TcpListener;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(homeserver)) = (args.next(), args.next()) else {
        return Err("usage: passthrough LISTEN_ADDR HOMESERVER_URL".into());
    };
    let limits = Limits::default();
    let config = ProxyConfig {
        homeserver: homeserver.parse()?,
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(60),
        limits: limits.clone(),
        trusted_proxies: Vec::new(),
        appservice_token: None,
        appservices: Vec::new(),
        rate_limits: RateLimits::default(),
        support: None,
    };
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .half_close(true)
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(&listen, Arc::new(PassThrough::new(config)), http))
}

async fn serve(
    listen: &str,
    forward: Arc<PassThrough>,
    http: http1::Builder,
) -> Result<(), Box<dyn std::error::Error>> {
    tokio::spawn(forward.sweep());
    let listener = TcpListener::bind(listen).await?;
    println!("{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let forward = Arc::clone(&forward);
        let connection = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let forward = Arc::clone(&forward);
                async move {
                    Ok::<_, std::convert::Infallible>(forward.handle(request.map(Body::new)).await)
                }
            }),
        );
        tokio::spawn(connection);
    }
}
