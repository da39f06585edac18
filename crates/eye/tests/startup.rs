//! `eye serve` at start-up, as a process: configuration mistakes and unusable places are
//! refused with the path and the cause, names are resolved, schema files are loaded without
//! undoing the API's changes.

mod common;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::services::{postgres_url, skipped, unreachable};
use common::{EYE, Log, create_key, eye_command, listening_addr, run_with};
use serde_json::{Value, json};

/// A running (or failed) `eye serve`, its standard error collected as it comes.
struct Serve {
    child: Child,
    log: Arc<Log>,
}

impl Serve {
    fn spawn(mut command: Command) -> Serve {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn eye serve");
        let log = Log::collect(child.stderr.take().expect("stderr"));
        Serve { child, log }
    }

    /// `eye serve` with `args`, none of the caller's `EYE_*` settings.
    fn start(args: &[&str]) -> Serve {
        Serve::spawn(eye_command(&[&["serve"], args].concat(), &[]))
    }

    fn log(&self) -> String {
        self.log.text()
    }

    /// The base URL once the server logs its address, or the log when it exits first.
    fn listening(&mut self) -> Result<String, String> {
        if let Some(addr) = self.log.wait_for(Duration::from_secs(30), listening_addr) {
            return Ok(format!("http://{addr}"));
        }
        // Its standard error ended: the process is exiting.
        let status = self.exited_within(Duration::from_secs(30));
        Err(format!("exit {status}: {}", self.log()))
    }

    fn exited_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "eye serve did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log of a start that must fail: the process exits 1 without listening.
    fn refused(mut self) -> String {
        match self.listening() {
            Ok(base) => panic!("the server started at {base}:\n{}", self.log()),
            Err(log) => {
                assert!(log.starts_with("exit exit status: 1"), "{log}");
                log
            }
        }
    }

    /// SIGTERM, then waits for the exit.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.exited_within(Duration::from_secs(30));
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Under `CI=true` a test that cannot run here fails; elsewhere it says so and returns.
fn cannot_run(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{test} cannot run here under CI=true: {why}");
    }
    skipped(why);
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[test]
fn a_data_directory_that_is_a_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("eye-data");
    std::fs::write(&file, "not a directory").expect("write");
    let log = Serve::start(&["--listen", "127.0.0.1:0", "--data-dir", text(&file)]).refused();
    assert!(
        log.contains(&format!(
            "the data directory {} is a file, not a directory",
            file.display()
        )),
        "{log}"
    );
}

#[test]
fn a_data_directory_that_is_not_writable_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("eye-data");
    std::fs::create_dir(&data).expect("mkdir");
    let status = Command::new("chmod")
        .args(["0555", text(&data)])
        .status()
        .expect("chmod");
    assert!(status.success());
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        text(&data),
    ];
    // Root writes anywhere: take away its power to override permissions, as an ordinary
    // user has none.
    let command = if is_root() {
        let setpriv = Command::new("setpriv").arg("--version").output();
        if !setpriv.is_ok_and(|out| out.status.success()) {
            return cannot_run(
                "a_data_directory_that_is_not_writable_is_named",
                "running as root without setpriv to drop CAP_DAC_OVERRIDE",
            );
        }
        let mut command = Command::new("setpriv");
        command
            .args(["--bounding-set=-dac_override,-dac_read_search", "--", EYE])
            .args(args)
            .env_remove("EYE_CONFIG")
            .env_remove("EYE_DATA_DIR");
        command
    } else {
        eye_command(&args, &[])
    };
    let log = Serve::spawn(command).refused();
    assert!(
        log.contains(&format!(
            "the data directory {} is not writable by this user (permission denied)",
            data.display()
        )),
        "{log}"
    );
}

