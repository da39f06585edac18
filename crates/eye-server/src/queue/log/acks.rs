//! Which messages are acknowledged: everything up to a watermark, plus those acknowledged
//! out of order above it; and the watermark's file.
//!
//! The watermark is written in place and never synced. Losing the latest write (a power cut)
//! only moves it back, and the messages it covered are delivered again, which the store makes
//! harmless (it ignores what it already holds). The file has two slots written in turn, each
//! checksummed, so a torn write spoils at most the newer one.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

const SLOT_BYTES: u64 = 16;

/// Acknowledgements so far.
#[derive(Debug, Default)]
pub struct Acks {
    /// Every message numbered up to this one is acknowledged.
    through: u64,
    /// Acknowledged messages numbered above `through + 1`.
    above: BTreeSet<u64>,
}

impl Acks {
    pub fn starting_at(through: u64) -> Acks {
        Acks {
            through,
            above: BTreeSet::new(),
        }
    }

    pub fn through(&self) -> u64 {
        self.through
    }

    /// Records `seqs` as acknowledged; returns how many of them were not already.
    pub fn acknowledge(&mut self, seqs: impl IntoIterator<Item = u64>) -> u64 {
        let mut newly = 0;
        for seq in seqs {
            if seq > self.through && self.above.insert(seq) {
                newly += 1;
            }
        }
        while self.above.first() == Some(&(self.through + 1)) {
            self.above.pop_first();
            self.through += 1;
        }
        newly
    }
}

/// The watermark's file: two checksummed slots, written in turn.
pub struct WatermarkFile {
    file: File,
    next_slot: u64,
}

impl WatermarkFile {
    /// Opens (creating) the file at `path` and reads the watermark it holds (0 if none).
    pub fn open(path: &Path) -> io::Result<(WatermarkFile, u64)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut best: Option<(u64, u64)> = None;
        for slot in 0..2 {
            let mut bytes = [0u8; SLOT_BYTES as usize];
            if file.read_exact_at(&mut bytes, slot * SLOT_BYTES).is_err() {
                continue;
            }
            if let Some(watermark) = read_slot(&bytes)
                && best.is_none_or(|(_, held)| watermark > held)
            {
                best = Some((slot, watermark));
            }
        }
        let (next_slot, watermark) = match best {
            Some((slot, watermark)) => (1 - slot, watermark),
            None => (0, 0),
        };
        Ok((WatermarkFile { file, next_slot }, watermark))
    }

    pub fn write(&mut self, watermark: u64) -> io::Result<()> {
        let mut bytes = [0u8; SLOT_BYTES as usize];
        bytes[..8].copy_from_slice(&watermark.to_le_bytes());
        let checksum = crc32fast::hash(&bytes[..8]);
        bytes[8..12].copy_from_slice(&checksum.to_le_bytes());
        self.file
            .write_all_at(&bytes, self.next_slot * SLOT_BYTES)?;
        self.next_slot = 1 - self.next_slot;
        Ok(())
    }
}

fn read_slot(bytes: &[u8; SLOT_BYTES as usize]) -> Option<u64> {
    let mut watermark = [0u8; 8];
    watermark.copy_from_slice(&bytes[..8]);
    let mut stored = [0u8; 4];
    stored.copy_from_slice(&bytes[8..12]);
    (crc32fast::hash(&watermark) == u32::from_le_bytes(stored))
        .then(|| u64::from_le_bytes(watermark))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_advances_over_gaps_once_they_fill() {
        let mut acks = Acks::starting_at(10);
        assert_eq!(acks.acknowledge([13, 12, 9, 10]), 2);
        assert_eq!(acks.through(), 10);
        assert_eq!(acks.acknowledge([11, 12]), 1);
        assert_eq!(acks.through(), 13);
        assert_eq!(acks.acknowledge([14, 15, 15]), 2);
        assert_eq!(acks.through(), 15);
    }

    #[test]
    fn the_newest_intact_slot_wins_and_a_torn_one_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acked");
        let (mut file, start) = WatermarkFile::open(&path).expect("open");
        assert_eq!(start, 0);
        for watermark in [5, 9, 12] {
            file.write(watermark).expect("write");
        }
        drop(file);
        assert_eq!(WatermarkFile::open(&path).expect("open").1, 12);

        // 12 went to slot 0; spoil it as a torn write would, and 9 in slot 1 stands.
        let raw = OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open raw");
        raw.write_all_at(&[0xff; 4], 0).expect("spoil");
        let (mut file, watermark) = WatermarkFile::open(&path).expect("open");
        assert_eq!(watermark, 9);
        // The next write goes to the spoiled slot, keeping the intact one.
        file.write(13).expect("write");
        assert_eq!(WatermarkFile::open(&path).expect("open").1, 13);
    }
}
