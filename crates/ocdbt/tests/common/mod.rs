//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use orbax_kvstore::{FileStore, ReadableStore};
use orbax_ocdbt::Database;
use parking_lot::Mutex;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

pub fn ocdbt_fixture(name: &str) -> PathBuf {
    fixtures().join("ocdbt").join(name)
}

pub fn open(dir: &Path) -> Database {
    Database::open(Arc::new(FileStore::new(dir)))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// `expected.json` of a fixture database: (key, value) sorted by key.
pub fn expected(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let text = fs::read_to_string(dir.join("expected.json")).unwrap();
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = map
        .into_iter()
        .map(|(k, v)| {
            (
                hex::decode(k).unwrap(),
                hex::decode(v.as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Copies a directory tree, making the copies writable (fixtures are read-only).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            let mut perms = fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&target, perms).unwrap();
        }
    }
}

/// One read served by a [`CountingStore`]: key and requested range.
pub type Read = (Vec<u8>, Option<Range<u64>>);

/// A store that records every read it serves.
#[derive(Debug)]
pub struct CountingStore {
    pub inner: Arc<dyn ReadableStore>,
    pub reads: Mutex<Vec<Read>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ReadableStore>) -> Arc<Self> {
        Arc::new(CountingStore {
            inner,
            reads: Mutex::new(Vec::new()),
        })
    }

    pub fn take(&self) -> Vec<Read> {
        std::mem::take(&mut *self.reads.lock())
    }
}

impl ReadableStore for CountingStore {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> orbax_kvstore::Result<Option<Bytes>> {
        self.reads.lock().push((key.to_vec(), range.clone()));
        self.inner.read(key, range)
    }
    fn list_prefix(&self, prefix: &[u8]) -> orbax_kvstore::Result<Vec<Vec<u8>>> {
        self.inner.list_prefix(prefix)
    }
    fn describe(&self, key: &[u8]) -> String {
        self.inner.describe(key)
    }
}

pub mod builder;