/// Unmounts on drop.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_data_directory_on_a_read_only_file_system_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", text(dir.path())])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !mounted {
        return cannot_run(
            "a_data_directory_on_a_read_only_file_system_is_named",
            "cannot mount a read-only tmpfs (needs root)",
        );
    }
    let _unmount = Mounted(dir.path().to_owned());
    let log = Serve::start(&["--listen", "127.0.0.1:0", "--data-dir", text(dir.path())]).refused();
    assert!(
        log.contains(&format!(
            "the data directory {} is on a read-only file system",
            dir.path().display()
        )),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_that_does_not_exist_says_how_to_create_it() {
    if let Err(error) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await {
        return unreachable("PostgreSQL", &error);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("eye_missing_{}", uuid::Uuid::now_v7().simple());
    let base = postgres_url();
    let (server, _) = base.rsplit_once('/').expect("a database in the URL");
    let store = format!("{server}/{missing}");
    let log = Serve::start(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        text(dir.path()),
        "--store",
        &store,
    ])
    .refused();
    assert!(
        log.contains(&format!("database \"{missing}\" does not exist")),
        "{log}"
    );
    assert!(log.contains("createdb"), "{log}");
    assert!(log.contains(&missing), "{log}");
}

#[test]
fn an_unknown_setting_in_the_config_file_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("eye.toml");
    std::fs::write(&config, "listn = \"127.0.0.1:0\"\n").expect("write");
    let data = dir.path().join("data");
    let log = Serve::start(&["--config", text(&config), "--data-dir", text(&data)]).refused();
    assert!(log.contains("unknown setting `listn`"), "{log}");
    assert!(log.contains(&config.display().to_string()), "{log}");
    assert!(log.contains("did you mean `listen`?"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_takes_a_host_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Serve::start(&["--listen", "localhost:0", "--data-dir", text(dir.path())]);
    let base = server
        .listening()
        .expect("eye serve --listen localhost:0 starts");
    let health = common::http()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    server.stop();
}

#[test]
fn serve_help_names_the_current_values() {
    let help = run_with(&["serve", "--help"], None, &[]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    let queue = help
        .stdout
        .split("--queue")
        .nth(1)
        .and_then(|rest| rest.split("\n  -").next())
        .expect("--queue is described");
    assert!(queue.contains("[default: embedded"), "{queue}");
    assert!(!queue.contains("sqlite"), "{queue}");
    assert!(help.stdout.contains("localhost:8000"), "{}", help.stdout);
}

const CTA: &str = "/v1/schemas/page%20interaction/cta%20click";

async fn schema_in_force(base: &str, admin: &str) -> Value {
    let response = common::http()
        .get(format!("{base}{CTA}"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("get schema");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

fn cta_file(required: &[&str]) -> String {
    json!({
        "category": "page interaction",
        "name": "cta click",
        "schema": {"type": "object", "required": required},
    })
    .to_string()
}

/// The walk-through's own case: a schema changed through the API survives a restart with
/// the same files; an edited file wins; mistakes in the directory are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_files_make_versions_only_when_they_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, schemas) = (dir.path().join("data"), dir.path().join("schemas"));
    std::fs::create_dir(&schemas).expect("mkdir");
    let file = schemas.join("cta.json");
    std::fs::write(&file, cta_file(&["element"])).expect("write");
    let admin = create_key(&data, "ops", "admin");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        text(&data),
        "--schemas",
        text(&schemas),
    ];

    let mut server = Serve::start(&args);
    let base = server.listening().expect("starts");
    let changed = common::http()
        .put(format!("{base}{CTA}"))
        .bearer_auth(&admin)
        .json(&json!({"type": "object"}))
        .send()
        .await
        .expect("put");
    assert_eq!(changed.status(), 200);
    server.stop();

    let mut server = Serve::start(&args);
    let base = server.listening().expect("restarts");
    let in_force = schema_in_force(&base, &admin).await;
    assert_eq!(
        (in_force["version"].clone(), in_force["schema"].clone()),
        (json!(2), json!({"type": "object"})),
        "the API's version stays"
    );
    let log = server.log();
    let warning = log
        .lines()
        .find(|line| line.contains("WARN") && line.contains(&file.display().to_string()))
        .unwrap_or_else(|| panic!("no warning names {}:\n{log}", file.display()));
    assert!(warning.contains("unchanged"), "{warning}");
    assert!(warning.contains("version 2 stays in force"), "{warning}");
    server.stop();

    std::fs::write(&file, cta_file(&["element", "page"])).expect("edit");
    let notes = schemas.join("notes.txt");
    std::fs::write(&notes, "to do: a schema for submit").expect("write");
    let mut server = Serve::start(&args);
    let base = server.listening().expect("starts with the edited file");
    let in_force = schema_in_force(&base, &admin).await;
    assert_eq!(
        (
            in_force["version"].clone(),
            in_force["schema"]["required"].clone()
        ),
        (json!(3), json!(["element", "page"])),
        "an edited file makes a new version"
    );
    let log = server.log();
    assert!(
        log.lines()
            .any(|line| line.contains("WARN") && line.contains(&notes.display().to_string())),
        "no warning names {}:\n{log}",
        notes.display()
    );
    assert!(!log.contains("unchanged since"), "{log}");
    server.stop();

    let copy = schemas.join("cta-copy.json");
    std::fs::write(&copy, cta_file(&["element"])).expect("write");
    let log = Serve::start(&args).refused();
    assert!(log.contains(&copy.display().to_string()), "{log}");
    assert!(log.contains(&file.display().to_string()), "{log}");
    assert!(log.contains("both for event type"), "{log}");
}

#[test]
fn a_start_refused_for_a_schema_file_leaves_no_data_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = dir.path().join("schemas");
    std::fs::create_dir(&schemas).expect("mkdir");
    std::fs::write(
        schemas.join("bad.json"),
        r#"{"category": "c", "name": "n", "schema": {"type": "objekt"}}"#,
    )
    .expect("write");
    let data = dir.path().join("data");
    let log = Serve::start(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        text(&data),
        "--schemas",
        text(&schemas),
    ])
    .refused();
    assert!(log.contains("objekt"), "{log}");
    assert!(!data.exists(), "the refused start made {}", data.display());
}
