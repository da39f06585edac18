//! The log's on-disk form: segment files of framed records, and the scan that recovers them.
//!
//! A segment is named after the sequence number of its first record
//! (`00000000000000000001.log`) and holds records back to back, each
//! `[length u32][crc32 u32][seq u64][body]` (little-endian; the checksum covers the sequence
//! number and the body). Sequence numbers run on without a gap from one segment to the next.
//! A record that is cut short, fails its checksum or breaks the sequence marks the end of the
//! log: a crash mid-append leaves exactly that, and such a record was never acknowledged to a
//! publisher, because publishes are answered only after the append is synced.
//!
//! Segment files are allocated ahead of the appends (zeros written a megabyte ahead, or an
//! acknowledged segment's file reused whole as a spare), so appends overwrite blocks the file
//! already has.
//! Syncing an overwrite writes the data alone; syncing an append that grows the file also
//! commits the file system's journal, which measured about twice as slow here. The newest
//! segment therefore holds records up to its end of log and zeros or stale records after;
//! older segments are cut to their last record when the next one starts.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes before each record's body.
pub const HEADER_BYTES: usize = 16;

/// No queue message comes near this (request bodies are capped far lower); a larger length
/// can only be damage.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

const EXTENSION: &str = "log";
const SPARE_EXTENSION: &str = "spare";

/// Appends one framed record to `out`.
pub fn encode(seq: u64, body: &[u8], out: &mut Vec<u8>) {
    let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&checksum(seq, body).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(body);
}

fn checksum(seq: u64, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(body);
    hasher.finalize()
}

/// What the front of a byte slice holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole, intact record, and how many bytes it spans.
    Record {
        seq: u64,
        body: &'a [u8],
        size: usize,
    },
    /// The slice ends inside a record (or holds none): more bytes may complete it.
    Partial,
    /// Bytes no writer produced whole: a torn append, or damage.
    Invalid,
}

/// Reads the record at the front of `bytes`.
pub fn decode(bytes: &[u8]) -> Decoded<'_> {
    let Some(header) = bytes.get(..HEADER_BYTES) else {
        return Decoded::Partial;
    };
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let length = word(0) as usize;
    let stored_checksum = word(4);
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&header[8..16]);
    let seq = u64::from_le_bytes(seq_bytes);
    if length > MAX_BODY_BYTES {
        return Decoded::Invalid;
    }
    let Some(body) = bytes.get(HEADER_BYTES..HEADER_BYTES + length) else {
        return Decoded::Partial;
    };
    if checksum(seq, body) != stored_checksum {
        return Decoded::Invalid;
    }
    Decoded::Record {
        seq,
        body,
        size: HEADER_BYTES + length,
    }
}

pub fn path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.{EXTENSION}"))
}

/// The first sequence numbers of the segments in `dir`, in order.
pub fn list(dir: &Path) -> io::Result<Vec<u64>> {
    numbered(dir, EXTENSION)
}

/// The sequence numbers naming the files `<number>.<extension>` in `dir`, in order.
fn numbered(dir: &Path, extension: &str) -> io::Result<Vec<u64>> {
    let suffix = format!(".{extension}");
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(number) = name
            .strip_suffix(&suffix)
            .and_then(|stem| stem.parse::<u64>().ok())
        {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// One segment as the recovery scan found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub first_seq: u64,
    /// The sequence number of its last intact record; `first_seq - 1` when it holds none.
    pub last_seq: u64,
    /// Bytes up to the end of its last intact record.
    pub valid_bytes: u64,
    /// Bytes it held past that: in the newest segment, room for appends (or a torn one);
    /// in any other, damage.
    pub tail_bytes: u64,
}

impl Scanned {
    /// Records numbered after `acked_through`.
    pub fn records_after(&self, acked_through: u64) -> u64 {
        self.last_seq
            .saturating_sub(acked_through.max(self.first_seq.saturating_sub(1)))
    }
}

/// Reads a segment from its start, checking every record, up to its end or its first record
/// that is not whole, intact and next in sequence.
pub fn scan(dir: &Path, first_seq: u64) -> io::Result<Scanned> {
    let file = File::open(path(dir, first_seq))?;
    let length = file.metadata()?.len();
    let mut scanned = Scanned {
        first_seq,
        last_seq: first_seq.saturating_sub(1),
        valid_bytes: 0,
        tail_bytes: 0,
    };
    let mut window = Vec::new();
    let mut window_start = 0u64;
    loop {
        let consumed = (scanned.valid_bytes - window_start) as usize;
        match decode(&window[consumed..]) {
            Decoded::Record { seq, size, .. } if seq == scanned.last_seq + 1 => {
                scanned.last_seq = seq;
                scanned.valid_bytes += size as u64;
            }
            Decoded::Record { .. } | Decoded::Invalid => break,
            Decoded::Partial => {
                let read_from = window_start + window.len() as u64;
                if read_from >= length {
                    break;
                }
                window.drain(..consumed);
                window_start = scanned.valid_bytes;
                let want = (length - read_from).min(READ_CHUNK as u64) as usize;
                let start = window.len();
                window.resize(start + want, 0);
                file.read_exact_at(&mut window[start..], read_from)?;
            }
        }
    }
    scanned.tail_bytes = length - scanned.valid_bytes;
    Ok(scanned)
}

/// How much a scan reads of a segment at once.
const READ_CHUNK: usize = 1024 * 1024;

/// A spare: an acknowledged segment's file kept to be reused, so a new segment needs no
/// allocation.
pub fn spare_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.{SPARE_EXTENSION}"))
}

