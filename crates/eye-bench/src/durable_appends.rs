//! The ceiling of scenario 3: how fast this disk makes small appends durable, on the same
//! fixed schedule as the requests, with nothing else in the way.
//!
//! An acknowledgement waits for an `fdatasync`, so no design that keeps its promise can
//! answer faster than the disk syncs. The disk of a shared virtual machine stalls now and
//! then for tens of milliseconds; when stalls cover more than 1% of the time, they alone
//! decide the p99 of every durable write, and this baseline shows it.
//!
//! The writer commits like the best possible queue: one thread that, after each sync,
//! writes every record whose time has come in one `pwrite` and syncs them together (group
//! commit). It overwrites a region written and synced beforehand, so no sync has to
//! allocate blocks. Each record's latency runs from its scheduled time, so a stall counts
//! for every record scheduled behind it (no coordinated omission).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Bytes of one record, about one queued event.
const RECORD_BYTES: usize = 320;
/// The file's overwritten region; appends wrap around inside it.
const REGION_BYTES: u64 = 16 * 1024 * 1024;

/// Runs `rate` durable appends per second for `duration` in a file under `dir`, and gives
/// their latencies in microseconds.
pub fn measure(dir: &Path, rate: u64, duration: Duration) -> std::io::Result<Histogram<u64>> {
    let path = dir.join("durable-appends.probe");
    let file = prepared_file(&path)?;
    let outcome = run(&file, rate, duration);
    drop(file);
    let _ = std::fs::remove_file(&path);
    outcome
}

fn prepared_file(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; 1024 * 1024];
    for chunk in 0..REGION_BYTES / zeros.len() as u64 {
        file.write_all_at(&zeros, chunk * zeros.len() as u64)?;
    }
    file.sync_all()?;
    Ok(file)
}

fn run(file: &File, rate: u64, duration: Duration) -> std::io::Result<Histogram<u64>> {
    let mut latencies =
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(std::io::Error::other)?;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = (duration.as_secs_f64() * rate as f64) as u64;
    let record = [b'e'; RECORD_BYTES];
    let mut buffer = Vec::new();
    let (mut next, mut offset) = (0u64, 0u64);
    let started = Instant::now();
    while next < total {
        let first_due = started + interval.mul_f64(next as f64);
        if let Some(wait) = first_due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // Every record due by now goes into this commit.
        let elapsed = started.elapsed();
        let due = ((elapsed.as_secs_f64() / interval.as_secs_f64()) as u64 + 1).min(total);
        let group = next..due.max(next + 1);
        buffer.clear();
        for _ in group.clone() {
            buffer.extend_from_slice(&record);
        }
        if offset + buffer.len() as u64 > REGION_BYTES {
            offset = 0;
        }
        file.write_all_at(&buffer, offset)?;
        file.sync_data()?;
        offset += buffer.len() as u64;
        let done = Instant::now();
        for index in group.clone() {
            let scheduled = started + interval.mul_f64(index as f64);
            let micros = done.duration_since(scheduled).as_micros().max(1) as u64;
            let _ = latencies.record(micros);
        }
        next = group.end;
    }
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheduled_append_is_synced_and_timed() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let latencies = measure(dir.path(), 200, Duration::from_millis(500)).expect("appends");
        assert_eq!(latencies.len(), 100, "one latency per scheduled append");
        assert!(latencies.min() >= 1);
        assert!(
            !dir.path().join("durable-appends.probe").exists(),
            "the probe file is removed afterwards"
        );
    }
}
