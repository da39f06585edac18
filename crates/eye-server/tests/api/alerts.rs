//! Alert rules notify webhook receivers on loopback: firing with the exact count (or lag)
//! and a sample error, at most once per window, and resolved when the window is clean
//! again. A receiver that was down gets every notification once it is back, in order; one
//! that never answers holds back no other rule. Every wait has a deadline and a condition.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use eye_server::config::{AlertMetric, AlertRule};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::subscriber::DefaultGuard;

use crate::helpers::{pageview, spawn_with};

/// Longer than any wait here should take; each ends as soon as its condition holds.
const DEADLINE: Duration = Duration::from_secs(20);

/// A token in each webhook URL: it must never reach the logs.
const TOKEN: &str = "s3cret-hook-token";

type Hook = mpsc::UnboundedReceiver<Value>;

/// An address nobody listens on yet: deliveries to it are refused until [`listen`] binds it.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/hook?token={TOKEN}")
}

/// A receiver on `addr`: every body it takes goes to the channel and is answered 200; the
/// first `hang` requests are read and then held open, never answered.
async fn listen(addr: SocketAddr, hang: usize) -> Hook {
    let listener = TcpListener::bind(addr).await.expect("bind");
    let (sender, receiver) = mpsc::unbounded_channel();
    let taken = Arc::new(AtomicUsize::new(0));
    let receive = move |Json(body): Json<Value>| {
        let (sender, taken) = (sender.clone(), Arc::clone(&taken));
        async move {
            if taken.fetch_add(1, Ordering::SeqCst) < hang {
                std::future::pending::<()>().await;
            }
            let _ = sender.send(body);
            axum::http::StatusCode::OK
        }
    };
    let router = Router::new().route("/hook", post(receive));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    receiver
}

async fn webhook() -> (String, Hook) {
    let addr = closed_port().await;
    (url(addr), listen(addr, 0).await)
}

async fn next(hook: &mut Hook, what: &str) -> Value {
    tokio::time::timeout(DEADLINE, hook.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} within {DEADLINE:?}"))
        .expect("the receiver stopped")
}

/// More than `threshold` events with a future timestamp, in the last `window_secs`.
fn future_rule(name: &str, webhook: String, threshold: f64, window_secs: u64) -> AlertRule {
    AlertRule {
        name: name.into(),
        webhook,
        metric: AlertMetric::Rejected,
        threshold,
        window_secs,
        code: Some("timestamp_in_future".into()),
        category: None,
        event_name: None,
    }
}

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// What this test's thread logged (the server runs on the test's runtime, its thread).
    fn capture() -> (Logs, DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Waits for a line holding every one of `parts`.
    async fn wait_for(&self, parts: &[&str]) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !self
            .text()
            .lines()
            .any(|line| parts.iter().all(|part| line.contains(part)))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line with {parts:?} within {DEADLINE:?}:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_rule_fires_once_per_window_and_recovers() {
    let (url, mut notifications) = webhook().await;
    let rule = future_rule("future timestamps", url, 1.0, 2);
    let quiet = AlertRule {
        name: "lag".into(),
        metric: AlertMetric::Lag,
        threshold: 3600.0,
        code: None,
        ..rule.clone()
    };
    let app = spawn_with(|config| {
        config.alerts = vec![rule, quiet];
        config.alert_interval_ms = 100;
    })
    .await;
    let body = json!([
        pageview("a1", "2999-01-01 00:00:00"),
        pageview("a1", "2999-01-02 00:00:00"),
        pageview("a1", "2021-01-01 00:00:00")
    ]);
    assert_eq!(app.ingest(&body).await.status(), StatusCode::ACCEPTED);

    let firing = next(&mut notifications, "firing").await;
    assert_eq!(
        (firing["alert"].clone(), firing["status"].clone()),
        (json!("future timestamps"), json!("firing"))
    );
    assert_eq!(
        (firing["value"].clone(), firing["threshold"].clone()),
        (json!(2.0), json!(1.0))
    );
    assert_eq!(
        firing["filters"],
        json!({"code": "timestamp_in_future", "category": null, "event_name": null}),
        "the filters are named as in the rule's configuration"
    );
    assert_eq!(firing["sample"]["code"], "timestamp_in_future");
    assert!(
        firing["sample"]["raw"]
            .as_str()
            .expect("raw")
            .contains("2999-01")
    );

    let resolved = next(&mut notifications, "resolved").await;
    assert_eq!(
        resolved["status"], "resolved",
        "the next notice is the recovery, not a repeat within the window: {resolved}"
    );
    assert_eq!(resolved["value"], json!(0.0));
    assert_ne!(firing["id"], resolved["id"]);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), notifications.recv())
            .await
            .is_err(),
        "the lag rule never crossed its threshold"
    );
}

#[tokio::test]
async fn the_value_is_the_exact_count_of_matching_errors() {
    let (url, mut notifications) = webhook().await;
    let rule = AlertRule {
        category: Some("page interaction".into()),
        event_name: Some("pageview".into()),
        ..future_rule("future pageviews", url, 1.0, 300)
    };
    let app = spawn_with(|config| {
        config.alerts = vec![rule];
        config.alert_interval_ms = 100;
    })
    .await;
    // 26 matching errors in one request (stored in one batch), and others that do not match.
    let mut events: Vec<Value> = (0..26)
        .map(|_| pageview("v1", "2999-01-01 00:00:00"))
        .collect();
    for _ in 0..4 {
        let mut other = pageview("v1", "2999-01-01 00:00:00");
        other["name"] = json!("cta click");
        events.push(other);
    }
    events.push(pageview("v1", "2021-01-01 00:00:00"));
    assert_eq!(
        app.ingest(&json!(events)).await.status(),
        StatusCode::ACCEPTED
    );

    let firing = next(&mut notifications, "firing").await;
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["value"], json!(26.0), "{firing}");
    assert_eq!(
        firing["filters"],
        json!({"code": "timestamp_in_future", "category": "page interaction", "event_name": "pageview"})
    );
    assert_eq!(firing["sample"]["name"], "pageview");
}

