//! Alert rules notify a local webhook: firing (with a sample error), at most once per
//! window, and resolved when the window is clean again.

use std::time::Duration;

use eye_server::config::{AlertMetric, AlertRule};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::helpers::{pageview, spawn_with};

/// A webhook receiver on a random port: every JSON body it receives goes to the channel.
async fn webhook() -> (String, mpsc::UnboundedReceiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(read) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    data.extend_from_slice(&chunk[..read]);
                    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if data.len() >= end + 4 + length {
                        if let Ok(body) = serde_json::from_slice(&data[end + 4..end + 4 + length]) {
                            let _ = sender.send(body);
                        }
                        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                        return;
                    }
                }
            });
        }
    });
    (url, receiver)
}

#[tokio::test]
async fn a_rule_fires_once_per_window_and_recovers() {
    let (url, mut notifications) = webhook().await;
    let rule = AlertRule {
        name: "future timestamps".into(),
        webhook: url,
        metric: AlertMetric::Rejected,
        threshold: 1.0,
        window_secs: 2,
        code: Some("timestamp_in_future".into()),
        category: None,
        event_name: None,
    };
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

    let firing = tokio::time::timeout(Duration::from_secs(10), notifications.recv())
        .await
        .expect("notified")
        .expect("body");
    assert_eq!(
        (firing["alert"].clone(), firing["status"].clone()),
        (json!("future timestamps"), json!("firing"))
    );
    assert_eq!(
        (firing["value"].clone(), firing["threshold"].clone()),
        (json!(2.0), json!(1.0))
    );
    assert_eq!(firing["sample"]["code"], "timestamp_in_future");
    assert!(
        firing["sample"]["raw"]
            .as_str()
            .expect("raw")
            .contains("2999-01")
    );

    let resolved = tokio::time::timeout(Duration::from_secs(10), notifications.recv())
        .await
        .expect("notified")
        .expect("body");
    assert_eq!(
        resolved["status"], "resolved",
        "the next notice is the recovery, not a repeat within the window: {resolved}"
    );
    assert_eq!(resolved["value"], json!(0.0));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), notifications.recv())
            .await
            .is_err(),
        "the lag rule never crossed its threshold"
    );
}
