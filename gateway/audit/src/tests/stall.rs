//! A PostgreSQL server that stops answering, as in a network partition:
//! the writer gives its operation up, requests fail (and would be answered
//! 503) instead of waiting without end, and the log resumes when the
//! network comes back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use crate::tests::encoding::{decision, outcome};
use crate::tests::fixture::{claim, postgres_url};
use crate::{
    AuditError, AuditLog, CheckpointSigner, CheckpointSink, Entry, LogConfig, Store, verify,
};

/// A TCP relay to PostgreSQL that can stop relaying (the partition) and
/// cut every connection it carries (the partition healing in a way both
/// ends notice).
struct Relay {
    port: u16,
    /// Whether bytes to the server are held…
    to_server: watch::Sender<bool>,
    /// …and its answers.
    to_client: Arc<watch::Sender<bool>>,
    /// Which write to the server, if any, is tampered with, and how.
    armed: Armed,
    /// What is armed once that has fired.
    next: Armed,
    carried: Arc<Mutex<Vec<AbortHandle>>>,
    /// A second handle on each connection to the server, so that it stays
    /// open there when the relay drops its side (the server then keeps the
    /// session, as it does when it never hears of a lost connection).
    kept: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    async fn to(server: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (to_server, server_bound) = watch::channel(false);
        let (to_client, client_bound) = watch::channel(false);
        let to_client = Arc::new(to_client);
        let armed = Armed::default();
        let next = Armed::default();
        let trap = Trap {
            armed: Arc::clone(&armed),
            next: Arc::clone(&next),
            answers: Arc::clone(&to_client),
        };
        let carried = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::new(Mutex::new(Vec::new()));
        let server = server.to_owned();
        let list = Arc::clone(&carried);
        let keep = Arc::clone(&kept);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(&server).await else {
                    continue;
                };
                let upstream = upstream.into_std().expect("std stream");
                keep.lock()
                    .expect("kept")
                    .push(upstream.try_clone().expect("second handle"));
                let upstream = TcpStream::from_std(upstream).expect("tokio stream");
                let (client_read, client_write) = client.into_split();
                // Not `into_split`: its write half would end the
                // connection to the server when dropped.
                let (server_read, server_write) = tokio::io::split(upstream);
                let to_server = tokio::io::join(client_read, server_write);
                let to_client = tokio::io::join(server_read, client_write);
                let mut list = list.lock().expect("list");
                for direction in [
                    tokio::spawn(pipe(to_server, server_bound.clone(), Some(trap.clone())))
                        .abort_handle(),
                    tokio::spawn(pipe(to_client, client_bound.clone(), None)).abort_handle(),
                ] {
                    list.push(direction);
                }
            }
        });
        Self {
            port,
            to_server,
            to_client,
            armed,
            next,
            carried,
            kept,
        }
    }

    fn freeze(&self) {
        let _ = self.to_server.send(true);
        let _ = self.to_client.send(true);
    }

    /// Passes the next commit to the server but holds every answer from
    /// then on: the commit happens, and its writer never hears of it.
    fn lose_the_next_answer(&self) {
        // A commit's row, not a ping.
        self.arm(Box::new(|bytes| bytes.len() >= 256), Action::LoseAnswers);
    }

    /// Passes the next statement whose text holds `sql` to the server but
    /// holds every answer from then on: it waits on a connection already
    /// handed out, past the pool's own timeouts.
    fn lose_the_answer_to(&self, sql: &'static str) {
        self.arm(containing(sql), Action::LoseAnswers);
    }

    /// Holds the next write holding `text` (a commit with that record) on
    /// its way to the server, on its connection only, until the next write
    /// holding `then` comes: that one waits until the held one has landed.
    /// The first write, given up by its writer, lands late, just before
    /// the second.
    fn hold_the_write_of(&self, text: &'static str, then: &'static str) {
        let release = Arc::new(Notify::new());
        self.arm(containing(text), Action::Hold(Arc::clone(&release)));
        *self.next.lock().expect("next") = Some((containing(then), Action::ReleaseFirst(release)));
    }

    fn arm(&self, trigger: Trigger, action: Action) {
        *self.armed.lock().expect("armed") = Some((trigger, action));
    }

    /// Drops every connection relayed so far, and relays new ones again.
    fn heal(&self) {
        self.heal_keeping_server_sessions();
        self.drop_server_sessions();
    }

    /// Drops the relay's side of every connection relayed so far, while
    /// the server's side stays open; relays new ones again.
    fn heal_keeping_server_sessions(&self) {
        for task in self.carried.lock().expect("list").drain(..) {
            task.abort();
        }
        let _ = self.to_server.send(false);
        let _ = self.to_client.send(false);
    }

    /// Closes the server's side of the connections dropped so far.
    fn drop_server_sessions(&self) {
        self.kept.lock().expect("kept").clear();
    }
}

/// Which write to the server is tampered with.
type Trigger = Box<dyn Fn(&[u8]) -> bool + Send>;

