//! The whole-archive check of [`Archive::from_bytes`](super::Archive::from_bytes): entry
//! count, names, symlinks, packing, declared sizes and ratios, before anything is read.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use zip::CompressionMethod;

use super::{ArchiveEntry, ArchiveLimits, DownloadError, MIB, refused};

/// Entries this small are not held to [`ArchiveLimits::max_ratio`]: a small text file of
/// repeated bytes compresses very well, and no small entry can be a bomb.
const RATIO_FLOOR: u64 = MIB;

/// Unix file-type bits in the high half of a zip entry's external attributes.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// The check itself: the files that passed, with their indices in the zip.
pub(super) fn check(
    zip: &super::Zip,
    limits: &ArchiveLimits,
) -> Result<(Vec<ArchiveEntry>, Vec<usize>), DownloadError> {
    if zip.len() > limits.max_entries {
        return Err(refused(
            None,
            format!(
                "it holds {} entries, over the limit of {}",
                zip.len(),
                limits.max_entries
            ),
        ));
    }
    if zip.has_duplicate_names() {
        // The zip crate keeps one entry per name; refusing would lose every file instead.
        tracing::warn!("the downloads archive lists a name twice: only one of each is unpacked");
    }
    let mut entries = Vec::new();
    let mut indices = Vec::new();
    let mut total = 0u64;
    for index in 0..zip.len() {
        let entry = zip
            .by_index_data(index)
            .map_err(|e| refused(None, format!("it is not a readable zip file ({e})")))?;
        let raw_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let bad = |reason: &str| {
            refused(
                Some(&raw_name),
                format!("entry `{}` {reason}", raw_name.escape_debug()),
            )
        };
        let name = entry
            .name()
            .map_err(|_| bad("has a name that is not valid text"))?;
        let clean = clean_name(entry.name_raw(), &name).map_err(bad)?;
        // The zip crate's own check, in case ours misses a form it knows.
        if entry.enclosed_name().is_none() {
            return Err(bad("points outside its folder"));
        }
        let mode = entry.external_attributes() >> 16;
        if entry.is_symlink() || mode & S_IFMT == S_IFLNK {
            return Err(bad("is a symbolic link"));
        }
        if entry.is_dir() {
            continue;
        }
        if entry.encrypted() {
            return Err(bad("is encrypted"));
        }
        let method = entry.compression();
        if !matches!(
            method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(bad(&format!(
                "is packed with {method}, which this client cannot unpack"
            )));
        }
        let size = entry.size();
        let ratio = size / entry.compressed_size().max(1);
        if size > RATIO_FLOOR && ratio > limits.max_ratio {
            return Err(bad(&format!(
                "would unpack to {ratio} times its packed size, over the limit of {} (a zip bomb?)",
                limits.max_ratio
            )));
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(refused(
                None,
                format!(
                    "its files would unpack to more than the {}-byte limit",
                    limits.max_total_bytes
                ),
            ));
        }
        entries.push(ArchiveEntry {
            name: clean,
            size_bytes: size,
        });
        indices.push(index);
    }
    Ok((entries, indices))
}

/// The entry's name as `/`-separated plain parts (empty and `.` parts dropped), or why it
/// may not be unpacked. Absolute forms are checked for every system, not only this one: the
/// archive is refused the same way wherever this runs.
fn clean_name(raw: &[u8], name: &str) -> Result<String, &'static str> {
    if raw.iter().any(|b| b.is_ascii_control()) {
        return Err("has a control character (such as NUL) in its name");
    }
    if name.contains('\\') {
        return Err("has a backslash in its name (a Windows path separator)");
    }
    let bytes = name.as_bytes();
    if name.starts_with('/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
    {
        return Err("is an absolute path");
    }
    let mut parts = Vec::new();
    for part in name.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err("points outside its folder");
        }
        // Each part must be one plain name to this system too (on Windows, `C:` is not).
        let mut components = Path::new(part).components();
        if !matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(p)), None) if p == OsStr::new(part)
        ) {
            return Err("has a name part this system reads as a path");
        }
        parts.push(part);
    }
    if parts.is_empty() {
        return Err("has no file name");
    }
    Ok(parts.join("/"))
}

/// A checked entry name (see [`clean_name`]) as a relative path.
pub(super) fn relative_path(name: &str) -> PathBuf {
    name.split('/').collect()
}
