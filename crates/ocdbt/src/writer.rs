//! Writing a fresh OCDBT database in one commit, the way Orbax's per-process writes end up
//! (spec §9.1, §10.1): values longer than `max_inline_value_bytes` streamed into data files as
//! they are put, small values kept for the leaves, and at commit a B+tree built bottom-up,
//! appended after the values, made durable, and published by an atomically written
//! `manifest.ocdbt` holding generation 1.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use orbax_kvstore::FileStore;
//! # use orbax_ocdbt::writer::{DatabaseWriter, WriterOptions};
//! let writer = DatabaseWriter::new(
//!     Arc::new(FileStore::new("/ckpt/state/ocdbt.process_0")),
//!     WriterOptions::default(),
//! )?;
//! writer.put(b"params.w/.zarray", br#"{"zarr_format":2}"#)?;
//! writer.put(b"params.w/0.0", &vec![0u8; 1 << 20])?;
//! let summary = writer.commit()?;
//! assert_eq!(summary.statistics.num_keys, 2);
//! # Ok::<(), orbax_ocdbt::Error>(())
//! ```

use std::collections::hash_map::{Entry as MapEntry, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use orbax_kvstore::{AppendFile, WritableStore};
use orbax_ocdbt_format::{
    encode_manifest, BtreeGenerationReference, BtreeNodeStatistics, Compression, Config,
    DataFileId, IndirectDataReference, LeafValue, Manifest, ManifestKind, MAX_INLINE_VALUE_LENGTH,
    MAX_KEY_LENGTH, MAX_ZSTD_LEVEL, MIN_ZSTD_LEVEL,
};
use parking_lot::Mutex;

use crate::build::build_tree;
use crate::{Error, Result, MANIFEST_KEY};

/// Default [`WriterOptions::target_data_file_size`]: 2 GiB, what Orbax asks of TensorStore
/// for local directories.
pub const DEFAULT_TARGET_DATA_FILE_SIZE: u64 = 2 << 30;

/// Default [`WriterOptions::node_zstd_level`]: zstd's default level, which is what the config's
/// level field `0` stands for.
pub const DEFAULT_NODE_ZSTD_LEVEL: i32 = 3;

/// Data files larger than this are padded with zeros to a multiple of
/// [`DATA_FILE_PADDING_ALIGNMENT`], as TensorStore pads them (spec §2).
const DATA_FILE_PADDING_THRESHOLD: u64 = 4 << 20;
/// See [`DATA_FILE_PADDING_THRESHOLD`].
const DATA_FILE_PADDING_ALIGNMENT: u64 = 4096;

/// Options of a [`DatabaseWriter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// The database configuration written to the manifest. Defaults to Orbax's
    /// ([`Config::orbax`]) with a fresh random uuid: Orbax's merge refuses any other config
    /// (spec §10.3). Only the single manifest kind is supported.
    pub config: Config,
    /// A data file is closed, and the next value goes to a new one, once it holds at least
    /// this many bytes; a value is never split across files. `0` = unlimited (one file).
    pub target_data_file_size: u64,
    /// zstd level actually used to compress B+tree nodes when the config asks for zstd. The
    /// config keeps its own level field (Orbax's is `0`), which no reader looks at.
    pub node_zstd_level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            config: Config::orbax(random_bytes()),
            target_data_file_size: DEFAULT_TARGET_DATA_FILE_SIZE,
            node_zstd_level: DEFAULT_NODE_ZSTD_LEVEL,
        }
    }
}

/// A data file written by a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFileInfo {
    /// Its key relative to the database root, `d/<32 lowercase hex>`.
    pub path: String,
    /// Its size in bytes (padding included).
    pub bytes: u64,
}

