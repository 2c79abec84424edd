//! `index.html`: the report for a person, in one self-contained file (no
//! scripts, no outside resources): the verdict and what kept it from
//! passing, the run, a summary by status and by requirement, then every
//! test with its timeline of exchanges and a curl command for each.

use std::fmt::Write;

use super::junit::escape;
use super::{Exchange, Header, Report, TestResult, by_requirement_status};
use crate::status::Status;
use crate::verdict::Unmet;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}\
.PASS{background:#d7f5d7}.FAIL,.ERROR{background:#f8d0d0}.WARNING,.INCOMPLETE{background:#fbefc5}\
.NOT_APPLICABLE,.NOT_EXERCISED{background:#e8e8e8}\
pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;word-break:break-all}\
details{margin:.4em 0}summary{cursor:pointer}code{font-size:90%}";

/// Renders the report as HTML.
pub(super) fn render(report: &Report) -> String {
    let mut html = String::new();
    head(&mut html, &report.header);
    verdict(&mut html, report);
    run_table(&mut html, &report.header);
    summary(&mut html, report);
    by_requirement(&mut html, report);
    html.push_str("<h2>Tests</h2>\n");
    for result in &report.results {
        test(&mut html, result);
    }
    html.push_str("</body></html>\n");
    html
}

/// The document's head, its title naming the product and the profile.
fn head(html: &mut String, header: &Header) {
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Conformance: {} against {}</title><style>{STYLE}</style></head><body>\n",
        escape(&header.product),
        escape(&header.profile)
    );
}

/// The verdict as the heading, its line, the requirements that kept it
/// from passing, and why the run is not for certification.
fn verdict(html: &mut String, report: &Report) {
    let header = &report.header;
    let verdict = report.verdict.outcome;
    let _ = writeln!(
        html,
        "<h1>{} {} against profile {}: <span id=\"verdict\" class=\"{verdict}\">{verdict}</span></h1>",
        escape(&header.product),
        escape(&header.product_version),
        escape(&header.profile)
    );
    let _ = writeln!(html, "<p>{}</p>", escape(&report.verdict.line()));
    unmet(
        html,
        "failed",
        "Requirements not met",
        &report.verdict.failed,
    );
    unmet(
        html,
        "incomplete",
        "Requirements not exercised",
        &report.verdict.incomplete,
    );
    if !header.certification {
        let _ = writeln!(
            html,
            "<p class=\"WARNING\"><strong>Not for certification:</strong> {}</p>",
            escape(&header.not_for_certification.join("; "))
        );
    }
}

/// The run: profile, target, URL, times and suite.
fn run_table(html: &mut String, header: &Header) {
    html.push_str("<table id=\"run\">\n");
    for (name, value) in [
        (
            "Profile",
            format!("{} {}", header.profile, header.profile_version),
        ),
        ("Profile SHA-256", header.profile_hash.clone()),
        (
            "Target",
            format!("{} ({} mode)", header.target, header.mode),
        ),
        ("URL", header.url.clone()),
        ("Started", header.started.clone()),
        ("Finished", header.finished.clone()),
        (
            "Suite",
            format!("{} ({})", header.suite_version, header.suite_commit),
        ),
    ] {
        let _ = writeln!(html, "<tr><th>{name}</th><td>{}</td></tr>", escape(&value));
    }
    html.push_str("</table>\n");
}

/// How many tests ended in each status.
fn summary(html: &mut String, report: &Report) {
    html.push_str("<h2>Summary</h2>\n<table id=\"summary\"><tr>");
    for status in Status::ALL {
        let _ = write!(html, "<th class=\"{status}\">{status}</th>");
    }
    html.push_str("</tr><tr>");
    for status in Status::ALL {
        let count = report.summary.get(&status).copied().unwrap_or_default();
        let _ = write!(html, "<td>{count}</td>");
    }
    html.push_str("</tr></table>\n");
}

