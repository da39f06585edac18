//! A marker that changes whenever a key is created, imported or revoked, so a key cache
//! can keep its answers until a key changes, even when the change comes from another
//! process (`eye keys revoke` beside a running server).
//!
//! The marker is 8 bytes in `keys.generation` beside `eye.db`, overwritten in place with a
//! fresh random value after every key change commits. Random rather than a counter: two
//! processes bumping at once could both write the same counter value, and a cache that had
//! already seen it would miss the second change. Reading it is one `pread`, far cheaper
//! than the indexed key look-up it saves. Not fsynced: after a crash every cache starts
//! empty, so a lost bump cannot leave a stale answer behind.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

pub struct KeyGeneration {
    file: File,
}

impl KeyGeneration {
    pub fn open(dir: &Path) -> std::io::Result<KeyGeneration> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("keys.generation"))?;
        let generation = KeyGeneration { file };
        if generation.file.metadata()?.len() < 8 {
            generation.bump()?;
        }
        Ok(generation)
    }

    /// The current value. When the marker cannot be read, a fresh value that matches
    /// nothing cached, so every look-up goes to the store.
    pub fn current(&self) -> u64 {
        let mut bytes = [0; 8];
        match self.file.read_exact_at(&mut bytes, 0) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => fresh(),
        }
    }

    /// Marks a key change; called after the change has committed.
    pub fn bump(&self) -> std::io::Result<()> {
        self.file.write_all_at(&fresh().to_le_bytes(), 0)
    }
}

fn fresh() -> u64 {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::KeyGeneration;

    #[test]
    fn a_bump_in_one_handle_is_seen_by_another_on_the_same_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = KeyGeneration::open(dir.path()).expect("open");
        let cli = KeyGeneration::open(dir.path()).expect("open again");
        let before = server.current();
        assert_eq!(before, server.current(), "stable while nothing changes");
        assert_eq!(before, cli.current(), "opening does not change it");
        cli.bump().expect("bump");
        assert_ne!(server.current(), before);
        assert_eq!(server.current(), cli.current());
    }
}
