//! Test support: the conformance-suite macro of the seams, where the test services are (see
//! [`services`]), and a store that refuses chosen events on purpose.

mod refusing_store;
mod services;

pub(crate) use refusing_store::RefusingStore;
pub(crate) use services::{nats_reachable, nats_url, postgres_url, unique_name, unreachable};

/// Stamps out one `#[tokio::test]` per behaviour function for one backend:
/// `conformance_suite!(module_name, harness_expression, behaviour, ...)`. Each behaviour is
/// an `async fn(&Harness)` of the suite, so every backend runs the same assertions. The
/// harness expression is awaited and gives `None` when its service is out of reach (see
/// [`unreachable`]).
macro_rules! conformance_suite {
    // One list of behaviours for several backends: `sqlite => harness(), postgres => ...;`.
    ($($module:ident => $harness:expr),+ ; $($behaviour:ident),+ $(,)?) => {
        $crate::testing::conformance_suite!(@each [$($behaviour),+] $($module => $harness),+);
    };
    (@each [$($behaviour:ident),+] $module:ident => $harness:expr $(, $rest:ident => $more:expr)*) => {
        $crate::testing::conformance_suite!($module, $harness, $($behaviour),+);
        $crate::testing::conformance_suite!(@each [$($behaviour),+] $($rest => $more),*);
    };
    (@each [$($behaviour:ident),+]) => {};
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

pub(crate) use conformance_suite;
