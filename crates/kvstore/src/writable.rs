//! Writing: whole values, atomic replacement, and streamed (appended) values.
//!
//! The trait is shaped after what an OCDBT writer needs and what object stores can offer:
//! large write-once data files are streamed with sequential appends (a multipart upload on an
//! object store) and become durable on [`AppendFile::finish`]; the small manifest is replaced
//! atomically ([`WritableStore::write_atomic`]: temp file + rename locally, a single PUT on an
//! object store).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::{io_error, write_lock, BTreeMap, Error, FileStore, MemoryStore, ReadableStore, Result};

/// A store that can also be written.
///
/// Durability: every method that returns `Ok` after writing (`write`, `write_atomic`,
/// [`AppendFile::finish`], `delete`) has made its effect durable, i.e. it survives a crash or
/// power loss of the machine (for files: the data and the directory entries leading to it are
/// fsynced). Nothing is promised about a value whose write returned an error or was never
/// finished.
pub trait WritableStore: ReadableStore {
    /// Sets `key` to `value`, replacing any previous value, durably. Not atomic: a crash (or
    /// a concurrent reader) may observe a partial value. Use it for values nobody reads before
    /// the write returns, e.g. write-once files under fresh random names.
    fn write(&self, key: &[u8], value: &[u8]) -> Result<()>;

    /// Sets `key` to `value` atomically and durably: readers (and a crash) observe either the
    /// complete previous value (or absence) or the complete new value, never a mixture.
    /// Meant for small values such as a manifest.
    fn write_atomic(&self, key: &[u8], value: &[u8]) -> Result<()>;

    /// Starts a new value for `key`, to be streamed with [`AppendFile::append`] and made
    /// durable with [`AppendFile::finish`]. The key should not exist yet; stores that can
    /// check it refuse an existing key (the local store does), others may overwrite it.
    /// Whether a partial value is visible before `finish` depends on the store (a local file
    /// is, an object-store multipart upload is not).
    fn create_appendable(&self, key: &[u8]) -> Result<Box<dyn AppendFile>>;

    /// Removes `key`, durably; removing an absent key succeeds.
    fn delete(&self, key: &[u8]) -> Result<()>;
}

/// A value being written with sequential appends, created by
/// [`WritableStore::create_appendable`].
///
/// After any error the value's content is undefined: call [`AppendFile::abort`] (or drop it).
pub trait AppendFile: Send + fmt::Debug {
    /// Appends `data` at the end of the value.
    fn append(&mut self, data: &[u8]) -> Result<()>;

    /// Number of bytes appended so far: the offset the next append starts at.
    fn len(&self) -> u64;

    /// True if nothing was appended yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Completes the value and makes it durable (flush + fsync of the file and of the
    /// directories leading to it, for files).
    fn finish(self: Box<Self>) -> Result<()>;

    /// Gives up the value and removes what was written of it.
    fn abort(self: Box<Self>) -> Result<()>;
}

impl<T: WritableStore + ?Sized> WritableStore for Arc<T> {
    fn write(&self, key: &[u8], value: &[u8]) -> Result<()> {
        (**self).write(key, value)
    }
    fn write_atomic(&self, key: &[u8], value: &[u8]) -> Result<()> {
        (**self).write_atomic(key, value)
    }
    fn create_appendable(&self, key: &[u8]) -> Result<Box<dyn AppendFile>> {
        (**self).create_appendable(key)
    }
    fn delete(&self, key: &[u8]) -> Result<()> {
        (**self).delete(key)
    }
}

// ---------------------------------------------------------------------------------------------
// Local files

/// Buffer of [`FileStore`] appendable files: small appends (B+tree nodes, values of a few KiB)
/// are coalesced into large sequential writes; larger appends bypass the buffer.
const APPEND_BUFFER_BYTES: usize = 1 << 20;