/// A trigger for writes holding `text`.
fn containing(text: &'static str) -> Trigger {
    Box::new(move |bytes| {
        bytes
            .windows(text.len())
            .any(|window| window == text.as_bytes())
    })
}

/// What is done with the write a trigger picks.
enum Action {
    /// Pass it on, then hold every answer.
    LoseAnswers,
    /// Hold it until released.
    Hold(Arc<Notify>),
    /// Release the held one, let it land, then pass this one on.
    ReleaseFirst(Arc<Notify>),
}

type Armed = Arc<Mutex<Option<(Trigger, Action)>>>;

/// Tampers with the write its trigger picks, once armed.
#[derive(Clone)]
struct Trap {
    armed: Armed,
    next: Armed,
    answers: Arc<watch::Sender<bool>>,
}

impl Trap {
    /// The action for `bytes`, if the trigger picks them; the next trap
    /// is then armed.
    fn fires(&self, bytes: &[u8]) -> Option<Action> {
        let mut armed = self.armed.lock().expect("armed");
        if !armed.as_ref().is_some_and(|(fires, _)| fires(bytes)) {
            return None;
        }
        let (_, action) = armed.take()?;
        *armed = self.next.lock().expect("next").take();
        Some(action)
    }
}

/// Copies one direction of a connection, holding what it read while frozen.
async fn pipe<R, W>(
    mut pair: tokio::io::Join<R, W>,
    mut frozen: watch::Receiver<bool>,
    trap: Option<Trap>,
) where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let Ok(read) = pair.read(&mut buffer).await else {
            return;
        };
        if read == 0 || frozen.wait_for(|frozen| !frozen).await.is_err() {
            return;
        }
        let action = trap.as_ref().and_then(|trap| trap.fires(&buffer[..read]));
        match &action {
            Some(Action::Hold(release)) => release.notified().await,
            Some(Action::ReleaseFirst(release)) => {
                release.notify_one();
                // The released commit is one short statement.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => {}
        }
        if pair.write_all(&buffer[..read]).await.is_err() {
            return;
        }
        if let (Some(Action::LoseAnswers), Some(trap)) = (action, &trap) {
            let _ = trap.answers.send(true);
        }
    }
}

/// A log on PostgreSQL written through a relay.
struct Relayed {
    relay: Relay,
    store: Store,
    log: AuditLog,
    origin: String,
    vkey: String,
    _dir: tempfile::TempDir,
}

async fn relayed() -> Relayed {
    let url = postgres_url();
    let server = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("host:port in the test URL")
        .to_owned();
    let relay = Relay::to(&server).await;
    let through = url.replace(&server, &format!("127.0.0.1:{}", relay.port));
    let store = Store::open(&through, Duration::from_millis(500))
        .await
        .expect("open through the relay");
    let origin = format!("test.sectorgate/stall/{:016x}", rand::random::<u64>());
    let dir = tempfile::tempdir().expect("tempdir");
    let signer =
        CheckpointSigner::load_or_create(&dir.path().join("checkpoint.key"), &origin).expect("key");
    let vkey = signer.verifier_key().to_owned();
    let mut held = claim(&store, &origin).await;
    // The server drops the claim's session soon after losing it.
    assert_eq!(
        held.session_setting("tcp_keepalives_idle").await.as_deref(),
        Some("10")
    );
    let log = AuditLog::spawn(
        store.clone(),
        held,
        signer,
        LogConfig {
            origin: origin.clone(),
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(3600),
        },
        CheckpointSink::none(),
    );
    log.append(&decision("before", 1)).await.expect("durable");
    Relayed {
        relay,
        store,
        log,
        origin,
        vkey,
        _dir: dir,
    }
}

impl Relayed {
    /// Appends until one is durable; fails after 30 s.
    async fn append_until_durable(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.log.append(&decision(id, 100)).await {
                Ok(()) => return,
                Err(error) if Instant::now() < deadline => {
                    tracing::debug!(%error, "not yet");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("no recovery once the server answers again: {error}"),
            }
        }
    }

    /// Verifies the log directly, not through the relay; returns its size.
    async fn verified(&self) -> u64 {
        let direct = Store::open(&postgres_url(), Duration::from_secs(5))
            .await
            .expect("open");
        let report = verify(&direct, &self.origin, &self.vkey, &[])
            .await
            .expect("verify");
        assert!(report.ok, "{report:?}");
        report.records
    }

    /// How many outcome records of decision `id` the log holds.
    async fn outcomes_of(&self, id: &str) -> usize {
        let direct = Store::open(&postgres_url(), Duration::from_secs(5))
            .await
            .expect("open");
        let leaves = direct
            .leaves(&self.origin, 0, 10_000)
            .await
            .expect("leaves");
        leaves
            .iter()
            .filter_map(|leaf| Entry::decode_leaf(leaf.record.as_deref()?).ok())
            .filter(|entry| matches!(entry, Entry::Outcome(outcome) if outcome.decision == id))
            .count()
    }
}

