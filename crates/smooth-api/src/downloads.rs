//! A finished task's downloads: the zip behind `downloads_url` (the files the agent
//! downloaded, plus screenshot and print-page outputs).
//!
//! The archive comes from a third party's host and is treated as hostile:
//! [`SmoothClient::fetch_archive`](crate::SmoothClient::fetch_archive) downloads it without
//! the API key and stops at a size limit; [`Archive::from_bytes`] checks the whole archive
//! (entry count, names, symlinks, declared sizes, compression ratios) before a byte of it is
//! unpacked; [`Archive::read`] and [`Archive::extract_to`] then count the bytes each entry
//! really yields, because the sizes a zip declares can lie.
//!
//! ```
//! use smooth_api::downloads::{Archive, ArchiveLimits};
//! # fn zip_bytes() -> Vec<u8> {
//! #     use std::io::Write;
//! #     let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
//! #     w.start_file("report.pdf", zip::write::SimpleFileOptions::default()).unwrap();
//! #     w.write_all(b"%PDF-1.7").unwrap();
//! #     w.finish().unwrap().into_inner()
//! # }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Usually from `client.fetch_archive(&task.downloads_url, &limits).await?`.
//! let archive = Archive::from_bytes(zip_bytes(), &ArchiveLimits::default())?;
//! for entry in archive.entries() {
//!     println!("{} ({} bytes)", entry.name, entry.size_bytes);
//! }
//! let dir = tempfile::tempdir()?;
//! let saved = archive.extract_to(dir.path())?; // never overwrites: `report (1).pdf`, ...
//! assert_eq!(std::fs::read(&saved[0].path)?, b"%PDF-1.7");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zip::ZipArchive;

use check::{check, relative_path};
use unpack::{CopyError, Made, copy_entry, create_unique, write_error};

mod check;
mod fetch;
mod unpack;

const MIB: u64 = 1024 * 1024;

/// What an archive may hold before it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// The zip itself, as downloaded.
    pub max_archive_bytes: u64,
    /// All files unpacked, as declared and as really read.
    pub max_total_bytes: u64,
    /// Entries in the archive (directory entries included).
    pub max_entries: usize,
    /// Uncompressed size over compressed size, for entries over 1 MiB: a zip bomb's tell.
    pub max_ratio: u64,
}

impl Default for ArchiveLimits {
    /// 100 MiB archive, 100 MiB unpacked, 1000 entries, ratio 100.
    fn default() -> Self {
        Self {
            max_archive_bytes: 100 * MIB,
            max_total_bytes: 100 * MIB,
            max_entries: 1000,
            max_ratio: 100,
        }
    }
}

/// One file in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// Its path in the archive, `/`-separated, without empty or `.` parts (`sub/a.pdf`).
    pub name: String,
    /// Its size as the archive declares it; reading stops with an error past it.
    pub size_bytes: u64,
}

/// A file [`Archive::extract_to`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFile {
    /// The entry's name in the archive ([`ArchiveEntry::name`]).
    pub name: String,
    /// Where it was written: under the folder, keeping the entry's sub-folders, and with a
    /// number added (`a (1).pdf`) when the name was taken.
    pub path: PathBuf,
    /// Bytes written.
    pub size_bytes: u64,
}

/// What a failed [`Archive::extract_to`] left on disk: the files it had written are removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// Files written by the failed call and removed again.
    pub removed: usize,
    /// Files written by the failed call that could not be removed.
    pub left: Vec<PathBuf>,
}

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.removed, self.left.as_slice()) {
            (0, []) => f.write_str("nothing was written"),
            (n, []) => write!(f, "the {n} file(s) already written were removed"),
            (_, left) => {
                let paths: Vec<String> = left.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "these files were written but could not be removed: {}",
                    paths.join(", ")
                )
            }
        }
    }
}

