//! Test support: the real server on 127.0.0.1 (port 0) over a fresh store of
//! each back end (a SQLite temp file always; a PostgreSQL schema `t_<random>`
//! in the database named by `PERMSET_TEST_POSTGRES` when it is set), a
//! workspace bootstrapped the way an operator does it (workspace and service
//! key through the store, the model through `POST …/apply`), and a small
//! reqwest wrapper that sends a key and an acting user.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use permset_store::{KeySpec, Store};
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The workspace every test works in.
pub const WS: &str = "acme";

/// The fixture: an account owner, an Administrator, a custom role manager
/// without `billing_view`, a Restricted agent, a Light agent, an agent with
/// no role, a VIP desk whose customer view is limited, and a portal customer.
pub const FIXTURE: &str = r#"
workspace: acme
objects:
  customers:
    fields:
      tier: { enum: [basic, vip] }
      ssn: { type: string, protected: true }
  orders:
    fields:
      title: string
      customer: { lookup: customers }
      owner: user
    owner_field: owner
  contracts:
    fields:
      title: string
    list_visibility: admins
teams:
  tier1: { name: "Tier 1" }
users:
  olivia: { kind: agent, account_owner: true }
  adam: { kind: agent }
  maria: { kind: agent }
  rita: { kind: agent }
  tom: { kind: agent }
  lena: { kind: agent }
  vic: { kind: agent }
  carla: { kind: end_user }
roles:
  role_admin:
    description: "manages roles, but holds no billing permission"
    grants:
      roles_manage: all
      roles_view: all
      users_view: all
      users_update: all
      teams_view: all
      customers_view: all
      customers_update: all
  vip_desk:
    description: "VIP customers only, every conversation"
    grants:
      customers_view: { where: 'tier == "vip"' }
      conversations_view: all
assignments:
  users:
    adam: [administrator]
    maria: [role_admin]
    rita: [restricted_user]
    tom: [light_agent]
    vic: [vip_desk]
    carla: [customer]
"#;

/// One running server over one back end.
pub struct Server {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub store: Store,
    /// The secret of the workspace's service key.
    pub service_key: String,
    task: tokio::task::JoinHandle<()>,
}

/// A caller: a key and, optionally, the user it acts for.
#[derive(Clone)]
pub struct As<'a> {
    server: &'a Server,
    key: Option<String>,
    user: Option<String>,
    headers: Vec<(String, String)>,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
    pub json: Value,
}

impl Resp {
    /// Asserts the status and the error body `{error:{code,message,details}}`; returns the message.
    #[track_caller]
    pub fn error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "expected {status}, got {}: {}", self.status, self.text);
        assert_error_shape(self);
        assert_eq!(self.json["error"]["code"], code, "{}", self.text);
        self.json["error"]["message"].as_str().unwrap().to_owned()
    }

    /// Asserts a success status; returns the JSON body.
    #[track_caller]
    pub fn ok(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "expected {status}, got {}: {}", self.status, self.text);
        &self.json
    }

    /// `revision` of the body.
    #[track_caller]
    pub fn revision(&self) -> u64 {
        self.json["revision"].as_u64().unwrap_or_else(|| panic!("no revision in {}", self.text))
    }
}

/// Every error answer is JSON `{error:{code,message,details}}`, never a 5xx.
#[track_caller]
pub fn assert_error_shape(resp: &Resp) {
    assert!(resp.status.is_client_error(), "not a 4xx: {} {}", resp.status, resp.text);
    assert!(resp.content_type.starts_with("application/json"), "error is not JSON: {resp:?}");
    let error = resp.json.get("error").unwrap_or_else(|| panic!("no `error` in {}", resp.text));
    assert!(error["code"].as_str().is_some_and(|c| !c.is_empty()), "no code: {}", resp.text);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {}", resp.text);
    assert!(error.get("details").is_some(), "no details: {}", resp.text);
}

