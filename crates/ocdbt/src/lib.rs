//! An OCDBT database read through a [`ReadableStore`]: manifests (single and numbered kinds),
//! the version tree, B+tree point lookups and range listings, with a shared cache of decoded
//! nodes.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use orbax_kvstore::FileStore;
//! # use orbax_ocdbt::Database;
//! let db = Database::open(Arc::new(FileStore::new("/ckpt/state")))?;
//! for entry in db.list_prefix(b"params.w/")? {
//!     let value = db.get(&entry.key)?;
//! }
//! # Ok::<(), orbax_ocdbt::Error>(())
//! ```
//!
//! Reads descend only the nodes they need: a point lookup reads one node per level, a listing
//! only the subtrees whose key interval meets the requested range. Every node is checked
//! against what its parent promised (height, key bounds), and every error names the file and
//! byte range involved.
//!
//! Writing: [`writer::DatabaseWriter`] creates a fresh database (one commit, generation 1, as
//! Orbax's per-process writes do) through an [`orbax_kvstore::WritableStore`], and
//! [`merge::merge_databases`] / [`merge::merge_item_directory`] build an Orbax item's root
//! database over its per-process databases, as Orbax's finalize does.

#![warn(missing_docs)]

mod build;
mod cache;
mod error;
pub mod merge;
pub mod read_ahead;
mod tree;
pub mod writer;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use orbax_kvstore::ReadableStore;
use orbax_ocdbt_format::{
    decode_manifest, numbered_manifest_name, parse_numbered_manifest_name,
    BtreeGenerationReference, BtreeNodeStatistics, IndirectDataReference, LeafValue, Manifest,
    ManifestKind,
};

pub use cache::CacheStats;
pub use error::{Error, Result};
pub use orbax_ocdbt_format as format;
pub use orbax_ocdbt_format::Config;
pub use writer::{CommitSummary, DatabaseWriter, WriterOptions};

use crate::cache::NodeCache;

/// Key of the manifest of every OCDBT database.
pub const MANIFEST_KEY: &[u8] = b"manifest.ocdbt";

/// Options of [`Database::open_with_options`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseOptions {
    /// Upper bound of the estimated memory of cached decoded nodes (0 disables the cache).
    pub node_cache_bytes: usize,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            node_cache_bytes: 64 << 20,
        }
    }
}

/// One version (generation) of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// Generation number, from 1.
    pub generation: u64,
    /// Commit time, nanoseconds since the Unix epoch.
    pub commit_time: u64,
    /// Height of the root B+tree node.
    pub root_height: u8,
    /// Location of the root B+tree node; `None` for an empty tree.
    pub root: Option<IndirectDataReference>,
    /// Statistics of the whole tree (number of keys, bytes of nodes, bytes of out-of-line
    /// values).
    pub statistics: BtreeNodeStatistics,
}

impl From<&BtreeGenerationReference> for VersionInfo {
    fn from(g: &BtreeGenerationReference) -> Self {
        VersionInfo {
            generation: g.generation_number,
            commit_time: g.commit_time,
            root_height: g.root_height,
            root: g.root.as_ref().map(|r| r.location.clone()),
            statistics: g.statistics(),
        }
    }
}

/// A key listed by [`Database::list`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    /// The full key.
    pub key: Vec<u8>,
    /// Length of its value in bytes.
    pub value_length: u64,
}

/// Shared state of a database and its snapshots.
pub(crate) struct Inner {
    base: Arc<dyn ReadableStore>,
    /// The manifest holding the version tree: `manifest.ocdbt`, or for the numbered kind the
    /// newest `manifest.<16 hex>` (with the top-level config).
    manifest: Manifest,
    /// Key of that manifest in the base store.
    manifest_key: Vec<u8>,
    cache: NodeCache,
}

/// An open OCDBT database. Cloning is cheap and clones share the node cache.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

/// One generation of a database, for reads that must not see later commits.
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<Inner>,
    version: VersionInfo,
}

impl Database {
    /// Opens the database whose files `base` holds: reads `manifest.ocdbt` or, for the
    /// numbered kind, the newest `manifest.<16 hex>`.
    pub fn open(base: Arc<dyn ReadableStore>) -> Result<Database> {
        Self::open_with_options(base, DatabaseOptions::default())
    }

    /// [`Database::open`] with explicit options.
    pub fn open_with_options(
        base: Arc<dyn ReadableStore>,
        options: DatabaseOptions,
    ) -> Result<Database> {
        let (manifest, manifest_key) = read_manifest(base.as_ref())?;
        Ok(Database {
            inner: Arc::new(Inner {
                // Small values (and nodes) over an object store are read a window at a time.
                base: read_ahead::ReadAhead::for_store(base),
                manifest,
                manifest_key,
                cache: NodeCache::new(options.node_cache_bytes),
            }),
        })
    }

    /// The database configuration (as stored in `manifest.ocdbt`).
    pub fn config(&self) -> &Config {
        &self.inner.manifest.config
    }

