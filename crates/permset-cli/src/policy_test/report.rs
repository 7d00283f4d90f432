//! The three outputs of `permset test`: text for people (failures with
//! `FILE:LINE:` and the explanation, coverage, then the summary line
//! `N passed, N failed`), JSON for tools, and JUnit XML for CI systems.

use std::fmt::Write as _;

use serde::Serialize;

use super::coverage::{shown, Summary};
use super::run::{Failure, SuiteResult};

/// Everything a run produced.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) suites: Vec<SuiteResult>,
    pub(crate) coverage: Summary,
    pub(crate) min_coverage: Option<f64>,
}

impl Report {
    pub(crate) fn passed(&self) -> usize {
        self.suites.iter().flat_map(|s| &s.cases).filter(|c| c.passed()).count()
    }

    pub(crate) fn failed(&self) -> usize {
        self.suites.iter().flat_map(|s| &s.cases).filter(|c| !c.passed()).count()
    }

    /// Whether grant coverage is below `--min-coverage`.
    pub(crate) fn coverage_too_low(&self) -> bool {
        self.min_coverage.is_some_and(|min| self.coverage.grant_percent < min)
    }

    pub(crate) fn ok(&self) -> bool {
        self.failed() == 0 && !self.coverage_too_low()
    }

    fn coverage_message(&self) -> Option<String> {
        let min = self.min_coverage.filter(|_| self.coverage_too_low())?;
        Some(format!("grant coverage {} is below --min-coverage {min}", shown(self.coverage.grant_percent)))
    }
}

/// The explanations of a failure as indented text.
fn details(failure: &Failure) -> String {
    let mut out = String::new();
    for labeled in &failure.explanations {
        let indent = match &labeled.record {
            Some(id) => {
                let _ = writeln!(out, "    record `{id}`:");
                "      "
            }
            None => "    ",
        };
        for line in labeled.explanation.to_string().lines() {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
    out
}

/// The text report; the last line is the summary.
pub(crate) fn text(report: &Report) -> String {
    let mut out = String::new();
    for suite in &report.suites {
        for case in &suite.cases {
            for failure in &case.failures {
                let _ =
                    writeln!(out, "{}:{}: case {}: {}", suite.file, failure.line, case.name, failure.message);
                out.push_str(&details(failure));
            }
        }
    }
    let c = &report.coverage;
    let _ = writeln!(
        out,
        "grant coverage: {} ({} of {} grants exercised)",
        shown(c.grant_percent),
        c.grants_exercised,
        c.grants_total
    );
    for g in &c.grants_not_exercised {
        let _ = writeln!(out, "  not exercised: role `{}` grants `{}` {}", g.role, g.permission, g.access);
    }
    let _ = writeln!(
        out,
        "access rule coverage: {} ({} of {} rules evaluated)",
        shown(c.rule_percent),
        c.rules_evaluated,
        c.rules_total
    );
    for r in &c.rules_not_evaluated {
        let _ = writeln!(out, "  not evaluated: access rule `{}` of `{}`", r.rule, r.object);
    }
    if let Some(message) = report.coverage_message() {
        let _ = writeln!(out, "{message}");
    }
    let _ = writeln!(out, "{} passed, {} failed", report.passed(), report.failed());
    out
}

/// The JSON report: the suites with their cases and failures (explanations
/// included), coverage with its lists, and the totals.
pub(crate) fn json(report: &Report) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        report: &'a Report,
        passed: usize,
        failed: usize,
        ok: bool,
    }
    let out = Out { report, passed: report.passed(), failed: report.failed(), ok: report.ok() };
    Ok(serde_json::to_string_pretty(&out)? + "\n")
}

/// Escapes text for XML content and attribute values, dropping characters
/// XML 1.0 cannot hold at all (control characters other than tab and newlines).
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `<testsuite>` per suite file, one `<testcase>` per case
/// (with `file` and `line`), a `<failure>` holding every unmet expectation
/// and its explanation; then a `permset coverage` suite whose properties
/// are the coverage figures and which, with `--min-coverage`, holds one
/// test case that fails below the minimum.
pub(crate) fn junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let min_cases = usize::from(report.min_coverage.is_some());
    let low = usize::from(report.coverage_too_low());
    let _ = writeln!(
        out,
        "<testsuites name=\"permset test\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
        report.passed() + report.failed() + min_cases,
        report.failed() + low
    );
    for suite in &report.suites {
        let failed = suite.cases.iter().filter(|c| !c.passed()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">",
            xml(&suite.file),
            suite.cases.len()
        );
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"",
                xml(&case.name),
                xml(&suite.file),
                xml(&suite.file),
                case.line
            );
            let Some(first) = case.failures.first() else {
                out.push_str("/>\n");
                continue;
            };
            out.push_str(">\n");
            let mut body = String::new();
            for failure in &case.failures {
                let _ = writeln!(
                    body,
                    "{}:{}: case {}: {}",
                    suite.file, failure.line, case.name, failure.message
                );
                body.push_str(&details(failure));
            }
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"permset\">{}</failure>",
                xml(&first.message),
                xml(&body)
            );
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    let c = &report.coverage;
    let _ = writeln!(
        out,
        "  <testsuite name=\"permset coverage\" tests=\"{min_cases}\" failures=\"{low}\" errors=\"0\" skipped=\"0\">"
    );
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("grant_coverage_percent", format!("{:.1}", (c.grant_percent * 10.0).floor() / 10.0)),
        ("grants_total", c.grants_total.to_string()),
        ("grants_exercised", c.grants_exercised.to_string()),
        ("access_rule_coverage_percent", format!("{:.1}", (c.rule_percent * 10.0).floor() / 10.0)),
        ("access_rules_total", c.rules_total.to_string()),
        ("access_rules_evaluated", c.rules_evaluated.to_string()),
    ] {
        let _ = writeln!(out, "      <property name=\"{name}\" value=\"{value}\"/>");
    }
    out.push_str("    </properties>\n");
    if let Some(min) = report.min_coverage {
        let _ = write!(
            out,
            "    <testcase name=\"grant coverage at least {min}%\" classname=\"permset coverage\""
        );
        match report.coverage_message() {
            None => out.push_str("/>\n"),
            Some(message) => {
                let list: Vec<String> = c
                    .grants_not_exercised
                    .iter()
                    .map(|g| format!("role `{}` grants `{}` {}", g.role, g.permission, g.access))
                    .collect();
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"coverage\">not exercised:\n{}</failure>\n    </testcase>",
                    xml(&message),
                    xml(&list.join("\n"))
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
