//! Where the tests find PostgreSQL and NATS, and what they do when a service is out of
//! reach. Shared word for word by the binary's process tests (`crates/eye/tests/common`
//! includes this file), so both report a missing service the same way.

use std::time::Duration;

/// PostgreSQL for tests: `EYE_TEST_POSTGRES_URL`, by default the local server's `test`
/// database.
pub fn postgres_url() -> String {
    std::env::var("EYE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// NATS with JetStream for tests: `EYE_TEST_NATS_URL`, by default the local server.
pub fn nats_url() -> String {
    std::env::var("EYE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A service a test needs cannot be reached: under `CI=true` that fails the test; elsewhere
/// the test is reported, loudly, as skipped.
pub fn unreachable(service: &str, error: &dyn std::fmt::Display) {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{service} is required under CI=true but unreachable: {error}");
    }
    skipped(&format!(
        "{service} unreachable ({error}); start it to run this test"
    ));
}

/// Says on standard error that the running test is skipped, and why. Written to the stream
/// itself: the test harness keeps what `eprintln!` prints to itself unless the test fails,
/// and a skipped test passes.
pub fn skipped(why: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether NATS answers at [`nats_url`] within three seconds; when it does not, says so
/// through [`unreachable`].
pub async fn nats_reachable() -> bool {
    let probe = tokio::time::timeout(
        Duration::from_secs(3),
        async_nats::connect(nats_url().as_str()),
    )
    .await;
    match probe {
        Ok(Ok(_)) => true,
        Ok(Err(error)) => {
            unreachable("NATS", &error);
            false
        }
        Err(error) => {
            unreachable("NATS", &error);
            false
        }
    }
}

/// A name no other test uses, for schemas, streams and consumers.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
