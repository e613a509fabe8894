//! Writing a client's config file: a backup of the old one first, then the new text through a
//! temporary file renamed over it, so a crash never leaves a half-written config. A file that
//! will hold a key is made readable by its owner only (0600) before it takes the old one's
//! place, or not written at all.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::SetupError;

/// Writes `text` to `path`; returns the backup of the file it replaced, if there was one.
pub fn replace_file(path: &Path, text: &str, secret: bool) -> Result<Option<PathBuf>, SetupError> {
    // Edit the file a symlink points to (dotfile managers link these), not the link.
    let target = if path.exists() {
        fs::canonicalize(path).map_err(io("resolving", path))?
    } else {
        path.to_path_buf()
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let old = fs::metadata(&target).ok();
    let backup = match old {
        Some(_) => {
            let backup = free_backup_name(&target);
            fs::copy(&target, &backup).map_err(io("backing up to", &backup))?;
            Some(backup)
        }
        None => None,
    };
    let tmp = dir.join(format!(
        ".{}.smooth-mcp-tmp",
        target.file_name().unwrap_or_default().to_string_lossy()
    ));
    let written = write_tmp(&tmp, text, secret, old.as_ref())
        .and_then(|()| fs::rename(&tmp, &target).map_err(io("replacing", &target)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| backup)
}

/// The temporary file is created owner-only, so a key is never readable by others, even for
/// a moment; without a key it then takes the old file's permissions (a new file stays
/// owner-only: client configs often hold other servers' tokens).
fn write_tmp(
    tmp: &Path,
    text: &str,
    secret: bool,
    old: Option<&fs::Metadata>,
) -> Result<(), SetupError> {
    // A leftover of an interrupted run.
    let _ = fs::remove_file(tmp);
    let mut file = create_private(tmp)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io("writing", tmp))?;
    if secret {
        ensure_private(&file, tmp)
    } else if let Some(old) = old {
        file.set_permissions(old.permissions())
            .map_err(io("setting the permissions of", tmp))
    } else {
        Ok(())
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> Result<File, SetupError> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("creating", path))
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> Result<File, SetupError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io("creating", path))
}

/// 0600, checked: some file systems (a FAT stick, some network mounts) ignore modes.
#[cfg(unix)]
fn ensure_private(file: &File, path: &Path) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io("restricting the permissions of", path))?;
    let mode = file
        .metadata()
        .map_err(io("reading the permissions of", path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(SetupError::Invalid(format!(
            "refusing to write the key: {} stays readable by others (mode {:o}) on this file \
             system; rerun without the key and add it by hand",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

/// Windows: the user's profile and %APPDATA% are already private to the user.
#[cfg(not(unix))]
fn ensure_private(_file: &File, _path: &Path) -> Result<(), SetupError> {
    Ok(())
}

/// `FILE.bak`, or `FILE.bak.1`, `.2`… when earlier backups exist: none is overwritten.
fn free_backup_name(path: &Path) -> PathBuf {
    let base = format!("{}.bak", path.display());
    std::iter::once(PathBuf::from(&base))
        .chain((1u32..).map(|n| PathBuf::from(format!("{base}.{n}"))))
        .find(|candidate| !candidate.exists())
        .unwrap_or_else(|| PathBuf::from(base))
}

fn io(action: &str, path: &Path) -> impl FnOnce(std::io::Error) -> SetupError {
    let action = format!("{action} {}", path.display());
    move |source| SetupError::Io { action, source }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn backups_accumulate_and_modes_follow_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("c.json");
        assert_eq!(replace_file(&path, "1", false).unwrap(), None);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let first = replace_file(&path, "2", false).unwrap().unwrap();
        assert_eq!(fs::read_to_string(&first).unwrap(), "1");
        assert_eq!(mode(&path), 0o640, "the old file's mode is kept");
        let second = replace_file(&path, "3", true).unwrap().unwrap();
        assert_eq!(second, PathBuf::from(format!("{}.1", first.display())));
        assert_eq!(fs::read_to_string(&second).unwrap(), "2");
        assert_eq!(mode(&path), 0o600, "a key makes it owner-only");
        assert_eq!(fs::read_to_string(&path).unwrap(), "3");
    }

    #[test]
    fn a_symlink_keeps_pointing_at_the_edited_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        replace_file(&link, "new", false).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
    }
}
