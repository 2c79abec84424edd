//! Client certification (passive): the vendor's client is used through a
//! gateway whose `record` option captures the test user's exchanges; the
//! suite guides the vendor step by step, waits for each step in the
//! capture, then judges everything the client sent. A saved capture can be
//! judged again offline.

pub mod capture;
pub mod checks;
pub mod plan;
pub mod setup;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use sectorgate_policy::Profile;

pub use capture::{Line, Tail};
pub use plan::People;

use crate::catalog::client::{Check, Step};
use crate::catalog::{Catalog, Mode, Source, Target, TestSpec};
use crate::report::{Exchange, Header, Report, Run, TestResult};
use crate::selection::Selection;
use crate::status::Status;
use checks::Evidence;

/// How a client certification is made.
#[derive(Clone, Debug)]
pub struct CertifyOptions {
    /// The capture file the gateway writes.
    pub capture: PathBuf,
    /// The users the steps name.
    pub people: People,
    /// Guide the vendor: print each step and wait this long for it. `None`
    /// judges the capture as it is (offline).
    pub guide: Option<Duration>,
    /// The gateway's URL, for the evidence's URLs.
    pub gateway_url: Option<String>,
    /// The product's name; by default the `User-Agent` the client sent
    /// most.
    pub product: Option<String>,
    /// Its version.
    pub product_version: String,
    /// Which tests run.
    pub selection: Selection,
}

/// Runs a certification; what goes wrong reading the capture is an ERROR
/// in the report.
pub fn certify(catalog: &Catalog, options: &CertifyOptions, out: &mut dyn Write) -> Report {
    let started = SystemTime::now();
    let profile = &catalog.profile;
    let steps = applicable_steps(profile);
    let setting_types = setting_types(profile);
    let read = read_capture(options, &steps, &setting_types, out);
    let judging = Judging {
        profile,
        options,
        steps: &steps,
        setting_types: &setting_types,
    };
    let results = catalog
        .tests
        .iter()
        .filter_map(|test| judging.result(test, &read))
        .collect();
    let header = header(catalog, options, &read, started);
    Report::new(header, results)
}

/// The steps of the guide that apply under `profile`, in order.
fn applicable_steps(profile: &Profile) -> Vec<Step> {
    Step::ALL
        .into_iter()
        .filter(|step| step.applies(profile))
        .collect()
}

/// The invite-permission account data types `profile` honours.
fn setting_types(profile: &Profile) -> Vec<String> {
    profile
        .invites
        .permissions
        .iter()
        .flat_map(|permissions| permissions.types.iter().map(|(t, _)| t.clone()))
        .collect()
}

/// What the client tests are judged with.
struct Judging<'a> {
    profile: &'a Profile,
    options: &'a CertifyOptions,
    /// The steps that apply, in order.
    steps: &'a [Step],
    /// The invite-permission account data types the profile honours.
    setting_types: &'a [String],
}

impl Judging<'_> {
    /// `test`'s result on the capture as `read` (an ERROR when it could not
    /// be), when it is a client test the run selected.
    fn result(&self, test: &TestSpec, read: &Result<Tail, String>) -> Option<TestResult> {
        let Source::Client(check) = &test.source else {
            return None;
        };
        if !test.targets.contains(&Target::Client) || !self.options.selection.admits(&test.id) {
            return None;
        }
        let (status, messages, evidence) = match read {
            Err(why) => (Status::Error, vec![why.clone()], Vec::new()),
            Ok(tail) => self.judge(check, tail),
        };
        Some(TestResult {
            expected_failure: self.options.selection.expected_failure(&test.id),
            ..TestResult::of(test, status, messages, evidence)
        })
    }

    /// `check` judged on the capture: its status, what it rests on, and
    /// the captured exchanges it points at.
    fn judge(&self, check: &Check, tail: &Tail) -> (Status, Vec<String>, Vec<Exchange>) {
        let located: BTreeMap<Step, Option<usize>> = self
            .steps
            .iter()
            .copied()
            .zip(plan::locate(
                self.steps,
                &tail.lines,
                &self.options.people,
                self.setting_types,
            ))
            .collect();
        let evidence = Evidence {
            profile: self.profile,
            lines: &tail.lines,
            steps: &located,
            people: &self.options.people,
            setting_types: self.setting_types,
        };
        let (status, messages, lines) = evidence.judge(check);
        let base = self.options.gateway_url.as_deref().unwrap_or_default();
        let exchanges = lines
            .iter()
            .filter_map(|index| tail.lines.get(*index))
            .map(|line| line.exchange(base))
            .collect();
        (status, messages, exchanges)
    }
}

/// The report's header: the run, the client as named (by default by its
/// `User-Agent`), and why it cannot certify (capture lines that could not
/// be read, an unnamed client among the reasons).
fn header(
    catalog: &Catalog,
    options: &CertifyOptions,
    read: &Result<Tail, String>,
    started: SystemTime,
) -> Header {
    let mut reasons = options.selection.not_for_certification();
    if let Ok(tail) = read
        && !tail.problems.is_empty()
    {
        reasons.push(format!(
            "{} capture lines could not be read: {}",
            tail.problems.len(),
            tail.problems.join("; ")
        ));
    }
    let agent = read.as_ref().ok().and_then(|tail| user_agent(&tail.lines));
    let product = options.product.clone().or(agent).unwrap_or_else(|| {
        reasons
            .push("the client sent no User-Agent and no product was given (--product)".to_owned());
        crate::server::UNNAMED.to_owned()
    });
    let run = Run {
        target: Target::Client,
        mode: Mode::Passive,
        url: options.capture.display().to_string(),
        product,
        product_version: options.product_version.clone(),
        started,
    };
    Header::new(catalog, run, reasons)
}

/// The `User-Agent` the client sent most often.
fn user_agent(lines: &[Line]) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for agent in lines.iter().filter_map(|line| line.user_agent.as_deref()) {
        *counts.entry(agent).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, count)| *count)
        .map(|(agent, _)| agent.to_owned())
}

/// Reads the capture: live, guiding the vendor through the steps and
/// waiting for each; or offline, as it is.
fn read_capture(
    options: &CertifyOptions,
    steps: &[Step],
    setting_types: &[String],
    out: &mut dyn Write,
) -> Result<Tail, String> {
    let Some(wait) = options.guide else {
        let mut tail = Tail::open(&options.capture, true)?;
        tail.poll()?;
        return Ok(tail);
    };
    let mut tail = Tail::open(&options.capture, false)?;
    for (number, step) in steps.iter().enumerate() {
        let asked = format!(
            "Step {}/{}: {}\n",
            number + 1,
            steps.len(),
            plan::instruction(*step, &options.people)
        );
        let _ = out.write_all(asked.as_bytes());
        let _ = out.flush();
        let deadline = Instant::now() + wait;
        let seen = loop {
            tail.poll()?;
            let located = plan::locate(
                &steps[..=number],
                &tail.lines,
                &options.people,
                setting_types,
            );
            if let Some(Some(index)) = located.last() {
                break Some(*index);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let _ = match seen.and_then(|index| tail.lines.get(index)) {
            Some(line) => writeln!(
                out,
                "  seen: {} {} → {}",
                line.method, line.path, line.status
            ),
            None => writeln!(out, "  not seen within {} s: NOT_EXERCISED", wait.as_secs()),
        };
    }
    tail.poll()?;
    Ok(tail)
}
