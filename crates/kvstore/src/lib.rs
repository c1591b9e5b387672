//! Where checkpoint bytes live.
//!
//! A [`ReadableStore`] maps byte-string keys to values and serves byte ranges of them. The OCDBT
//! database reads its manifest and data files through one; the zarr reader reads array metadata
//! and chunks through one (either a plain directory for `use_ocdbt=False` checkpoints, or an
//! OCDBT database, which itself implements this trait).
//!
//! Keys are bytes because OCDBT keys are arbitrary bytes; a directory store maps them to
//! relative paths (they must then be UTF-8 and must not escape the root).
//!
//! A [`WritableStore`] additionally writes whole values (plainly or atomically) and streams
//! large values through an [`AppendFile`]; both [`FileStore`] and [`MemoryStore`] implement it.
//! A [`PrefixStore`] views the keys of another store under a prefix as a store of their own.

mod prefix;
mod writable;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;

pub use prefix::PrefixStore;
pub use writable::{AppendFile, DeferredSync, WritableStore};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error while touching `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A byte range that lies outside the value it was asked of.
    #[error(
        "byte range {start}..{end} is past the end of {path} ({size} bytes): the file is truncated"
    )]
    RangeOutOfBounds {
        /// The file or key.
        path: String,
        /// Requested start.
        start: u64,
        /// Requested end (exclusive).
        end: u64,
        /// Actual size of the value.
        size: u64,
    },
    /// A key this store cannot represent (not UTF-8, absolute, or escaping the root).
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key, lossily decoded.
        key: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A value too large to be read into memory on this platform.
    #[error("{path} is too large to read ({size} bytes)")]
    TooLarge {
        /// The file or key.
        path: String,
        /// Its size.
        size: u64,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A read-only key-value store with byte-range reads.
pub trait ReadableStore: Send + Sync + fmt::Debug {
    /// Reads the value of `key`, or only `range` of it. `Ok(None)` when the key is absent.
    /// A range that extends past the end of the value is an [`Error::RangeOutOfBounds`].
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>>;

    /// Like [`read`](Self::read), into `buf`: on `Ok(Some(n))` the value (or `range` of it)
    /// is `buf[..n]`; `buf` is grown when too short but never shrunk, and its bytes past `n`
    /// are unspecified. `Ok(None)` when the key is absent. A caller reading many values reuses
    /// one buffer, so that large reads need neither fresh memory (page faults) nor zeroing.
    fn read_into(
        &self,
        key: &[u8],
        range: Option<Range<u64>>,
        buf: &mut Vec<u8>,
    ) -> Result<Option<usize>> {
        Ok(self.read(key, range)?.map(|bytes| {
            if buf.len() < bytes.len() {
                buf.resize(bytes.len(), 0);
            }
            buf[..bytes.len()].copy_from_slice(&bytes);
            bytes.len()
        }))
    }

    /// All keys that start with `prefix`, sorted bytewise.
    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>>;

    /// A human-readable location of `key` for error messages (a file path, a URL...).
    fn describe(&self, key: &[u8]) -> String;

    /// How many reads readers should keep in flight at once; 0 (the default) means one per
    /// core, right for stores whose reads cost CPU (local files in the page cache). Object
    /// stores return more: their reads mostly wait on the network.
    fn parallel_reads(&self) -> usize {
        0
    }

    /// Bytes `range` of `key`, clipped at the end of the value (fewer bytes, or none, when the
    /// range extends past it); `Ok(None)` when the key is absent. For read-ahead, which asks for
    /// whole windows without knowing the value's size.
    fn read_clipped(&self, key: &[u8], range: Range<u64>) -> Result<Option<Bytes>> {
        match self.read(key, Some(range.clone())) {
            Err(Error::RangeOutOfBounds { size, .. }) => {
                let end = range.end.min(size);
                if range.start >= end {
                    Ok(Some(Bytes::new()))
                } else {
                    self.read(key, Some(range.start..end))
                }
            }
            other => other,
        }
    }
}

impl<T: ReadableStore + ?Sized> ReadableStore for Arc<T> {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>> {
        (**self).read(key, range)
    }
    fn read_into(
        &self,
        key: &[u8],
        range: Option<Range<u64>>,
        buf: &mut Vec<u8>,
    ) -> Result<Option<usize>> {
        (**self).read_into(key, range, buf)
    }
    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        (**self).list_prefix(prefix)
    }
    fn describe(&self, key: &[u8]) -> String {
        (**self).describe(key)
    }
    fn parallel_reads(&self) -> usize {
        (**self).parallel_reads()
    }
    fn read_clipped(&self, key: &[u8], range: Range<u64>) -> Result<Option<Bytes>> {
        (**self).read_clipped(key, range)
    }
}

/// A directory on the local file system; key `a/b` is the file `<root>/a/b`.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    /// Where writes register what they leave to be synced, instead of syncing it themselves.
    deferred: Option<Arc<DeferredSync>>,
    /// Files kept open between reads ([`FileStore::immutable`]).
    open_files: Option<Arc<OpenFiles>>,
}

/// Open files of an immutable [`FileStore`].
#[derive(Debug, Default)]
struct OpenFiles(std::sync::Mutex<std::collections::HashMap<PathBuf, Arc<OpenFile>>>);

/// A file opened for reading, and its size when opened.
#[derive(Debug)]
struct OpenFile {
    file: File,
    size: u64,
}

/// A checked byte range of an open file.
struct FileRange {
    path: PathBuf,
    open: Arc<OpenFile>,
    start: u64,
    len: usize,
}

/// Files an immutable [`FileStore`] keeps open at most (data files of a checkpoint: Orbax
/// writes one or a few per process).
const MAX_OPEN_FILES: usize = 64;

impl FileStore {
    /// A store rooted at `root` (which need not exist: then every key is absent).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            deferred: None,
            open_files: None,
        }
    }

    /// A read-only view of a directory whose files do not change while it is used, such as a
    /// committed checkpoint: the files it reads stay open (up to 64) and are read again by
    /// offset, instead of being opened, measured and closed for every read (which dominates
    /// when thousands of small chunks live in one data file). A file replaced meanwhile would
    /// still be read from its old version.
    pub fn immutable(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            deferred: None,
            open_files: Some(Arc::default()),
        }
    }

    /// A store whose writes are made durable later, all at once: instead of fsyncing, each
    /// write registers the files and directories it changed with `pending`, and they become
    /// durable when [`DeferredSync::sync`] returns. Until then a crash may lose or truncate
    /// them, so use this only for a tree that is published afterwards (e.g. by renaming a
    /// temporary checkpoint directory) once `sync` has returned.
    pub fn with_deferred_sync(root: impl Into<PathBuf>, pending: Arc<DeferredSync>) -> Self {
        Self {
            root: root.into(),
            deferred: Some(pending),
            open_files: None,
        }
    }

    /// The directory this store reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key`.
    pub fn path_of(&self, key: &[u8]) -> Result<PathBuf> {
        let invalid = |reason| Error::InvalidKey {
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        };
        let text = std::str::from_utf8(key).map_err(|_| invalid("not UTF-8"))?;
        let rel = Path::new(text);
        if text.is_empty() {
            return Err(invalid("empty key"));
        }
        for component in rel.components() {
            match component {
                Component::Normal(_) => {}
                Component::CurDir => {}
                _ => return Err(invalid("must be a relative path inside the store")),
            }
        }
        Ok(self.root.join(rel))
    }
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

