//! [`PrefixStore`]: the keys of another store that start with a prefix, as a store of their own
//! (e.g. the per-process OCDBT database `ocdbt.process_3/` inside an item, whatever holds the
//! item: a directory, an object-store prefix, memory).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::{AppendFile, ReadableStore, Result, WritableStore};

/// A view of `inner` under a key prefix: key `k` of this store is key `prefix ‖ k` of `inner`.
///
/// The prefix is prepended as bytes, so a directory-like view needs a trailing `/`
/// (`ocdbt.process_0/`). Listing strips the prefix again; `describe` names the full key of
/// `inner`, so messages show the real file or object.
#[derive(Clone)]
pub struct PrefixStore {
    inner: Arc<dyn WritableStore>,
    prefix: Vec<u8>,
}

impl PrefixStore {
    /// The keys of `inner` under `prefix`.
    pub fn new(inner: Arc<dyn WritableStore>, prefix: impl Into<Vec<u8>>) -> Self {
        PrefixStore {
            inner,
            prefix: prefix.into(),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The store this one is a view of.
    pub fn inner(&self) -> &Arc<dyn WritableStore> {
        &self.inner
    }

    fn full(&self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key);
        full
    }
}

impl fmt::Debug for PrefixStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefixStore")
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("inner", &self.inner)
            .finish()
    }
}

impl ReadableStore for PrefixStore {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>> {
        self.inner.read(&self.full(key), range)
    }

    fn read_into(
        &self,
        key: &[u8],
        range: Option<Range<u64>>,
        buf: &mut Vec<u8>,
    ) -> Result<Option<usize>> {
        self.inner.read_into(&self.full(key), range, buf)
    }

    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let n = self.prefix.len();
        Ok(self
            .inner
            .list_prefix(&self.full(prefix))?
            .into_iter()
            .map(|key| key[n..].to_vec())
            .collect())
    }

    fn describe(&self, key: &[u8]) -> String {
        self.inner.describe(&self.full(key))
    }

    fn parallel_reads(&self) -> usize {
        self.inner.parallel_reads()
    }

    fn read_clipped(&self, key: &[u8], range: Range<u64>) -> Result<Option<Bytes>> {
        self.inner.read_clipped(&self.full(key), range)
    }
}

impl WritableStore for PrefixStore {
    fn write(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.write(&self.full(key), value)
    }

    fn write_atomic(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.write_atomic(&self.full(key), value)
    }

    fn create_appendable(&self, key: &[u8]) -> Result<Box<dyn AppendFile>> {
        self.inner.create_appendable(&self.full(key))
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        self.inner.delete(&self.full(key))
    }

    fn write_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool> {
        self.inner.write_if_absent(&self.full(key), value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileStore, MemoryStore};

    #[test]
    fn a_prefix_view_reads_writes_and_lists_under_its_prefix() {
        let mem = Arc::new(MemoryStore::new("mem"));
        mem.write(b"other", b"o").unwrap();
        mem.write(b"ocdbt.process_10/x", b"ten").unwrap();
        let view = PrefixStore::new(mem.clone(), "ocdbt.process_1/");
        assert_eq!(view.prefix(), b"ocdbt.process_1/");
        view.write(b"manifest.ocdbt", b"m").unwrap();
        view.write_atomic(b"d/a", b"abc").unwrap();
        let mut f = view.create_appendable(b"d/b").unwrap();
        f.append(b"0123").unwrap();
        f.finish().unwrap();
        assert_eq!(
            mem.read(b"ocdbt.process_1/manifest.ocdbt", None)
                .unwrap()
                .unwrap(),
            &b"m"[..]
        );
        assert_eq!(view.read(b"d/b", Some(1..3)).unwrap().unwrap(), &b"12"[..]);
        let mut buf = Vec::new();
        assert_eq!(view.read_into(b"d/a", None, &mut buf).unwrap(), Some(3));
        assert!(view.read(b"other", None).unwrap().is_none());
        assert_eq!(
            view.list_prefix(b"").unwrap(),
            vec![b"d/a".to_vec(), b"d/b".to_vec(), b"manifest.ocdbt".to_vec()]
        );
        assert_eq!(view.list_prefix(b"d/").unwrap().len(), 2);
        assert_eq!(view.describe(b"d/a"), "mem/ocdbt.process_1/d/a");
        assert!(view.write_if_absent(b"marker", b"1").unwrap());
        assert!(!view.write_if_absent(b"marker", b"2").unwrap());
        assert_eq!(view.read(b"marker", None).unwrap().unwrap(), &b"1"[..]);
        view.delete(b"d/a").unwrap();
        assert!(mem.read(b"ocdbt.process_1/d/a", None).unwrap().is_none());
        // Nested views compose.
        let nested = PrefixStore::new(Arc::new(view.clone()), "d/");
        assert_eq!(nested.list_prefix(b"").unwrap(), vec![b"b".to_vec()]);
        assert_eq!(nested.describe(b"b"), "mem/ocdbt.process_1/d/b");
    }

    #[test]
    fn a_prefix_view_of_a_directory_names_the_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let view = PrefixStore::new(Arc::new(FileStore::new(dir.path())), "sub/");
        view.write(b"a/b", b"x").unwrap();
        assert!(dir.path().join("sub/a/b").is_file());
        assert_eq!(
            view.describe(b"a/b"),
            dir.path().join("sub/a/b").display().to_string()
        );
        assert_eq!(view.list_prefix(b"").unwrap(), vec![b"a/b".to_vec()]);
    }
}