/// What [`DatabaseWriter::commit`] (or a merge) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSummary {
    /// The generation written (always 1: the writer creates fresh databases).
    pub generation: u64,
    /// Its commit time, nanoseconds since the Unix epoch.
    pub commit_time: u64,
    /// Height of the root B+tree node (0 for a single leaf and for an empty database).
    pub root_height: u8,
    /// Statistics of the whole tree, as the manifest records them: keys, bytes of B+tree
    /// nodes, bytes of out-of-line values.
    pub statistics: BtreeNodeStatistics,
    /// Number of values stored inline in leaves.
    pub num_inline_values: u64,
    /// Number of out-of-line values (written by this writer or referenced).
    pub num_out_of_line_values: u64,
    /// Number of B+tree nodes written.
    pub num_nodes: u64,
    /// The data files written, in creation order (none for an empty database).
    pub data_files: Vec<DataFileInfo>,
    /// Size of `manifest.ocdbt`.
    pub manifest_bytes: u64,
}

/// A slot of the key map: reserved while an out-of-line value is being appended, so that a
/// concurrent put of the same key fails before writing anything.
#[derive(Debug)]
enum Slot {
    Reserved,
    Value(LeafValue),
}

/// The data file currently being appended to.
#[derive(Debug)]
struct OpenDataFile {
    id: Arc<DataFileId>,
    file: Box<dyn AppendFile>,
}

/// Data files, behind one lock held only while appending.
#[derive(Debug, Default)]
struct DataFiles {
    current: Option<OpenDataFile>,
    /// Every file created, in order, with its final size once closed.
    created: Vec<(Arc<DataFileId>, u64)>,
    /// Set after a failed append or close: offsets in the failed file are no longer known,
    /// so nothing further may be written (the database would reference garbage).
    failure: Option<String>,
}

/// Writes a fresh OCDBT database (one commit, generation 1) into a store.
///
/// [`DatabaseWriter::put`] takes `&self` and may be called from many threads at once; values
/// longer than the config's `max_inline_value_bytes` go straight to the current data file
/// (under a lock held only for the append), so memory stays bounded by the keys and the small
/// values. Nothing is visible to readers until [`DatabaseWriter::commit`] writes
/// `manifest.ocdbt`. Dropping a writer without committing leaves the data files written so far
/// (unreferenced); [`DatabaseWriter::abort`] removes them.
#[derive(Debug)]
pub struct DatabaseWriter {
    store: Arc<dyn WritableStore>,
    options: WriterOptions,
    entries: Mutex<HashMap<Vec<u8>, Slot>>,
    data: Mutex<DataFiles>,
}

impl DatabaseWriter {
    /// A writer for a new database at the root of `store`. Fails with
    /// [`Error::DatabaseExists`] if the store already holds a `manifest.ocdbt`, and with
    /// [`Error::InvalidArgument`] for unsupported options.
    pub fn new(store: Arc<dyn WritableStore>, options: WriterOptions) -> Result<Self> {
        validate_options(&options)?;
        if store.read(MANIFEST_KEY, Some(0..0))?.is_some() {
            return Err(Error::DatabaseExists {
                path: store.describe(MANIFEST_KEY),
            });
        }
        Ok(DatabaseWriter {
            store,
            options,
            entries: Mutex::new(HashMap::new()),
            data: Mutex::new(DataFiles::default()),
        })
    }

    /// The options this writer was created with.
    pub fn options(&self) -> &WriterOptions {
        &self.options
    }

    /// The database configuration the manifest will hold.
    pub fn config(&self) -> &Config {
        &self.options.config
    }

