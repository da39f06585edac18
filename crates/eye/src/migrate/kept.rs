//! What a store keeps besides rows, copied by `eye migrate-data`: the PII secret (so that
//! the target hashes equal values as the source did) and the erasure jobs (their records
//! must stay, and their suppressions must keep holding).

use eye_server::model::timestamp::Micros;
use eye_server::store::Store;

use super::Copied;

/// Erasures read from the source at a time.
const ERASURE_PAGE: usize = 500;

/// Why a target that already keeps another PII secret is refused, and how to go on.
const OTHER_SECRET: &str = "the target already hashes `x-eye-pii: hash` fields with another \
    PII secret than the source: values hashed before the move would not match the same values \
    hashed after it. Nothing was copied. Copy into an empty target (a node started on it \
    before the copy made that secret), or, when the target holds no hashes to keep, delete its \
    secret (DELETE FROM settings WHERE name = 'pii_secret') and run this again. Nodes that set \
    `pii_secret` in their configuration hash with it and use neither stored secret";

/// Gives the target the source's PII secret; refuses a target that keeps another one. Run
/// before anything else is copied, so that a refused target is left as it was.
pub async fn copy_pii_secret(from: &dyn Store, to: &dyn Store) -> anyhow::Result<()> {
    let Some(secret) = from.stored_pii_secret().await? else {
        eprintln!(
            "PII secret: the source keeps none (its nodes never started, or hash with a \
             `pii_secret` from their configuration: set the same on the target's nodes)"
        );
        return Ok(());
    };
    let present = to.stored_pii_secret().await?.is_some();
    anyhow::ensure!(to.import_pii_secret(&secret).await?, OTHER_SECRET);
    if present {
        eprintln!("PII secret: the target already hashes with the source's");
    } else {
        eprintln!("PII secret: copied");
    }
    Ok(())
}

/// Copies every erasure job as it is, with its suppressions. Run after the events and
/// errors: a job not yet done in the source then finds its sessions' rows in the target,
/// whose workers erase them, rather than making the target leave them out of the copy
/// (which no count would then match).
pub async fn copy_erasures(from: &dyn Store, to: &dyn Store) -> anyhow::Result<Copied> {
    let mut copied = Copied::default();
    let mut after: Option<(Micros, String)> = None;
    loop {
        let position = after.as_ref().map(|(at, id)| (*at, id.as_str()));
        let page = from.export_erasures(position, ERASURE_PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(copied);
        };
        for job in &page {
            if to.import_erasure(job).await? {
                copied.new += 1;
            } else {
                copied.present += 1;
            }
        }
        after = Some((last.requested_at, last.id.clone()));
    }
}

/// How many erasure jobs `store` keeps.
pub async fn count_erasures(store: &dyn Store) -> anyhow::Result<usize> {
    let (mut count, mut after): (usize, Option<(Micros, String)>) = (0, None);
    loop {
        let position = after.as_ref().map(|(at, id)| (*at, id.as_str()));
        let page = store.export_erasures(position, ERASURE_PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(count);
        };
        count += page.len();
        after = Some((last.requested_at, last.id.clone()));
    }
}