impl FileStore {
    /// The file of `key` (opened, or kept open) and its size; `None` when absent.
    fn open_file(&self, key: &[u8]) -> Result<Option<(PathBuf, Arc<OpenFile>)>> {
        let path = self.path_of(key)?;
        if let Some(cache) = &self.open_files {
            let files = cache.0.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(open) = files.get(&path) {
                return Ok(Some((path, Arc::clone(open))));
            }
        }
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // A directory where a value is expected, or a path through a regular file: absent.
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        let meta = file.metadata().map_err(|e| io_error(&path, e))?;
        if meta.is_dir() {
            return Ok(None);
        }
        let open = Arc::new(OpenFile {
            file,
            size: meta.len(),
        });
        if let Some(cache) = &self.open_files {
            let mut files = cache.0.lock().unwrap_or_else(PoisonError::into_inner);
            if files.len() >= MAX_OPEN_FILES {
                files.clear();
            }
            files.insert(path.clone(), Arc::clone(&open));
        }
        Ok(Some((path, open)))
    }

    /// The file of `key` and `range` (default: all) checked against its size, as a length.
    fn open_range(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<FileRange>> {
        let Some((path, open)) = self.open_file(key)? else {
            return Ok(None);
        };
        let size = open.size;
        let range = range.unwrap_or(0..size);
        if range.start > range.end || range.end > size {
            return Err(Error::RangeOutOfBounds {
                path: path.display().to_string(),
                start: range.start,
                end: range.end,
                size,
            });
        }
        let len = usize::try_from(range.end - range.start).map_err(|_| Error::TooLarge {
            path: path.display().to_string(),
            size,
        })?;
        Ok(Some(FileRange {
            path,
            open,
            start: range.start,
            len,
        }))
    }
}

impl ReadableStore for FileStore {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>> {
        let mut buf = Vec::new();
        Ok(self
            .read_into(key, range, &mut buf)?
            .map(|len| Bytes::from(buf).slice(..len)))
    }

