//! [`Metrics`]: what Prometheus scrapes from the admin listener's
//! `/metrics`, in the OpenMetrics text format. Each count is taken where
//! the step it measures ends: a decision when it is recorded, an answer
//! when its outcome is, a step's time when the step returns. Gauges of
//! state kept elsewhere (the audit queue, the federation list) are read
//! when scraped.

use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// A recorded decision's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    direction: &'static str,
    endpoint: String,
    verdict: &'static str,
    rule: String,
}

/// An answer's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    direction: &'static str,
    /// `2xx`, `4xx`, …; `none` when the connection ended first.
    status: &'static str,
}

/// A step of the request path.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: &'static str,
}

/// A reload's result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    /// `ok` or `failed`.
    result: &'static str,
}

/// Where a federation signing key came from.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeySourceLabels {
    /// `pinned`, `cache`, `fetch` or `failed`.
    source: &'static str,
}

/// A view of the audit log kept off the hot path.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ViewLabels {
    /// `tiles` or `index`.
    view: &'static str,
}

/// A rule's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

/// A step of the request path, as measured.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Accepting: head checks, who asks, reading the body, the signature.
    Accept,
    /// The request becoming an action.
    Classify,
    /// The facts the profile needs, and the decision.
    Decide,
    /// The decision made durable.
    Record,
    /// The homeserver's answer head.
    Forward,
}

impl Step {
    /// Every step, in the order of their discriminants.
    const ALL: [Self; 5] = [
        Self::Accept,
        Self::Classify,
        Self::Decide,
        Self::Record,
        Self::Forward,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Classify => "classify",
            Self::Decide => "decide",
            Self::Record => "record",
            Self::Forward => "forward",
        }
    }
}

/// Times the steps of one request, one after the other.
pub(crate) struct Laps<'m> {
    metrics: &'m Metrics,
    since: Instant,
}

impl<'m> Laps<'m> {
    /// Starts timing the first step.
    pub(crate) fn start(metrics: &'m Metrics) -> Self {
        Self {
            metrics,
            since: Instant::now(),
        }
    }

    /// The step since the last lap ended now.
    pub(crate) fn lap(&mut self, step: Step) {
        let now = Instant::now();
        self.metrics.step(step, now - self.since);
        self.since = now;
    }

    /// What ran since the last lap belongs to no step.
    pub(crate) fn restart(&mut self) {
        self.since = Instant::now();
    }
}

/// State read when scraped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scraped {
    /// Records queued for the audit writer.
    pub audit_queued: usize,
    /// Records in the log after the last write (0: none yet).
    pub audit_size: u64,
    /// Seconds since the last audit write ended, and whether it succeeded.
    pub audit_last_write: Option<(f64, bool)>,
    /// The signed federation list's version and age in seconds, if one is
    /// configured and loaded.
    pub federation_list: Option<(u64, u64)>,
    /// Whether federation is open (the allowlist is fresh), with federation on.
    pub federation_open: Option<bool>,
    /// Seconds since this instance last signed a checkpoint (or since the
    /// last one in the store when it started), if there is one.
    pub audit_checkpoint_age: Option<f64>,
    /// Signing keys looked up so far, by where they came from (`pinned`,
    /// `cache`, `fetch`, `failed`), with federation on.
    pub key_lookups: Option<[(&'static str, u64); 4]>,
}

/// Every metric of the gateway.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    answers: Family<AnswerLabels, Histogram>,
    /// `step_duration`'s histogram of each step, by discriminant: looked up
    /// once, as each request times five steps (the family's lookup hashes
    /// the labels under a lock).
    steps: [Histogram; Step::ALL.len()],
    upstream_failures: Family<RuleLabels, Counter>,
    reloads: Family<ResultLabels, Counter>,
    certificate_reloads: Family<ResultLabels, Counter>,
    connections_open: Gauge,
    connections_parked: Gauge,
    connections: Counter,
    audit_queued: Gauge,
    audit_size: Gauge,
    audit_write_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    audit_writable: Gauge,
    audit_records: Counter,
    audit_commit_records: Histogram,
    audit_commit_duration: Histogram,
    audit_checkpoint_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    audit_view_size: Family<ViewLabels, Gauge>,
    key_lookups: Family<KeySourceLabels, Counter>,
    /// Held while a scrape brings the counters kept elsewhere up to date.
    scraping: std::sync::Mutex<()>,
    federation_list_version: Gauge,
    federation_list_age: Gauge,
    federation_open: Gauge,
}