impl Server {
    /// The service principal (service key, no acting user).
    pub fn service(&self) -> As<'_> {
        As { server: self, key: Some(self.service_key.clone()), user: None, headers: vec![] }
    }

    /// The service key acting for `user`.
    pub fn user(&self, user: &str) -> As<'_> {
        self.service().acting(user)
    }

    /// Any key (or none).
    pub fn key(&self, key: Option<&str>) -> As<'_> {
        As { server: self, key: key.map(str::to_owned), user: None, headers: vec![] }
    }

    /// Creates a key through the API as the service principal; returns (id, secret).
    pub async fn create_key(&self, user: Option<&str>, role: Option<&str>) -> (String, String) {
        let resp = self.service().post("keys", json!({ "user": user, "role": role, "label": "test" })).await;
        let body = resp.ok(StatusCode::OK);
        (body["key"]["id"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
    }

    /// The workspace's current revision, as the API reports it.
    pub async fn revision(&self) -> u64 {
        self.user("olivia").get("schema").await.revision()
    }

    /// The model as a workspace file (`GET …/export`).
    pub async fn exported(&self) -> String {
        let resp = self.service().get("export").await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        resp.text
    }

    /// Sends a request whose body of `body_len` bytes (`prefix` then `x`s) the
    /// server may refuse before reading it all: unlike a pooled client, this
    /// reads the answer while still writing, so an early answer is seen.
    pub async fn oversized(&self, path: &str, content_type: &str, prefix: &str, body_len: usize) -> Resp {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /v1/workspaces/{WS}/{path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\n\
             x-permset-user: olivia\r\ncontent-type: {content_type}\r\ncontent-length: {body_len}\r\n\
             connection: close\r\n\r\n",
            self.addr, self.service_key
        );
        let prefix = prefix.to_owned();
        let write = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            writer.write_all(prefix.as_bytes()).await?;
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = body_len - prefix.len();
            while left > 0 {
                let n = left.min(chunk.len());
                writer.write_all(&chunk[..n]).await?;
                left -= n;
            }
            writer.flush().await
        });
        let mut answer = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(read.is_ok(), "no answer within 30 s");
        write.abort();
        let text = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        let content_type = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_owned()))
            .unwrap_or_default();
        // Chunked bodies: keep the JSON part.
        let json_text =
            body.find('{').map_or("", |i| &body[i..body.rfind('}').map_or(body.len(), |j| j + 1)]);
        let json = serde_json::from_str(json_text).unwrap_or(Value::Null);
        Resp { status: StatusCode::from_u16(status).unwrap(), content_type, text: body.to_owned(), json }
    }

    /// Creates a record as `user`; returns its id.
    pub async fn create(&self, user: &str, object: &str, fields: Value) -> String {
        let resp = self.user(user).post(&format!("objects/{object}/records"), fields).await;
        let body = resp.ok(StatusCode::CREATED);
        body["record"]["id"].as_str().unwrap().to_owned()
    }
}

impl<'a> As<'a> {
    /// Acts for `user` (header `x-permset-user`).
    pub fn acting(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `path` is relative to `/v1/workspaces/acme/` unless it starts with `/`.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.server.base)
        } else {
            format!("{}/v1/workspaces/{WS}/{path}", self.server.base)
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self.server.http.request(method, self.url(path));
        if let Some(key) = &self.key {
            builder = builder.bearer_auth(key);
        }
        if let Some(user) = &self.user {
            builder = builder.header("x-permset-user", user);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Resp {
        read(builder.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::PUT, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::PATCH, path).json(&body)).await
    }

    pub async fn delete_json(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::DELETE, path).json(&body)).await
    }

    /// `POST …/check` for `user` (the acting user when `None`).
    pub async fn check(&self, user: Option<&str>, permission: &str) -> Resp {
        let mut body = json!({ "permission": permission });
        if let Some(user) = user {
            body["user"] = json!(user);
        }
        self.post("check", body).await
    }

    /// `POST …/apply` with a YAML body.
    pub async fn apply(&self, yaml: &str) -> Resp {
        let builder = self
            .request(Method::POST, "apply")
            .header("content-type", "application/yaml")
            .body(yaml.to_owned());
        self.send(builder).await
    }
}

