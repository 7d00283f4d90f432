//! `permset-bench soak`: a bounded fault-injection soak of two real
//! `permset serve` processes over one PostgreSQL schema (issue 13).
//!
//! Several clients send mixed traffic to both servers at random — record
//! creates, patches and reads of their own records, lists, admin changes
//! (each client toggles one assignment) and checks that demand
//! `at_least_revision` of the client's last acknowledged change — while a
//! schedule injects faults: server A is SIGKILLed and restarted on the same
//! port, every connection of both servers is terminated with
//! `pg_terminate_backend`, and the database itself is restarted (`pg_ctl
//! restart -m fast`, and every other time stopped, left down longer than a
//! request waits for a connection, and started). Server B is never killed,
//! so its memory (RSS, sampled each second) shows growth over the whole run.
//!
//! Database restarts need a PostgreSQL of the soak's own: with
//! `--restart-every` (the default) the soak makes a private cluster in a
//! temp dir (`initdb`, `pg_ctl` as the `postgres` user, the harness of the
//! CLI's tests, included by path) and ignores `--database`; with
//! `--restart-every 0` it runs on `--database` (a shared server is never
//! restarted).
//!
//! At the end, through a store opened on the same schema (not through the
//! servers): every acknowledged record is present with an acceptable value
//! (a write whose answer was lost — a 503 or a dropped connection — may or
//! may not have landed, so both values are accepted), the audit chain
//! verifies with exactly the entries 1..=revision (gap-free), and every
//! acknowledged revision is distinct and stored. One JSON line reports it;
//! the exit status is non-zero if anything was lost, any answer was a 500
//! or hung past the client timeout, a decision was stale, or memory grew
//! without bound.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::Utc;
use permset_core::load_workspace_file;
use permset_store::{KeySpec, ListQuery, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Options of `soak`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How long the traffic runs (the checks at the end add a few seconds).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The PostgreSQL database (a fresh schema is made in it and dropped after).
    #[arg(long, env = "PERMSET_TEST_POSTGRES", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database: String,
    /// The `permset` binary (default: next to this one).
    #[arg(long)]
    permset: Option<PathBuf>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 6)]
    clients: usize,
    /// Seconds between SIGKILLs of server A.
    #[arg(long, default_value_t = 10)]
    kill_every: u64,
    /// Seconds between terminations of every server connection.
    #[arg(long, default_value_t = 7)]
    terminate_every: u64,
    /// Seconds between database restarts, on a private cluster the soak
    /// starts itself (0: no restarts, and the soak runs on `--database`).
    #[arg(long, default_value_t = 25)]
    restart_every: u64,
    /// Seed of the clients' choices.
    #[arg(long, default_value_t = 13)]
    seed: u64,
}

const WORKSPACE: &str = "soak";

/// How long the database stays down on every other restart: longer than a
/// request waits for a connection (5 s), so requests meet the outage.
const DOWNTIME: Duration = Duration::from_secs(7);

/// The private cluster harness, shared with the CLI's process tests.
#[path = "../../../permset-cli/tests/common/cluster.rs"]
mod cluster;

/// How long a client waits for any answer: a hang beyond it is a failure.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn workspace_file(clients: usize) -> String {
    let mut y = String::from(
        "workspace: soak\nobjects:\n  tickets:\n    fields: { title: string, n: number, owner: user }\n    \
         owner_field: owner\nusers:\n  olivia: { account_owner: true }\n",
    );
    for c in 0..clients {
        y += &format!("  agent{c}: {{}}\n");
    }
    y += "assignments:\n  users:\n";
    for c in 0..clients {
        y += &format!("    agent{c}: [support_agent]\n");
    }
    y
}

/// A running `permset serve`, restartable on its port.
pub(crate) struct Server {
    name: &'static str,
    child: Option<Child>,
    port: u16,
    database: String,
    binary: PathBuf,
    log: PathBuf,
    /// Options of `serve` beyond the database and the address.
    options: Vec<String>,
}

