//! Running the real `eye` binary: commands, and a server process on a random port.

#![allow(dead_code)]

pub mod services;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const EYE: &str = env!("CARGO_BIN_EXE_eye");

/// Runs `eye` with `args` to its end; fails the test when it has not finished within a
/// minute.
pub fn eye(args: &[&str]) -> Output {
    let child = Command::new(EYE)
        .args(args)
        .env_remove("EYE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eye");
    output_within(child, Duration::from_secs(60), &format!("eye {args:?}"))
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
        let written = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes());
        // A command that refuses its arguments exits without reading its input: what it
        // printed and its exit code are what the test looks at.
        if let Err(error) = written
            && error.kind() != std::io::ErrorKind::BrokenPipe
        {
            panic!("write stdin: {error}");
        }
    }
    drop(child.stdin.take());
    let output = output_within(child, Duration::from_secs(60), &format!("{command:?}"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Waits for `child` to exit and returns what it printed (through the pipes it was given);
/// kills it and fails the test, showing what it printed, when it has not exited within
/// `limit`.
pub fn output_within(child: Child, limit: Duration, what: &str) -> Output {
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    if let Ok(output) = finished.recv_timeout(limit) {
        return output.expect("wait for the process");
    }
    kill(pid, 9);
    let printed = finished
        .recv_timeout(Duration::from_secs(10))
        .ok()
        .and_then(Result::ok)
        .map(|output| {
            format!(
                "stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .unwrap_or_default();
    panic!("{what} did not finish within {limit:?}; killed.\n{printed}");
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

/// A process's standard error, kept line by line as it comes, to wait on.
pub struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
}

#[derive(Default)]
struct LogState {
    text: String,
    /// The stream ended: the process exited (or closed it).
    closed: bool,
}

impl Log {
    /// Reads `stream` on a thread of its own until it ends.
    pub fn collect(stream: impl Read + Send + 'static) -> Arc<Log> {
        let log = Arc::new(Log {
            state: Mutex::new(LogState::default()),
            changed: Condvar::new(),
        });
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut state = sink.state();
                state.text.push_str(&line);
                state.text.push('\n');
                sink.changed.notify_all();
            }
            sink.state().closed = true;
            sink.changed.notify_all();
        });
        log
    }

    fn state(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        self.state().text.clone()
    }

    /// The first answer of `find` for a line, waiting for more lines as they come; `None`
    /// when the stream ends without one. Fails the test when neither happened within
    /// `limit`.
    pub fn wait_for<T>(&self, limit: Duration, find: impl Fn(&str) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + limit;
        let mut state = self.state();
        loop {
            if let Some(found) = state.text.lines().find_map(&find) {
                return Some(found);
            }
            if state.closed {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "nothing expected was logged within {limit:?}:\n{}",
                state.text
            );
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The whole log once the stream has ended; fails the test when it has not within
    /// `limit`.
    pub fn complete(&self, limit: Duration) -> String {
        self.wait_for(limit, |_| None::<()>);
        self.text()
    }
}

/// The address in a `listening` line (`... listening addr=127.0.0.1:1234 ...`).
pub fn listening_addr(line: &str) -> Option<String> {
    if !line.contains("listening") {
        return None;
    }
    let addr = line.split("addr=").nth(1)?.split_whitespace().next()?;
    Some(addr.to_owned())
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: Arc<Log>,
}

impl Server {
    /// Starts `eye serve` on a free port and waits for the address it logs.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Server::start_with(dir, extra, &[])
    }

    /// Like [`Server::start`], with extra environment variables (`RUST_LOG` is `info`
    /// unless they say otherwise).
    pub fn start_with(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(EYE)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                dir.to_str().expect("utf-8"),
            ])
            .args(extra)
            .env_remove("EYE_CONFIG")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn eye serve");
        let log = Log::collect(child.stderr.take().expect("stderr"));
        let Some(addr) = log.wait_for(Duration::from_secs(30), listening_addr) else {
            panic!("eye serve exited without listening:\n{}", log.text());
        };
        Server {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    /// The first log line holding every one of `parts`, waiting for it up to `limit`.
    pub fn wait_for_line(&self, parts: &[&str], limit: Duration) -> String {
        self.log
            .wait_for(limit, |line| {
                parts
                    .iter()
                    .all(|part| line.contains(part))
                    .then(|| line.to_owned())
            })
            .unwrap_or_else(|| {
                panic!(
                    "eye serve exited without logging {parts:?}:\n{}",
                    self.log.text()
                )
            })
    }

    pub fn signal(&self, signal: i32) {
        assert!(kill(self.child.id(), signal), "kill failed");
    }

    /// Waits for the server to exit; fails the test when it has not within `limit`.
    pub fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "eye serve did not exit within {limit:?}:\n{}",
                self.log.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status and the whole log; fails the test when the server has
    /// not exited within half a minute.
    pub fn stop(mut self) -> (ExitStatus, String) {
        self.signal(15);
        let status = self.exit_within(Duration::from_secs(30));
        (status, self.log.complete(Duration::from_secs(10)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` to process `pid` with kill(1): no `unsafe` needed.
fn kill(pid: u32, signal: i32) -> bool {
    Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .is_ok_and(|status| status.success())
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

/// Every stored `event_id`, following pagination; fails the test on an event stored
/// without one (the callers send an `event_id` with every event).
pub async fn stored_event_ids(client: &reqwest::Client, base: &str, key: &str) -> Vec<String> {
    let events = stored_events(client, base, key).await;
    events
        .iter()
        .map(|e| {
            e["event_id"]
                .as_str()
                .unwrap_or_else(|| panic!("stored without its event_id: {e}"))
                .to_owned()
        })
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

/// A server on a data directory of its own, with an ingest key (app `shop`) and a query key
/// (app `team`) made before it started.
pub struct KeyedServer {
    pub server: Server,
    /// The server's base URL.
    pub url: String,
    pub ingest: String,
    pub query: String,
    // Last: the server stops before its data directory goes.
    pub dir: tempfile::TempDir,
}

impl KeyedServer {
    pub fn start() -> KeyedServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let ingest = create_key(dir.path(), "shop", "ingest");
        let query = create_key(dir.path(), "team", "query");
        let server = Server::start(dir.path(), &[]);
        KeyedServer {
            url: server.base.clone(),
            server,
            ingest,
            query,
            dir,
        }
    }
}

/// `eye tail --url <url> --key <key>` with `args`, its output piped (read it with
/// [`tail_sessions`]).
pub fn spawn_tail(url: &str, key: &str, args: &[&str]) -> Child {
    Command::new(EYE)
        .args(["tail", "--url", url, "--key", key])
        .args(args)
        .env_remove("EYE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tail")
}

/// POSTs each of `events` to `<base>/v1/events` with `key`; fails the test on an answer
/// other than 202.
pub async fn post_events(base: &str, key: &str, events: impl IntoIterator<Item = Value>) {
    let http = http();
    for body in events {
        let response = http
            .post(format!("{base}/v1/events"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 202);
    }
}

/// Waits (up to `limit`) for a tail started with `--format json` to end, fails the test
/// unless it succeeded, and returns the `session_id` of each event it printed, in order.
pub async fn tail_sessions(tail: Child, limit: Duration) -> Vec<String> {
    let output = tokio::task::spawn_blocking(move || output_within(tail, limit, "eye tail"))
        .await
        .expect("join");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_lines(&String::from_utf8_lossy(&output.stdout))
        .iter()
        .map(|e| e["session_id"].as_str().expect("session").to_owned())
        .collect()
}

/// The exit code, standard output and standard error of `eye` with `args` (and `stdin`),
/// none of the caller's `EYE_*` settings.
pub fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let run = run_with(args, stdin, &[]);
    (run.code, run.stdout, run.stderr)
}
