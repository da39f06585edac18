//! What the lifecycle cycles print, and the node logs kept of a cycle that failed.

use std::path::{Path, PathBuf};

use super::Outcome;

/// Copies the nodes' logs out of the deployment's directory, which goes with it.
pub fn keep_logs(from: &Path, label: &str) -> std::io::Result<PathBuf> {
    let to = std::env::temp_dir().join(format!(
        "eye-crash-{label}-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log") {
            std::fs::copy(&path, to.join(path.file_name().unwrap_or_default()))?;
        }
    }
    Ok(to)
}

/// The table of the lifecycle cycles, each row followed by its store readings and by
/// whatever disagreed.
pub fn table(outcomes: &[Outcome]) {
    if outcomes.is_empty() {
        return;
    }
    println!(
        "{:<20} {:>7} {:>7} {:>12} {:>8} {:>6} {:>5} {:>10} {:>7} {:>7} {:>8} {:>8} {:>15} {:>10}",
        "LIFECYCLE CYCLE",
        "STORED",
        "TO GO",
        "LEFT AT KILL",
        "RECOVERY",
        "ACKED",
        "LOST",
        "DUPLICATED",
        "ALTERED",
        "PHANTOM",
        "REJECTED",
        "NOT GONE",
        "SUMMARIES: API",
        "STORE FILE"
    );
    for outcome in outcomes {
        let tally = &outcome.verdict.tally;
        println!(
            "{:<20} {:>7} {:>7} {:>12} {:>7.1}s {:>6} {:>5} {:>10} {:>7} {:>7} {:>8} {:>8} {:>15} {:>10}",
            outcome.kind,
            outcome.stored,
            outcome.to_go,
            outcome
                .left_at_kill
                .map_or("-".to_owned(), |n| n.to_string()),
            outcome.recovery.as_secs_f64(),
            tally.acknowledged,
            tally.lost,
            tally.duplicated,
            tally.corrupted,
            tally.phantom,
            tally.rejected,
            outcome.verdict.not_gone,
            outcome.wrong_summaries,
            outcome.wrong_in_snapshots(),
        );
        // Consecutive readings at the same moment are summed up in one line.
        let mut index = 0;
        while index < outcome.snapshots.len() {
            let moment = outcome.snapshots[index].0;
            let same = outcome.snapshots[index..]
                .iter()
                .take_while(|(m, _)| *m == moment)
                .count();
            let readings = &outcome.snapshots[index..index + same];
            let wrong: u64 = readings.iter().map(|(_, r)| r.disagreements()).sum();
            let (first, last) = (&readings[0].1, &readings[same - 1].1);
            let events = if same == 1 {
                format!("{} events, {} sessions", first.events, first.sessions)
            } else {
                format!(
                    "{} readings, {} to {} events",
                    same, first.events, last.events
                )
            };
            let took = readings
                .iter()
                .map(|(_, r)| r.took)
                .max()
                .unwrap_or_default();
            println!(
                "    store {moment}: {events}, {wrong} summaries disagree (read in {:.2}s at most)",
                took.as_secs_f64()
            );
            index += same;
        }
        for example in &outcome.verdict.examples {
            println!("    not gone: {example}");
        }
        if tally.rejected_missing > 0 {
            println!(
                "    rejected events missing from the error store: {}",
                tally.rejected_missing
            );
        }
        for problem in &outcome.problems {
            println!("    PROBLEM: {problem}");
        }
    }
    if outcomes.iter().all(|o| !o.broken()) {
        println!(
            "OK: every sweep and erasure killed midway resumed and completed; nothing that had to go \
             is left, everything else is stored exactly once, and no summary ever disagreed with its events"
        );
    }
}