/// Makes the directory entries of `dir` durable (new files or subdirectories in it).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened for fsync on this platform; their entries are made durable by
/// the file system itself (NTFS journals metadata).
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Creates the parent directories of `path` and returns every directory whose entries change
/// when `path` is created: its parent, the directories created here, and the existing
/// directory they were created in. They must be synced after the file for it to be reachable
/// after a crash.
fn create_parents(path: &Path) -> Result<Vec<PathBuf>> {
    let Some(parent) = path.parent() else {
        return Ok(Vec::new());
    };
    let mut dirs = Vec::new();
    for dir in parent.ancestors() {
        dirs.push(dir.to_path_buf());
        if dir.as_os_str().is_empty() || dir.is_dir() {
            break;
        }
    }
    std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    // `Path::new("")` (a relative root) means the current directory.
    for dir in &mut dirs {
        if dir.as_os_str().is_empty() {
            *dir = PathBuf::from(".");
        }
    }
    Ok(dirs)
}

fn sync_dirs(dirs: &[PathBuf]) -> Result<()> {
    for dir in dirs {
        sync_dir(dir).map_err(|e| io_error(dir, e))?;
    }
    Ok(())
}

/// A name for a temporary sibling of `path`, unique within this process (pid + counter) and
/// across processes (pid).
fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".__tmp.{}.{n}", std::process::id()));
    path.with_file_name(name)
}

fn write_file(path: &Path, value: &[u8], create_new: bool) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    let mut file = options.open(path)?;
    file.write_all(value)?;
    file.sync_all()
}

impl WritableStore for FileStore {
    fn write(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let path = self.path_of(key)?;
        let dirs = create_parents(&path)?;
        write_file(&path, value, false).map_err(|e| io_error(&path, e))?;
        sync_dirs(&dirs)
    }

    fn write_atomic(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let path = self.path_of(key)?;
        let dirs = create_parents(&path)?;
        let temp = temp_sibling(&path);
        // The temporary file is complete and durable before the rename, so the rename
        // publishes either nothing or the whole value.
        let result = write_file(&temp, value, true)
            .map_err(|e| io_error(&temp, e))
            .and_then(|()| std::fs::rename(&temp, &path).map_err(|e| io_error(&path, e)));
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result?;
        // The rename itself becomes durable with the directory.
        sync_dirs(&dirs)
    }

    fn create_appendable(&self, key: &[u8]) -> Result<Box<dyn AppendFile>> {
        let path = self.path_of(key)?;
        let dirs = create_parents(&path)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        Ok(Box::new(FileAppend {
            out: BufWriter::with_capacity(APPEND_BUFFER_BYTES, file),
            path,
            len: 0,
            dirs,
        }))
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        let path = self.path_of(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(&path, e)),
        }
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir).map_err(|e| io_error(dir, e)),
            _ => Ok(()),
        }
    }
}

/// A file of a [`FileStore`] written in place with buffered sequential writes.
#[derive(Debug)]
struct FileAppend {
    path: PathBuf,
    out: BufWriter<File>,
    len: u64,
    /// Directories to sync on `finish` (see [`create_parents`]).
    dirs: Vec<PathBuf>,
}

impl AppendFile for FileAppend {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.out
            .write_all(data)
            .map_err(|e| io_error(&self.path, e))?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let FileAppend {
            path, out, dirs, ..
        } = *self;
        let file = out
            .into_inner()
            .map_err(|e| io_error(&path, e.into_error()))?;
        file.sync_all().map_err(|e| io_error(&path, e))?;
        sync_dirs(&dirs)
    }

    fn abort(self: Box<Self>) -> Result<()> {
        let FileAppend { path, out, .. } = *self;
        // Dropping the buffer may flush part of it; the file is removed right after.
        drop(out);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&path, e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Memory

impl WritableStore for MemoryStore {
    fn write(&self, key: &[u8], value: &[u8]) -> Result<()> {
        write_lock(&self.values).insert(key.to_vec(), Bytes::copy_from_slice(value));
        Ok(())
    }

    fn write_atomic(&self, key: &[u8], value: &[u8]) -> Result<()> {
        // A single map insert under the lock is already atomic.
        self.write(key, value)
    }

    fn create_appendable(&self, key: &[u8]) -> Result<Box<dyn AppendFile>> {
        if write_lock(&self.values).contains_key(key) {
            return Err(Error::Io {
                path: self.describe(key),
                source: io::Error::new(io::ErrorKind::AlreadyExists, "the key already exists"),
            });
        }
        Ok(Box::new(MemoryAppend {
            key: key.to_vec(),
            buf: Vec::new(),
            values: self.values.clone(),
        }))
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        write_lock(&self.values).remove(key);
        Ok(())
    }
}

/// A value of a [`MemoryStore`] being appended; like an object-store upload it becomes
/// visible only on `finish`.
struct MemoryAppend {
    key: Vec<u8>,
    buf: Vec<u8>,
    values: Arc<RwLock<BTreeMap<Vec<u8>, Bytes>>>,
}

impl fmt::Debug for MemoryAppend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryAppend")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("len", &self.buf.len())
            .finish()
    }
}

