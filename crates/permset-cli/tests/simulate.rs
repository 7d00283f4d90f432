//! `permset simulate NEW --against OLD`: the real binary on two small files.

use std::path::Path;
use std::process::{Command, Output};

const OLD: &str = r#"
workspace: acme
users: { ann: {}, bob: {} }
roles:
  desk:
    grants: { customers_view: own, customers_update: own }
assignments:
  users: { ann: [desk], bob: [desk] }
"#;

/// `desk` sees every customer and can no longer update; bob loses `desk`.
const NEW: &str = r#"
workspace: acme
users: { ann: {}, bob: {} }
roles:
  desk:
    grants: { customers_view: all }
assignments:
  users: { ann: [desk] }
"#;

fn simulate(dir: &Path, old: &str, new: &str, extra: &[&str]) -> Output {
    let (o, n) = (dir.join("old.yaml"), dir.join("new.yaml"));
    std::fs::write(&o, old).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&n, new).unwrap_or_else(|e| panic!("{e}"));
    Command::new(env!("CARGO_BIN_EXE_permset"))
        .arg("simulate")
        .arg(&n)
        .arg("--against")
        .arg(&o)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run: {e}"))
}

#[test]
fn shows_the_plan_and_who_gains_or_loses_what() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = simulate(dir.path(), OLD, NEW, &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert!(!json["plan"]["changes"].as_array().is_none_or(Vec::is_empty), "{json}");
    let rows: Vec<(String, String, String, String)> = json["access_changes"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"))
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("-").to_owned();
            (s("user"), s("permission"), s("before"), s("after"))
        })
        .collect();
    let row = |u: &str, p: &str, b: &str, a: &str| (u.to_owned(), p.to_owned(), b.to_owned(), a.to_owned());
    assert_eq!(
        rows,
        vec![
            row("ann", "customers_update", "own", "-"),
            row("ann", "customers_view", "own", "all"),
            row("bob", "customers_update", "own", "-"),
            row("bob", "customers_view", "own", "-"),
        ]
    );

    let text = simulate(dir.path(), OLD, NEW, &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("plan: "), "{text}");
    assert!(text.contains("customers_view    own → all"), "{text}");
    assert!(text.contains("access: 4 change(s) for 2 user(s)"), "{text}");

    // Two versions of different workspaces are refused, exit code 2 like every input error.
    let other = NEW.replace("workspace: acme", "workspace: other");
    let out = simulate(dir.path(), OLD, &other, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("workspace `other`"));
}
