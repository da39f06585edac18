//! A server that is not there: the client says so, naming the URL, and a bounded `send`
//! gives up when its time is up, announcing every retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use eye_client::{Client, ClientError, EventFilter, NetworkErrorKind};
use serde_json::json;

fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}", listener.local_addr().expect("addr"))
}

#[tokio::test]
async fn a_url_without_a_scheme_is_refused_by_the_builder() {
    for url in [
        "127.0.0.1:8000",
        "localhost",
        "ftp://example.com",
        "http://",
    ] {
        let built = Client::builder(url, "eye_key").build();
        assert!(
            matches!(built, Err(ClientError::Settings(_))),
            "{url} was accepted"
        );
    }
    let Err(ClientError::Settings(message)) = Client::builder("127.0.0.1:8000", "k").build() else {
        panic!("refused");
    };
    assert!(message.contains("http://127.0.0.1:8000"), "{message}");
    assert!(
        Client::builder("http://127.0.0.1:8000/", "k")
            .build()
            .is_ok()
    );
    let Err(ClientError::Settings(message)) =
        Client::builder("http://127.0.0.1:8000/v1", "k").build()
    else {
        panic!("a route given as the base URL was accepted");
    };
    assert!(message.contains("http://127.0.0.1:8000 "), "{message}");
    assert!(
        Client::builder("https://corp.example.com/eye", "k")
            .build()
            .is_ok(),
        "a reverse proxy's prefix is a base URL"
    );
}

#[tokio::test]
async fn a_refused_connection_is_named_and_retries_stop_when_the_time_is_up() {
    let url = closed_port_url();
    let announced = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&announced);
    let client = Client::builder(&url, "eye_key")
        .max_retries(u32::MAX)
        .backoff(Duration::from_millis(50), Duration::from_millis(100))
        .retry_for(Duration::from_millis(500))
        .on_retry(move |notice| {
            assert_eq!(notice.attempt, counter.fetch_add(1, Ordering::SeqCst) + 1);
            assert!(notice.problem.network().is_some());
        })
        .build()
        .expect("client");
    let event = json!({"session_id": "s", "category": "c", "name": "n", "data": {}, "timestamp": "2021-01-01T00:00:00Z"});
    let error = client.send(&[event]).await.expect_err("nothing listens");
    let ClientError::GaveUp { attempts, .. } = &error else {
        panic!("{error}");
    };
    assert!(*attempts >= 2, "{error}");
    assert_eq!(
        announced.load(Ordering::SeqCst),
        attempts - 1,
        "every retry announced"
    );
    assert_eq!(
        error.network().map(|n| &n.kind),
        Some(&NetworkErrorKind::ConnectionRefused)
    );
    assert!(
        error
            .to_string()
            .contains(&format!("connection refused at {url}")),
        "{error}"
    );

    let query = client
        .events(&EventFilter::default())
        .await
        .expect_err("down");
    assert_eq!(query.to_string(), format!("connection refused at {url}"));
}
