//! The processes under test: the real `eye` binary on a temporary data directory, or this
//! tool's bare responder (the HTTP ceiling), each on a random loopback port; and what they
//! cost (peak memory, CPU time, disk).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;

pub struct Process {
    pub child: Child,
    pub url: String,
    /// What the process logged on standard error, each line with when it was read (the
    /// first `LOG_LINES` lines), for scenarios that watch a background task's progress.
    pub log: Arc<Mutex<Vec<(Instant, String)>>>,
}

/// Lines of standard error a `Process` keeps.
const LOG_LINES: usize = 10_000;

impl Process {
    /// The first line logged that contains `text`, and when it was read.
    pub fn logged(&self, text: &str) -> Option<(Instant, String)> {
        let log = self.log.lock().ok()?;
        log.iter().find(|(_, line)| line.contains(text)).cloned()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a program that logs `listening addr=HOST:PORT`, and waits for that line.
pub fn start<A: AsRef<OsStr>>(
    program: &Path,
    args: &[A],
    environment: &[(String, String)],
) -> anyhow::Result<Process> {
    let mut child = Command::new(program)
        .args(args)
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "info,eye_server::http=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let stderr = child.stderr.take().context("stderr")?;
    let (found, address) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut kept) = kept.lock()
                && kept.len() < LOG_LINES
            {
                kept.push((Instant::now(), line.clone()));
            }
            if line.contains("listening")
                && let Some(addr) = line.split("addr=").nth(1)
            {
                let _ = found.send(
                    addr.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let addr = address
        .recv_timeout(Duration::from_secs(60))
        .context("the process never logged its address")?;
    Ok(Process {
        child,
        url: format!("http://{addr}"),
        log,
    })
}

/// The `eye` binary: `--eye`, else the one beside this tool.
pub fn eye_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("eye"),
    };
    anyhow::ensure!(
        path.exists(),
        "no eye binary at {} (build it, or pass --eye)",
        path.display()
    );
    Ok(path)
}

/// `eye keys create` on the store `store_args` points at; gives the new key.
pub fn create_key(
    eye: &Path,
    store_args: &[String],
    app: &str,
    scope: &str,
) -> anyhow::Result<String> {
    let output = Command::new(eye)
        .args(["keys", "create", "--app", app, "--scope", scope])
        .args(store_args)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// Peak resident memory in MiB (`VmHWM`).
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// User plus system CPU time in seconds (clock ticks at the usual 100 Hz).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Bytes under `dir`.
pub fn disk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => disk_bytes(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The bare responder: the same framework, reads the body, answers 202, nothing else.
pub async fn responder(listen: &str) -> anyhow::Result<()> {
    use axum::Router;
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::routing::post;
    let app = Router::new().route(
        "/v1/events",
        post(|_body: Bytes| async { (StatusCode::ACCEPTED, "{}") }),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("responder listening addr={}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
