//! The stores of scenarios 6 and 9: each preloaded directly (no HTTP, no queue) with a given
//! number of events over 30 days (`mix`: four applications, ten event types, sessions of 5
//! to 50 events) and 1% errors, then served, all at once.

use std::path::Path;
use std::sync::Arc;

use eye_server::model::QueueMessage;
use eye_server::model::timestamp;

use super::{Target, error_entry, settle, start_eye};
use crate::deployment::{Backend, Deployment};
use crate::events::Rng;
use crate::mix::Mix;

pub const DAY: i64 = 86_400_000_000;

/// The served stores, smallest first, and when their 30 days begin.
pub struct Preloaded {
    pub start: i64,
    pub stores: Vec<(u64, Target)>,
}

impl Preloaded {
    /// Preloads a store of each size in `counts` (ascending), serves them all, and waits
    /// until the kernel has written the preload back.
    pub async fn serve(eye: &Path, backend: &Backend, counts: &[u64]) -> anyhow::Result<Self> {
        let end = timestamp::now_micros() - DAY;
        let start = end - 30 * DAY;
        let mut stores = Vec::new();
        for &count in counts {
            let deployment = Deployment::create(backend).await?;
            preload(&deployment, count, start).await?;
            stores.push((count, start_eye(eye, deployment)?));
        }
        for (_, target) in &stores {
            // The preload leaves gigabytes for the kernel to write back; measured on top of
            // that, the p99s would be the disk's, not the queries'.
            settle(target).await;
        }
        Ok(Preloaded { start, stores })
    }

    /// Stops every server and removes every store.
    pub async fn finish(self) {
        for (_, target) in self.stores {
            target.finish().await;
        }
    }
}

async fn preload(deployment: &Deployment, count: u64, start: i64) -> anyhow::Result<()> {
    let store = deployment.open_store().await?;
    let mut mix = Mix::new(11, "pre");
    let mut rng = Rng::new(3);
    let step = 30 * DAY / count.max(1) as i64;
    let mut loaded = 0;
    while loaded < count {
        let size = (count - loaded).min(5000);
        let batch: Arc<[QueueMessage]> = (0..size)
            .map(|i| {
                let at = start + (loaded + i) as i64 * step;
                if rng.below(100) == 0 {
                    QueueMessage::Error(error_entry(at))
                } else {
                    QueueMessage::Event(mix.record(at))
                }
            })
            .collect();
        store.write_batch(batch).await?;
        loaded += size;
    }
    Ok(())
}
