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

pub use capture::{Line, Tail};
pub use plan::People;

use crate::catalog::client::Step;
use crate::catalog::{Catalog, Mode, Source, Target};
use crate::report::{Header, Report, Run, TestResult};
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
    let steps: Vec<Step> = Step::ALL
        .into_iter()
        .filter(|step| step.applies(profile))
        .collect();
    let setting_types: Vec<String> = profile
        .invites
        .permissions
        .iter()
        .flat_map(|permissions| permissions.types.iter().map(|(t, _)| t.clone()))
        .collect();
    let read = read_capture(options, &steps, &setting_types, out);
    let mut results = Vec::new();
    for test in &catalog.tests {
        let Source::Client(check) = &test.source else {
            continue;
        };
        if !test.targets.contains(&Target::Client) || !options.selection.admits(&test.id) {
            continue;
        }
        let (status, messages, evidence) = match &read {
            Err(why) => (Status::Error, vec![why.clone()], Vec::new()),
            Ok(tail) => {
                let located: BTreeMap<Step, Option<usize>> = steps
                    .iter()
                    .copied()
                    .zip(plan::locate(
                        &steps,
                        &tail.lines,
                        &options.people,
                        &setting_types,
                    ))
                    .collect();
                let evidence = Evidence {
                    profile,
                    lines: &tail.lines,
                    steps: &located,
                    people: &options.people,
                    setting_types: &setting_types,
                };
                let (status, messages, lines) = evidence.judge(check);
                let base = options.gateway_url.as_deref().unwrap_or_default();
                let exchanges = lines
                    .iter()
                    .filter_map(|index| tail.lines.get(*index))
                    .map(|line| line.exchange(base))
                    .collect();
                (status, messages, exchanges)
            }
        };
        results.push(TestResult {
            id: test.id.clone(),
            title: test.title.clone(),
            requirements: test.requirements.clone(),
            status,
            duration_ms: 0,
            messages,
            evidence,
            expected_failure: options.selection.expected_failure(&test.id),
        });
    }
    let mut reasons = options.selection.not_for_certification();
    if let Ok(tail) = &read
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
    let header = Header::new(catalog, run, reasons);
    Report::new(header, results)
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
