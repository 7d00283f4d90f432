//! The admin console in a real browser: Debian's Chromium driven by
//! Playwright (`tests/browser/console.mjs`) against the real server on a
//! temporary SQLite file with the example support workspace. Each step of the
//! scenario prints `ok N` or `not ok N`; any failure fails this test.
//!
//! Without `/usr/bin/chromium` (or `CHROMIUM`), `node`, or
//! `tests/browser/node_modules` the test prints a SKIP line and passes —
//! unless `CI` is set, where it fails (`.ci/run` installs all three).
//! Screenshots of each page go to `target/console-screenshots/`, or with
//! `PERMSET_UPDATE_SCREENSHOTS=1` to `docs/admin/` (the user guide shows them).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use permset_store::Store;
use reqwest::StatusCode;
use serde_json::json;

const WORKSPACE: &str = include_str!("../../../examples/support.yaml");

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// What is missing to run the browser, if anything.
fn missing(browser_dir: &Path, chromium: &Path) -> Option<String> {
    if !chromium.exists() {
        return Some(format!("no chromium at `{}` (apt-get install -y chromium)", chromium.display()));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no `node` on PATH".into());
    }
    for package in ["playwright-core", "axe-core"] {
        if !browser_dir.join("node_modules").join(package).exists() {
            return Some(format!("no `{package}` in {} (npm ci there)", browser_dir.display()));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_scenario_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser_dir = root.join("tests/browser");
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if let Some(why) = missing(&browser_dir, &chromium) {
        assert!(!in_ci(), "the browser test may not be skipped in CI: {why}");
        eprintln!("SKIP console: {why}");
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("console.db").display())).await.unwrap();
    let server = common::boot("sqlite", store, WORKSPACE).await;
    let (_, owner_key) = server.create_key(Some("olivia"), None).await;
    let (_, admin_key) = server.create_key(Some("adam"), None).await;
    // A VIP customer that rita (a Restricted user) does not own.
    let record = server
        .create("olivia", "customers", json!({ "name": "Vera", "tier": "vip", "assignee": "bob" }))
        .await;
    // The user guide's screenshots are refreshed on demand; a plain run writes
    // them under target/ so that testing never dirties the work tree.
    let shots = if std::env::var_os("PERMSET_UPDATE_SCREENSHOTS").is_some() {
        root.join("../../docs/admin")
    } else {
        root.join("../../target/console-screenshots")
    };
    std::fs::create_dir_all(&shots).unwrap();

    // Server text is data, never markup: a role whose description is an XSS attempt.
    let hostile = json!({ "description": "<img src=x onerror=\"window.__pwned=1\">", "grants": { "customers_view": "all" } });
    server.user("olivia").put("roles/hostile_markup", hostile).await.ok(StatusCode::OK);

    // nina is in tier1 (whose role is support_agent) but holds no teams_view
    // directly (contributor lacks it): the teams_view gate the console must show.
    let nina = json!({ "kind": "agent", "teams": ["tier1"] });
    server.user("olivia").put("users/nina", nina).await.ok(StatusCode::OK);
    server
        .user("olivia")
        .post("assignments", json!({ "user": "nina", "role": "contributor" }))
        .await
        .ok(StatusCode::OK);

    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("console.mjs")
            .current_dir(&browser_dir)
            .env("BASE", base)
            .env("WS", common::WS)
            .env("OWNER_KEY", owner_key)
            .env("ADMIN_KEY", admin_key)
            .env("RECORD", record)
            .env("SHOTS", shots)
            .env("CHROMIUM", chromium)
            .output()
    })
    .await
    .unwrap()
    .expect("cannot run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && !stdout.contains("not ok"),
        "the browser scenario failed:\n{stdout}\n{stderr}"
    );

    // What the browser did is what the API holds.
    let assignments = server.user("olivia").get("assignments").await;
    let rita = &assignments.ok(StatusCode::OK)["assignments"]["users"]["rita"];
    assert!(rita.to_string().contains("vip_desk_agent") && rita.to_string().contains("2030-06-30"), "{rita}");
    let role = server.user("olivia").get("roles/vip_desk_agent").await;
    assert_eq!(
        role.ok(StatusCode::OK)["role"]["grants"]["customers_update"]["access"],
        json!({ "limited": [{ "rule": "premium" }] })
    );
    // A custom action's cell took a rule like a standard one.
    assert_eq!(
        role.ok(StatusCode::OK)["role"]["grants"]["customers_merge"]["access"],
        json!({ "limited": [{ "rule": "premium" }] })
    );
    // The Administrator's forced save changed nothing.
    let set_a = server.user("olivia").get("roles/set_a").await;
    assert!(set_a.ok(StatusCode::OK)["role"]["grants"].get("customers_delete").is_none(), "{}", set_a.text);
    // The owner's new protected field is in the schema; the Administrator's
    // refused removal of the protected `ssn` left it there.
    let schema = server.user("olivia").get("schema").await;
    let customers = &schema.ok(StatusCode::OK)["schema"]["objects"]["customers"]["fields"];
    assert_eq!(customers["loyalty_id"], json!({ "type": "string", "protected": true, "indexed": false }));
    assert_eq!(customers["ssn"]["protected"], json!(true), "{customers}");
    // "+ New object" declared `returns` as the browser filled it in.
    let returns = &schema.ok(StatusCode::OK)["declared"]["objects"]["returns"];
    assert_eq!(returns["owner_field"], json!("handled_by"), "{returns}");
    assert_eq!(returns["list_visibility"], json!("admins"), "{returns}");
    assert_eq!(returns["actions"], json!(["approve"]), "{returns}");
    assert_eq!(returns["fields"]["refund_iban"]["protected"], json!(true), "{returns}");
    assert_eq!(returns["fields"]["customer"]["type"], json!({ "lookup": "customers" }), "{returns}");
    // nina's directly assigned light_agent (teams_view) made tier1's roles count.
    let nina = server.user("olivia").get("users/nina").await;
    assert!(nina.ok(StatusCode::OK)["roles"].to_string().contains("support_agent"), "{}", nina.text);
}

