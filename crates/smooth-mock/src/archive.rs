//! A task's downloads archive: which files it holds, and the zip bytes. Archives are
//! deterministic, so each kind is built once per process (on first download) and cached.
//!
//! Besides honest archives, `[mock:archive=KIND]` serves hostile ones, for testing that a
//! client unpacks downloads safely: path traversal, a zip bomb, a symlink, 10,000 entries.

use std::io::{Cursor, Write};
use std::sync::OnceLock;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::artifacts;

/// A hostile archive served instead of the task's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hostile {
    /// `report.csv`, then entries escaping the extraction directory: `../../evil.txt` and
    /// the absolute `/tmp/evil.txt`.
    ZipSlip,
    /// One entry of [`BOMB_SIZE`] zeros, deflated to a few hundred KB.
    ZipBomb,
    /// A symlink entry `link` → `/etc/passwd`, and a regular `readme.txt`.
    Symlink,
    /// [`MANY_ENTRIES`] one-byte entries.
    ManyEntries,
}

pub(crate) const BOMB_SIZE: u64 = 200 * 1024 * 1024;
pub(crate) const MANY_ENTRIES: usize = 10_000;

impl Hostile {
    pub(crate) const ALL: [Hostile; 4] = [
        Hostile::ZipSlip,
        Hostile::ZipBomb,
        Hostile::Symlink,
        Hostile::ManyEntries,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Hostile::ZipSlip => "zip_slip",
            Hostile::ZipBomb => "zip_bomb",
            Hostile::Symlink => "symlink",
            Hostile::ManyEntries => "many_entries",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Hostile> {
        Hostile::ALL
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// What a task's downloads archive holds. Empty: nothing was downloaded (`downloads_url`
/// is `""`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Contents {
    /// `report.csv` and `invoice.pdf` (`[mock:download]`).
    pub files: bool,
    /// `screenshot.png` (the `screenshot` tool).
    pub screenshot: bool,
    /// `page.pdf` (the `print_page` tool).
    pub page: bool,
    /// Serve this instead of the files above.
    pub hostile: Option<Hostile>,
}

impl Contents {
    pub(crate) fn is_empty(&self) -> bool {
        !(self.files || self.screenshot || self.page || self.hostile.is_some())
    }

    /// Both sets of files (a session's runs add to what its earlier runs left).
    pub(crate) fn merge(self, other: Contents) -> Contents {
        Contents {
            files: self.files || other.files,
            screenshot: self.screenshot || other.screenshot,
            page: self.page || other.page,
            hostile: other.hostile.or(self.hostile),
        }
    }

    /// Its slot in [`CACHE`]: one per hostile kind, one per combination of files.
    fn slot(&self) -> usize {
        match self.hostile {
            Some(h) => h as usize,
            None => {
                Hostile::ALL.len()
                    + usize::from(self.files)
                    + 2 * usize::from(self.screenshot)
                    + 4 * usize::from(self.page)
            }
        }
    }
}

const SLOTS: usize = Hostile::ALL.len() + 8;

/// Built archives (or why building failed: it would fail again, being deterministic).
static CACHE: [OnceLock<Result<Vec<u8>, String>>; SLOTS] = [const { OnceLock::new() }; SLOTS];

/// The zip for `contents`, built on first use. Slow the first time (up to a second for the
/// bomb): call it off the async runtime.
pub(crate) fn zip_bytes(contents: Contents) -> Result<&'static [u8], String> {
    let cell = CACHE
        .get(contents.slot())
        .ok_or("no cache slot for these contents")?;
    cell.get_or_init(|| build(contents).map_err(|e| e.to_string()))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(String::clone)
}

/// Why an archive could not be built (zip, PNG or I/O): only ever shown as text.
type BuildError = Box<dyn std::error::Error + Send + Sync>;

type Zip = ZipWriter<Cursor<Vec<u8>>>;

fn build(contents: Contents) -> Result<Vec<u8>, BuildError> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    match contents.hostile {
        Some(Hostile::ZipSlip) => {
            add(&mut zip, "report.csv", artifacts::REPORT_CSV.as_bytes())?;
            add(
                &mut zip,
                "../../evil.txt",
                b"written outside the target directory\n",
            )?;
            add(&mut zip, "/tmp/evil.txt", b"written to an absolute path\n")?;
        }
        Some(Hostile::ZipBomb) => bomb(&mut zip)?,
        Some(Hostile::Symlink) => {
            zip.add_symlink("link", "/etc/passwd", options())?;
            add(&mut zip, "readme.txt", b"a regular file beside the link\n")?;
        }
        Some(Hostile::ManyEntries) => {
            let stored = options().compression_method(CompressionMethod::Stored);
            for i in 0..MANY_ENTRIES {
                zip.start_file(format!("entries/{i:05}.txt"), stored)?;
                zip.write_all(b"x")?;
            }
        }
        None => {
            if contents.files {
                add(&mut zip, "report.csv", artifacts::REPORT_CSV.as_bytes())?;
                add(&mut zip, "invoice.pdf", &artifacts::invoice_pdf())?;
            }
            if contents.screenshot {
                // Already deflated inside: storing it again saves the work.
                let png = artifacts::screenshot_png()?;
                zip.start_file(
                    "screenshot.png",
                    options().compression_method(CompressionMethod::Stored),
                )?;
                zip.write_all(&png)?;
            }
            if contents.page {
                add(&mut zip, "page.pdf", &artifacts::page_pdf())?;
            }
        }
    }
    Ok(zip.finish()?.into_inner())
}

/// Regular files, `rw-r--r--`, deflated; the default timestamp (1980) keeps bytes stable.
fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o644)
}

fn add(zip: &mut Zip, name: &str, data: &[u8]) -> Result<(), BuildError> {
    zip.start_file(name, options())?;
    zip.write_all(data)?;
    Ok(())
}

/// Streams the zeros through the compressor a MiB at a time: nothing big is ever in memory.
fn bomb(zip: &mut Zip) -> Result<(), BuildError> {
    const CHUNK: usize = 1024 * 1024;
    let zeros = vec![0u8; CHUNK];
    // The default level (6): as small as 9 for zeros (~1000:1, deflate's limit), 5x faster.
    zip.start_file("zeros.bin", options())?;
    for _ in 0..BOMB_SIZE / CHUNK as u64 {
        zip.write_all(&zeros)?;
    }
    Ok(())
}
