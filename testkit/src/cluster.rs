//! A Postgres cluster of the test's own, for tests that must crash or stop the database:
//! `initdb` into a fresh directory, `pg_ctl start` on a free port, `pg_ctl stop -m
//! immediate` to crash it (no checkpoint, as a power cut or an OOM kill leaves it), and
//! start again on the same port and data. The machine's shared server is never touched.
//!
//! Postgres refuses to run as root, so when the test runs as root the cluster belongs to
//! the `postgres` system user (created by Debian's package) and every command runs as it
//! through `runuser`. The binaries are those of the newest `/usr/lib/postgresql/<n>/bin`,
//! or of `PG_BIN` when set. The data directory is removed when the value is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// A new, running cluster with trust authentication for `postgres` on 127.0.0.1.
    /// Panics (the test fails) when it cannot be made.
    pub fn start() -> Cluster {
        Cluster::try_start().unwrap_or_else(|e| panic!("could not start a throwaway Postgres cluster: {e:#}"))
    }

    fn try_start() -> anyhow::Result<Cluster> {
        let bin = postgres_bin()?;
        let as_postgres = running_as_root();
        let data = std::env::temp_dir().join(format!("connector-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&data).with_context(|| format!("creating {}", data.display()))?;
        let port = free_port()?;
        let cluster = Cluster { bin, data, port, as_postgres };
        if as_postgres {
            let status = Command::new("chown").arg("postgres:postgres").arg(&cluster.data).status()?;
            if !status.success() {
                bail!("chown postgres {} failed (is there a postgres system user?)", cluster.data.display());
            }
        }
        cluster
            .run("initdb", &["-D", &cluster.data_arg(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])?;
        // Durability as in production (fsync on; the defaults), and a small footprint.
        let conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
             max_connections = 40\nshared_buffers = 16MB\nfsync = on\nsynchronous_commit = on\n"
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(cluster.data.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .context("writing postgresql.conf")?;
        cluster.start_again();
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of database `name` on this cluster.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server as a crash does: `pg_ctl stop -m immediate` (no shutdown
    /// checkpoint; the next start replays the WAL). Returns once it is gone.
    pub fn crash(&self) {
        self.run("pg_ctl", &["-D", &self.data_arg(), "-m", "immediate", "-w", "stop"])
            .unwrap_or_else(|e| panic!("crashing the cluster: {e:#}"));
    }

    /// Starts the (stopped or crashed) server again and waits until it accepts
    /// connections (crash recovery included).
    pub fn start_again(&self) {
        let log = self.data.join("server.log");
        let log = log.to_string_lossy().into_owned();
        self.run("pg_ctl", &["-D", &self.data_arg(), "-l", &log, "-w", "-t", "60", "start"])
            .unwrap_or_else(|e| panic!("starting the cluster: {e:#}\nserver log:\n{}", self.server_log()));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the cluster did not listen on {} in 30 s", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log, for failure messages.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
    }

    fn data_arg(&self) -> String {
        self.data.to_string_lossy().into_owned()
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let path = self.bin.join(program);
        let output = if self.as_postgres {
            Command::new("runuser").arg("-u").arg("postgres").arg("--").arg(&path).args(args).output()
        } else {
            Command::new(&path).args(args).output()
        }
        .with_context(|| format!("running {}", path.display()))?;
        if !output.status.success() {
            bail!(
                "{program} {} failed: {}\n{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data_arg(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn postgres_bin() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .with_context(|| format!("no Postgres server binaries under {} (set PG_BIN)", root.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context("no initdb under /usr/lib/postgresql/*/bin (set PG_BIN)")
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
