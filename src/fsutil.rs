//! Crash-safe file writing. A reader (or a restarted process) must only ever see the old file or
//! the complete new one, never a torn write, so every write goes to a temporary sibling, is
//! fsynced, renamed over the target and the directory entry is fsynced too.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{Result, StanceError};

/// Atomically replaces `path` with `bytes`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".stance-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| StanceError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| StanceError::io(path, e))?;
    // Temp files are created 0600; artifacts must stay readable by a non-root service user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(|e| StanceError::io(path, e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| StanceError::io(path, e))?;
    crate::failpoint::hit("before-rename");
    tmp.persist(path)
        .map_err(|e| StanceError::io(path, e.error))?;
    sync_dir(dir)
}

/// Fsyncs a directory so that renames and creations inside it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StanceError::io(dir, e))
}

/// Atomically renames a fully written directory into place.
pub fn rename_dir(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| StanceError::io(to, e))?;
    sync_dir(parent_dir(to))
}

/// Name of the lock file inside a models folder.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive advisory lock (`flock`) on a folder's [`LOCK_FILE`], released when dropped (or
/// when the process dies, however it dies).
pub struct DirLock {
    _file: File,
}

/// Takes the exclusive lock on `dir`, waiting for the holder if there is one (a warning says
/// so). Every writer of a models folder (`stance train`) takes it before it creates anything
/// there and keeps it until `CURRENT` has moved and old versions are pruned.
pub fn lock_dir(dir: &Path) -> Result<DirLock> {
    use rustix::fs::{flock, FlockOperation};
    let path = dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StanceError::io(&path, e))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            tracing::warn!(
                "{}: another stance process is publishing a model here; waiting for it",
                path.display()
            );
            flock(&file, FlockOperation::LockExclusive)
                .map_err(|e| StanceError::io(&path, e.into()))?;
        }
        Err(e) => return Err(StanceError::io(&path, e.into())),
    }
    Ok(DirLock { _file: file })
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("file.json");
        write_atomic(&target, b"first").unwrap();
        write_atomic(&target, b"second").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("file.json")]);
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let err = write_atomic(Path::new("/nonexistent-stance-dir/x.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("nonexistent-stance-dir"), "{err}");
    }
}