/// The spares in `dir`.
pub fn list_spares(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let numbers = numbered(dir, SPARE_EXTENSION)?;
    Ok(numbers.into_iter().map(|n| spare_path(dir, n)).collect())
}

/// Writes zeros over `file` from `from` up to `to` bytes and syncs it, so later writes
/// there overwrite allocated blocks.
///
/// A page at a time: the page cache sizes its units (folios) by the writes that create them,
/// and syncing one dirty byte writes its whole unit back. Filled a megabyte at a time, every
/// later append of a few hundred bytes made its sync write a megabyte (Linux 6.18, ext4,
/// measured with `/proc/self/io`); filled a page at a time, 4 KiB.
pub fn fill_with_zeros(file: &File, from: u64, to: u64) -> io::Result<()> {
    const PAGE: u64 = 4096;
    let zeros = [0u8; PAGE as usize];
    let mut at = from;
    while at < to {
        // Up to the next page boundary first, then page by page.
        let length = (PAGE - at % PAGE).min(to - at) as usize;
        file.write_all_at(&zeros[..length], at)?;
        at += length as u64;
    }
    file.sync_all()
}

/// Makes a directory entry just created or removed in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_any_damage_is_seen() {
        let mut bytes = Vec::new();
        encode(42, b"{\"a\":1}", &mut bytes);
        assert_eq!(
            decode(&bytes),
            Decoded::Record {
                seq: 42,
                body: b"{\"a\":1}",
                size: bytes.len()
            }
        );
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), Decoded::Partial, "cut at {cut}");
        }
        for flipped in 4..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[flipped] ^= 0x10;
            assert_eq!(decode(&damaged), Decoded::Invalid, "byte {flipped} flipped");
        }
    }

    #[test]
    fn a_scan_stops_at_a_torn_record_or_at_zeros() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::new();
        for seq in 7..10 {
            encode(seq, format!("body {seq}").as_bytes(), &mut bytes);
        }
        let whole = bytes.len() as u64;
        encode(10, b"cut short by a crash", &mut bytes);
        bytes.truncate(bytes.len() - 5);
        fs::write(path(dir.path(), 7), &bytes).expect("write");

        let scanned = scan(dir.path(), 7).expect("scan");
        assert_eq!(scanned.last_seq, 9);
        assert_eq!(scanned.valid_bytes, whole);
        assert_eq!(scanned.tail_bytes, bytes.len() as u64 - whole);
        assert_eq!(scanned.records_after(0), 3);
        assert_eq!(scanned.records_after(8), 1);
        assert_eq!(scanned.records_after(9), 0);

        let file = fs::OpenOptions::new()
            .write(true)
            .open(path(dir.path(), 7))
            .expect("open");
        fill_with_zeros(&file, whole, 4096).expect("zeros");
        let preallocated = scan(dir.path(), 7).expect("scan");
        assert_eq!(preallocated.last_seq, 9);
        assert_eq!(preallocated.tail_bytes, 4096 - whole);
    }

    #[test]
    fn a_record_out_of_sequence_ends_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::new();
        encode(1, b"one", &mut bytes);
        encode(3, b"three", &mut bytes);
        fs::write(path(dir.path(), 1), &bytes).expect("write");
        let scanned = scan(dir.path(), 1).expect("scan");
        assert_eq!(scanned.last_seq, 1);
        assert!(scanned.tail_bytes > 0);
    }

    #[test]
    fn segments_are_listed_in_sequence_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for first in [1000, 1, 20] {
            fs::write(path(dir.path(), first), b"").expect("write");
        }
        fs::write(dir.path().join("acked"), b"").expect("write");
        fs::write(spare_path(dir.path(), 3), b"").expect("write");
        assert_eq!(list(dir.path()).expect("list"), vec![1, 20, 1000]);
        assert_eq!(
            list_spares(dir.path()).expect("spares"),
            vec![spare_path(dir.path(), 3)]
        );
    }
}
