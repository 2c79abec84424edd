//! Stand-in homeservers: a fast one for load, which answers every request
//! 200 with a small JSON body that is also a valid `/versions` and
//! `/whoami` answer, and a recording one, which answers the same and keeps
//! every request it received.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};

/// The answer to every request.
const ANSWER: &str = r#"{"versions":["v1.11"],"user_id":"@load:hs.test"}"#;

/// A running stand-in.
pub struct Upstream {
    pub url: String,
    hits: Arc<AtomicU64>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// A request the recording stand-in received, whole.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub version: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// The values of header `name`.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl Upstream {
    /// Requests it has received.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    /// The requests it received whole (recording stand-in only).
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("received").clone()
    }
}

fn answer() -> Response {
    ([("content-type", "application/json")], ANSWER).into_response()
}

/// Starts the fast stand-in on its own thread.
pub fn start() -> Upstream {
    let hits = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move || async move {
        counted.fetch_add(1, Ordering::SeqCst);
        answer()
    });
    Upstream {
        url: serve(app),
        hits,
        received: Arc::default(),
    }
}

/// Starts the recording stand-in on its own thread.
pub fn start_recording() -> Upstream {
    let hits = Arc::new(AtomicU64::new(0));
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let (counted, kept) = (Arc::clone(&hits), Arc::clone(&received));
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (counted, kept) = (Arc::clone(&counted), Arc::clone(&kept));
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let (parts, body) = request.into_parts();
            let Ok(body): Result<Bytes, _> = axum::body::to_bytes(body, usize::MAX).await else {
                // A body cut off on the way is no request received whole.
                return answer();
            };
            kept.lock().expect("received").push(Received {
                method: parts.method.to_string(),
                target: parts
                    .uri
                    .path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                version: format!("{:?}", parts.version),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: body.to_vec(),
            });
            answer()
        }
    });
    Upstream {
        url: serve(app),
        hits,
        received,
    }
}

/// Serves `app` on a thread of its own; returns its base URL.
fn serve(app: axum::Router) -> String {
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
            let _ = axum::serve(listener, app).await;
        });
    });
    let addr = receiver.recv().expect("upstream address");
    format!("http://{addr}")
}