    fn read_into(
        &self,
        key: &[u8],
        range: Option<Range<u64>>,
        buf: &mut Vec<u8>,
    ) -> Result<Option<usize>> {
        let Some(FileRange {
            path,
            open,
            start,
            len,
        }) = self.open_range(key, range)?
        else {
            return Ok(None);
        };
        if buf.len() < len {
            buf.resize(len, 0);
        }
        read_exact_at(&open.file, &mut buf[..len], start).map_err(|e| io_error(&path, e))?;
        Ok(Some(len))
    }

    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut keys = Vec::new();
        walk(&self.root, &mut String::new(), &mut keys)?;
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        Ok(keys)
    }

    fn describe(&self, key: &[u8]) -> String {
        match self.path_of(key) {
            Ok(path) => path.display().to_string(),
            Err(_) => format!("{}/{}", self.root.display(), String::from_utf8_lossy(key)),
        }
    }
}

fn walk(dir: &Path, rel: &mut String, out: &mut Vec<Vec<u8>>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let file_type = entry.file_type().map_err(|e| io_error(&entry.path(), e))?;
        let len = rel.len();
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(&name);
        if file_type.is_dir() {
            walk(&entry.path(), rel, out)?;
        } else {
            out.push(rel.as_bytes().to_vec());
        }
        rel.truncate(len);
    }
    Ok(())
}

/// An in-memory store, for tests and for staging small databases.
///
/// Values live behind a lock so that the store can also be written through `&self`
/// ([`WritableStore`]) from several threads; `Clone` copies the contents (a clone does not see
/// later writes to the original).
#[derive(Debug, Default)]
pub struct MemoryStore {
    name: String,
    /// Shared with the [`AppendFile`]s this store hands out, which insert their value on
    /// `finish`.
    values: Arc<RwLock<BTreeMap<Vec<u8>, Bytes>>>,
}

impl Clone for MemoryStore {
    fn clone(&self) -> Self {
        MemoryStore {
            name: self.name.clone(),
            values: Arc::new(RwLock::new(read_lock(&self.values).clone())),
        }
    }
}

/// Locks for reading; a panic in another thread cannot leave the map half-updated (every
/// update is a single `insert`/`remove`), so a poisoned lock is still safe to use.
fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Locks for writing; see [`read_lock`] for why poisoning is ignored.
fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store; `name` prefixes keys in error messages.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            values: Default::default(),
        }
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Bytes>) {
        write_lock(&self.values).insert(key.into(), value.into());
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<Bytes> {
        write_lock(&self.values).remove(key)
    }
}

