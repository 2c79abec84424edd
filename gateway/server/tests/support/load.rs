//! Load on a gateway: clients sending requests and pollers asking `/ready`
//! as fast as they are answered, until stopped; what they were answered.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Gateway, http};

/// Clients sending requests and pollers asking `/ready` as fast as they
/// are answered, until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    refused: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    unready: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

/// What a load saw.
pub struct Seen {
    /// Request ids answered 2xx.
    pub acknowledged: Vec<String>,
    /// Requests answered 503.
    pub refused: u64,
    /// Requests that got no answer, or one neither 2xx nor 503.
    pub failed: u64,
    /// `/ready` answers other than 200.
    pub unready: u64,
}

/// Makes a load client's HTTP client.
pub type MakeClient = Arc<dyn Fn() -> reqwest::blocking::Client + Send + Sync>;

impl Load {
    pub fn start(gateway: &Gateway, clients: usize, pollers: usize) -> Self {
        Self::start_on(gateway, &gateway.url, Arc::new(http), clients, pollers)
    }

    /// Clients sending to `base` (a listener of `gateway`) with clients
    /// `make_client` makes. Returns once every client is made: making one
    /// (its TLS setup) can take longer than a short load lasts.
    pub fn start_on(
        gateway: &Gateway,
        base: &str,
        make_client: MakeClient,
        clients: usize,
        pollers: usize,
    ) -> Self {
        let mut load = Self {
            stop: Arc::default(),
            acknowledged: Arc::default(),
            refused: Arc::default(),
            failed: Arc::default(),
            unready: Arc::default(),
            threads: Vec::new(),
        };
        let url = format!("{base}/_matrix/client/versions");
        // Each thread says when its client is made (or drops its end when
        // it fails to), so that every client waits for none of the others.
        let (made, all_made) = std::sync::mpsc::channel::<()>();
        for _ in 0..clients {
            let (stop, url) = (Arc::clone(&load.stop), url.clone());
            let make_client = Arc::clone(&make_client);
            let (acknowledged, refused, failed) = (
                Arc::clone(&load.acknowledged),
                Arc::clone(&load.refused),
                Arc::clone(&load.failed),
            );
            let made = made.clone();
            load.threads.push(std::thread::spawn(move || {
                let client = make_client();
                let _ = made.send(());
                drop(made);
                while !stop.load(Ordering::Relaxed) {
                    let Ok(response) = client.get(&url).send() else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    if response.status().is_success() {
                        let id = response.headers()["x-request-id"]
                            .to_str()
                            .expect("id")
                            .to_owned();
                        acknowledged.lock().expect("ids").push(id);
                    } else if response.status() == 503 {
                        refused.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        let ready = format!("{}/ready", gateway.admin_url);
        for _ in 0..pollers {
            let (stop, ready, unready) = (
                Arc::clone(&load.stop),
                ready.clone(),
                Arc::clone(&load.unready),
            );
            let made = made.clone();
            load.threads.push(std::thread::spawn(move || {
                let client = http();
                let _ = made.send(());
                drop(made);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(response) = client.get(&ready).send()
                        && response.status() != 200
                    {
                        unready.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }));
        }
        drop(made);
        while all_made.recv().is_ok() {}
        load
    }

    pub fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("load thread");
        }
        Seen {
            acknowledged: std::mem::take(&mut self.acknowledged.lock().expect("ids")),
            refused: self.refused.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            unready: self.unready.load(Ordering::Relaxed),
        }
    }
}