impl Server {
    pub(crate) fn start(
        name: &'static str,
        binary: &Path,
        database: &str,
        dir: &Path,
        options: &[&str],
    ) -> Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = Server {
            name,
            child: None,
            port,
            database: database.to_owned(),
            binary: binary.to_owned(),
            log: dir.join(format!("{name}.log")),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.binary)
            .args(["serve", "--database", &self.database, "--listen", &format!("127.0.0.1:{}", self.port)])
            .args(&self.options)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL (what `Child::kill` sends on Unix) and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (30 s at most) for `/readyz`.
    pub(crate) async fn ready(&mut self, http: &reqwest::Client) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let url = format!("{}/readyz", self.base());
            if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                bail!("server {} exited with {status}: {log}", self.name);
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("server {} not ready in 30 s", self.name);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Resident memory of a process, in KiB (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn psql(url: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]).output()?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// What the clients saw, shared.
#[derive(Default)]
struct Tally {
    requests: u64,
    by_status: BTreeMap<String, u64>,
    /// Record id → the values of `n` it may hold (one if known, two if a write is in doubt).
    records: HashMap<String, Vec<i64>>,
    /// Creates whose answer was lost: may or may not exist.
    in_doubt_creates: u64,
    /// Patches acknowledged (200).
    updates_acknowledged: u64,
    acknowledged_revisions: Vec<u64>,
    stale_decisions: Vec<String>,
    read_mismatches: Vec<String>,
    /// Requests with no answer within [`CLIENT_TIMEOUT`], with when and what.
    timeouts: Vec<String>,
    /// When the run started, and the faults so far (for placing a timeout).
    started: Option<Instant>,
    faults: Vec<(Duration, &'static str)>,
}

impl Tally {
    fn count(&mut self, status: &str) {
        self.requests += 1;
        *self.by_status.entry(status.to_owned()).or_default() += 1;
    }
}

/// One request's outcome: the status and body, or a transport failure (timeout, connection lost).
enum Answer {
    Status(u16, Value),
    Lost(&'static str),
}

async fn send(tally: &Mutex<Tally>, request: reqwest::RequestBuilder) -> Answer {
    let (client, request) = request.build_split();
    let Ok(request) = request else { return Answer::Lost("connection") };
    let what = format!("{} {}", request.method(), request.url());
    let started = Instant::now();
    let answer = match client.execute(request).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            Answer::Status(status, resp.json().await.unwrap_or(Value::Null))
        }
        Err(e) if e.is_timeout() => Answer::Lost("timeout"),
        Err(_) => Answer::Lost("connection"),
    };
    if matches!(answer, Answer::Lost("timeout")) {
        if let Ok(mut t) = tally.lock() {
            // When it was sent, and the last fault injected before that.
            let sent = t.started.map(|s| started.duration_since(s)).unwrap_or_default();
            let fault = t.faults.iter().rev().find(|(at, _)| *at <= sent).copied();
            let fault = fault.map_or("none".to_owned(), |(at, f)| format!("{f} at {:.1}s", at.as_secs_f64()));
            let took = started.elapsed();
            t.timeouts.push(format!(
                "{what} sent at {:.1}s, no answer in {took:.1?}; last fault {fault}",
                sent.as_secs_f64()
            ));
        }
    }
    let label = match &answer {
        Answer::Status(s, _) => s.to_string(),
        Answer::Lost(what) => (*what).to_owned(),
    };
    if let Ok(mut t) = tally.lock() {
        t.count(&label);
    }
    answer
}

/// Whether an answer leaves a write in doubt (it may have committed).
fn in_doubt(answer: &Answer) -> bool {
    match answer {
        Answer::Lost(_) => true,
        Answer::Status(s, _) => *s >= 500,
    }
}

struct Client {
    id: usize,
    http: reqwest::Client,
    key: String,
    bases: Vec<String>,
    tally: Arc<Mutex<Tally>>,
    rng: StdRng,
    created: Vec<String>,
    /// Whether this client's agent holds `billing`: known, or `None` while a change is in doubt.
    billing: Option<bool>,
    last_revision: u64,
}

impl Client {
    fn base(&mut self) -> String {
        self.bases[self.rng.gen_range(0..self.bases.len())].clone()
    }

    fn url(&mut self, path: &str) -> String {
        format!("{}/v1/workspaces/{WORKSPACE}{path}", self.base())
    }