impl ReadableStore for MemoryStore {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>> {
        let values = read_lock(&self.values);
        let Some(value) = values.get(key) else {
            return Ok(None);
        };
        let size = value.len() as u64;
        let range = range.unwrap_or(0..size);
        if range.start > range.end || range.end > size {
            return Err(Error::RangeOutOfBounds {
                path: self.describe(key),
                start: range.start,
                end: range.end,
                size,
            });
        }
        Ok(Some(value.slice(range.start as usize..range.end as usize)))
    }

    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(read_lock(&self.values)
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn describe(&self, key: &[u8]) -> String {
        format!("{}/{}", self.name, String::from_utf8_lossy(key))
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        for (name, data) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
        let store = FileStore::new(dir.path());
        (dir, store)
    }

    #[test]
    fn reads_whole_values_and_ranges() {
        let (_dir, store) = store_with(&[("d/abc", b"0123456789")]);
        assert_eq!(
            store.read(b"d/abc", None).unwrap().unwrap(),
            &b"0123456789"[..]
        );
        assert_eq!(
            store.read(b"d/abc", Some(2..5)).unwrap().unwrap(),
            &b"234"[..]
        );
        assert_eq!(
            store.read(b"d/abc", Some(10..10)).unwrap().unwrap(),
            &b""[..]
        );
    }

    #[test]
    fn read_into_reuses_the_buffer_and_checks_ranges() {
        let (dir, plain) = store_with(&[("d/abc", b"0123456789")]);
        let kept = FileStore::immutable(dir.path());
        for store in [&plain, &kept] {
            let mut buf = b"stale".to_vec();
            assert_eq!(
                store.read_into(b"d/abc", Some(2..5), &mut buf).unwrap(),
                Some(3)
            );
            assert_eq!(buf, b"234le");
            assert_eq!(store.read_into(b"d/abc", None, &mut buf).unwrap(), Some(10));
            assert_eq!(buf, b"0123456789");
            assert_eq!(store.read_into(b"missing", None, &mut buf).unwrap(), None);
            assert!(matches!(
                store.read_into(b"d/abc", Some(8..11), &mut buf),
                Err(Error::RangeOutOfBounds { size: 10, .. })
            ));
            assert_eq!(
                store.read(b"d/abc", Some(1..2)).unwrap().unwrap(),
                &b"1"[..]
            );
        }
        // The immutable store keeps reading the file it opened.
        std::fs::remove_file(dir.path().join("d/abc")).unwrap();
        assert!(plain.read(b"d/abc", None).unwrap().is_none());
        assert_eq!(kept.read(b"d/abc", None).unwrap().unwrap().len(), 10);
        let mut mem = MemoryStore::new("mem");
        mem.insert(&b"k"[..], &b"value"[..]);
        let mut buf = Vec::new();
        assert_eq!(mem.read_into(b"k", Some(1..3), &mut buf).unwrap(), Some(2));
        assert_eq!(buf, b"al");
    }

    #[test]
    fn absent_keys_and_directories_read_as_none() {
        let (_dir, store) = store_with(&[("d/abc", b"x")]);
        assert!(store.read(b"missing", None).unwrap().is_none());
        assert!(store.read(b"d", None).unwrap().is_none());
        assert!(store.read(b"d/abc/below", None).unwrap().is_none());
    }

    #[test]
    fn range_past_the_end_names_the_file() {
        let (_dir, store) = store_with(&[("f", b"abc")]);
        let err = store.read(b"f", Some(1..9)).unwrap_err();
        match err {
            Error::RangeOutOfBounds {
                path,
                start,
                end,
                size,
            } => {
                assert!(path.ends_with("/f"), "{path}");
                assert_eq!((start, end, size), (1, 9, 3));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_keys_escaping_the_root() {
        let (_dir, store) = store_with(&[]);
        for key in [&b"../x"[..], b"/etc/passwd", b"a/../../b", b"", b"\xff"] {
            assert!(
                matches!(store.read(key, None), Err(Error::InvalidKey { .. })),
                "{key:?}"
            );
        }
    }

    #[test]
    fn memory_store_reads_ranges_and_lists_prefixes() {
        let mut store = MemoryStore::new("mem");
        store.insert(&b"a/1"[..], &b"hello"[..]);
        store.insert(&b"a/2"[..], &b""[..]);
        store.insert(&b"b"[..], &b"x"[..]);
        assert_eq!(store.read(b"a/1", Some(1..3)).unwrap().unwrap(), &b"el"[..]);
        assert!(store.read(b"zz", None).unwrap().is_none());
        assert_eq!(
            store.list_prefix(b"a/").unwrap(),
            vec![b"a/1".to_vec(), b"a/2".to_vec()]
        );
        assert!(matches!(
            store.read(b"a/1", Some(4..6)),
            Err(Error::RangeOutOfBounds { size: 5, .. })
        ));
    }

    #[test]
    fn lists_sorted_keys_under_a_prefix() {
        let (_dir, store) = store_with(&[("b/1", b""), ("a/2", b""), ("a/10", b""), ("c", b"")]);
        assert_eq!(
            store.list_prefix(b"a/").unwrap(),
            vec![b"a/10".to_vec(), b"a/2".to_vec()]
        );
        assert_eq!(store.list_prefix(b"").unwrap().len(), 4);
        let missing = FileStore::new("/definitely/not/here");
        assert!(missing.list_prefix(b"").unwrap().is_empty());
    }
}