    /// The manifest the versions were read from.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// Key of that manifest in the base store (`manifest.ocdbt` or `manifest.<16 hex>`).
    pub fn manifest_key(&self) -> &[u8] {
        &self.inner.manifest_key
    }

    /// The latest generation number.
    pub fn latest_generation(&self) -> u64 {
        self.inner.latest().generation_number
    }

    /// Every generation, oldest first. Reads the version-tree nodes (cached).
    pub fn generations(&self) -> Result<Vec<VersionInfo>> {
        self.inner.all_versions()
    }

    /// The snapshot of generation `generation`; [`Error::GenerationNotFound`] if the
    /// database has no such generation.
    pub fn at_generation(&self, generation: u64) -> Result<Snapshot> {
        let version = self.inner.find_generation(generation)?;
        Ok(self.snapshot(version))
    }

    /// The snapshot of the last generation committed at or before `commit_time` (nanoseconds
    /// since the Unix epoch); [`Error::GenerationNotFound`] if every generation is later.
    pub fn at_commit_time(&self, commit_time: u64) -> Result<Snapshot> {
        let version = self.inner.find_commit_time(commit_time)?;
        Ok(self.snapshot(version))
    }

    /// The snapshot of the latest generation.
    pub fn latest(&self) -> Snapshot {
        self.snapshot(self.inner.latest().into())
    }

    fn snapshot(&self, version: VersionInfo) -> Snapshot {
        Snapshot {
            inner: self.inner.clone(),
            version,
        }
    }

    /// The value of `key` in the latest generation, `None` if absent.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.inner.get(&self.inner.latest().into(), key, None)
    }

    /// Bytes `range` of the value of `key` in the latest generation.
    pub fn get_range(&self, key: &[u8], range: Range<u64>) -> Result<Option<Bytes>> {
        self.inner
            .get(&self.inner.latest().into(), key, Some(range))
    }

    /// Keys in `[lo, hi)` (`hi = None`: unbounded) of the latest generation, sorted.
    pub fn list(&self, lo: &[u8], hi: Option<&[u8]>) -> Result<Vec<Entry>> {
        self.inner.list(&self.inner.latest().into(), lo, hi)
    }

    /// Keys starting with `prefix` in the latest generation, sorted.
    pub fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>> {
        let (lo, hi) = prefix_range(prefix);
        self.list(&lo, hi.as_deref())
    }

    /// Counters of the node cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Converts an error of this database into the store error its `ReadableStore`
    /// implementation returns for `key`. Plain I/O errors pass through; a value range past
    /// the end becomes `RangeOutOfBounds`; everything else is wrapped (recover it with
    /// [`Error::from_store_error`]).
    fn to_store_error(&self, key: &[u8], e: Error) -> orbax_kvstore::Error {
        match e {
            Error::Store(e @ orbax_kvstore::Error::Io { .. }) => e,
            Error::ValueRangeOutOfBounds {
                start, end, size, ..
            } => orbax_kvstore::Error::RangeOutOfBounds {
                path: self.describe(key),
                start,
                end,
                size,
            },
            other => orbax_kvstore::Error::Io {
                path: self.describe(key),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, other),
            },
        }
    }
}

impl Snapshot {
    /// The version this snapshot reads.
    pub fn version(&self) -> &VersionInfo {
        &self.version
    }

    /// Its generation number.
    pub fn generation(&self) -> u64 {
        self.version.generation
    }

    /// The value of `key`, `None` if absent.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.inner.get(&self.version, key, None)
    }

    /// Bytes `range` of the value of `key`.
    pub fn get_range(&self, key: &[u8], range: Range<u64>) -> Result<Option<Bytes>> {
        self.inner.get(&self.version, key, Some(range))
    }

    /// Keys in `[lo, hi)` (`hi = None`: unbounded), sorted.
    pub fn list(&self, lo: &[u8], hi: Option<&[u8]>) -> Result<Vec<Entry>> {
        self.inner.list(&self.version, lo, hi)
    }

    /// Keys starting with `prefix`, sorted.
    pub fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>> {
        let (lo, hi) = prefix_range(prefix);
        self.list(&lo, hi.as_deref())
    }

    /// Where the value of `key` is stored (inline bytes, or a data file range) without reading
    /// out-of-line bytes; `None` if absent.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<LeafValue>> {
        self.inner.find(&self.version, key)
    }

    /// Calls `visit` with every key in `[lo, hi)` (`hi = None`: unbounded), in order, and
    /// where its value is stored (inline bytes, or a data file range; out-of-line bytes are
    /// not read). An error returned by `visit` stops the walk and is returned. This is what a
    /// merge copies from.
    pub fn for_each_value(
        &self,
        lo: &[u8],
        hi: Option<&[u8]>,
        mut visit: impl FnMut(&[u8], &LeafValue) -> Result<()>,
    ) -> Result<()> {
        self.inner.for_each_leaf(&self.version, lo, hi, &mut visit)
    }
}

