//! Files written whole or not at all: a temporary name beside the destination, synced, then
//! renamed over it, and the directory synced so the rename survives a power cut.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A file being written under a temporary name; removed when dropped unless
/// [`Partial::commit`] renamed it to its destination.
pub struct Partial {
    path: PathBuf,
    renamed: bool,
}

impl Partial {
    /// A name for a file that will become `destination`: in the same directory (a rename
    /// never crosses file systems), hidden, and marked as this process's.
    pub fn beside(destination: &Path) -> anyhow::Result<Partial> {
        let name = destination
            .file_name()
            .with_context(|| format!("{} names no file", destination.display()))?;
        let hidden = format!(".{}.{}.partial", name.to_string_lossy(), std::process::id());
        let path = destination.with_file_name(hidden);
        // A file left by a killed run of this same process id would make SQLite refuse to
        // write; it is ours to remove.
        let _ = std::fs::remove_file(&path);
        Ok(Partial {
            path,
            renamed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the file, renames it to `destination` and syncs the directory.
    pub fn commit(mut self, destination: &Path) -> anyhow::Result<()> {
        File::open(&self.path)
            .and_then(|file| file.sync_all())
            .with_context(|| format!("syncing {}", self.path.display()))?;
        std::fs::rename(&self.path, destination).with_context(|| {
            format!(
                "renaming {} to {}",
                self.path.display(),
                destination.display()
            )
        })?;
        self.renamed = true;
        sync_dir(&parent(destination))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Makes the entries of `dir` (a file renamed or created in it) durable.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("syncing the directory {}", dir.display()))
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `path` made absolute, to name it in messages.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Whether the file at `path` starts as a SQLite database does.
pub fn is_sqlite(path: &Path) -> anyhow::Result<bool> {
    let mut header = [0; SQLITE_HEADER.len()];
    let mut file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    match file.read_exact(&mut header) {
        Ok(()) => Ok(&header == SQLITE_HEADER),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}