impl AppendFile for MemoryAppend {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let MemoryAppend { key, buf, values } = *self;
        write_lock(&values).insert(key, Bytes::from(buf));
        Ok(())
    }

    fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_writes_whole_values_creating_directories() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("new/root"));
        store.write(b"a/b/c", b"hello").unwrap();
        assert_eq!(store.read(b"a/b/c", None).unwrap().unwrap(), &b"hello"[..]);
        store.write(b"a/b/c", b"bye").unwrap();
        assert_eq!(store.read(b"a/b/c", None).unwrap().unwrap(), &b"bye"[..]);
        store.delete(b"a/b/c").unwrap();
        store.delete(b"a/b/c").unwrap();
        assert!(store.read(b"a/b/c", None).unwrap().is_none());
        assert!(matches!(
            store.write(b"../x", b""),
            Err(Error::InvalidKey { .. })
        ));
    }

    #[test]
    fn file_store_atomic_writes_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        store.write_atomic(b"manifest.ocdbt", b"one").unwrap();
        store.write_atomic(b"manifest.ocdbt", b"two").unwrap();
        store.write_atomic(b"sub/m", b"x").unwrap();
        assert_eq!(
            store.read(b"manifest.ocdbt", None).unwrap().unwrap(),
            &b"two"[..]
        );
        assert_eq!(
            store.list_prefix(b"").unwrap(),
            vec![b"manifest.ocdbt".to_vec(), b"sub/m".to_vec()]
        );
    }

    #[test]
    fn file_store_appends_stream_and_refuse_existing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let mut f = store.create_appendable(b"d/file").unwrap();
        assert!(f.is_empty());
        f.append(b"abc").unwrap();
        let big = vec![7u8; APPEND_BUFFER_BYTES + 10];
        f.append(&big).unwrap();
        f.append(b"").unwrap();
        f.append(b"z").unwrap();
        assert_eq!(f.len(), 3 + big.len() as u64 + 1);
        f.finish().unwrap();
        let got = store.read(b"d/file", None).unwrap().unwrap();
        assert_eq!(got.len(), 3 + big.len() + 1);
        assert_eq!(&got[..3], b"abc");
        assert_eq!(got[got.len() - 1], b'z');
        assert!(matches!(
            store.create_appendable(b"d/file"),
            Err(Error::Io { .. })
        ));
        let mut g = store.create_appendable(b"d/other").unwrap();
        g.append(b"partial").unwrap();
        g.abort().unwrap();
        assert!(store.read(b"d/other", None).unwrap().is_none());
    }

    #[test]
    fn memory_store_is_writable_through_shared_references_from_threads() {
        let store = Arc::new(MemoryStore::new("mem"));
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let store = store.clone();
                s.spawn(move || {
                    for i in 0..50u8 {
                        store.write(&[t, i], &[i]).unwrap();
                    }
                    let mut f = store.create_appendable(&[b'f', t]).unwrap();
                    f.append(&[t; 3]).unwrap();
                    // Invisible until finished, like an object-store upload.
                    assert!(store.read(&[b'f', t], None).unwrap().is_none());
                    f.finish().unwrap();
                });
            }
        });
        assert_eq!(store.list_prefix(b"").unwrap().len(), 4 * 50 + 4);
        assert_eq!(store.read(b"f\x02", None).unwrap().unwrap(), &[2u8; 3][..]);
        assert!(store.create_appendable(b"f\x02").is_err());
        store.write_atomic(b"m", b"1").unwrap();
        store.delete(b"m").unwrap();
        assert!(store.read(b"m", None).unwrap().is_none());
        // A clone is a snapshot.
        let copy = (*store).clone();
        store.write(b"later", b"").unwrap();
        assert!(copy.read(b"later", None).unwrap().is_none());
    }
}