/// The key range `[prefix, successor)` of a prefix: the successor drops trailing `0xff`
/// bytes and increments the last remaining byte; `None` (unbounded) if nothing remains.
pub fn prefix_range(prefix: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut hi = prefix.to_vec();
    while let Some(&last) = hi.last() {
        if last == 0xff {
            hi.pop();
        } else {
            *hi.last_mut().expect("non-empty") += 1;
            return (prefix.to_vec(), Some(hi));
        }
    }
    (prefix.to_vec(), None)
}

fn manifest_error(
    base: &dyn ReadableStore,
    key: &[u8],
    len: usize,
    source: format::Error,
) -> Error {
    Error::Format {
        what: "manifest",
        file: base.describe(key),
        offset: 0,
        length: len as u64,
        source,
    }
}

/// Reads and decodes the manifest that holds the version tree.
fn read_manifest(base: &dyn ReadableStore) -> Result<(Manifest, Vec<u8>)> {
    let bytes = base
        .read(MANIFEST_KEY, None)?
        .ok_or_else(|| Error::NoManifest {
            path: base.describe(MANIFEST_KEY),
        })?;
    let top =
        decode_manifest(&bytes).map_err(|e| manifest_error(base, MANIFEST_KEY, bytes.len(), e))?;
    if top.config.manifest_kind == ManifestKind::Single {
        return Ok((top, MANIFEST_KEY.to_vec()));
    }
    // Numbered kind: the newest `manifest.<16 hex>` holds the versions.
    let newest = base
        .list_prefix(b"manifest.")?
        .iter()
        .filter_map(|name| parse_numbered_manifest_name(name))
        .max()
        .ok_or_else(|| Error::MissingFile {
            what: "numbered manifest",
            path: base.describe(b"manifest.<16 hex digits>"),
            range: None,
        })?;
    let key = numbered_manifest_name(newest).into_bytes();
    let bytes = base.read(&key, None)?.ok_or_else(|| Error::MissingFile {
        what: "numbered manifest",
        path: base.describe(&key),
        range: None,
    })?;
    let invalid =
        |what: String| manifest_error(base, &key, bytes.len(), format::Error::Invalid { what });
    let mut manifest =
        decode_manifest(&bytes).map_err(|e| manifest_error(base, &key, bytes.len(), e))?;
    if manifest.config.manifest_kind != ManifestKind::Single {
        return Err(invalid(
            "a numbered manifest must have manifest_kind single".into(),
        ));
    }
    let latest = manifest.latest().map_or(0, |v| v.generation_number);
    if latest != newest {
        return Err(invalid(format!(
            "latest generation {latest} does not match the file name (generation {newest})"
        )));
    }
    let mut config = manifest.config.clone();
    config.manifest_kind = ManifestKind::Numbered;
    if config != top.config {
        return Err(invalid(format!(
            "config {:?} does not match the config of manifest.ocdbt {:?}",
            manifest.config, top.config
        )));
    }
    manifest.config = top.config;
    Ok((manifest, key))
}

impl Inner {
    fn latest(&self) -> &BtreeGenerationReference {
        self.manifest
            .versions
            .last()
            .expect("decoded single-kind manifests hold at least one version")
    }

    fn manifest_path(&self) -> String {
        self.base.describe(&self.manifest_key)
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("manifest", &self.inner.manifest_path())
            .field("latest_generation", &self.latest_generation())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("manifest", &self.inner.manifest_path())
            .field("version", &self.version)
            .finish()
    }
}

impl ReadableStore for Database {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> orbax_kvstore::Result<Option<Bytes>> {
        self.inner
            .get(&self.inner.latest().into(), key, range)
            .map_err(|e| self.to_store_error(key, e))
    }

    fn read_into(
        &self,
        key: &[u8],
        range: Option<Range<u64>>,
        buf: &mut Vec<u8>,
    ) -> orbax_kvstore::Result<Option<usize>> {
        self.inner
            .get_into(&self.inner.latest().into(), key, range, buf)
            .map_err(|e| self.to_store_error(key, e))
    }

    fn list_prefix(&self, prefix: &[u8]) -> orbax_kvstore::Result<Vec<Vec<u8>>> {
        Database::list_prefix(self, prefix)
            .map(|entries| entries.into_iter().map(|e| e.key).collect())
            .map_err(|e| self.to_store_error(prefix, e))
    }

    fn describe(&self, key: &[u8]) -> String {
        format!(
            "{} [key {:?}]",
            self.inner.base.describe(MANIFEST_KEY),
            String::from_utf8_lossy(key)
        )
    }

    fn parallel_reads(&self) -> usize {
        self.inner.base.parallel_reads()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_range(b"ab"), (b"ab".to_vec(), Some(b"ac".to_vec())));
        assert_eq!(
            prefix_range(b"a\xff\xff"),
            (b"a\xff\xff".to_vec(), Some(b"b".to_vec()))
        );
        assert_eq!(prefix_range(b"\xff"), (b"\xff".to_vec(), None));
        assert_eq!(prefix_range(b""), (Vec::new(), None));
    }

    #[test]
    fn database_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Database>();
        assert_send_sync::<Snapshot>();
    }
}