/// Why an archive could not be fetched, read or unpacked. Messages say what happened and
/// what was left on disk, and never contain the link's query string (its signature).
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// `downloads_url` is not an absolute http(s) URL.
    #[error("the downloads link is not an http(s) URL; nothing was downloaded")]
    InvalidUrl,
    /// The archive could not be downloaded.
    #[error("could not download the downloads archive from {location}: {reason}")]
    Fetch {
        /// The link's host and path (never its query, which holds the signature).
        location: String,
        /// What went wrong (HTTP status, connection, timeout).
        reason: String,
    },
    /// The archive is larger than [`ArchiveLimits::max_archive_bytes`].
    #[error(
        "the downloads archive is larger than the {limit}-byte limit and was not downloaded; nothing was written"
    )]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The archive was checked and refused as a whole, before anything was read from it:
    /// not a zip, too many entries, an unsafe name, a symlink, or too large unpacked.
    #[error("the downloads archive was refused: {reason}; nothing was written")]
    Refused {
        /// The entry at fault, if one is.
        entry: Option<String>,
        /// Why, naming the entry.
        reason: String,
    },
    /// [`Archive::read`] was asked for a name that is not one of [`Archive::entries`].
    #[error("the downloads archive has no file `{0}`")]
    NoSuchEntry(String),
    /// An entry's data turned out bad while it was unpacked: more bytes than it declares,
    /// past the total limit, or corrupt.
    #[error("the downloads archive could not be unpacked: entry `{entry}` {reason}; {cleanup}")]
    Damaged {
        /// The entry's name.
        entry: String,
        /// What is wrong with its data.
        reason: String,
        /// What the call had written (removed again).
        cleanup: Cleanup,
    },
    /// A file or folder could not be written.
    #[error("could not save `{entry}` as {}: {reason}; {cleanup}", path.display())]
    Write {
        /// The entry's name.
        entry: String,
        /// The file or folder that could not be created or written.
        path: PathBuf,
        /// The system's reason.
        reason: String,
        /// What the call had written (removed again).
        cleanup: Cleanup,
    },
}

/// A downloads archive, held in memory and checked: only what passed
/// [`Archive::from_bytes`]'s checks can be read or written.
pub struct Archive {
    /// Parsed once; a clone shares the bytes and the parsed directory.
    zip: Zip,
    archive_bytes: usize,
    entries: Vec<ArchiveEntry>,
    /// The zip's own index of each of `entries`.
    indices: Vec<usize>,
    limits: ArchiveLimits,
}

impl fmt::Debug for Archive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Archive")
            .field("archive_bytes", &self.archive_bytes)
            .field("entries", &self.entries)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Archive {
    /// Checks a zip as a whole and refuses it, naming the first entry at fault, when it is
    /// over a limit, holds a name that is absolute, climbs out with `..`, holds a control
    /// character or a backslash, or holds a symlink, an encrypted entry, or an entry packed
    /// in a way this crate cannot unpack (only stored and Deflate are).
    pub fn from_bytes(bytes: Vec<u8>, limits: &ArchiveLimits) -> Result<Archive, DownloadError> {
        if u64::try_from(bytes.len()).map_or(true, |n| n > limits.max_archive_bytes) {
            return Err(DownloadError::TooLarge {
                limit: limits.max_archive_bytes,
            });
        }
        let archive_bytes = bytes.len();
        let zip = ZipArchive::new(Cursor::new(Arc::from(bytes)))
            .map_err(|e| refused(None, format!("it is not a zip file ({e})")))?;
        let (entries, indices) = check(&zip, limits)?;
        Ok(Archive {
            zip,
            archive_bytes,
            entries,
            indices,
            limits: *limits,
        })
    }

    /// The files in the archive, in archive order (directory entries are left out).
    pub fn entries(&self) -> &[ArchiveEntry] {
        &self.entries
    }

    /// One file's bytes, read no further than its declared size and the total limit.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, DownloadError> {
        let i = self
            .entries
            .iter()
            .position(|e| e.name == name)
            .ok_or_else(|| DownloadError::NoSuchEntry(name.to_owned()))?;
        let entry = &self.entries[i];
        let mut zip = self.zip.clone();
        let mut out = Vec::new();
        copy_entry(
            &mut zip,
            self.indices[i],
            entry.size_bytes,
            self.limits.max_total_bytes,
            &mut out,
        )
        .map_err(|e| match e {
            CopyError::Read(reason) => damaged(entry, reason),
            // Writing to a Vec only fails when memory runs out, which aborts instead.
            CopyError::Write(e) => damaged(entry, e.to_string()),
        })?;
        Ok(out)
    }

    /// Creates `dir` (and parents) and writes every entry under it, keeping sub-folders of
    /// the entry name. Never overwrites: an existing `a.pdf` makes the new one `a (1).pdf`,
    /// then `a (2).pdf`… (files are created with `create_new`, so a race cannot overwrite
    /// either). Returns what it wrote, in entry order, with the real paths. On any error,
    /// removes the files (and folders) this call created.
    ///
    /// Blocking file I/O: from async code, call it inside `spawn_blocking`.
    pub fn extract_to(&self, dir: &Path) -> Result<Vec<SavedFile>, DownloadError> {
        let mut made = Made::default();
        self.extract_into(dir, &mut made).map_err(|mut e| {
            let undone = made.undo();
            if let DownloadError::Damaged { cleanup, .. } | DownloadError::Write { cleanup, .. } =
                &mut e
            {
                *cleanup = undone;
            }
            e
        })
    }

    /// Writes the entries; an error's `cleanup` is filled in by [`Archive::extract_to`].
    fn extract_into(&self, dir: &Path, made: &mut Made) -> Result<Vec<SavedFile>, DownloadError> {
        let mut zip = self.zip.clone();
        let mut saved = Vec::with_capacity(self.entries.len());
        let mut total = 0u64;
        for (entry, &index) in self.entries.iter().zip(&self.indices) {
            let wanted = dir.join(relative_path(&entry.name));
            let folder = wanted.parent().unwrap_or(dir);
            made.create_dirs(folder)
                .map_err(|e| write_error(entry, folder, &e))?;
            let (mut file, path) =
                create_unique(&wanted).map_err(|e| write_error(entry, &wanted, &e))?;
            made.files.push(path.clone());
            let budget = self.limits.max_total_bytes.saturating_sub(total);
            let written = copy_entry(&mut zip, index, entry.size_bytes, budget, &mut file)
                .map_err(|e| match e {
                    CopyError::Read(reason) => damaged(entry, reason),
                    CopyError::Write(e) => write_error(entry, &path, &e),
                })?;
            total += written;
            saved.push(SavedFile {
                name: entry.name.clone(),
                path,
                size_bytes: written,
            });
        }
        Ok(saved)
    }
}

