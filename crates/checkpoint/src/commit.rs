//! Atomic commit of a checkpoint directory, as Orbax does on local file systems
//! (orbax-layout §9.2): everything is written under `<final>.orbax-checkpoint-tmp`, a
//! `commit_success.txt` marker is written, and the directory is renamed to its final name.
//!
//! Durability: every file the save writes is fsynced before the rename, the rename is followed
//! by an fsync of the parent directory, so a crash leaves either the previous state (plus a
//! recognisable temporary directory) or the complete checkpoint.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Suffix of a directory that is still being written.
pub const TMP_DIR_SUFFIX: &str = ".orbax-checkpoint-tmp";

/// Name of the commit marker file.
pub const COMMIT_SUCCESS_FILE: &str = "commit_success.txt";

/// `<parent>/<name>.orbax-checkpoint-tmp` for a final path.
pub fn tmp_path(final_dir: &Path) -> PathBuf {
    let mut name = final_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(TMP_DIR_SUFFIX);
    final_dir.with_file_name(name)
}

/// Whether a directory name marks an unfinished save.
pub fn is_tmp_name(name: &str) -> bool {
    name.contains(TMP_DIR_SUFFIX)
}

/// Writes `bytes` to `path` and fsyncs it.
pub fn write_file_durable(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|e| Error::io(path, e))?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Fsyncs a directory so that entries created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let handle = OpenOptions::new()
            .read(true)
            .open(dir)
            .map_err(|e| Error::io(dir, e))?;
        handle.sync_all().map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Prepares the temporary directory of a save to `final_dir`: an existing destination is an
/// error unless `force` (then it is removed); a leftover temporary directory is removed.
/// Returns the temporary directory, created with its parents.
pub fn create_tmp_dir(final_dir: &Path, force: bool) -> Result<PathBuf> {
    if final_dir.exists() {
        if !force {
            return Err(Error::InvalidArgument(format!(
                "Destination {} already exists.",
                final_dir.display()
            )));
        }
        fs::remove_dir_all(final_dir).map_err(|e| Error::io(final_dir, e))?;
    }
    let tmp = tmp_path(final_dir);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    if let Some(parent) = tmp.parent() {
        sync_dir(parent)?;
    }
    Ok(tmp)
}

/// Writes `commit_success.txt` naming `committed_path` (Orbax writes the absolute path of the
/// directory being committed; for items of a composite it is still under the parent's
/// temporary name).
pub fn write_commit_marker(dir: &Path, committed_path: &Path) -> Result<()> {
    let text = format!(
        "Checkpoint commit was successful to {}",
        committed_path.display()
    );
    write_file_durable(&dir.join(COMMIT_SUCCESS_FILE), text.as_bytes())
}

/// Renames the temporary directory to its final name and makes the rename durable.
pub fn rename_into_place(tmp: &Path, final_dir: &Path) -> Result<()> {
    sync_dir(tmp)?;
    fs::rename(tmp, final_dir).map_err(|e| Error::io(final_dir, e))?;
    if let Some(parent) = final_dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_names_follow_orbax() {
        assert_eq!(
            tmp_path(Path::new("/r/ckpt")),
            Path::new("/r/ckpt.orbax-checkpoint-tmp")
        );
        assert_eq!(
            tmp_path(Path::new("/r/0/default")),
            Path::new("/r/0/default.orbax-checkpoint-tmp")
        );
        assert!(is_tmp_name("3.orbax-checkpoint-tmp-1703334121930256"));
        assert!(!is_tmp_name("3"));
    }

    #[test]
    fn existing_destinations_need_force_and_stale_tmp_dirs_are_replaced() {
        let root = tempfile::tempdir().unwrap();
        let final_dir = root.path().join("a/b/ckpt");
        let tmp = create_tmp_dir(&final_dir, false).unwrap();
        assert!(tmp.is_dir());
        fs::write(tmp.join("stale"), b"x").unwrap();
        let tmp = create_tmp_dir(&final_dir, false).unwrap();
        assert!(!tmp.join("stale").exists());
        write_commit_marker(&tmp, &final_dir).unwrap();
        rename_into_place(&tmp, &final_dir).unwrap();
        assert_eq!(
            fs::read_to_string(final_dir.join(COMMIT_SUCCESS_FILE)).unwrap(),
            format!(
                "Checkpoint commit was successful to {}",
                final_dir.display()
            )
        );
        let err = create_tmp_dir(&final_dir, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Destination {} already exists.", final_dir.display())
        );
        assert!(
            final_dir.join(COMMIT_SUCCESS_FILE).exists(),
            "a refused save touches nothing"
        );
        create_tmp_dir(&final_dir, true).unwrap();
        assert!(!final_dir.exists());
    }
}