/// Reads a whole answer; `json` is `Null` when the body is not JSON.
pub async fn read(resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let content_type =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, content_type, text, json }
}

/// The PostgreSQL database to test against, from `PERMSET_TEST_POSTGRES`.
///
/// Without it the PostgreSQL half of a test is skipped, loudly: a `SKIP`
/// line on stderr. When `CI` is set a missing database fails the test, so
/// CI can never pass on SQLite alone.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("PERMSET_TEST_POSTGRES").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        assert!(
            !ci,
            "PERMSET_TEST_POSTGRES is not set but CI is: the PostgreSQL tests may not be skipped in CI"
        );
        eprintln!("SKIP postgres: PERMSET_TEST_POSTGRES is not set");
    }
    url
}

/// Starts the server in-process over `store`; returns its address.
pub async fn start(store: Store) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let served = permset_server::serve(store, "127.0.0.1:0".parse().unwrap(), |addr| {
            let _ = tx.send(addr);
        })
        .await;
        if let Err(error) = served {
            panic!("the server stopped: {error}");
        }
    });
    (rx.await.expect("the server did not start"), task)
}

/// A server over `store` with the fixture applied; `fixture` replaces the default.
pub async fn boot(backend: &'static str, store: Store, fixture: &str) -> Server {
    store.create_workspace(WS, "test").await.unwrap();
    let spec = KeySpec { user: None, role: None, label: "service".into(), expires_at: None };
    let (_, service_key) = store.create_key(WS, "test", spec).await.unwrap();
    let (addr, task) = start(store.clone()).await;
    let http = reqwest::Client::builder().build().unwrap();
    let server = Server { backend, base: format!("http://{addr}"), addr, http, store, service_key, task };
    let resp = server.service().apply(fixture).await;
    assert_eq!(resp.status, StatusCode::OK, "apply of the fixture: {}", resp.text);
    server
}

fn schema_name() -> String {
    format!("t_{:016x}", rand::thread_rng().gen::<u64>())
}

/// Drops a test schema; best effort (through `psql`, as the server's tests have no SQL driver).
fn drop_schema(url: &str, schema: &str) {
    let _ = std::process::Command::new("psql")
        .args([url, "-q", "-c", &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Runs `body` against a server over each back end with the default fixture.
pub async fn on_each_backend<F, Fut>(body: F)
where
    F: Fn(Server) -> Fut,
    Fut: Future<Output = ()>,
{
    on_each_backend_with(FIXTURE, body).await
}

/// Runs `body` against a server over each back end with `fixture` applied,
/// dropping the PostgreSQL schema afterwards even when the body panics.
pub async fn on_each_backend_with<F, Fut>(fixture: &str, body: F)
where
    F: Fn(Server) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("x.db").display());
    let mut backends: Vec<(&'static str, String, Option<String>)> = vec![("sqlite", sqlite, None)];
    if let Some(url) = postgres_url() {
        backends.push(("postgres", url, Some(schema_name())));
    }
    for (name, url, schema) in backends {
        let store = match &schema {
            None => Store::open(&url).await.unwrap(),
            Some(schema) => Store::open_in_schema(&url, schema).await.unwrap(),
        };
        let server = boot(name, store.clone(), fixture).await;
        let task = server.task.abort_handle();
        let outcome = AssertUnwindSafe(body(server)).catch_unwind().await;
        task.abort();
        store.close().await;
        if let Some(schema) = &schema {
            drop_schema(&url, schema);
        }
        if let Err(panic) = outcome {
            eprintln!("failed on {name}");
            std::panic::resume_unwind(panic);
        }
    }
}