/// GET /schema says what the console needs beside the merged schema: the
/// workspace's own declarations (what PUT /schema/objects/{o} replaces) and
/// its settings, the teams_view gate among them; the OpenAPI document says so too.
#[tokio::test]
async fn schema_exposes_declared_objects_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("schema.db").display())).await.unwrap();
    let server = common::boot("sqlite", store, WORKSPACE).await;
    let schema = server.user("rita").get("schema").await;
    let body = schema.ok(StatusCode::OK);
    assert_eq!(body["settings"], json!({ "team_roles_require_teams_view": true }));
    // customers is a standard object: declared holds only what the workspace adds.
    let declared = &body["declared"]["objects"]["customers"]["fields"];
    assert!(declared.get("ssn").is_some() && declared.get("name").is_some(), "{declared}");
    assert!(body["schema"]["objects"]["conversations"].is_object());
    assert!(body["declared"]["objects"].get("conversations").is_none(), "{}", body["declared"]);
    let off =
        WORKSPACE.replace("team_roles_require_teams_view: true", "team_roles_require_teams_view: false");
    assert_ne!(off, WORKSPACE);
    server.user("olivia").apply(&off).await.ok(StatusCode::OK);
    let schema = server.user("rita").get("schema").await;
    assert_eq!(schema.ok(StatusCode::OK)["settings"]["team_roles_require_teams_view"], json!(false));
    let doc = server.key(None).get("/v1/openapi.json").await;
    let text = doc.text.clone();
    assert!(text.contains("team_roles_require_teams_view") && text.contains("declared"), "openapi");
}

/// The console's files are served from the binary with a CSP that allows only
/// this origin's scripts, and nothing but the listed files is served.
#[tokio::test]
async fn console_assets_are_embedded_and_locked_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("assets.db").display())).await.unwrap();
    let server = common::boot("sqlite", store, WORKSPACE).await;
    let http = reqwest::Client::new();
    for (path, kind) in [
        ("/admin", "text/html"),
        ("/admin/assets/app.js", "text/javascript"),
        ("/admin/assets/app.css", "text/css"),
    ] {
        let resp = http.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let headers = resp.headers().clone();
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind), "{path}: {headers:?}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        let body = resp.text().await.unwrap();
        assert!(!body.contains("innerHTML") && !body.contains("outerHTML"), "{path} writes markup");
    }
    let page = http.get(format!("{}/admin", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("<script>") && !page.contains(" onclick="), "inline script in the page");
    for path in [
        "/admin/assets/../admin.html",
        "/admin/assets/secret.js",
        "/admin/assets/%2e%2e%2fCargo.toml",
        "/admin/assets/",
    ] {
        let resp = http.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}
