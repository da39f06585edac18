//! Test support shared by the conformance suites of the seams.

/// Stamps out one `#[tokio::test]` per behaviour function for one backend:
/// `conformance_suite!(module_name, harness_expression, behaviour, ...)`. Each behaviour is
/// an `async fn(&Harness)` of the suite, so every backend runs the same assertions.
macro_rules! conformance_suite {
    ($module:ident, $harness:expr, $($behaviour:ident),+ $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let harness = $harness;
                    super::$behaviour(&harness).await;
                }
            )+
        }
    };
}

pub(crate) use conformance_suite;
