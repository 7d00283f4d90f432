//! Running a suite's cases against a compiled workspace: each case's
//! decisions, their explanations (kept for failures and for coverage), and
//! a result per case.
//!
//! The oracle for lists is the engine's own: `Snapshot::may_list` (rule 9)
//! and `Snapshot::view_predicate` evaluated with `Expr::matches`, the same
//! predicate the store turns into SQL and is tested against.

use permset_core::{Decision, Explanation, Record, Request, Snapshot};
use serde::Serialize;

use super::coverage::Coverage;
use super::suite::{Case, CaseKind, Expect, Suite};

/// One unmet expectation of a case.
#[derive(Debug, Serialize)]
pub(crate) struct Failure {
    /// The line of what failed (the case, or the field).
    pub(crate) line: usize,
    /// `expected deny, got allow`, without the file and case.
    pub(crate) message: String,
    /// The explanations behind it (one decision, or one per differing list record).
    pub(crate) explanations: Vec<Labeled>,
}

/// An explanation, with what it is about when a case makes several decisions.
#[derive(Debug, Serialize)]
pub(crate) struct Labeled {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) record: Option<String>,
    pub(crate) explanation: Explanation,
}

/// The outcome of one case.
#[derive(Debug, Serialize)]
pub(crate) struct CaseResult {
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) failures: Vec<Failure>,
}

impl CaseResult {
    pub(crate) fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The outcome of one suite.
#[derive(Debug, Serialize)]
pub(crate) struct SuiteResult {
    pub(crate) file: String,
    pub(crate) cases: Vec<CaseResult>,
}

fn shown(decision: Decision) -> &'static str {
    match decision {
        Decision::Deny => "deny",
        Decision::Allow => "allow",
        Decision::AllowLimited => "limited",
    }
}

fn meets(expect: Expect, decision: Decision) -> bool {
    match expect {
        Expect::Deny => !decision.is_allowed(),
        Expect::Allow { limited: None } => decision.is_allowed(),
        Expect::Allow { limited: Some(limited) } => decision.is_allowed() && decision.is_limited() == limited,
    }
}

/// Runs every case of a suite, recording what each decision exercised.
pub(crate) fn run_suite(suite: &Suite, snapshot: &Snapshot, coverage: &mut Coverage<'_>) -> SuiteResult {
    let cases = suite.cases.iter().map(|case| run_case(case, suite, snapshot, coverage)).collect();
    SuiteResult { file: suite.file.clone(), cases }
}

fn run_case(case: &Case, suite: &Suite, snapshot: &Snapshot, coverage: &mut Coverage<'_>) -> CaseResult {
    let mut failures = Vec::new();
    let user = case.user.as_str();
    let object = match &case.kind {
        CaseKind::Decision { permissions, record, before, expect } => {
            for permission in permissions {
                let request = Request {
                    user,
                    permission,
                    record: record.as_ref(),
                    before: before.as_ref(),
                    now: case.at,
                };
                let explanation = snapshot.explain(&request, &[]);
                coverage.observe(&explanation);
                if !meets(*expect, explanation.decision) {
                    // With several permissions, the message names the one that failed.
                    let which =
                        if permissions.len() > 1 { format!(" for `{permission}`") } else { String::new() };
                    failures.push(Failure {
                        line: case.line,
                        message: format!(
                            "expected {}, got {}{which}",
                            expect.describe(),
                            shown(explanation.decision)
                        ),
                        explanations: vec![Labeled { record: None, explanation }],
                    });
                }
            }
            permissions.first().and_then(|p| super::coverage::object_of(snapshot, p))
        }
        CaseKind::List { object, ids } => {
            if let Some(failure) = run_list(case, object, ids, suite, snapshot, coverage) {
                failures.push(failure);
            }
            Some(object.clone())
        }
        CaseKind::Fields { object } => Some(object.clone()),
    };
    if let Some(object) = object {
        for (field, wanted, line) in &case.fields {
            let got = snapshot.field_level(user, &object, field, case.at);
            if got != *wanted {
                failures.push(Failure {
                    line: *line,
                    message: format!("field `{field}`: expected {}, got {}", wanted.as_str(), got.as_str()),
                    explanations: Vec::new(),
                });
            }
        }
    }
    CaseResult { name: case.name.clone(), line: case.line, failures }
}

/// A list case: the fixture records the list returns, against the expected ids.
fn run_list(
    case: &Case,
    object: &str,
    wanted: &[String],
    suite: &Suite,
    snapshot: &Snapshot,
    coverage: &mut Coverage<'_>,
) -> Option<Failure> {
    let fixtures: &[(String, Record)] = suite.records.get(object).map_or(&[], Vec::as_slice);
    let may_list = snapshot.may_list(case.user.as_str(), object, case.at);
    let predicate = snapshot.view_predicate(case.user.as_str(), object, case.at);
    let view = format!("{object}_view");
    let mut got = Vec::new();
    let mut explanations = Vec::new();
    for (id, record) in fixtures {
        let listed = may_list && predicate.matches(record);
        if listed {
            got.push(id.as_str());
        }
        // Listing decides view of each record; explain it for coverage, and
        // keep the explanation of any record the expectation disagrees on.
        let explanation = may_list.then(|| {
            let e = snapshot.explain(&Request::new(case.user.as_str(), &view, case.at).on(record), &[]);
            coverage.observe(&e);
            e
        });
        if listed != wanted.contains(id) {
            let explanation = explanation.unwrap_or_else(|| {
                snapshot.explain(&Request::new(case.user.as_str(), &view, case.at).on(record), &[])
            });
            explanations.push(Labeled { record: Some(id.clone()), explanation });
        }
    }
    if explanations.is_empty() {
        return None;
    }
    // Expected ids in fixture order, so both lists read alike.
    let expected: Vec<&str> =
        fixtures.iter().map(|(id, _)| id.as_str()).filter(|id| wanted.iter().any(|w| w == id)).collect();
    let note = if may_list { "" } else { " (the user may not list this object at all: rule 9)" };
    Some(Failure {
        line: case.line,
        message: format!("expected ids [{}], got [{}]{note}", expected.join(", "), got.join(", ")),
        explanations,
    })
}
