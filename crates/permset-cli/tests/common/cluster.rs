//! A private PostgreSQL cluster for the fault tests and the soak: made in a
//! temp dir (`initdb`, or `pg_basebackup -R` for a streaming standby of
//! another server), run by `pg_ctl` as the `postgres` OS user on a free
//! loopback port, and stopped (`-m immediate`) when dropped. Being private,
//! it may be stopped, restarted or frozen at will, unlike the shared test
//! server.
//!
//! One file for two crates: the CLI's process tests use it as
//! `common::cluster`, and `permset-bench soak` includes it by path (it needs
//! only std and `tempfile`), so both start clusters the same way. Errors are
//! one-line strings naming the command and its output.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How long `pg_ctl` waits for a start, stop or restart to finish.
const PG_CTL_WAIT_SECONDS: &str = "60";

/// A PostgreSQL cluster of our own; stopped and removed when dropped.
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program).args(args).output().map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs a PostgreSQL tool as the `postgres` OS user (the server refuses to run as root).
fn as_postgres(tool: &Path, args: &[&str]) -> Result<String, String> {
    let tool = tool.to_str().ok_or("a non-UTF-8 PostgreSQL path")?;
    let mut all = vec!["-u", "postgres", "--", tool];
    all.extend_from_slice(args);
    run("runuser", &all)
}

fn text(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| format!("a non-UTF-8 path {}", path.display()))
}

impl Cluster {
    /// A new, empty cluster (`initdb`, trust authentication), started.
    pub fn init() -> Result<Cluster, String> {
        let (bin, dir, data) = Self::prepare()?;
        as_postgres(
            &bin.join("initdb"),
            &["-D", text(&data)?, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions"],
        )?;
        Self::configure_and_start(bin, dir, data, "")
    }

    /// A hot standby streaming from `primary` (`pg_basebackup -R`), started.
    /// The primary must accept replication connections from loopback.
    pub fn standby_of(primary: &str) -> Result<Cluster, String> {
        let (bin, dir, data) = Self::prepare()?;
        as_postgres(
            &bin.join("pg_basebackup"),
            &["-d", primary, "-D", text(&data)?, "-R", "-X", "stream", "-c", "fast"],
        )?;
        Self::configure_and_start(bin, dir, data, "hot_standby = on\n")
    }

    fn prepare() -> Result<(PathBuf, tempfile::TempDir, PathBuf), String> {
        let bin = PathBuf::from(run("pg_config", &["--bindir"])?);
        let dir = tempfile::tempdir().map_err(|e| format!("a temp dir: {e}"))?;
        run("chown", &["postgres:", text(dir.path())?])?;
        let data = dir.path().join("data");
        Ok((bin, dir, data))
    }

    /// Writes a minimal configuration of our own (Debian keeps a cluster's
    /// configuration outside its data directory, so a copy has none) and starts.
    fn configure_and_start(
        bin: PathBuf,
        dir: tempfile::TempDir,
        data: PathBuf,
        extra: &str,
    ) -> Result<Cluster, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             shared_buffers = 16MB\n{extra}",
            dir.path().display()
        );
        let write = |name: &str, contents: &str| {
            std::fs::write(data.join(name), contents).map_err(|e| format!("writing {name}: {e}"))
        };
        write("postgresql.conf", &conf)?;
        // Replication too, so that a private cluster can be the primary of a standby.
        write(
            "pg_hba.conf",
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n",
        )?;
        write("pg_ident.conf", "")?;
        run("chown", &["-R", "postgres:", text(&data)?])?;
        let log = dir.path().join("postgres.log");
        let cluster = Cluster { bin, data, log, port, dir };
        cluster.start()?;
        Ok(cluster)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/DATABASE` (`postgres` exists in a new cluster).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The server's log (kept until the cluster is dropped).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `pg_ctl ARGS` on this cluster, waiting for it to finish.
    pub fn pg_ctl(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-D", text(&self.data)?, "-l", text(&self.log)?, "-w", "-t", PG_CTL_WAIT_SECONDS];
        all.extend_from_slice(args);
        as_postgres(&self.bin.join("pg_ctl"), &all)
    }

    /// Starts the (stopped) cluster.
    pub fn start(&self) -> Result<(), String> {
        self.pg_ctl(&["start"]).map(drop).map_err(|e| format!("{e}\n{}", self.log()))
    }

    /// Stops it: `fast` ends every session (clients see an administrator
    /// shutdown), `immediate` is a crash (recovery on the next start).
    pub fn stop(&self, mode: &str) -> Result<(), String> {
        self.pg_ctl(&["-m", mode, "stop"]).map(drop)
    }

    /// Freezes every process of the cluster (SIGSTOP to the postmaster and
    /// its children, by pid): connections stay open but nothing answers, the
    /// fault no connection error reveals (a hung disk, a stalled VM).
    pub fn pause(&self) -> Result<(), String> {
        self.signal("-STOP")
    }

    /// Thaws what [`Cluster::pause`] froze.
    pub fn resume(&self) -> Result<(), String> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> Result<(), String> {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .map_err(|e| format!("the cluster is not running: {e}"))?;
        let postmaster = pid_file.lines().next().unwrap_or_default().trim().to_owned();
        let children = run("ps", &["-o", "pid=", "--ppid", &postmaster]).unwrap_or_default();
        let mut args = vec![signal, postmaster.as_str()];
        args.extend(children.split_whitespace());
        run("kill", &args).map(drop)
    }

    /// Stops (in `mode`) and starts again.
    pub fn restart(&self, mode: &str) -> Result<(), String> {
        self.pg_ctl(&["-m", mode, "restart"]).map(drop)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A frozen cluster would not hear the stop.
        let _ = self.resume();
        let _ = self.stop("immediate");
    }
}
