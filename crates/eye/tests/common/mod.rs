//! Running the real `eye` binary: commands, and a server process on a random port.

#![allow(dead_code)]

pub mod services;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub const EYE: &str = env!("CARGO_BIN_EXE_eye");

pub fn eye(args: &[&str]) -> Output {
    Command::new(EYE)
        .args(args)
        .env_remove("EYE_CONFIG")
        .output()
        .expect("run eye")
}

/// What a finished `eye` command printed, and its exit code.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `eye` with `args` and extra variables, none of the caller's `EYE_*` settings.
pub fn eye_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(EYE);
    command
        .args(args)
        .env_remove("EYE_URL")
        .env_remove("EYE_KEY")
        .env_remove("EYE_CONFIG")
        .env_remove("EYE_DATA_DIR")
        .envs(env.iter().copied());
    command
}

/// Runs `eye` with `args`, standard input and extra variables; fails the test when it has
/// not finished within a minute.
pub fn run_with(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    finish(eye_command(args, env), stdin)
}

/// Runs `command` to its end, with `stdin` as its input; fails the test when it has not
/// finished within a minute.
pub fn finish(mut command: Command, stdin: Option<&str>) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eye");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = finished
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{command:?} did not finish within a minute"))
        .expect("wait for eye");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every line of `text` as JSON; fails the test on a line that is not.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

/// Creates a key with the CLI and returns it (the only line on standard output).
pub fn create_key(dir: &Path, app: &str, scope: &str) -> String {
    let output = eye(&[
        "keys",
        "create",
        "--app",
        app,
        "--scope",
        scope,
        "--data-dir",
        dir.to_str().expect("utf-8"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// Starts `eye serve` on a free port and waits for the address it logs.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(EYE)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                dir.to_str().expect("utf-8"),
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn eye serve");
        let stderr = child.stderr.take().expect("stderr");
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .split("addr=")
                    .nth(1)
                    .filter(|_| line.contains("listening"))
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
            .recv_timeout(Duration::from_secs(30))
            .expect("server logged its address");
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    pub fn signal(&self, signal: i32) {
        let pid = self.child.id() as i32;
        // SAFETY-free: libc::kill has no memory effects; it only sends a signal.
        let result = unsafe_free_kill(pid, signal);
        assert_eq!(result, 0, "kill failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_free_kill(pid: i32, signal: i32) -> i32 {
    Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .map_or(-1, |status| if status.success() { 0 } else { -1 })
}

pub async fn get_json(client: &reqwest::Client, url: &str, key: &str) -> (u16, Value) {
    let response = client.get(url).bearer_auth(key).send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// Waits until the server's queue is empty, up to `limit`.
pub async fn drain(client: &reqwest::Client, base: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && let Ok(body) = response.json::<Value>().await
            && body["queue_depth"] == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("queue did not drain within {limit:?}");
}

/// Every stored event, following pagination.
pub async fn stored_events(client: &reqwest::Client, base: &str, key: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = get_json(
            client,
            &format!("{base}/v1/events?limit=1000&cursor={cursor}"),
            key,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        events.extend(page["events"].as_array().expect("events").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return events,
        }
    }
}

/// Every stored `event_id`, following pagination.
pub async fn stored_event_ids(client: &reqwest::Client, base: &str, key: &str) -> Vec<String> {
    let events = stored_events(client, base, key).await;
    events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// An HTTP client for tests. reqwest is built without a default TLS crypto provider in this
/// workspace (the SDK brings ring), so one is installed first.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Like [`http`], with a request timeout.
pub fn http_with_timeout(timeout: std::time::Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("http client")
}