/// Latency buckets from 100 µs to about 26 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Metrics {
    /// Registers every metric, under the `sectorgate` prefix; the
    /// federation gauges only with `federation` on, so that no alarm reads
    /// a closed federation into a gateway that has none.
    pub fn new(federation: bool) -> Self {
        let mut registry = Registry::with_prefix("sectorgate");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Decisions recorded, by direction, endpoint, verdict and rule",
            decisions.clone(),
        );
        let answers = Family::<AnswerLabels, Histogram>::new_with_constructor(seconds);
        registry.register_with_unit(
            "request_duration",
            "From the decision to the end of the answer, by direction and status class",
            Unit::Seconds,
            answers.clone(),
        );
        let steps = Family::<StepLabels, Histogram>::new_with_constructor(seconds);
        registry.register_with_unit(
            "step_duration",
            "Time spent in each step of the request path",
            Unit::Seconds,
            steps.clone(),
        );
        let steps = Step::ALL.map(|step| {
            steps
                .get_or_create(&StepLabels { step: step.name() })
                .clone()
        });
        let upstream_failures = Family::<RuleLabels, Counter>::default();
        registry.register(
            "upstream_failures",
            "Requests the homeserver did not answer, by rule (unreachable, timeout, …)",
            upstream_failures.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reloads",
            "Reloads asked for (SIGHUP or a watched file changed), by result: a failed one keeps what is in force",
            reloads.clone(),
        );
        let certificate_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "certificate_reloads",
            "TLS certificates read again (changed files or a reload), by result: a failed one keeps the certificate in use",
            certificate_reloads.clone(),
        );
        // Both results from the start, so that an alert on `increase` sees
        // the first failure.
        for result in ["ok", "failed"] {
            let _ = reloads.get_or_create(&ResultLabels { result });
            let _ = certificate_reloads.get_or_create(&ResultLabels { result });
        }
        let metrics = Self {
            reloads,
            certificate_reloads,
            decisions,
            answers,
            steps,
            upstream_failures,
            connections_open: Gauge::default(),
            connections_parked: Gauge::default(),
            connections: Counter::default(),
            audit_queued: Gauge::default(),
            audit_size: Gauge::default(),
            audit_write_age: Gauge::default(),
            audit_writable: Gauge::default(),
            audit_records: Counter::default(),
            // 1 to 4096 records.
            audit_commit_records: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            audit_commit_duration: seconds(),
            audit_checkpoint_age: Gauge::default(),
            audit_view_size: Family::default(),
            key_lookups: Family::default(),
            scraping: std::sync::Mutex::new(()),
            federation_list_version: Gauge::default(),
            federation_list_age: Gauge::default(),
            federation_open: Gauge::default(),
            registry,
        };
        let mut metrics = metrics.register_connections().register_audit();
        if federation {
            metrics = metrics.register_federation();
        }
        metrics
    }

    fn register_connections(mut self) -> Self {
        let registry = &mut self.registry;
        registry.register(
            "connections_open",
            "Client and federation connections open now",
            self.connections_open.clone(),
        );
        registry.register(
            "connections_parked",
            "Idle HTTP/1 connections parked now, holding no buffers",
            self.connections_parked.clone(),
        );
        registry.register(
            "connections",
            "Client and federation connections accepted",
            self.connections.clone(),
        );
        self
    }

    fn register_audit(mut self) -> Self {
        let registry = &mut self.registry;
        registry.register(
            "audit_queue_depth",
            "Audit records waiting for the writer",
            self.audit_queued.clone(),
        );
        registry.register(
            "audit_log_size",
            "Records in the audit log after the last write",
            self.audit_size.clone(),
        );
        registry.register_with_unit(
            "audit_last_write_age",
            "Since the last audit write ended",
            Unit::Seconds,
            self.audit_write_age.clone(),
        );
        registry.register(
            "audit_writable",
            "Whether the last audit write succeeded (1) or failed (0)",
            self.audit_writable.clone(),
        );
        registry.register(
            "audit_records",
            "Audit records made durable (decisions and outcomes)",
            self.audit_records.clone(),
        );
        registry.register(
            "audit_commit_records",
            "Records per audit commit (one durable write covers them all)",
            self.audit_commit_records.clone(),
        );
        registry.register_with_unit(
            "audit_commit_duration",
            "Time a durable audit commit took in the store",
            Unit::Seconds,
            self.audit_commit_duration.clone(),
        );
        registry.register_with_unit(
            "audit_checkpoint_age",
            "Since this instance last signed a checkpoint (none are due while no records come)",
            Unit::Seconds,
            self.audit_checkpoint_age.clone(),
        );
        registry.register(
            "audit_view_size",
            "Records of the audit log a view covers (tiles: up to their checkpoint; index: every durable record)",
            self.audit_view_size.clone(),
        );
        self
    }

    /// Only with federation on, so that no alarm reads a closed federation
    /// into a gateway that has none.
    fn register_federation(mut self) -> Self {
        let registry = &mut self.registry;
        registry.register(
            "federation_key_lookups",
            "Federation signing keys looked up, by source: pinned, cache, fetch (a fetch that succeeded) or failed",
            self.key_lookups.clone(),
        );
        registry.register(
            "federation_list_version",
            "The signed federation list's version",
            self.federation_list_version.clone(),
        );
        registry.register_with_unit(
            "federation_list_age",
            "Age of the signed federation list",
            Unit::Seconds,
            self.federation_list_age.clone(),
        );
        registry.register(
            "federation_open",
            "Whether federation is open (1) or closed by a stale list (0)",
            self.federation_open.clone(),
        );
        self
    }

    /// A decision was recorded.
    pub fn decided(
        &self,
        outbound: bool,
        endpoint: Option<&str>,
        verdict: &'static str,
        rule: &str,
    ) {
        self.decisions
            .get_or_create(&DecisionLabels {
                direction: direction(outbound),
                endpoint: endpoint.unwrap_or("unrecognized").to_owned(),
                verdict,
                rule: rule.to_owned(),
            })
            .inc();
    }

    /// An answer ended (`status` 0: the connection ended first).
    pub fn answered(&self, outbound: bool, status: u16, took: Duration) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "none",
        };
        self.answers
            .get_or_create(&AnswerLabels {
                direction: direction(outbound),
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// A step of the request path took `took`.
    pub fn step(&self, step: Step, took: Duration) {
        self.steps[step as usize].observe(took.as_secs_f64());
    }

    /// The homeserver did not answer, for `rule`.
    pub fn upstream_failed(&self, rule: &str) {
        self.upstream_failures
            .get_or_create(&RuleLabels {
                rule: rule.to_owned(),
            })
            .inc();
    }

    /// A reload put its profile in force (`ok`), or failed.
    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    /// A listener's TLS certificate was read again (`ok`), or could not be.
    pub fn certificate_reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.certificate_reloads
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// A connection was accepted; it is counted open until the guard drops.
    pub fn connection(&self) -> OpenConnection {
        self.connections.inc();
        self.connections_open.inc();
        OpenConnection(self.connections_open.clone())
    }

    /// The audit log's `view` (`tiles` or `index`) now covers its first
    /// `size` records; with `audit_log_size`, how far it lags.
    pub fn audit_view_size(&self, view: &'static str, size: u64) {
        self.audit_view_size
            .get_or_create(&ViewLabels { view })
            .set(i64::try_from(size).unwrap_or(i64::MAX));
    }

    /// A connection was parked; it is counted parked until the guard drops.
    pub fn parked(&self) -> OpenConnection {
        self.connections_parked.inc();
        OpenConnection(self.connections_parked.clone())
    }

    /// The text a scrape gets, with the gauges read now.
    pub fn encode(&self, scraped: &Scraped) -> String {
        let _one_at_a_time = self
            .scraping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        if let Some(age) = scraped.audit_checkpoint_age {
            self.audit_checkpoint_age.set(age);
        }
        for (source, total) in scraped.key_lookups.into_iter().flatten() {
            let counter = self.key_lookups.get_or_create(&KeySourceLabels { source });
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        self.audit_queued
            .set(i64::try_from(scraped.audit_queued).unwrap_or(i64::MAX));
        self.audit_size.set(as_i64(scraped.audit_size));
        // Before the first write, nothing has failed.
        let (age, ok) = scraped.audit_last_write.unwrap_or((0.0, true));
        self.audit_write_age.set(age);
        self.audit_writable.set(i64::from(ok));
        if let Some((version, age)) = scraped.federation_list {
            self.federation_list_version.set(as_i64(version));
            self.federation_list_age.set(as_i64(age));
        }
        if let Some(open) = scraped.federation_open {
            self.federation_open.set(i64::from(open));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl sectorgate_audit::CommitObserver for Metrics {
    fn committed(&self, records: usize, took: Duration) {
        self.audit_records.inc_by(records as u64);
        #[allow(clippy::cast_precision_loss, reason = "a batch is far below 2^52")]
        self.audit_commit_records.observe(records as f64);
        self.audit_commit_duration.observe(took.as_secs_f64());
    }
}

fn direction(outbound: bool) -> &'static str {
    if outbound { "outbound" } else { "inbound" }
}

/// An open (or parked) connection, counted until dropped.
#[derive(Debug)]
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_scrape_with_their_labels() {
        let metrics = Metrics::new(false);
        metrics.decided(
            false,
            Some("client.sync_events"),
            "allow",
            "endpoint.allowed",
        );
        metrics.decided(
            false,
            Some("client.sync_events"),
            "allow",
            "endpoint.allowed",
        );
        metrics.decided(true, None, "deny", "federation.destination_not_allowed");
        metrics.answered(false, 200, Duration::from_millis(3));
        let open = metrics.connection();
        let text = metrics.encode(&Scraped::default());
        assert!(text.contains(
            "sectorgate_decisions_total{direction=\"inbound\",endpoint=\"client.sync_events\",verdict=\"allow\",rule=\"endpoint.allowed\"} 2"
        ), "{text}");
        assert!(
            text.contains("endpoint=\"unrecognized\",verdict=\"deny\""),
            "{text}"
        );
        assert!(
            text.contains(
                "sectorgate_request_duration_seconds_count{direction=\"inbound\",status=\"2xx\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("sectorgate_connections_open 1"), "{text}");
        drop(open);
        assert!(
            metrics
                .encode(&Scraped::default())
                .contains("sectorgate_connections_open 0")
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