    /// Number of keys put so far.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// True if nothing was put yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `key` with `value`. Values up to `max_inline_value_bytes` are kept in memory for
    /// the leaves; longer ones are appended to a data file before this returns. Fails with
    /// [`Error::DuplicateKey`] if the key was already put, [`Error::InvalidArgument`] for a
    /// key longer than 65535 bytes, and [`Error::Write`] if the data file cannot be written
    /// (after which the writer refuses further writes).
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_key(key)?;
        if value.len() as u64 <= u64::from(self.options.config.max_inline_value_bytes) {
            return self.insert(key, LeafValue::Inline(Bytes::copy_from_slice(value)));
        }
        self.reserve(key)?;
        match self.append(value, "value") {
            Ok(reference) => {
                self.entries
                    .lock()
                    .insert(key.to_vec(), Slot::Value(LeafValue::OutOfLine(reference)));
                Ok(())
            }
            Err(e) => {
                self.entries.lock().remove(key);
                Err(e)
            }
        }
    }

    /// Adds `key` with a value that already lies in a data file: `reference` names the file
    /// relative to this database's root (through `base_path ‖ relative_path`, e.g.
    /// `ocdbt.process_0/` + `d/<hex>`), and the byte range of the value. Nothing is read or
    /// copied; the caller guarantees that the bytes exist and stay. This is how a merged
    /// root references the values of per-process databases.
    pub fn put_reference(&self, key: &[u8], reference: IndirectDataReference) -> Result<()> {
        self.check_key(key)?;
        if reference.file.full_path_len() == 0 {
            return Err(Error::InvalidArgument {
                what: format!(
                    "value reference of key {:?} names no file",
                    String::from_utf8_lossy(key)
                ),
            });
        }
        if reference
            .offset
            .checked_add(reference.length)
            .is_none_or(|end| end > orbax_ocdbt_format::MAX_REFERENCE_END)
        {
            return Err(Error::InvalidArgument {
                what: format!(
                    "value reference of key {:?} has an invalid range ({}, {})",
                    String::from_utf8_lossy(key),
                    reference.offset,
                    reference.length
                ),
            });
        }
        self.insert(key, LeafValue::OutOfLine(reference))
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() > MAX_KEY_LENGTH {
            return Err(Error::InvalidArgument {
                what: format!(
                    "key of {} bytes exceeds the OCDBT limit of {MAX_KEY_LENGTH} bytes",
                    key.len()
                ),
            });
        }
        Ok(())
    }

    fn duplicate(&self, key: &[u8]) -> Error {
        Error::DuplicateKey {
            key: key.escape_ascii().to_string(),
            path: self.store.describe(MANIFEST_KEY),
        }
    }

    fn insert(&self, key: &[u8], value: LeafValue) -> Result<()> {
        match self.entries.lock().entry(key.to_vec()) {
            MapEntry::Occupied(_) => Err(self.duplicate(key)),
            MapEntry::Vacant(slot) => {
                slot.insert(Slot::Value(value));
                Ok(())
            }
        }
    }

    fn reserve(&self, key: &[u8]) -> Result<()> {
        match self.entries.lock().entry(key.to_vec()) {
            MapEntry::Occupied(_) => Err(self.duplicate(key)),
            MapEntry::Vacant(slot) => {
                slot.insert(Slot::Reserved);
                Ok(())
            }
        }
    }

    /// Appends a blob (value or encoded node) to the current data file, opening one if
    /// needed, and closes the file once it reaches the target size. The lock is held for the
    /// append only; closing (fsync) happens outside it.
    fn append(&self, blob: &[u8], what: &'static str) -> Result<IndirectDataReference> {
        let (reference, full) = {
            let mut data = self.data.lock();
            if let Some(failure) = &data.failure {
                return Err(Error::WriterFailed {
                    reason: failure.clone(),
                });
            }
            if data.current.is_none() {
                let id = Arc::new(new_data_file_id());
                let key = id.full_path();
                let file = self
                    .store
                    .create_appendable(&key)
                    .map_err(|source| self.write_error("data file", &key, source))?;
                data.created.push((id.clone(), 0));
                data.current = Some(OpenDataFile { id, file });
            }
            let current = data.current.as_mut().expect("opened above");
            let offset = current.file.len();
            if let Err(source) = current.file.append(blob) {
                let e = self.write_error(what, &current.id.full_path(), source);
                data.failure = Some(e.to_string());
                return Err(e);
            }
            let reference =
                IndirectDataReference::new(current.id.clone(), offset, blob.len() as u64);
            let target = self.options.target_data_file_size;
            let full = target != 0 && current.file.len() >= target;
            (reference, if full { data.current.take() } else { None })
        };
        if let Some(file) = full {
            self.close(file)?;
        }
        Ok(reference)
    }

    /// Pads (like TensorStore) and finishes a data file, recording its size; a failure
    /// poisons the writer.
    fn close(&self, open: OpenDataFile) -> Result<()> {
        let OpenDataFile { id, mut file } = open;
        let key = id.full_path();
        let result = (|| {
            let len = file.len();
            if len > DATA_FILE_PADDING_THRESHOLD && len % DATA_FILE_PADDING_ALIGNMENT != 0 {
                let pad = DATA_FILE_PADDING_ALIGNMENT - len % DATA_FILE_PADDING_ALIGNMENT;
                file.append(&vec![0u8; pad as usize])?;
            }
            let len = file.len();
            file.finish().map(|()| len)
        })();
        let mut data = self.data.lock();
        match result {
            Ok(len) => {
                if let Some(entry) = data.created.iter_mut().find(|(f, _)| *f == id) {
                    entry.1 = len;
                }
                Ok(())
            }
            Err(source) => {
                let e = self.write_error("data file", &key, source);
                data.failure = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn write_error(&self, what: &'static str, key: &[u8], source: orbax_kvstore::Error) -> Error {
        Error::Write {
            what,
            path: self.store.describe(key),
            source,
        }
    }

    /// Builds the B+tree over every key put, appends its nodes after the values, makes all
    /// data files durable, then atomically writes `manifest.ocdbt` (generation 1, commit time
    /// now). With no key put, only the manifest of an empty database is written.
    pub fn commit(self) -> Result<CommitSummary> {
        if let Some(failure) = &self.data.lock().failure {
            return Err(Error::WriterFailed {
                reason: failure.clone(),
            });
        }
        let map = std::mem::take(&mut *self.entries.lock());
        let mut entries: Vec<(Vec<u8>, LeafValue)> = Vec::with_capacity(map.len());
        for (key, slot) in map {
            match slot {
                Slot::Value(value) => entries.push((key, value)),
                // `commit` consumes the writer, so no `put` is still running: this one
                // panicked halfway (e.g. inside the store) and its value is not complete.
                Slot::Reserved => {
                    return Err(Error::WriterFailed {
                        reason: format!(
                            "the put of key \"{}\" did not complete",
                            key.escape_ascii()
                        ),
                    })
                }
            }
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let num_inline_values = entries
            .iter()
            .filter(|(_, v)| matches!(v, LeafValue::Inline(_)))
            .count() as u64;
        let num_out_of_line_values = entries.len() as u64 - num_inline_values;

        let compression = match self.options.config.compression {
            Compression::None => Compression::None,
            Compression::Zstd { .. } => Compression::Zstd {
                level: self.options.node_zstd_level,
            },
        };
        let tree = if entries.is_empty() {
            None
        } else {
            Some(build_tree(
                entries,
                self.options.config.max_decoded_node_bytes,
                compression,
                &mut |node| self.append(&node, "b+tree node"),
            )?)
        };
        // Data files must be durable before the manifest that references them.
        let current = self.data.lock().current.take();
        if let Some(file) = current {
            self.close(file)?;
        }

        let commit_time = now_ns();
        let (root_height, root, num_nodes) = match tree {
            Some(t) => (t.height, Some(t.root), t.num_nodes),
            None => (0, None, 0),
        };
        let statistics = root.as_ref().map(|r| r.statistics).unwrap_or_default();
        let manifest = Manifest {
            config: self.options.config.clone(),
            versions: vec![BtreeGenerationReference {
                generation_number: 1,
                root_height,
                root,
                commit_time,
            }],
            version_tree_nodes: Vec::new(),
        };
        let encoded = encode_manifest(&manifest).map_err(|source| Error::Encode {
            what: "manifest",
            source,
        })?;
        self.store
            .write_atomic(MANIFEST_KEY, &encoded)
            .map_err(|source| self.write_error("manifest", MANIFEST_KEY, source))?;

        let data_files = self
            .data
            .lock()
            .created
            .iter()
            .map(|(id, bytes)| DataFileInfo {
                path: String::from_utf8_lossy(&id.full_path()).into_owned(),
                bytes: *bytes,
            })
            .collect();
        Ok(CommitSummary {
            generation: 1,
            commit_time,
            root_height,
            statistics,
            num_inline_values,
            num_out_of_line_values,
            num_nodes,
            data_files,
            manifest_bytes: encoded.len() as u64,
        })
    }

    /// Gives up: removes the data files written so far. No manifest was written, so the
    /// store holds no database afterwards.
    pub fn abort(self) -> Result<()> {
        let (current, created) = {
            let mut data = self.data.lock();
            (data.current.take(), std::mem::take(&mut data.created))
        };
        let mut first_error = None;
        if let Some(open) = current {
            if let Err(e) = open.file.abort() {
                first_error.get_or_insert(e);
            }
        }
        for (id, _) in created {
            if let Err(e) = self.store.delete(&id.full_path()) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => Ok(()),
            Some(source) => Err(self.write_error("data file", b"d/", source)),
        }
    }
}

fn validate_options(options: &WriterOptions) -> Result<()> {
    let invalid = |what: String| Err(Error::InvalidArgument { what });
    let config = &options.config;
    if config.manifest_kind != ManifestKind::Single {
        return invalid("the writer supports only the single manifest kind".into());
    }
    if u64::from(config.max_inline_value_bytes) > MAX_INLINE_VALUE_LENGTH {
        return invalid(format!(
            "max_inline_value_bytes {} exceeds the largest inline value readers accept ({MAX_INLINE_VALUE_LENGTH})",
            config.max_inline_value_bytes
        ));
    }
    if !(1..=orbax_ocdbt_format::MAX_VERSION_TREE_ARITY_LOG2)
        .contains(&config.version_tree_arity_log2)
    {
        return invalid(format!(
            "version_tree_arity_log2 {} outside [1, {}]",
            config.version_tree_arity_log2,
            orbax_ocdbt_format::MAX_VERSION_TREE_ARITY_LOG2
        ));
    }
    for level in [
        options.node_zstd_level,
        match config.compression {
            Compression::Zstd { level } => level,
            Compression::None => 0,
        },
    ] {
        if !(MIN_ZSTD_LEVEL..=MAX_ZSTD_LEVEL).contains(&level) {
            return invalid(format!(
                "zstd level {level} outside [{MIN_ZSTD_LEVEL}, {MAX_ZSTD_LEVEL}]"
            ));
        }
    }
    Ok(())
}

/// Nanoseconds since the Unix epoch (0 for a clock set before 1970).
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `N` random bytes from the operating system. Should that fail, a keyed hash of the time,
/// the process id and a counter: still unique, which is all data file names and uuids need.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if getrandom::fill(&mut out).is_ok() {
        return out;
    }
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // `RandomState` keys are themselves seeded randomly per process.
    let state = std::collections::hash_map::RandomState::new();
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_u64(now_ns());
        h.write_u32(std::process::id());
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
    out
}

/// A fresh data file id: `d/` + 32 lowercase hex digits of 16 random bytes (spec §2).
fn new_data_file_id() -> DataFileId {
    let bytes: [u8; 16] = random_bytes();
    let mut name = String::with_capacity(34);
    name.push_str("d/");
    for b in bytes {
        name.push_str(&format!("{b:02x}"));
    }
    DataFileId::new("", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_ids_are_d_slash_32_lowercase_hex_and_unique() {
        let a = new_data_file_id();
        let b = new_data_file_id();
        assert_ne!(a, b);
        let name = String::from_utf8(a.relative_path.clone()).unwrap();
        assert_eq!(name.len(), 34);
        assert!(name.starts_with("d/"));
        assert!(name[2..]
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert!(a.base_path.is_empty());
    }

    #[test]
    fn default_options_are_orbax_with_a_random_uuid() {
        let a = WriterOptions::default();
        let b = WriterOptions::default();
        assert_ne!(a.config.uuid, b.config.uuid);
        let mut c = a.config.clone();
        c.uuid = [0; 16];
        assert_eq!(c, Config::orbax([0; 16]));
        assert_eq!(a.target_data_file_size, 2_147_483_648);
        assert_eq!(a.node_zstd_level, 3);
    }

    #[test]
    fn writer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<DatabaseWriter>();
    }
}
