//! Writing entries out: real bytes counted, names never reused, and what a failed call wrote
//! removed again.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{ArchiveEntry, Cleanup, DownloadError};

/// How many numbered names (`a (1).pdf` … `a (999).pdf`) are tried before giving up.
const MAX_RENAMES: u32 = 999;

pub(super) enum CopyError {
    /// The entry's data: corrupt, or more than allowed.
    Read(String),
    /// The destination.
    Write(io::Error),
}

/// Copies one entry, reading at most `declared` bytes and at most `budget`, and failing
/// (before writing them) on any byte past either.
pub(super) fn copy_entry(
    zip: &mut super::Zip,
    index: usize,
    declared: u64,
    budget: u64,
    out: &mut impl Write,
) -> Result<u64, CopyError> {
    let file = zip
        .by_index(index)
        .map_err(|e| CopyError::Read(format!("could not be read ({e})")))?;
    let limit = declared.min(budget);
    let mut bounded = file.take(limit.saturating_add(1));
    let mut buf = vec![0; 64 * 1024];
    let mut copied = 0u64;
    loop {
        let n = match bounded.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(format!("could not be read ({e})"))),
        };
        copied += n as u64;
        if copied > declared {
            return Err(CopyError::Read(format!(
                "holds more than the {declared} bytes it declares"
            )));
        }
        if copied > limit {
            return Err(CopyError::Read(
                "takes the unpacked files past the total size limit".to_owned(),
            ));
        }
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

/// Creates `path`, or `path (1)`, `path (2)`…: never an existing file.
pub(super) fn create_unique(path: &Path) -> io::Result<(File, PathBuf)> {
    for n in 0..=MAX_RENAMES {
        let candidate = if n == 0 {
            path.to_owned()
        } else {
            numbered(path, n)
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => return Ok((file, candidate)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("this name and {MAX_RENAMES} numbered variants of it are taken"),
    ))
}

/// `a.pdf` → `a (n).pdf`; `notes` → `notes (n)`; `.env` → `.env (n)`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.file_stem().unwrap_or_default().to_os_string();
    name.push(format!(" ({n})"));
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
}

/// What one [`Archive::extract_to`](super::Archive::extract_to) call created, to undo it
/// on failure.
#[derive(Default)]
pub(super) struct Made {
    pub(super) files: Vec<PathBuf>,
    /// Parents before children.
    dirs: Vec<PathBuf>,
}

impl Made {
    /// `create_dir_all` that remembers which folders it created.
    pub(super) fn create_dirs(&mut self, dir: &Path) -> io::Result<()> {
        let missing: Vec<&Path> = dir
            .ancestors()
            .filter(|p| !p.as_os_str().is_empty())
            .take_while(|p| !p.is_dir())
            .collect();
        for p in missing.into_iter().rev() {
            match fs::create_dir(p) {
                Ok(()) => self.dirs.push(p.to_owned()),
                // Created meanwhile by someone else: theirs, not ours to remove.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Removes what was created; says what could not be.
    pub(super) fn undo(self) -> Cleanup {
        let mut cleanup = Cleanup::default();
        for file in self.files {
            match fs::remove_file(&file) {
                Ok(()) => cleanup.removed += 1,
                Err(e) => {
                    tracing::warn!(path = %file.display(), error = %e, "could not remove a partly unpacked file");
                    cleanup.left.push(file);
                }
            }
        }
        // Children first; a folder someone else has written into stays (not empty).
        for dir in self.dirs.into_iter().rev() {
            let _ = fs::remove_dir(dir);
        }
        cleanup
    }
}

/// A file or folder that could not be written (the cleanup is filled in later).
pub(super) fn write_error(entry: &ArchiveEntry, path: &Path, e: &io::Error) -> DownloadError {
    DownloadError::Write {
        entry: entry.name.clone(),
        path: path.to_owned(),
        reason: e.to_string(),
        cleanup: Cleanup::default(),
    }
}