    fn req(&mut self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = self.url(path);
        self.http.request(method, url).bearer_auth(&self.key).header("x-permset-user", "olivia")
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn step(&mut self, n: u64) {
        match self.rng.gen_range(0..10) {
            0..=2 => self.create(n).await,
            3 | 4 => self.patch().await,
            5 => self.read().await,
            6 => {
                let req = self.req(reqwest::Method::GET, "/objects/tickets/records?limit=20");
                send(&self.tally, req).await;
            }
            7 => self.admin().await,
            _ => self.check().await,
        }
    }

    async fn create(&mut self, n: u64) {
        let id = format!("c{}-{n}", self.id);
        let body =
            json!({ "id": id, "title": format!("ticket {n}"), "n": 0, "owner": format!("agent{}", self.id) });
        let req = self.req(reqwest::Method::POST, "/objects/tickets/records").json(&body);
        let answer = send(&self.tally, req).await;
        match &answer {
            Answer::Status(201, _) => {
                self.tally().records.insert(id.clone(), vec![0]);
                self.created.push(id);
            }
            a if in_doubt(a) => self.tally().in_doubt_creates += 1,
            _ => {}
        }
    }

    async fn patch(&mut self) {
        if self.created.is_empty() {
            return;
        }
        let id = self.created[self.rng.gen_range(0..self.created.len())].clone();
        let Some(current) = self.tally().records.get(&id).and_then(|v| v.last().copied()) else { return };
        let next = current + 1;
        let req = self
            .req(reqwest::Method::PATCH, &format!("/objects/tickets/records/{id}"))
            .json(&json!({ "n": next }));
        let answer = send(&self.tally, req).await;
        let mut t = self.tally();
        let Some(values) = t.records.get_mut(&id) else { return };
        match &answer {
            Answer::Status(200, _) => {
                *values = vec![next];
                t.updates_acknowledged += 1;
            }
            a if in_doubt(a) => values.push(next),
            _ => {}
        }
    }

    async fn read(&mut self) {
        if self.created.is_empty() {
            return;
        }
        let id = self.created[self.rng.gen_range(0..self.created.len())].clone();
        let req = self.req(reqwest::Method::GET, &format!("/objects/tickets/records/{id}"));
        if let Answer::Status(200, body) = send(&self.tally, req).await {
            let record = body.get("record").unwrap_or(&body);
            let n = record["n"].as_i64();
            let mut t = self.tally();
            let acceptable = t.records.get(&id).cloned().unwrap_or_default();
            if !n.is_some_and(|n| acceptable.contains(&n)) {
                t.read_mismatches.push(format!("{id}: read {n:?}, acceptable {acceptable:?}"));
            }
        }
    }

    /// Toggles this client's agent's `billing` assignment.
    async fn admin(&mut self) {
        let method = if self.billing == Some(true) { reqwest::Method::DELETE } else { reqwest::Method::POST };
        let holds = method == reqwest::Method::POST;
        let body = json!({ "user": format!("agent{}", self.id), "role": "billing" });
        let req = self.req(method, "/assignments").json(&body);
        let answer = send(&self.tally, req).await;
        match &answer {
            Answer::Status(200, body) => {
                self.billing = Some(holds);
                if let Some(revision) = body["revision"].as_u64() {
                    self.last_revision = revision;
                    self.tally().acknowledged_revisions.push(revision);
                }
            }
            // Assigning what is held (or removing what is not) after a lost answer: now known.
            Answer::Status(s, _) if (400..500).contains(s) && self.billing.is_none() => {
                self.billing = Some(holds)
            }
            a if in_doubt(a) => self.billing = None,
            _ => {}
        }
    }

    /// A decision that must reflect this client's last acknowledged change, on either server.
    async fn check(&mut self) {
        let path = format!("/check?at_least_revision={}", self.last_revision);
        let body = json!({ "user": format!("agent{}", self.id), "permission": "billing_view" });
        let req = self.req(reqwest::Method::POST, &path).json(&body);
        if let (Answer::Status(200, body), Some(expected)) = (send(&self.tally, req).await, self.billing) {
            if body["allowed"].as_bool() != Some(expected) {
                let message = format!(
                    "agent{} billing_view at revision ≥ {}: {body}, expected {expected}",
                    self.id, self.last_revision
                );
                self.tally().stale_decisions.push(message);
            }
        }
    }
}

/// The `permset` binary: the one given, or the one next to this bench.
pub(crate) fn permset_binary(given: Option<&Path>) -> Result<PathBuf> {
    let binary = match given {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()?.with_file_name("permset"),
    };
    if !binary.exists() {
        bail!(
            "no permset binary at {} (build it: cargo build --release -p permset-cli, or pass --permset)",
            binary.display()
        );
    }
    Ok(binary)
}

pub(crate) fn run(args: &Args) -> Result<()> {
    if args.seconds == 0 || args.seconds > 24 * 3600 {
        bail!("--seconds must be 1 to 86400");
    }
    let binary = permset_binary(args.permset.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(soak(args, &binary))
}

async fn soak(args: &Args, binary: &Path) -> Result<()> {
    let cluster = match args.restart_every {
        0 => None,
        _ => Some(
            tokio::task::block_in_place(cluster::Cluster::init)
                .map_err(|e| anyhow::anyhow!("starting a private PostgreSQL cluster: {e}"))?,
        ),
    };
    let pg = &cluster.as_ref().map_or_else(|| args.database.clone(), |c| c.url("postgres"));
    let schema = format!("soak_{:016x}", rand::random::<u64>());
    let sep = if pg.contains('?') { '&' } else { '?' };
    // The servers' connections carry the schema as application name, so only they are terminated.
    let database = format!("{pg}{sep}options=-c%20search_path%3D{schema}&application_name={schema}");
    let store = Store::open_in_schema(pg, &schema).await.context("opening the soak schema")?;
    let result = soak_in(args, binary, &store, pg, &database, &schema, cluster.as_ref()).await;
    store.close().await;
    let _ = psql(pg, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
    result
}

/// The soak on an opened schema: `pg` is the database (for terminating
/// connections), `database` the servers' URL, `cluster` set if ours to restart.
async fn soak_in(
    args: &Args,
    binary: &Path,
    store: &Store,
    pg: &str,
    database: &str,
    schema: &str,
    cluster: Option<&cluster::Cluster>,
) -> Result<()> {
    let (model, _) = load_workspace_file(&workspace_file(args.clients))
        .map_err(|e| anyhow::anyhow!("soak workspace: {e:?}"))?;
    store.create_workspace(WORKSPACE, "olivia").await?;
    store.apply(WORKSPACE, "olivia", &model, "soak workspace", false).await?;
    let spec = KeySpec { user: None, role: None, label: "soak".into(), expires_at: None };
    let (_, key) = store.create_key(WORKSPACE, "olivia", spec).await?;

    let dir = tempfile::tempdir()?;
    let http = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build()?;
    let mut a = Server::start("a", binary, database, dir.path(), &[])?;
    let mut b = Server::start("b", binary, database, dir.path(), &[])?;
    a.ready(&http).await?;
    b.ready(&http).await?;
    let bases = vec![a.base(), b.base()];
    let tally = Arc::new(Mutex::new(Tally { started: Some(Instant::now()), ..Tally::default() }));
    let fault = |what: &'static str, at: Duration| {
        tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner).faults.push((at, what));
    };
    let deadline = Instant::now() + Duration::from_secs(args.seconds);

    let mut tasks = Vec::new();
    for id in 0..args.clients {
        let mut client = Client {
            id,
            http: http.clone(),
            key: key.clone(),
            bases: bases.clone(),
            tally: tally.clone(),
            rng: StdRng::seed_from_u64(args.seed.wrapping_add(id as u64)),
            created: Vec::new(),
            billing: Some(false),
            last_revision: 0,
        };
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                client.step(n).await;
                n += 1;
            }
        }));
    }

    // The fault schedule, and B's memory once a second.
    let (mut kills, mut terminations, mut restarts) = (0u64, 0u64, 0u64);
    let mut recoveries = Vec::new();
    let mut rss_b = Vec::new();
    let started = Instant::now();
    let (mut next_kill, mut next_terminate, mut next_restart) = (
        Duration::from_secs(args.kill_every),
        Duration::from_secs(args.terminate_every),
        Duration::from_secs(args.restart_every),
    );
    let mut next_sample = Duration::ZERO;
    while Instant::now() < deadline {
        let t = started.elapsed();
        if t >= next_sample {
            if let Some(kib) = b.pid().and_then(rss_kib) {
                rss_b.push(kib);
            }
            next_sample += Duration::from_secs(1);
        }
        if let Some(cluster) = cluster.filter(|_| t >= next_restart) {
            // pg_ctl waits for the cluster: off the runtime's workers, so the clients keep going.
            let outcome = if restarts % 2 == 0 {
                fault("pg_ctl restart -m fast", t);
                tokio::task::block_in_place(|| cluster.restart("fast"))
            } else {
                fault("pg_ctl stop -m fast, down 7 s", t);
                match tokio::task::block_in_place(|| cluster.stop("fast")) {
                    Ok(()) => {
                        tokio::time::sleep(DOWNTIME).await;
                        tokio::task::block_in_place(|| cluster.start())
                    }
                    Err(e) => Err(e),
                }
            };
            outcome.map_err(|e| anyhow::anyhow!("restarting the database: {e}"))?;
            restarts += 1;
            next_restart += Duration::from_secs(args.restart_every);
        }
        if args.kill_every > 0 && t >= next_kill {
            fault("server A SIGKILL", t);
            a.kill();
            a.spawn()?;
            recoveries.push(a.ready(&http).await?);
            kills += 1;
            next_kill += Duration::from_secs(args.kill_every);
        }
        if args.terminate_every > 0 && t >= next_terminate {
            fault("pg_terminate_backend", t);
            psql(
                pg,
                &format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
                ),
            )?;
            terminations += 1;
            next_terminate += Duration::from_secs(args.terminate_every);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in tasks {
        task.await?;
    }
    a.ready(&http).await?;
    b.ready(&http).await?;
    let rss_end = b.pid().and_then(rss_kib);
    drop((a, b));

    // Verification through the store, not through the servers.
    let snapshot = store.snapshot(WORKSPACE).await?;
    let mut stored: HashMap<String, i64> = HashMap::new();
    let mut after = None;
    loop {
        let query = ListQuery { limit: Some(1000), after: after.clone(), ..ListQuery::default() };
        let page = store.list_records(&snapshot, "olivia", "tickets", &query, Utc::now()).await?;
        for r in &page.records {
            if let (Some(id), Some(n)) = (r["id"].as_str(), r["n"].as_i64()) {
                stored.insert(id.to_owned(), n);
            }
        }
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    let tally = Arc::try_unwrap(tally).map_err(|_| anyhow::anyhow!("clients still running"))?;
    let tally = tally.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut lost = Vec::new();
    for (id, acceptable) in &tally.records {
        match stored.get(id) {
            Some(n) if acceptable.contains(n) => {}
            other => lost.push(format!("{id}: stored {other:?}, acceptable {acceptable:?}")),
        }
    }
    let verify = store.verify(WORKSPACE).await?;
    let final_revision = store.revision(WORKSPACE).await?;
    let mut revisions = tally.acknowledged_revisions.clone();
    revisions.sort_unstable();
    let distinct = revisions.windows(2).all(|w| w[0] < w[1]);
    let revisions_ok = distinct && revisions.last().is_none_or(|r| *r <= final_revision);
    let audit_ok = verify.first_broken.is_none() && verify.entries == final_revision;

    // Memory: B's RSS at the end against its RSS once warm (after a tenth of the run).
    let warm = rss_b.get(rss_b.len() / 10).copied().unwrap_or(0);
    let peak = rss_b.iter().copied().max().unwrap_or(0);
    let end = rss_end.unwrap_or(peak);
    let memory_bounded = end <= warm + warm / 2 + 32 * 1024;
    recoveries.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let server_errors = tally.by_status.iter().filter(|(s, _)| s.starts_with('5') && *s != "503").count();
    let timeouts = tally.by_status.get("timeout").copied().unwrap_or(0);
    let ok = lost.is_empty()
        && audit_ok
        && revisions_ok
        && tally.stale_decisions.is_empty()
        && tally.read_mismatches.is_empty()
        && server_errors == 0
        && timeouts == 0
        && memory_bounded;
    let line = json!({
        "mode": "soak",
        "seconds": args.seconds,
        "clients": args.clients,
        "requests": tally.requests,
        "errors_by_status": tally.by_status.iter().filter(|(s, _)| !s.starts_with('2')).collect::<BTreeMap<_, _>>(),
        "status_counts": tally.by_status,
        "faults_injected": {
            "sigkill": kills,
            "pg_terminate_backend": terminations,
            "database_restarts": restarts,
            "total": kills + terminations + restarts,
        },
        "database": if cluster.is_some() { "private cluster" } else { "given (--database)" },
        "restart_ready_ms": { "median": ms(recoveries.get(recoveries.len() / 2)), "max": ms(recoveries.last()) },
        "records_acknowledged": tally.records.len(),
        "writes_verified": tally.records.len() - lost.len(),
        "writes_lost": lost.iter().take(10).collect::<Vec<_>>(),
        "creates_in_doubt": tally.in_doubt_creates,
        "updates_acknowledged": tally.updates_acknowledged,
        "admin_changes_acknowledged": revisions.len(),
        "final_revision": final_revision,
        "revisions_distinct_and_stored": revisions_ok,
        "audit_entries": verify.entries,
        "audit_verified": audit_ok,
        "stale_decisions": tally.stale_decisions.iter().take(10).collect::<Vec<_>>(),
        "read_mismatches": tally.read_mismatches.iter().take(10).collect::<Vec<_>>(),
        "timeouts": tally.timeouts.iter().take(10).collect::<Vec<_>>(),
        "rss_b_mib": { "warm": warm as f64 / 1024.0, "peak": peak as f64 / 1024.0, "end": end as f64 / 1024.0 },
        "memory_bounded": memory_bounded,
        "ok": ok,
    });
    println!("{line}");
    if !ok {
        bail!("the soak found a problem (see the JSON line)");
    }
    Ok(())
}