/// Each requirement's status, with links to its tests.
fn by_requirement(html: &mut String, report: &Report) {
    html.push_str("<h2>By requirement</h2>\n<table id=\"requirements\">\n");
    html.push_str("<tr><th>Requirement</th><th>Status</th><th>Tests</th></tr>\n");
    let statuses = by_requirement_status(report);
    for (requirement, results) in report.by_requirement() {
        let status = statuses
            .get(requirement)
            .copied()
            .unwrap_or(Status::NotApplicable);
        let links: Vec<String> = results
            .iter()
            .map(|result| {
                format!(
                    "<a href=\"#{0}\">{0}</a> <small>{1}</small>",
                    escape(&result.id),
                    result.status
                )
            })
            .collect();
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"{status}\">{status}</td><td>{}</td></tr>",
            escape(requirement),
            links.join("<br>")
        );
    }
    html.push_str("</table>\n");
}

/// A list of requirements that kept the run from passing, each with the
/// tests why.
fn unmet(html: &mut String, id: &str, heading: &str, requirements: &[Unmet]) {
    if requirements.is_empty() {
        return;
    }
    let _ = writeln!(html, "<h2>{heading}</h2>\n<ul id=\"{id}\">");
    for requirement in requirements {
        let _ = write!(
            html,
            "<li><strong>{}</strong> <span class=\"{status}\">{status}</span><ul>",
            escape(&requirement.requirement),
            status = requirement.status
        );
        for (test, status, why) in &requirement.tests {
            let _ = write!(
                html,
                "<li><a href=\"#{0}\">{0}</a> <small>{status}</small>: {1}</li>",
                escape(test),
                escape(why)
            );
        }
        html.push_str("</ul></li>\n");
    }
    html.push_str("</ul>\n");
}

/// One test: its status, title, requirements, messages and timeline.
fn test(html: &mut String, result: &TestResult) {
    let _ = writeln!(
        html,
        "<details id=\"{id}\"{open}><summary><span class=\"{status}\">{status}</span> \
         <code>{id}</code>: {title}</summary>",
        id = escape(&result.id),
        open = if result.status.blocks_certification() {
            " open"
        } else {
            ""
        },
        status = result.status,
        title = escape(&result.title)
    );
    let _ = writeln!(
        html,
        "<p>Requirements: {}. Took {} ms.</p>",
        escape(&result.requirements.join(", ")),
        result.duration_ms
    );
    if let Some(reason) = &result.expected_failure {
        let _ = writeln!(html, "<p>Expected to fail: {}</p>", escape(reason));
    }
    if let Some(remedy) = &result.remedy {
        let _ = writeln!(
            html,
            "<p class=\"remedy\">To change: {}</p>",
            escape(&remedy.describe())
        );
    }
    if !result.messages.is_empty() {
        html.push_str("<ul>");
        for message in &result.messages {
            let _ = write!(html, "<li>{}</li>", escape(message));
        }
        html.push_str("</ul>\n");
    }
    if !result.evidence.is_empty() {
        timeline(html, &result.evidence);
    }
    html.push_str("</details>\n");
}

/// A test's exchanges in order: each request, its answer, the bodies, and
/// a curl command that repeats it.
fn timeline(html: &mut String, evidence: &[Exchange]) {
    html.push_str("<ol class=\"timeline\">\n");
    for exchange in evidence {
        let answer = match (exchange.status, &exchange.error) {
            (Some(status), _) => status.to_string(),
            (None, Some(error)) => format!("no answer: {error}"),
            (None, None) => "no answer".to_owned(),
        };
        let _ = writeln!(
            html,
            "<li><code>{} {}</code> → {} ({} ms)",
            escape(&exchange.method),
            escape(&exchange.url),
            escape(&answer),
            exchange.duration_ms
        );
        if let Some(body) = &exchange.request_body {
            let _ = writeln!(html, "<pre>{}</pre>", escape(body));
        }
        if let Some(body) = &exchange.response_body {
            let _ = writeln!(html, "<pre>{}</pre>", escape(body));
        }
        let _ = writeln!(html, "<pre>{}</pre></li>", escape(&exchange.curl()));
    }
    html.push_str("</ol>\n");
}
