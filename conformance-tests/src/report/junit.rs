//! `junit.xml`: the results in the JUnit XML form CI systems read. The
//! first test case is the run's verdict: a failure when it is FAIL, an
//! error when it is INCOMPLETE (listing what was not exercised). Each
//! test's requirement references and status are properties; FAIL is a
//! failure, ERROR an error, NOT_APPLICABLE and NOT_EXERCISED are skipped,
//! PASS and WARNING pass.

use std::fmt::Write;

use super::{Report, TestResult};
use crate::status::Status;
use crate::verdict::Outcome;

/// Renders the report as JUnit XML.
pub(super) fn render(report: &Report) -> String {
    let count = |wanted: &[Status]| {
        report
            .results
            .iter()
            .filter(|result| wanted.contains(&result.status))
            .count()
    };
    let outcome = report.verdict.outcome;
    let failures = count(&[Status::Fail]) + usize::from(outcome == Outcome::Fail);
    let errors = count(&[Status::Error]) + usize::from(outcome == Outcome::Incomplete);
    let skipped = count(&[Status::NotApplicable, Status::NotExercised]);
    let seconds: f64 = report
        .results
        .iter()
        .map(|result| result.duration_ms as f64 / 1000.0)
        .sum();
    let header = &report.header;
    let totals = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{seconds:.3}\"",
        report.results.len() + 1
    );
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(xml, "<testsuites name=\"sectorgate-conformance\" {totals}>");
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" {totals} timestamp=\"{}\">",
        escape(&format!("{} {}", header.profile, header.target)),
        escape(&header.started)
    );
    xml.push_str("    <properties>\n");
    property(&mut xml, 6, "verdict", outcome.as_str());
    property(
        &mut xml,
        6,
        "requirements_applicable",
        &report.verdict.applicable.to_string(),
    );
    property(
        &mut xml,
        6,
        "requirements_exercised",
        &report.verdict.exercised.to_string(),
    );
    for (name, value) in [
        ("suite_version", &header.suite_version),
        ("suite_commit", &header.suite_commit),
        ("profile", &header.profile),
        ("profile_version", &header.profile_version),
        ("profile_hash", &header.profile_hash),
        ("product", &header.product),
        ("product_version", &header.product_version),
        ("target", &header.target),
        ("mode", &header.mode),
        ("url", &header.url),
    ] {
        property(&mut xml, 6, name, value);
    }
    property(
        &mut xml,
        6,
        "certification",
        if header.certification {
            "true"
        } else {
            "false"
        },
    );
    xml.push_str("    </properties>\n");
    verdict(&mut xml, report);
    for result in &report.results {
        testcase(&mut xml, result);
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// The verdict as the first test case.
fn verdict(xml: &mut String, report: &Report) {
    let verdict = &report.verdict;
    let _ = writeln!(
        xml,
        "    <testcase classname=\"verdict\" name=\"verdict\" time=\"0.000\">"
    );
    let unmet: Vec<String> = verdict
        .failed
        .iter()
        .chain(&verdict.incomplete)
        .map(|unmet| {
            let tests: Vec<String> = unmet
                .tests
                .iter()
                .map(|(id, status, why)| format!("  {id} {status}: {why}"))
                .collect();
            format!(
                "{} {}\n{}",
                unmet.requirement,
                unmet.status,
                tests.join("\n")
            )
        })
        .collect();
    let (tag, outcome) = match verdict.outcome {
        Outcome::Pass => (None, "PASS"),
        Outcome::Fail => (Some("failure"), "FAIL"),
        Outcome::Incomplete => (Some("error"), "INCOMPLETE"),
    };
    if let Some(tag) = tag {
        let _ = writeln!(
            xml,
            "      <{tag} type=\"{outcome}\" message=\"{}\">{}</{tag}>",
            escape(&verdict.line()),
            escape(&unmet.join("\n"))
        );
    }
    xml.push_str("    </testcase>\n");
}

fn testcase(xml: &mut String, result: &TestResult) {
    let class = result
        .id
        .rsplit_once('.')
        .map_or(result.id.as_str(), |(class, _)| class);
    let _ = writeln!(
        xml,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
        escape(class),
        escape(&result.id),
        result.duration_ms as f64 / 1000.0
    );
    xml.push_str("      <properties>\n");
    property(xml, 8, "status", result.status.as_str());
    property(xml, 8, "title", &result.title);
    for requirement in &result.requirements {
        property(xml, 8, "requirement", requirement);
    }
    if let Some(reason) = &result.expected_failure {
        property(xml, 8, "expected_failure", reason);
    }
    if let Some(remedy) = &result.remedy {
        property(xml, 8, "remedy", &remedy.describe());
    }
    xml.push_str("      </properties>\n");
    let message = result.messages.first().map_or("", String::as_str);
    let detail = result.messages.join("\n");
    match result.status {
        Status::Fail => {
            let _ = writeln!(
                xml,
                "      <failure type=\"FAIL\" message=\"{}\">{}</failure>",
                escape(message),
                escape(&detail)
            );
        }
        Status::Error => {
            let _ = writeln!(
                xml,
                "      <error type=\"ERROR\" message=\"{}\">{}</error>",
                escape(message),
                escape(&detail)
            );
        }
        Status::NotApplicable | Status::NotExercised => {
            let _ = writeln!(
                xml,
                "      <skipped message=\"{}: {}\"/>",
                result.status,
                escape(message)
            );
        }
        Status::Pass | Status::Warning => {}
    }
    let mut out = detail;
    for exchange in &result.evidence {
        out.push('\n');
        out.push_str(&exchange.curl());
    }
    if !out.is_empty() {
        let _ = writeln!(xml, "      <system-out>{}</system-out>", escape(&out));
    }
    xml.push_str("    </testcase>\n");
}

fn property(xml: &mut String, indent: usize, name: &str, value: &str) {
    let _ = writeln!(
        xml,
        "{:indent$}<property name=\"{}\" value=\"{}\"/>",
        "",
        escape(name),
        escape(value)
    );
}

/// Escapes text for XML content and attributes; characters XML 1.0 cannot
/// hold at all become U+FFFD.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
