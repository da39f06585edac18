//! The consumer's cursor: reads records in order, across segments, never past the last one
//! the writer has synced.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::segment::{self, Decoded, HEADER_BYTES};

/// How much the cursor reads at once: a worker batch of messages, about.
const READ_CHUNK: usize = 256 * 1024;

/// What the writer has synced, as one consistent snapshot.
pub struct Synced {
    /// The first sequence numbers of the log's segments, in order.
    pub segments: Vec<u64>,
    /// The last synced message.
    pub through: u64,
    /// The synced bytes of the newest segment; older segments end at their last record.
    pub newest_bytes: u64,
}

pub struct Reader {
    dir: PathBuf,
    /// The next record to hand out.
    next_seq: u64,
    /// The segment being read, with the first sequence number it holds.
    file: Option<(u64, File)>,
    /// Where `pending` starts in that segment.
    offset: u64,
    /// Bytes read from the segment and not yet handed out.
    pending: Vec<u8>,
}

impl Reader {
    /// A cursor that hands out records numbered from `next_seq`.
    pub fn new(dir: PathBuf, next_seq: u64) -> Reader {
        Reader {
            dir,
            next_seq,
            file: None,
            offset: 0,
            pending: Vec::new(),
        }
    }

    /// Up to `max` records, from the cursor to the last synced one at most. Only synced
    /// bytes are read: past them a segment holds zeros, stale records, or an append in
    /// progress.
    pub fn read(&mut self, max: usize, synced: &Synced) -> io::Result<Vec<(u64, Vec<u8>)>> {
        let mut records = Vec::new();
        while records.len() < max {
            let Some(size) = self.fill(synced)? else {
                break;
            };
            records.push((self.next_seq, self.pending[HEADER_BYTES..size].to_vec()));
            self.pending.drain(..size);
            self.offset += size as u64;
            self.next_seq += 1;
        }
        Ok(records)
    }

    /// The body of the record the cursor hands out next, without moving the cursor; `None`
    /// when it is not synced yet.
    pub fn peek(&mut self, synced: &Synced) -> io::Result<Option<&[u8]>> {
        Ok(self
            .fill(synced)?
            .map(|size| &self.pending[HEADER_BYTES..size]))
    }

    /// Brings the record numbered `next_seq` to the front of `pending`; its size, or `None`
    /// when it is not synced yet.
    fn fill(&mut self, synced: &Synced) -> io::Result<Option<usize>> {
        loop {
            if self.next_seq > synced.through || !self.in_segment_of_next(&synced.segments)? {
                return Ok(None);
            }
            match segment::decode(&self.pending) {
                Decoded::Record { seq, size, .. } if seq == self.next_seq => return Ok(Some(size)),
                // Records before the cursor: a segment read from its start after a restart.
                Decoded::Record { seq, size, .. } if seq < self.next_seq => {
                    self.pending.drain(..size);
                    self.offset += size as u64;
                }
                Decoded::Record { .. } | Decoded::Invalid => {
                    return Err(io::Error::other(format!(
                        "the queue log is damaged before message {}",
                        self.next_seq
                    )));
                }
                Decoded::Partial => {
                    let newest = synced.segments.last().copied();
                    let end = match &self.file {
                        Some((first, _)) if Some(*first) == newest => synced.newest_bytes,
                        _ => u64::MAX,
                    };
                    if !self.read_more(end)? {
                        return Err(io::Error::other(format!(
                            "message {} is synced but missing from the queue log",
                            self.next_seq
                        )));
                    }
                }
            }
        }
    }

    /// Opens the segment that holds `next_seq` if the open one does not; false if none does.
    fn in_segment_of_next(&mut self, segments: &[u64]) -> io::Result<bool> {
        let holder = segments
            .iter()
            .rev()
            .find(|first| **first <= self.next_seq)
            .copied();
        let Some(first) = holder else {
            return Ok(false);
        };
        if self.file.as_ref().map(|(open, _)| *open) != Some(first) {
            let file = File::open(segment::path(&self.dir, first))?;
            self.file = Some((first, file));
            self.offset = 0;
            self.pending.clear();
        }
        Ok(true)
    }

    /// Appends the segment's next bytes, up to `end`, to `pending`; false if there are none.
    fn read_more(&mut self, end: u64) -> io::Result<bool> {
        let Some((_, file)) = &self.file else {
            return Ok(false);
        };
        let start = self.pending.len();
        let from = self.offset + start as u64;
        let want = end.saturating_sub(from).min(READ_CHUNK as u64) as usize;
        if want == 0 {
            return Ok(false);
        }
        self.pending.resize(start + want, 0);
        let read = file.read_at(&mut self.pending[start..], from);
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                self.pending.truncate(start);
                return Err(error);
            }
        };
        self.pending.truncate(start + read);
        Ok(read > 0)
    }
}
