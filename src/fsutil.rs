//! Crash-safe file writing. A reader (or a restarted process) must only ever see the old file or
//! the complete new one, never a torn write, so every write goes to a temporary sibling, is
//! fsynced, renamed over the target and the directory entry is fsynced too.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, StanceError};

/// Atomically replaces `path` with `bytes`. The write lands on [`output_target`]`(path)`: a
/// symlink stays a link and its target is replaced; a FIFO, device, socket or folder is refused.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = output_target(path)?;
    let path = target.as_path();
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

/// Most symlinks followed before giving up (the kernel's own limit, `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// The file a crash-safe write of `path` must replace, checked before any work is done.
///
/// A write goes to a temporary sibling renamed over the target, and a rename replaces the
/// directory entry it names. Renamed over a symlink, it would replace the link with a file and
/// leave the file the user meant untouched; renamed over `/dev/stdout` (a link to
/// `/proc/self/fd/1`) it would replace a device node with a regular file; and a FIFO, device or
/// socket is a stream, which no temp file can stand in for. So:
///
/// - nothing there: `path` itself (a missing folder is found when the temp file is created);
/// - a regular file: `path`;
/// - a symlink to a regular file: the file it resolves to, so the link stays a link;
/// - a dangling symlink: the path it points to (followed link by link), created there;
/// - anything that is not a regular file once links are followed (FIFO, character or block
///   device, socket, folder): an [`StanceError::Output`] saying what it is.
pub fn output_target(path: &Path) -> Result<PathBuf> {
    // `metadata` follows links as the kernel does, including /proc's magic links, whose text
    // (`pipe:[1234]`) is not a path.
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if is_link {
                fs::canonicalize(path).map_err(|e| StanceError::io(path, e))
            } else {
                Ok(path.to_path_buf())
            }
        }
        Ok(meta) => Err(StanceError::Output {
            path: path.to_path_buf(),
            reason: format!(
                "is {}, not a regular file: output is written to a temporary file that is \
                 renamed over it, which cannot be done to one",
                kind_of(&meta.file_type())
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => dangling_target(path),
        Err(e) => Err(StanceError::io(path, e)),
    }
}

/// Where a path that does not resolve to anything leads: itself, or for a dangling symlink the
/// end of its chain of links.
fn dangling_target(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&current).map_err(|e| StanceError::io(&current, e))?;
                // A relative target is relative to the folder that holds the link.
                current = parent_dir(&current).join(link);
            }
            _ => return Ok(current),
        }
    }
    Err(StanceError::Output {
        path: path.to_path_buf(),
        reason: format!("more than {MAX_LINKS} symbolic links in a row"),
    })
}

/// What a non-regular file is, for the message that refuses to write over it.
fn kind_of(ft: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a folder"
    } else if ft.is_fifo() {
        "a FIFO (a pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// Whether `a` and `b` name the same file (device and inode, after following links), however
/// they are spelled: `./w/../w/v.jsonl`, a symlink and a hard link all match. Metadata only: the
/// files are never opened, since opening a FIFO for reading blocks until a writer comes. False
/// when either does not exist.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
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
    use std::os::unix::fs::FileTypeExt;

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
    fn a_symlink_stays_a_link_and_its_target_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (target, link) = (dir.path().join("real.json"), dir.path().join("link.json"));
        fs::write(&target, b"old").unwrap();
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        // A dangling link gets its target created; the link stays.
        let (gone, dangling) = (dir.path().join("later.json"), dir.path().join("d.json"));
        std::os::unix::fs::symlink(&gone, &dangling).unwrap();
        assert_eq!(output_target(&dangling).unwrap(), gone);
        write_atomic(&dangling, b"made").unwrap();
        assert!(fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&gone).unwrap(), b"made");
        // A plain path is itself, whether or not it exists yet.
        assert_eq!(output_target(&target).unwrap(), target);
        let new = dir.path().join("new.json");
        assert_eq!(output_target(&new).unwrap(), new);
    }

    fn mkfifo(path: &Path) {
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
    }

    #[test]
    fn special_files_are_refused_saying_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let link = dir.path().join("to-fifo");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        for (path, what) in [
            (fifo.as_path(), "FIFO"),
            (link.as_path(), "FIFO"),
            (dir.path(), "folder"),
            (Path::new("/dev/null"), "character device"),
        ] {
            let err = output_target(path).unwrap_err();
            assert!(matches!(err, StanceError::Output { .. }), "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains(what) && msg.contains("not a regular file"),
                "{msg}"
            );
            assert!(write_atomic(path, b"x").is_err());
        }
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        // Two links pointing at each other never loop forever.
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert!(output_target(&a).is_err());
    }

    #[test]
    fn same_file_sees_through_spelling_and_links_without_opening() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.jsonl");
        fs::write(&file, b"x").unwrap();
        let spelled = dir.path().join("w/../v.jsonl");
        fs::create_dir(dir.path().join("w")).unwrap();
        let link = dir.path().join("l.jsonl");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(same_file(&file, &spelled));
        assert!(same_file(&file, &link));
        assert!(!same_file(&file, &dir.path().join("other")));
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        // Would block forever if it opened the FIFO.
        assert!(!same_file(&file, &fifo));
        assert!(same_file(&fifo, &fifo));
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let err = write_atomic(Path::new("/nonexistent-stance-dir/x.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("nonexistent-stance-dir"), "{err}");
    }
}