#[tokio::test]
async fn a_postgres_server_that_stops_answering_fails_appends_until_it_answers_again() {
    let relayed = relayed().await;
    let log = &relayed.log;
    relayed.relay.freeze();
    // Each append fails, quickly: the first on the pool's connection, the
    // next ones while the writer checks its claim and rereads the tree's
    // edge, on connections that no longer answer either.
    for attempt in 0..3 {
        let started = Instant::now();
        let error = tokio::time::timeout(
            Duration::from_secs(20),
            log.append(&decision("during", 2 + attempt)),
        )
        .await
        .unwrap_or_else(|_| panic!("append {attempt} waited without end"))
        .expect_err("a write to a server that does not answer");
        assert!(
            started.elapsed() < relayed.store.stall_after() * 3,
            "append {attempt} took {:?}: {error}",
            started.elapsed()
        );
        assert!(!log.status().ok);
    }

    relayed.relay.heal();
    relayed.append_until_durable("after").await;
    assert!(log.status().ok);
    // A stalled write may have landed after all: its record is then in the
    // log once, in sequence, like any other.
    assert!((2..=5).contains(&relayed.verified().await));
}

#[tokio::test]
async fn a_claim_the_server_still_holds_after_a_partition_is_named_and_then_taken_back() {
    let relayed = relayed().await;
    let log = &relayed.log;
    relayed.relay.freeze();
    assert!(log.append(&decision("during", 2)).await.is_err());
    // The network returns, but the server never heard that the claim's
    // connection was lost: its session, and the lock, live on.
    relayed.relay.heal_keeping_server_sessions();
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        let error = log
            .append(&decision("held", 3))
            .await
            .expect_err("the claim is still held by the old session");
        if matches!(*error, AuditError::ClaimLost(_)) || Instant::now() > deadline {
            break error;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        matches!(*error, AuditError::ClaimLost(_)),
        "not named as a lost claim: {error}"
    );
    let status = log.status().error.unwrap_or_default();
    assert!(status.contains("lost its claim"), "{status}");
    // The server drops the old session (here at once; after a real
    // partition, by its keepalive): the writer takes its claim back.
    relayed.relay.drop_server_sessions();
    relayed.append_until_durable("after").await;
    assert!((2..=4).contains(&relayed.verified().await));
}

#[tokio::test]
async fn outcome_records_of_a_failed_commit_are_written_once_with_a_later_one() {
    // A commit that never reached the server: its outcome is written again.
    outcome_written_once_after(Relay::freeze).await;
    // A commit the server made, whose answer was lost: its outcome is
    // stored already, and is not written twice.
    outcome_written_once_after(Relay::lose_the_next_answer).await;
}

#[tokio::test]
async fn a_commit_given_up_that_lands_late_leaves_no_outcome_record_twice_or_lost() {
    let relayed = relayed().await;
    // The commit of "landing-late" waits on its way to the server until
    // its writer has given it up, reread the log's size and started the
    // next commit; then it lands, just before that one, which then fails.
    let (log, relay) = (&relayed.log, &relayed.relay);
    relay.hold_the_write_of("landing-late", "overtaken-by-it");
    log.append_later(&outcome("held-outcome"));
    assert!(log.append(&decision("landing-late", 2)).await.is_err());
    log.append_later(&outcome("kept-outcome"));
    assert!(log.append(&decision("overtaken-by-it", 3)).await.is_err());
    relayed.append_until_durable("after").await;
    assert_eq!(
        relayed.outcomes_of("held-outcome").await,
        1,
        "landed late, once"
    );
    assert_eq!(
        relayed.outcomes_of("kept-outcome").await,
        1,
        "retried, once"
    );
    relayed.verified().await;
}

/// Holds an outcome record in a commit that `fault` makes fail, then
/// checks that the log holds it once when the relay passes bytes again.
async fn outcome_written_once_after(fault: fn(&Relay)) {
    let relayed = relayed().await;
    fault(&relayed.relay);
    relayed.log.append_later(&outcome("held"));
    assert!(relayed.log.append(&decision("failed", 2)).await.is_err());
    relayed.relay.heal();
    relayed.append_until_durable("after").await;
    assert_eq!(relayed.outcomes_of("held").await, 1);
    relayed.verified().await;
}

#[tokio::test]
async fn an_auditor_reading_a_postgres_server_that_stops_answering_gets_an_error() {
    let relayed = relayed().await;
    let store = &relayed.store;
    // The reads of `verify` go through the pool, which has a connection
    // open to the server already.
    assert_eq!(store.size(&relayed.origin).await.expect("size"), 1);
    relayed
        .relay
        .lose_the_answer_to("FROM audit_checkpoints WHERE origin = $1 ORDER BY created_at");
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        verify(store, &relayed.origin, &relayed.vkey, &[]),
    )
    .await
    .expect("verify waited without end")
    .expect_err("a read from a server that does not answer");
    assert!(matches!(error, AuditError::Stalled(_)), "{error}");
}
