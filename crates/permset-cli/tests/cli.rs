//! The real `permset` binary on workspace files: exit codes (0 for an answer,
//! 1 for lint errors, 2 for bad input), output formats and error messages.

use std::path::PathBuf;
use std::process::{Command, Output};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/support.yaml")
}

fn permset(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_permset"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn check(extra: &[&str]) -> Output {
    let file = example();
    let mut args = vec!["check", file.to_str().unwrap_or_default()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--at", "2026-06-01T00:00:00Z"]);
    permset(&args)
}

#[test]
fn check_allow_prints_allow_first_and_exits_zero() {
    let o = check(&["--user", "bob", "--permission", "customers_update", "--record", r#"{"tier":"vip"}"#]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().next(), Some("allow"));
}

#[test]
fn check_deny_prints_deny_first_and_exits_zero() {
    // Once bob's night_shift assignment has expired, Set A and Set B alone
    // do not let him move a VIP customer to Basic.
    let file = example();
    let o = permset(&[
        "check",
        file.to_str().unwrap_or_default(),
        "--user",
        "bob",
        "--permission",
        "customers_update",
        "--before",
        r#"{"tier":"vip"}"#,
        "--record",
        r#"{"tier":"basic"}"#,
        "--at",
        "2027-06-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().next(), Some("deny"));
}

#[test]
fn check_limited_module_question() {
    let o = check(&["--user", "carla", "--permission", "conversations_view"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().next(), Some("allow"));
    assert!(out.contains("limited"), "{out}");
}

/// Runs `command` (`check` or `explain`) on the example file.
fn decide(command: &str, extra: &[&str]) -> Output {
    let file = example();
    let mut args = vec![command, file.to_str().unwrap_or_default()];
    args.extend_from_slice(extra);
    permset(&args)
}

#[test]
fn unknown_permission_or_user_is_an_input_error_not_a_deny() {
    for command in ["check", "explain"] {
        let o = decide(command, &["--user", "bob", "--permission", "contact_view"]);
        assert_eq!(o.status.code(), Some(2), "{command}: {}", stdout(&o));
        assert!(stdout(&o).is_empty(), "{command} printed a decision: {}", stdout(&o));
        assert!(
            stderr(&o).contains("unknown permission `contact_view`; did you mean `contacts_view`?"),
            "{command}: {}",
            stderr(&o)
        );
        let o = decide(command, &["--user", "bobb", "--permission", "customers_view"]);
        assert_eq!(o.status.code(), Some(2), "{command}: {}", stdout(&o));
        assert!(stdout(&o).is_empty(), "{command} printed a decision: {}", stdout(&o));
        assert!(stderr(&o).contains("unknown user `bobb`; did you mean `bob`?"), "{command}: {}", stderr(&o));
        // An alias is a known permission.
        let o = decide(command, &["--user", "bob", "--permission", "customers_edit"]);
        assert_eq!(o.status.code(), Some(0), "{command}: {}", stderr(&o));
    }
}

#[test]
fn bad_json_record_exits_two_with_a_message() {
    let o = check(&["--user", "bob", "--permission", "customers_view", "--record", "{tier: vip"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("--record is not valid JSON"), "{}", stderr(&o));
}

#[test]
fn non_object_record_exits_two() {
    let o = check(&["--user", "bob", "--permission", "customers_view", "--record", "[1,2]"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("JSON object"), "{}", stderr(&o));
}

#[test]
fn bad_at_exits_two_with_a_message() {
    let file = example();
    let o = permset(&[
        "check",
        file.to_str().unwrap_or_default(),
        "--user",
        "bob",
        "--permission",
        "customers_view",
        "--at",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("--at `yesterday`") && err.contains("RFC 3339"), "{err}");
}

#[test]
fn missing_file_exits_two_with_a_message() {
    let o = permset(&["check", "/nonexistent/ws.yaml", "--user", "bob", "--permission", "customers_view"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read `/nonexistent/ws.yaml`"), "{}", stderr(&o));
    let o = permset(&["lint", "/nonexistent/ws.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/ws.yaml"), "{}", stderr(&o));
}

#[test]
fn lint_example_exits_zero() {
    let file = example();
    let o = permset(&["lint", file.to_str().unwrap_or_default()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains(": error:"), "{}", stdout(&o));
}

#[test]
fn lint_errors_exit_one_with_file_line_lines() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "workspace: w\nroles:\n  r:\n    grants:\n      contact_view: all\n      customers_delete: all\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let shown = path.to_str().unwrap_or_default();
    let o = permset(&["lint", shown]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l
            == format!("{shown}:5: error: unknown permission `contact_view`; did you mean `contacts_view`?")),
        "{out}"
    );
    for line in out.lines() {
        let rest = line.strip_prefix(&format!("{shown}:")).unwrap_or_else(|| panic!("bad line {line}"));
        let (number, message) = rest.split_once(": ").unwrap_or_else(|| panic!("bad line {line}"));
        assert!(number.parse::<usize>().is_ok(), "{line}");
        assert!(message.starts_with("error: ") || message.starts_with("warning: "), "{line}");
    }
}

#[test]
fn lint_structural_errors_exit_one() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "workspace: w\nuserz: {}\n").unwrap_or_else(|e| panic!("{e}"));
    let shown = path.to_str().unwrap_or_default();
    let o = permset(&["lint", shown]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with(&format!("{shown}:2: error: unknown key `userz`")), "{}", stdout(&o));
}

#[test]
fn explain_json_parses() {
    let file = example();
    for user in ["bob", "tom", "carla"] {
        let o = permset(&[
            "explain",
            file.to_str().unwrap_or_default(),
            "--user",
            user,
            "--permission",
            "customers_update",
            "--record",
            r#"{"tier":"basic"}"#,
            "--at",
            "2026-06-01T00:00:00Z",
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", stdout(&o)));
        assert!(v["decision"]["allowed"].is_boolean(), "{v}");
        assert!(v["near_misses"].is_array() && v["path"].is_array(), "{v}");
    }
}

#[test]
fn explain_text_starts_with_the_decision() {
    let file = example();
    let o = permset(&[
        "explain",
        file.to_str().unwrap_or_default(),
        "--user",
        "tom",
        "--permission",
        "orders_update",
        "--at",
        "2026-06-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("deny: `orders_update` for `tom`"), "{}", stdout(&o));
}

#[test]
fn permissions_prints_a_table_with_a_header() {
    let file = example();
    let o = permset(&[
        "permissions",
        file.to_str().unwrap_or_default(),
        "--user",
        "carla",
        "--at",
        "2026-06-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let header: Vec<&str> = out.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["module", "view", "create", "update", "delete", "export", "other"]);
    let conversations = out.lines().find(|l| l.starts_with("conversations ")).unwrap_or_default();
    assert!(conversations.contains("where:requester == user.id"), "{out}");
}

#[test]
fn permissions_unknown_user_exits_two() {
    let file = example();
    let o = permset(&["permissions", file.to_str().unwrap_or_default(), "--user", "bobb"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown user `bobb`; did you mean `bob`?"), "{}", stderr(&o));
}