/// A zip in memory.
type Zip = ZipArchive<Cursor<Arc<[u8]>>>;

fn refused(entry: Option<&str>, reason: String) -> DownloadError {
    DownloadError::Refused {
        entry: entry.map(str::to_owned),
        reason,
    }
}

fn damaged(entry: &ArchiveEntry, reason: String) -> DownloadError {
    DownloadError::Damaged {
        entry: entry.name.clone(),
        reason,
        cleanup: Cleanup::default(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode as Status, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use zip::ZipWriter;
    use zip::write::SimpleFileOptions;

    use std::fs;
    use std::io::{self, Write};

    use zip::CompressionMethod;

    use super::*;
    use crate::{ApiKey, ClientConfig, RetryPolicy, SmoothClient};

    /// A zip of `(name, bytes)` entries, Deflate-compressed; names are written as given.
    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in files {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn limits() -> ArchiveLimits {
        ArchiveLimits::default()
    }

    fn refusal(bytes: Vec<u8>, limits: &ArchiveLimits) -> (Option<String>, String) {
        match Archive::from_bytes(bytes, limits) {
            Err(e @ DownloadError::Refused { .. }) => {
                let text = e.to_string();
                let DownloadError::Refused { entry, .. } = e else {
                    unreachable!()
                };
                assert!(text.ends_with("nothing was written"), "{text}");
                (entry, text)
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// Every file under `dir`, relative to it, sorted.
    fn files_under(dir: &Path) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let rel = path.strip_prefix(root).unwrap();
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    #[test]
    fn nested_files_are_listed_read_and_extracted_byte_for_byte() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.add_directory("shots/", SimpleFileOptions::default())
            .unwrap();
        for (name, bytes) in [
            ("report.pdf", &b"%PDF-1.7 report"[..]),
            ("shots/page 1.png", &big[..]),
            ("./shots//deep/x.txt", &b"x"[..]),
        ] {
            w.start_file(name, SimpleFileOptions::default()).unwrap();
            w.write_all(bytes).unwrap();
        }
        let archive = Archive::from_bytes(w.finish().unwrap().into_inner(), &limits()).unwrap();

        let names: Vec<_> = archive.entries().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["report.pdf", "shots/page 1.png", "shots/deep/x.txt"]
        );
        assert_eq!(archive.entries()[1].size_bytes, big.len() as u64);
        assert_eq!(archive.read("shots/page 1.png").unwrap(), big);
        assert!(matches!(
            archive.read("nope.txt"),
            Err(DownloadError::NoSuchEntry(_))
        ));

        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out/task-1");
        let saved = archive.extract_to(&dir).unwrap();
        assert_eq!(saved.len(), 3);
        assert_eq!(saved[1].name, "shots/page 1.png");
        assert_eq!(saved[1].path, dir.join("shots").join("page 1.png"));
        assert_eq!(saved[1].size_bytes, big.len() as u64);
        assert_eq!(fs::read(&saved[1].path).unwrap(), big);
        assert_eq!(fs::read(&saved[0].path).unwrap(), b"%PDF-1.7 report");
        assert_eq!(fs::read(dir.join("shots/deep/x.txt")).unwrap(), b"x");
    }

    #[test]
    fn existing_files_are_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::write(dir.join("a.pdf"), "mine").unwrap();
        fs::write(dir.join("a (1).pdf"), "mine too").unwrap();
        fs::create_dir(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/notes"), "mine").unwrap();
        let archive = Archive::from_bytes(
            zip_of(&[
                ("a.pdf", b"new"),
                ("sub/notes", b"new"),
                ("a.pdf.tar.gz", b"t"),
            ]),
            &limits(),
        )
        .unwrap();

        let first = archive.extract_to(dir).unwrap();
        let paths: Vec<_> = first.iter().map(|s| s.path.clone()).collect();
        assert_eq!(
            paths,
            [
                dir.join("a (2).pdf"),
                dir.join("sub").join("notes (1)"),
                dir.join("a.pdf.tar.gz"),
            ]
        );
        // Twice into the same folder: the second run numbers everything again.
        let second = archive.extract_to(dir).unwrap();
        assert_eq!(second[0].path, dir.join("a (3).pdf"));
        assert_eq!(second[2].path, dir.join("a.pdf.tar (1).gz"));

        assert_eq!(fs::read_to_string(dir.join("a.pdf")).unwrap(), "mine");
        assert_eq!(
            fs::read_to_string(dir.join("a (1).pdf")).unwrap(),
            "mine too"
        );
        assert_eq!(fs::read_to_string(dir.join("sub/notes")).unwrap(), "mine");
        assert_eq!(fs::read_to_string(dir.join("a (3).pdf")).unwrap(), "new");
    }

    #[test]
    fn names_that_leave_the_folder_refuse_the_whole_archive() {
        for (bad, why) in [
            ("../evil.txt", "points outside its folder"),
            ("docs/../../evil.txt", "points outside its folder"),
            ("/etc/evil", "is an absolute path"),
            ("C:/evil.txt", "is an absolute path"),
            ("c:evil.txt", "is an absolute path"),
            ("..\\evil.txt", "backslash"),
            ("\\\\server\\share\\evil", "backslash"),
            ("evil\0.txt", "control character"),
        ] {
            let bytes = zip_of(&[("fine.txt", b"ok"), (bad, b"evil")]);
            let (entry, text) = refusal(bytes, &limits());
            assert_eq!(entry.as_deref(), Some(bad), "{text}");
            assert!(text.contains(why), "{bad}: {text}");
            assert!(
                text.starts_with("the downloads archive was refused: entry `"),
                "{text}"
            );
        }
        // A folder entry is checked too, though it is never written.
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.add_directory("../up/", SimpleFileOptions::default())
            .unwrap();
        let (entry, _) = refusal(w.finish().unwrap().into_inner(), &limits());
        assert_eq!(entry.as_deref(), Some("../up/"));
    }

    #[test]
    fn symlink_entries_refuse_the_whole_archive() {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("fine.txt", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"ok").unwrap();
        w.add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let (entry, text) = refusal(w.finish().unwrap().into_inner(), &limits());
        assert_eq!(entry.as_deref(), Some("link"));
        assert!(text.contains("entry `link` is a symbolic link"), "{text}");
    }

    #[test]
    fn too_many_entries_are_refused_with_the_count_and_the_limit() {
        let tight = ArchiveLimits {
            max_entries: 2,
            ..limits()
        };
        let bytes = zip_of(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
        let (_, text) = refusal(bytes.clone(), &tight);
        assert!(text.contains("3 entries, over the limit of 2"), "{text}");
        let two = ArchiveLimits {
            max_entries: 3,
            ..tight
        };
        assert_eq!(Archive::from_bytes(bytes, &two).unwrap().entries().len(), 3);
    }

    #[test]
    fn a_highly_compressed_large_entry_is_refused_as_a_bomb() {
        let zeros = vec![0u8; 2 * MIB as usize];
        let (entry, text) = refusal(zip_of(&[("bomb.bin", &zeros)]), &limits());
        assert_eq!(entry.as_deref(), Some("bomb.bin"));
        assert!(text.contains("zip bomb"), "{text}");
        // The same ratio below the 1 MiB floor is an ordinary small file.
        let small = vec![0u8; MIB as usize / 2];
        assert!(Archive::from_bytes(zip_of(&[("blank.txt", &small)]), &limits()).is_ok());
    }

    #[test]
    fn declared_sizes_over_the_total_are_refused() {
        let tight = ArchiveLimits {
            max_total_bytes: 10,
            ..limits()
        };
        let (entry, text) = refusal(zip_of(&[("a", b"123456"), ("b", b"123456")]), &tight);
        assert_eq!(entry, None);
        assert!(text.contains("more than the 10-byte limit"), "{text}");
    }

    #[test]
    fn not_a_zip_and_an_oversized_zip_are_refused() {
        let (entry, text) = refusal(b"<html>expired</html>".to_vec(), &limits());
        assert_eq!(entry, None);
        assert!(text.contains("is not a zip file"), "{text}");

        let tiny = ArchiveLimits {
            max_archive_bytes: 10,
            ..limits()
        };
        assert!(matches!(
            Archive::from_bytes(zip_of(&[("a", b"1")]), &tiny),
            Err(DownloadError::TooLarge { limit: 10 })
        ));
    }

    /// A stored entry of 1000 bytes whose headers (local and central) declare 10.
    fn lying_zip() -> Vec<u8> {
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("first.txt", stored).unwrap();
        w.write_all(b"honest").unwrap();
        w.start_file("liar.txt", stored).unwrap();
        w.write_all(&[b'a'; 1000]).unwrap();
        let mut bytes = w.finish().unwrap().into_inner();
        let mut patched = 0;
        for (signature, size_at) in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)] {
            for at in 0..bytes.len() - 4 {
                let header = &bytes[at..];
                if header.starts_with(signature)
                    && header[size_at..size_at + 4] == 1000u32.to_le_bytes()
                {
                    bytes[at + size_at..at + size_at + 4].copy_from_slice(&10u32.to_le_bytes());
                    patched += 1;
                }
            }
        }
        assert_eq!(patched, 2, "both headers of liar.txt patched");
        bytes
    }

    #[test]
    fn an_entry_holding_more_than_it_declares_fails_and_leaves_nothing_behind() {
        let archive = Archive::from_bytes(lying_zip(), &limits()).unwrap();
        assert_eq!(archive.entries()[1].size_bytes, 10);

        // The zip crate's reader stops one byte past the declared size itself ("larger than
        // its declared uncompressed size"); `copy_entry`'s own bound says "declares".
        let err = archive.read("liar.txt").unwrap_err();
        let text = err.to_string();
        assert!(matches!(&err, DownloadError::Damaged { entry, .. } if entry == "liar.txt"));
        assert!(text.contains("declare"), "{text}");
        assert!(text.ends_with("nothing was written"), "{text}");
        assert_eq!(archive.read("first.txt").unwrap(), b"honest");

        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
        let dir = tmp.path().join("new/folder");
        let err = archive.extract_to(&dir).unwrap_err();
        let DownloadError::Damaged { entry, cleanup, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(entry, "liar.txt");
        // first.txt and the partial liar.txt were written, then removed with their folders.
        assert_eq!(
            cleanup,
            &Cleanup {
                removed: 2,
                left: vec![]
            }
        );
        assert!(
            err.to_string()
                .ends_with("the 2 file(s) already written were removed"),
            "{err}"
        );
        assert_eq!(files_under(tmp.path()), ["keep.txt"]);
        assert!(!tmp.path().join("new").exists());
    }

    #[test]
    fn real_bytes_past_the_total_limit_fail_even_when_the_declared_sizes_fit() {
        // Declared: 6 + 10 = 16 bytes; really 1006.
        let tight = ArchiveLimits {
            max_total_bytes: 16,
            ..limits()
        };
        let archive = Archive::from_bytes(lying_zip(), &tight).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        assert!(archive.extract_to(tmp.path()).is_err());
        assert!(files_under(tmp.path()).is_empty());
    }

    #[test]
    fn a_write_failure_removes_what_was_written() {
        let tmp = tempfile::tempdir().unwrap();
        // `b` is a file already, so the folder `b/` cannot be made.
        fs::write(tmp.path().join("b"), "mine").unwrap();
        let archive = Archive::from_bytes(
            zip_of(&[("a/one.txt", b"1"), ("b/two.txt", b"2")]),
            &limits(),
        )
        .unwrap();
        let err = archive.extract_to(tmp.path()).unwrap_err();
        assert!(
            matches!(&err, DownloadError::Write { entry, .. } if entry == "b/two.txt"),
            "{err:?}"
        );
        assert_eq!(files_under(tmp.path()), ["b"]);
        assert!(!tmp.path().join("a").exists());
    }

    /// Serves `/ok.zip` (400 if an `apikey` header came, like S3 seeing two authorizations),
    /// `/flaky.zip` (503 once, then the zip), `/expired.zip` (403), `/big` (over the limit by
    /// Content-Length) and `/stream` (over the limit without one).
    async fn presigned_host(zip: Vec<u8>, limit: usize) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let ok = {
            let zip = zip.clone();
            move |headers: HeaderMap| async move {
                if headers.contains_key("apikey") {
                    return (Status::BAD_REQUEST, "Only one auth mechanism allowed")
                        .into_response();
                }
                zip.into_response()
            }
        };
        let flaky = {
            let hits = hits.clone();
            move || async move {
                if hits.fetch_add(1, Ordering::SeqCst) == 0 {
                    Status::SERVICE_UNAVAILABLE.into_response()
                } else {
                    zip.into_response()
                }
            }
        };
        let big = move || async move { vec![0u8; limit + 1] };
        let stream = move || async move {
            let chunks = (0..=limit / 1024).map(|_| Ok::<_, io::Error>(vec![0u8; 1024]));
            Response::builder()
                .header(header::CONTENT_TYPE, "application/zip")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        };
        let app = Router::new()
            .route("/ok.zip", get(ok))
            .route("/flaky.zip", get(flaky))
            .route("/expired.zip", get(|| async { Status::FORBIDDEN }))
            .route("/big", get(big))
            .route("/stream", get(stream));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, hits)
    }

    fn client() -> SmoothClient {
        SmoothClient::new(ClientConfig {
            api_key: ApiKey::new("cmzr-secret-key"),
            retry: RetryPolicy {
                min_delay: Duration::from_millis(1),
                ..RetryPolicy::default()
            },
            ..ClientConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn fetch_archive_sends_no_key_retries_a_5xx_once_and_stops_at_the_limit() {
        let zip = zip_of(&[("report.pdf", b"%PDF")]);
        let limit = 64 * 1024;
        let (base, hits) = presigned_host(zip, limit).await;
        let limits = ArchiveLimits {
            max_archive_bytes: limit as u64,
            ..limits()
        };
        let client = client();
        let signed = "?X-Amz-Signature=topsecret&X-Amz-Credential=AKIA";

        let archive = client
            .fetch_archive(&format!("{base}/ok.zip{signed}"), &limits)
            .await
            .unwrap();
        assert_eq!(archive.read("report.pdf").unwrap(), b"%PDF");

        let archive = client
            .fetch_archive(&format!("{base}/flaky.zip{signed}"), &limits)
            .await
            .unwrap();
        assert_eq!(archive.entries().len(), 1);
        assert_eq!(hits.load(Ordering::SeqCst), 2);

        let err = client
            .fetch_archive(&format!("{base}/expired.zip{signed}"), &limits)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "{base}/expired.zip: the link was refused (HTTP 403"
            )),
            "{text}"
        );
        assert!(text.contains("fresh one"), "{text}");
        assert!(
            !text.contains("topsecret") && !text.contains("AKIA"),
            "{text}"
        );

        for path in ["big", "stream"] {
            let err = client
                .fetch_archive(&format!("{base}/{path}"), &limits)
                .await
                .unwrap_err();
            assert!(
                matches!(err, DownloadError::TooLarge { limit: l } if l == limit as u64),
                "{path}: {err:?}"
            );
        }

        assert!(matches!(
            client.fetch_archive("file:///etc/passwd", &limits).await,
            Err(DownloadError::InvalidUrl)
        ));

        // Nothing listens there any more: a connection failure, named by host and path only.
        let closed = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let gone = format!("http://{}/gone.zip", closed.local_addr().unwrap());
        drop(closed);
        let err = client
            .fetch_archive(&format!("{gone}{signed}"), &limits)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, DownloadError::Fetch { .. }), "{err:?}");
        assert!(
            text.starts_with(&format!(
                "could not download the downloads archive from {gone}: "
            )),
            "{text}"
        );
        assert!(!text.contains("topsecret"), "{text}");
    }
}