#[tokio::test]
async fn lag_is_measured_on_the_queue_even_while_nothing_is_stored() {
    let (url, mut notifications) = webhook().await;
    let rule = AlertRule {
        name: "nothing stored".into(),
        webhook: url,
        metric: AlertMetric::Lag,
        threshold: 0.5,
        window_secs: 300,
        code: None,
        category: None,
        event_name: None,
    };
    let app = spawn_with(|config| {
        config.alerts = vec![rule];
        config.alert_interval_ms = 100;
    })
    .await;
    // Another process holds the store's write lock: the worker takes the event and cannot
    // store it, so the queue keeps it unacknowledged.
    let lock = rusqlite::Connection::open(app.dir.path().join("eye.db")).expect("open store");
    lock.busy_timeout(Duration::from_secs(5)).expect("timeout");
    lock.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let event = json!(pageview("l1", "2021-01-01 00:00:00"));
    assert_eq!(app.ingest(&event).await.status(), StatusCode::ACCEPTED);

    let firing = next(&mut notifications, "firing").await;
    assert_eq!(
        (firing["status"].clone(), firing["metric"].clone()),
        (json!("firing"), json!("lag"))
    );
    let lag = firing["value"].as_f64().expect("value");
    assert!((0.5..30.0).contains(&lag), "{firing}");

    lock.execute_batch("ROLLBACK").expect("unlock");
    let resolved = next(&mut notifications, "resolved").await;
    assert_eq!(
        (resolved["status"].clone(), resolved["value"].clone()),
        (json!("resolved"), json!(0.0))
    );
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_firing_then_resolved_in_order() {
    let (logs, _guard) = Logs::capture();
    let addr = closed_port().await;
    let app = spawn_with(|config| {
        config.alerts = vec![future_rule("down then up", url(addr), 0.0, 1)];
        config.alert_interval_ms = 100;
    })
    .await;
    let one_future = json!([
        pageview("d1", "2999-01-01 00:00:00"),
        pageview("d1", "2021-01-01 00:00:00")
    ]);
    assert_eq!(app.ingest(&one_future).await.status(), StatusCode::ACCEPTED);

    logs.wait_for(&[
        "alert delivery failed",
        "down then up",
        "firing",
        "connection refused",
    ])
    .await;
    // The window empties while the receiver is still down: `resolved` waits behind `firing`.
    logs.wait_for(&["alert notification queued", "down then up", "resolved"])
        .await;
    let mut notifications = listen(addr, 0).await;

    let firing = next(&mut notifications, "firing").await;
    assert_eq!(
        (firing["status"].clone(), firing["value"].clone()),
        (json!("firing"), json!(1.0)),
        "{firing}"
    );
    let resolved = next(&mut notifications, "resolved").await;
    assert_eq!(resolved["status"], "resolved", "{resolved}");
    let (fired_at, resolved_at) = (firing["at"].as_str(), resolved["at"].as_str());
    assert!(fired_at < resolved_at, "{fired_at:?} then {resolved_at:?}");

    for result in ["failed", "delivered"] {
        let counted = app
            .metric(&format!(
                "eye_alert_deliveries_total{{result=\"{result}\"}}"
            ))
            .await;
        assert!(counted.is_some_and(|n| n >= 1.0), "{result}: {counted:?}");
    }
    assert!(
        !logs.text().contains(TOKEN),
        "the webhook's URL is never logged"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_holds_back_no_other_rule() {
    let (logs, _guard) = Logs::capture();
    let silent = closed_port().await;
    let mut held = listen(silent, 1).await;
    let (answering, mut answered) = webhook().await;
    let app = spawn_with(|config| {
        config.alerts = vec![
            future_rule("never answers", url(silent), 0.0, 300),
            future_rule("answers", answering, 0.0, 300),
        ];
        config.alert_interval_ms = 100;
    })
    .await;
    let one_future = json!([
        pageview("h1", "2999-01-01 00:00:00"),
        pageview("h1", "2021-01-01 00:00:00")
    ]);
    assert_eq!(app.ingest(&one_future).await.status(), StatusCode::ACCEPTED);

    let prompt = tokio::time::timeout(Duration::from_secs(5), answered.recv())
        .await
        .expect("the other rule's notification came without waiting on the silent receiver")
        .expect("the receiver stopped");
    assert_eq!(
        (prompt["alert"].clone(), prompt["status"].clone()),
        (json!("answers"), json!("firing"))
    );

    // The held attempt times out and is retried; the retry is answered.
    let retried = next(&mut held, "the retried notification").await;
    assert_eq!(
        (retried["alert"].clone(), retried["status"].clone()),
        (json!("never answers"), json!("firing"))
    );
    logs.wait_for(&["alert delivery failed", "never answers", "timed out"])
        .await;
}
