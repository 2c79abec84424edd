//! [`Stopping`]: the way from SIGTERM (or SIGINT) to a stopped gateway.
//!
//! The signal makes the gateway *draining* at once: `/ready` answers 503,
//! so that load balancers stop sending it new work. The listeners keep
//! accepting for the grace period, while they notice; then every listener
//! is told to stop accepting and to let the requests in flight finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Whether the gateway drains, and when its listeners are to stop.
pub(crate) struct Stopping {
    draining: Arc<AtomicBool>,
    stop: watch::Receiver<bool>,
}

impl Stopping {
    /// Waits for the signal in the background; the listeners stop `grace`
    /// after it.
    pub(crate) fn after_signal(grace: Duration) -> Self {
        let draining = Arc::new(AtomicBool::new(false));
        let (tell, stop) = watch::channel(false);
        let flag = Arc::clone(&draining);
        tokio::spawn(async move {
            signal().await;
            flag.store(true, Ordering::SeqCst);
            tracing::info!(
                ?grace,
                "stopping: /ready answers 503; accepting until the grace period ends"
            );
            tokio::time::sleep(grace).await;
            tracing::info!("stopping: no longer accepting; letting requests in flight finish");
            let _ = tell.send(true);
        });
        Self { draining, stop }
    }

    /// Set from the signal on: `/ready` answers 503.
    pub(crate) fn draining(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.draining)
    }

    /// Resolves when the listeners are to stop accepting.
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + use<> {
        let mut stop = self.stop.clone();
        async move {
            // An error means the sender is gone: stop as well.
            let _ = stop.wait_for(|stop| *stop).await;
        }
    }
}

/// SIGINT or SIGTERM.
async fn signal() {
    let interrupt = tokio::signal::ctrl_c();
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = interrupt.await;
        return;
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}
