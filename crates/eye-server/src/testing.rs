//! Test support shared by the conformance suites of the seams.

/// Stamps out one `#[tokio::test]` per behaviour function for one backend:
/// `conformance_suite!(module_name, harness_expression, behaviour, ...)`. Each behaviour is
/// an `async fn(&Harness)` of the suite, so every backend runs the same assertions. The
/// harness expression is awaited and gives `None` when its service is out of reach (see
/// [`unreachable`]).
macro_rules! conformance_suite {
    ($module:ident, $harness:expr, $($behaviour:ident),+ $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let Some(harness) = $harness.await else { return };
                    super::$behaviour(&harness).await;
                }
            )+
        }
    };
}

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
    eprintln!("SKIPPED: {service} unreachable ({error}); start it to run this test");
}

/// A name no other test uses, for schemas, streams and consumers.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

pub(crate) use conformance_suite;
