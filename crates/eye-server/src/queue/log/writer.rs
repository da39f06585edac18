//! The log's only writer: appends group-committed publishes to the newest segment, syncs
//! them, and starts a new segment once the current one is full, in a spare's file when
//! there is one.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::segment;

/// What the writer and the consumer share.
#[derive(Debug)]
pub struct Shared {
    /// The first sequence numbers of the segments, oldest first; the last one is appended to.
    pub segments: Vec<u64>,
    /// Every message numbered up to this one is synced.
    pub synced_through: u64,
    /// How many bytes of the newest segment hold synced records; past them lie zeros, stale
    /// records, or an append in progress.
    pub synced_bytes: u64,
    /// Files of acknowledged segments, kept for new segments to reuse.
    pub spares: Vec<PathBuf>,
}

/// Zeros are written ahead of the appends in steps of this much (a spare needs none).
const ALLOCATION_STEP: u64 = 1024 * 1024;

pub fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct Writer {
    dir: PathBuf,
    file: File,
    /// Bytes in the newest segment, all of them synced.
    written: u64,
    /// The segment file's length: past `written`, zeros (or stale records) to overwrite.
    allocated: u64,
    next_seq: u64,
    segment_bytes: u64,
    buffer: Vec<u8>,
    shared: Arc<Mutex<Shared>>,
}

impl Writer {
    /// Appends after the `written` bytes of the segment starting at `first_seq`, or, if that
    /// segment does not exist, starts it.
    pub fn open(
        dir: PathBuf,
        first_seq: u64,
        written: u64,
        next_seq: u64,
        segment_bytes: u64,
        shared: Arc<Mutex<Shared>>,
    ) -> io::Result<Writer> {
        let path = segment::path(&dir, first_seq);
        let file = if path.exists() {
            OpenOptions::new().read(true).write(true).open(&path)?
        } else {
            start_segment(&dir, first_seq, &shared)?
        };
        let allocated = file.metadata()?.len();
        Ok(Writer {
            dir,
            file,
            written,
            allocated,
            next_seq,
            segment_bytes,
            buffer: Vec::new(),
            shared,
        })
    }

    /// Appends `bodies` as the next records and syncs them; returns how many were appended.
    ///
    /// On an error none of them counts: the next append is written at the same place with
    /// the same sequence numbers, over whatever part of this one reached the file.
    pub fn append<'a>(&mut self, bodies: impl IntoIterator<Item = &'a [u8]>) -> io::Result<u64> {
        if self.written >= self.segment_bytes {
            self.roll()?;
        }
        self.buffer.clear();
        let mut seq = self.next_seq;
        for body in bodies {
            segment::encode(seq, body, &mut self.buffer);
            seq += 1;
        }
        let appended = seq - self.next_seq;
        if appended == 0 {
            return Ok(0);
        }
        let end = self.written + self.buffer.len() as u64;
        if end > self.allocated {
            let grown = end.max(self.allocated + ALLOCATION_STEP);
            segment::fill_with_zeros(&self.file, self.allocated, grown)?;
            self.allocated = grown;
        }
        self.file.write_all_at(&self.buffer, self.written)?;
        self.file.sync_data()?;
        self.written += self.buffer.len() as u64;
        self.next_seq = seq;
        let mut shared = lock(&self.shared);
        shared.synced_through = seq - 1;
        shared.synced_bytes = self.written;
        Ok(appended)
    }

    /// Ends the newest segment at its last record and starts the next one.
    fn roll(&mut self) -> io::Result<()> {
        // Older segments end at their last record, so that any bytes after it are damage.
        self.file.set_len(self.written)?;
        self.file.sync_data()?;
        self.file = start_segment(&self.dir, self.next_seq, &self.shared)?;
        self.written = 0;
        self.allocated = self.file.metadata()?.len();
        Ok(())
    }
}

/// Creates the segment starting at `first_seq`: a spare's file renamed, or an empty file. The
/// directory is synced so that the name is durable before any record in it.
fn start_segment(dir: &Path, first_seq: u64, shared: &Mutex<Shared>) -> io::Result<File> {
    let path = segment::path(dir, first_seq);
    let spare = lock(shared).spares.pop();
    let file = match spare {
        Some(spare) => {
            std::fs::rename(&spare, &path)?;
            OpenOptions::new().read(true).write(true).open(&path)?
        }
        // A file already there is from a start that failed before its name was synced: it
        // holds no record anyone was told of.
        None => OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?,
    };
    segment::sync_dir(dir)?;
    let mut shared = lock(shared);
    shared.segments.push(first_seq);
    shared.synced_bytes = 0;
    Ok(file)
}
