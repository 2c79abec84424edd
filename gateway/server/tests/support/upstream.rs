//! A fast stand-in homeserver for load: answers every request 200 with a
//! small JSON body that is also a valid `/versions` and `/whoami` answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::IntoResponse;

/// A running stand-in.
pub struct Upstream {
    pub url: String,
    hits: Arc<AtomicU64>,
}

impl Upstream {
    /// Requests it has received.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Starts the stand-in on its own thread.
pub fn start() -> Upstream {
    let hits = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&hits);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr: SocketAddr = listener.local_addr().expect("addr");
            sender.send(addr).expect("send addr");
            let app = axum::Router::new().fallback(move || async move {
                counted.fetch_add(1, Ordering::SeqCst);
                (
                    [("content-type", "application/json")],
                    r#"{"versions":["v1.11"],"user_id":"@load:hs.test"}"#,
                )
                    .into_response()
            });
            let _ = axum::serve(listener, app).await;
        });
    });
    let addr = receiver.recv().expect("upstream address");
    Upstream {
        url: format!("http://{addr}"),
        hits,
    }
}
