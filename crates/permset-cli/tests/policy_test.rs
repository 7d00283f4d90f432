//! `permset test` and `permset plan` through the real binary: a suite that
//! passes, one that fails with exact `FILE:LINE:` messages and exit 1, bad
//! input with exit 2, JUnit parsed as XML, coverage figures on a workspace
//! (tests/policy/cov.yaml) where they are known exactly, suite discovery,
//! and the Markdown plan.
//!
//! tests/policy/cov.yaml counts 7 grants: `viewer` (custom, assigned)
//! `customers_view` rule:vip and own, `customers_update` rule:vip; `spare`
//! (custom, assigned to nobody: counted) `customers_export` all; the system
//! role `contributor` (assigned to ben) views conversations, customers and
//! companies. Unassigned system roles are not counted.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/policy")
}

/// Runs `permset` in tests/policy, so that file names in messages are short and exact.
fn permset_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_permset"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run: {e}"))
}

fn permset(args: &[&str]) -> Output {
    permset_in(&dir(), args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_passing_suite_exits_zero_with_exact_coverage() {
    let o = permset(&["test", "cov.yaml", "cov.permset-test.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let expected = "\
grant coverage: 42.8% (3 of 7 grants exercised)
  not exercised: role `contributor` grants `companies_view` all
  not exercised: role `contributor` grants `conversations_view` all
  not exercised: role `spare` grants `customers_export` all
  not exercised: role `viewer` grants `customers_view` own
access rule coverage: 50.0% (1 of 2 rules evaluated)
  not evaluated: access rule `unused` of `customers`
5 passed, 0 failed
";
    assert_eq!(stdout(&o), expected);
}

#[test]
fn a_module_question_on_a_limited_grant_exercises_no_limit() {
    // Only the module question about `customers_update`: the limited grant
    // answers it, but no condition was evaluated, so nothing is covered.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(dir().join("cov.yaml"), tmp.path().join("cov.yaml")).unwrap();
    std::fs::write(
        tmp.path().join("cov.permset-test.yaml"),
        "at: 2026-06-01T00:00:00Z\ncases:\n  - { name: m, user: ann, permission: customers_update, expect: limited }\n",
    )
    .unwrap();
    let o = permset_in(tmp.path(), &["test", "cov.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("grant coverage: 0.0% (0 of 7 grants exercised)\n"), "{}", stdout(&o));
    assert!(stdout(&o).contains("access rule coverage: 0.0% (0 of 2 rules evaluated)"), "{}", stdout(&o));
}

#[test]
fn min_coverage_fails_the_run_below_the_figure() {
    let ok = permset(&["test", "cov.yaml", "cov.permset-test.yaml", "--min-coverage", "42.8"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    let low = permset(&["test", "cov.yaml", "cov.permset-test.yaml", "--min-coverage", "43"]);
    assert_eq!(low.status.code(), Some(1), "{}", stdout(&low));
    let out = stdout(&low);
    assert!(out.contains("grant coverage 42.8% is below --min-coverage 43\n"), "{out}");
    assert!(out.ends_with("5 passed, 0 failed\n"), "{out}");
    let bad = permset(&["test", "cov.yaml", "cov.permset-test.yaml", "--min-coverage", "120"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_failing_suite_names_file_line_and_case_then_explains() {
    let o = permset(&["test", "cov.yaml", "fail.permset-test.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..7],
        [
            "fail.permset-test.yaml:8: case ann views a vip customer: expected deny, got allow",
            "    allow: `customers_view` for `ann` at revision 0",
            "      `customers_view` on the record: role `viewer` (directly) grants `rule:vip`; matched: tier = \"vip\"",
            "fail.permset-test.yaml:9: case ann lists customers: expected ids [c1], got [c1, c2]",
            "    record `c2`:",
            "      allow: `customers_view` for `ann` at revision 0",
            "        `customers_view` on the record: role `viewer` (directly) grants `own`; matched: assignee = \"ann\"",
        ]
    );
    assert_eq!(
        lines[7],
        "fail.permset-test.yaml:14: case ann's field levels: field `tier`: expected none, got edit"
    );
    assert_eq!(lines.last(), Some(&"1 passed, 3 failed"));
}

#[test]
fn a_deny_failure_shows_the_near_misses() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(dir().join("cov.yaml"), tmp.path().join("cov.yaml")).unwrap();
    std::fs::write(
        tmp.path().join("cov.permset-test.yaml"),
        "cases:\n  - name: expects too much\n    user: ann\n    permission: customers_view\n    \
         record: { tier: basic }\n    at: 2026-06-01T00:00:00Z\n    expect: allow\n",
    )
    .unwrap();
    let o = permset_in(tmp.path(), &["test", "cov.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.starts_with("cov.permset-test.yaml:2: case expects too much: expected allow, got deny\n"),
        "{out}"
    );
    assert!(out.contains("only for `rule:vip`, false for the record: tier = \"basic\""), "{out}");
}

#[test]
fn unknown_names_are_bad_input_with_suggestions() {
    // An unknown permission is always a deny: without this check a misspelt
    // `expect: deny` case would pass and hide a real grant.
    let o = permset(&["test", "cov.yaml", "bad.permset-test.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    for wanted in [
        "bad.permset-test.yaml:2: unknown user `anne`; did you mean `ann`?",
        "bad.permset-test.yaml:3: unknown permission `customer_view`; did you mean `customers_view`?",
        "bad.permset-test.yaml:4: unknown key `expected` in a case; did you mean `expect`?",
        "bad.permset-test.yaml:4: `customers` has no field `teir`; did you mean `tier`?",
    ] {
        assert!(err.contains(wanted), "missing `{wanted}` in:\n{err}");
    }
    assert!(stdout(&o).is_empty(), "no partial report on bad input: {}", stdout(&o));
}

#[test]
fn bad_yaml_and_missing_suites_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(dir().join("cov.yaml"), tmp.path().join("cov.yaml")).unwrap();
    let none = permset_in(tmp.path(), &["test", "cov.yaml"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("no test suites for `cov.yaml`"), "{}", stderr(&none));
    std::fs::write(tmp.path().join("cov.permset-test.yaml"), "cases:\n  - &a { name: x }\n").unwrap();
    let o = permset_in(tmp.path(), &["test", "cov.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cov.permset-test.yaml:2: anchors"), "{}", stderr(&o));
    std::fs::write(
        tmp.path().join("cov.permset-test.yaml"),
        "cases:\n  - { name: x, user: ann, permission: customers_view, expect: allow }\n  \
         - { name: x, user: ben, permission: customers_view, expect: allow }\n",
    )
    .unwrap();
    let dup = permset_in(tmp.path(), &["test", "cov.yaml"]);
    assert_eq!(dup.status.code(), Some(2));
    assert!(stderr(&dup).contains("cov.permset-test.yaml:3: two cases are named `x`"), "{}", stderr(&dup));
}

#[test]
fn suites_are_found_beside_the_workspace_by_its_stem() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(dir().join("cov.yaml"), tmp.path().join("cov.yaml")).unwrap();
    std::fs::copy(dir().join("cov.permset-test.yaml"), tmp.path().join("cov.permset-test.yaml")).unwrap();
    std::fs::copy(dir().join("cov.permset-test.yaml"), tmp.path().join("cov-more.permset-test.yaml"))
        .unwrap();
    // Another workspace's suite (stem `cov2`) and a failing one: neither is picked up.
    std::fs::copy(dir().join("fail.permset-test.yaml"), tmp.path().join("cov2.permset-test.yaml")).unwrap();
    let o = permset_in(tmp.path(), &["test", "cov.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).ends_with("10 passed, 0 failed\n"), "{}", stdout(&o));
}

#[test]
fn junit_is_well_formed_xml_with_lines_and_failures() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(dir().join("cov.yaml"), tmp.path().join("cov.yaml")).unwrap();
    // A hostile case name must not break the document.
    let suite = std::fs::read_to_string(dir().join("fail.permset-test.yaml")).unwrap().replace(
        "name: ann views a vip customer",
        "name: \"ann <views> & \\\"a\\\" ]]> vip\\u0001 customer\"",
    );
    std::fs::write(tmp.path().join("s.permset-test.yaml"), suite).unwrap();
    let o = permset_in(
        tmp.path(),
        &["test", "cov.yaml", "s.permset-test.yaml", "--format", "junit", "--min-coverage", "50"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let xml = stdout(&o);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("not XML: {e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("5"));
    assert_eq!(root.attribute("failures"), Some("4"));
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 5);
    let first = cases[0];
    assert_eq!(first.attribute("name"), Some("ann <views> & \"a\" ]]> vip customer"));
    assert_eq!(first.attribute("line"), Some("8"));
    assert_eq!(first.attribute("file"), Some("s.permset-test.yaml"));
    let failure = first.children().find(|n| n.has_tag_name("failure")).unwrap();
    assert_eq!(failure.attribute("message"), Some("expected deny, got allow"));
    assert!(failure.text().unwrap_or_default().contains("role `viewer` (directly) grants `rule:vip`"));
    assert!(cases[3].children().all(|n| !n.has_tag_name("failure")), "ben's case passes");
    let coverage = cases[4];
    assert_eq!(coverage.attribute("name"), Some("grant coverage at least 50%"));
    let message = coverage.children().find(|n| n.has_tag_name("failure")).unwrap().attribute("message");
    assert_eq!(message, Some("grant coverage 42.8% is below --min-coverage 50"));
    let property = doc
        .descendants()
        .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("grants_total"))
        .unwrap();
    assert_eq!(property.attribute("value"), Some("7"));
}

#[test]
fn junit_to_a_file_leaves_the_text_report_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report.xml");
    let o = permset(&[
        "test",
        "cov.yaml",
        "cov.permset-test.yaml",
        "--format",
        "junit",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).ends_with("5 passed, 0 failed\n"));
    let xml = std::fs::read_to_string(&out).unwrap();
    roxmltree::Document::parse(&xml).unwrap();
}

#[test]
fn json_report_for_tools() {
    let o = permset(&["test", "cov.yaml", "fail.permset-test.yaml", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64(), v["ok"].as_bool()),
        (Some(1), Some(3), Some(false))
    );
    assert_eq!(v["coverage"]["grants_total"], 7);
    assert_eq!(v["coverage"]["grants_exercised"], 3);
    let first = &v["suites"][0]["cases"][0];
    assert_eq!(first["line"], 8);
    assert_eq!(first["failures"][0]["message"], "expected deny, got allow");
    assert_eq!(first["failures"][0]["explanations"][0]["explanation"]["path"][0]["role"], "viewer");
}

#[test]
fn the_shipped_example_suite_passes_with_80_percent_coverage() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let o = permset_in(&root, &["test", "examples/support.yaml", "--min-coverage", "80"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).lines().last().is_some_and(|l| l.ends_with(" passed, 0 failed")));
}

#[test]
fn offline_plan_as_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let old = std::fs::read_to_string(dir().join("cov.yaml")).unwrap();
    // A grant narrowed, an assignment added, a rule changed whose text tries
    // to inject a link, HTML and a heading into the pull request.
    let new = old
        .replace("customers_update: { rule: vip }", "customers_update: own")
        .replace("ben: [contributor]", "ben: [contributor, spare]")
        .replace(
            "unused: 'tier == \"basic\"'",
            "unused: 'tier == \"basic\" or name == \"`[x](http://e.vil) <b>\"'",
        );
    std::fs::write(tmp.path().join("old.yaml"), old).unwrap();
    std::fs::write(tmp.path().join("new.yaml"), new).unwrap();
    let o = permset_in(tmp.path(), &["plan", "new.yaml", "--against", "old.yaml", "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected = "\
### permset plan for `cov`

**3 changes**: roles 1, assignments 1, access rules 1.

#### Roles

- **changed** role `viewer` grant `customers_update` changed from `rule:vip` to `own` (`roles.viewer.grants.customers_update`)

#### Assignments

- **added** role `spare` assigned to user `ben` (`assignments.users.ben`)

#### Access rules

- **changed** access rule `unused` of `customers` changed from `tier == \"basic\"` to `tier == \"basic\" or name == \"`\\[x\\]\\(http\\://e.vil\\) \\<b\\>\"\\` (`access_rules.customers.unused`)

#### Who gains or loses

- `ann`: `customers_update` `rule:vip` → `own`
- `ben`: `customers_export` `none` → `all`
";
    assert_eq!(stdout(&o), expected);
    let text = permset_in(tmp.path(), &["plan", "new.yaml", "--against", "old.yaml"]);
    assert!(stdout(&text).ends_with("plan: 3 change(s)\n"), "{}", stdout(&text));
    let same = permset_in(tmp.path(), &["plan", "old.yaml", "--against", "old.yaml", "--format", "markdown"]);
    assert_eq!(stdout(&same), "### permset plan for `cov`\n\nNo changes.\n");
    let json = permset_in(tmp.path(), &["plan", "new.yaml", "--against", "old.yaml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["changes"][2]["path"], "assignments.users.ben");
}
