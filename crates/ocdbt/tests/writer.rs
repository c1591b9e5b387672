//! The writer and the merge, checked through the reader: random key sets, node splitting,
//! data file rolling, concurrency, statistics, failures, and the Orbax merge layout.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use orbax_kvstore::{AppendFile, FileStore, MemoryStore, ReadableStore, WritableStore};
use orbax_ocdbt::format::{
    decode_btree_node, decode_manifest, BtreeNodeEntries, BtreeNodeReference, BtreeNodeStatistics,
    Compression, Config, LeafValue,
};
use orbax_ocdbt::merge::{merge_databases, merge_item_directory};
use orbax_ocdbt::writer::{CommitSummary, DatabaseWriter, WriterOptions};
use orbax_ocdbt::{Database, Error};
use proptest::prelude::*;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Orbax's config with a small inline limit and node size, so that small tests exercise
/// out-of-line values and splitting.
fn options(max_inline: u32, max_node: u32, target: u64) -> WriterOptions {
    let mut o = WriterOptions {
        target_data_file_size: target,
        ..WriterOptions::default()
    };
    o.config.max_inline_value_bytes = max_inline;
    o.config.max_decoded_node_bytes = max_node;
    o
}

fn write(store: Arc<dyn WritableStore>, o: WriterOptions, model: &Model) -> CommitSummary {
    let w = DatabaseWriter::new(store, o).unwrap();
    for (k, v) in model {
        w.put(k, v).unwrap();
    }
    w.commit().unwrap()
}

/// Statistics and node count of the subtree at `r`, recomputed from the nodes, checking every
/// interior reference's statistics on the way.
fn walk(
    store: &dyn ReadableStore,
    r: &BtreeNodeReference,
    height: u8,
) -> (BtreeNodeStatistics, u64) {
    let loc = &r.location;
    let bytes = store
        .read(&loc.file.full_path(), Some(loc.offset..loc.end()))
        .unwrap()
        .unwrap();
    let node = decode_btree_node(&bytes, &loc.file.base_path).unwrap();
    assert_eq!(node.height, height);
    let mut nodes = 1;
    if let BtreeNodeEntries::Interior(children) = &node.entries {
        for c in children {
            let (s, n) = walk(store, &c.node, height - 1);
            assert_eq!(s, c.node.statistics, "child statistics");
            nodes += n;
        }
    }
    (node.statistics(loc.length), nodes)
}

/// Reads the database back and compares it with the model: listing, every value, absent
/// keys, statistics (against the model and against the nodes).
fn check(store: Arc<dyn ReadableStore>, model: &Model, summary: &CommitSummary) -> Database {
    let db = Database::open(store.clone()).unwrap();
    assert_eq!(db.latest_generation(), 1);
    let listed = db.list(b"", None).unwrap();
    assert_eq!(listed.len(), model.len());
    for (e, (k, v)) in listed.iter().zip(model) {
        assert_eq!(&e.key, k);
        assert_eq!(e.value_length, v.len() as u64);
        assert_eq!(&db.get(k).unwrap().unwrap()[..], &v[..], "key {k:?}");
    }
    let mut absent = model.keys().next_back().cloned().unwrap_or_default();
    absent.push(0);
    assert!(db.get(&absent).unwrap().is_none());

    let version = &db.generations().unwrap()[0];
    assert_eq!(version.statistics, summary.statistics);
    assert_eq!(version.root_height, summary.root_height);
    assert_eq!(version.commit_time, summary.commit_time);
    assert_eq!(summary.statistics.num_keys, model.len() as u64);
    let inline_limit = u64::from(db.config().max_inline_value_bytes);
    let indirect: u64 = model
        .values()
        .map(|v| v.len() as u64)
        .filter(|&l| l > inline_limit)
        .sum();
    assert_eq!(summary.statistics.num_indirect_value_bytes, indirect);
    assert_eq!(
        summary.num_inline_values + summary.num_out_of_line_values,
        model.len() as u64
    );
    let manifest = &db.manifest().versions[0];
    match &manifest.root {
        None => {
            assert!(model.is_empty());
            assert_eq!(summary.num_nodes, 0);
        }
        Some(root) => {
            let (stats, nodes) = walk(store.as_ref(), root, manifest.root_height);
            assert_eq!(stats, root.statistics);
            assert_eq!(nodes, summary.num_nodes);
        }
    }
    db
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(&b"ab/.\x00\xff0"[..]), 0..10)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 40..300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_databases_read_back_exactly(
        model in prop::collection::btree_map(key(), value(), 0..120),
        max_inline in prop::sample::select(vec![0u32, 16, 64, 1024]),
        max_node in prop::sample::select(vec![0u32, 1, 60, 300, 100_000_000]),
        target in prop::sample::select(vec![0u64, 1, 200, 5000]),
        zstd in any::<bool>(),
    ) {
        let mut o = options(max_inline, max_node, target);
        if !zstd {
            o.config.compression = Compression::None;
        }
        let store = Arc::new(MemoryStore::new("mem"));
        let summary = write(store.clone(), o, &model);
        check(store.clone(), &model, &summary);
        // Every data file the summary names exists with that size; nothing else was written.
        let mut files: Vec<Vec<u8>> = summary.data_files.iter().map(|f| f.path.as_bytes().to_vec()).collect();
        for f in &summary.data_files {
            prop_assert_eq!(store.read(f.path.as_bytes(), None).unwrap().unwrap().len() as u64, f.bytes);
        }
        files.push(b"manifest.ocdbt".to_vec());
        files.sort();
        prop_assert_eq!(store.list_prefix(b"").unwrap(), files);
    }
}

#[test]
fn empty_database_is_a_manifest_with_an_empty_generation_1() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let summary = write(store.clone(), WriterOptions::default(), &Model::new());
    assert!(summary.data_files.is_empty());
    assert_eq!(
        store.list_prefix(b"").unwrap(),
        vec![b"manifest.ocdbt".to_vec()]
    );
    let db = check(store.clone(), &Model::new(), &summary);
    assert!(db.latest().version().root.is_none());
    let manifest = decode_manifest(&store.read(b"manifest.ocdbt", None).unwrap().unwrap()).unwrap();
    let mut config = manifest.config.clone();
    config.uuid = [0; 16];
    assert_eq!(config, Config::orbax([0; 16]));
}

#[test]
fn single_key_databases() {
    for v in [Vec::new(), vec![1u8; 1024], vec![2u8; 1025]] {
        let model: Model = [(b"k".to_vec(), v.clone())].into();
        let store = Arc::new(MemoryStore::new("mem"));
        let summary = write(store.clone(), WriterOptions::default(), &model);
        check(store, &model, &summary);
        assert_eq!(summary.num_out_of_line_values, u64::from(v.len() > 1024));
        assert_eq!(summary.data_files.len(), 1);
        assert_eq!((summary.root_height, summary.num_nodes), (0, 1));
    }
}

fn zarr_like_model(n: usize, seed: u64) -> Model {
    let mut rng = seed;
    let mut next = || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rng >> 33
    };
    let mut model = Model::new();
    for i in 0..n {
        let param = i / 10;
        let key = if i % 10 == 0 {
            format!("params.layer_{param:04}.w/.zarray").into_bytes()
        } else {
            format!("params.layer_{param:04}.w/{}.0", i % 10).into_bytes()
        };
        let len = match next() % 4 {
            0 => 0,
            1 => (next() % 1024) as usize,
            _ => 1025 + (next() % 3000) as usize,
        };
        let value: Vec<u8> = (0..len).map(|j| (j as u64 ^ next()) as u8).collect();
        model.insert(key, value);
    }
    model
}

#[test]
fn thousands_of_keys_with_small_nodes_make_a_deep_tree_the_reader_accepts() {
    let model = zarr_like_model(5000, 1);
    let store = Arc::new(MemoryStore::new("mem"));
    let summary = write(store.clone(), options(1024, 2048, 0), &model);
    assert!(summary.root_height >= 2, "height {}", summary.root_height);
    assert!(summary.num_nodes > 50);
    let db = check(store.clone(), &model, &summary);
    // Prefix listings descend through the implicit prefixes.
    let got = db.list_prefix(b"params.layer_0123.w/").unwrap();
    assert_eq!(got.len(), 10);
    // Every node below the root omits a non-trivial implicit prefix somewhere.
    let root = db.manifest().versions[0].root.clone().unwrap();
    let loc = root.location;
    let bytes = store
        .read(&loc.file.full_path(), Some(loc.offset..loc.end()))
        .unwrap()
        .unwrap();
    let node = decode_btree_node(&bytes, b"").unwrap();
    let BtreeNodeEntries::Interior(children) = node.entries else {
        panic!("root is a leaf");
    };
    assert!(children.iter().any(|c| c.subtree_common_prefix_length > 0));
    assert_eq!(children[0].key, model.keys().next().unwrap().clone());
}

#[test]
fn orbax_sized_nodes_give_a_single_leaf() {
    let model = zarr_like_model(5000, 2);
    let store = Arc::new(MemoryStore::new("mem"));
    let summary = write(store.clone(), WriterOptions::default(), &model);
    assert_eq!((summary.root_height, summary.num_nodes), (0, 1));
    check(store, &model, &summary);
}

#[test]
fn small_target_size_rolls_data_files_without_splitting_values() {
    let model = zarr_like_model(300, 3);
    let store = Arc::new(MemoryStore::new("mem"));
    let summary = write(store.clone(), options(1024, 4096, 50_000), &model);
    assert!(summary.data_files.len() > 3, "{:?}", summary.data_files);
    let db = check(store.clone(), &model, &summary);
    // Each value lies inside one file; no file is much larger than the target (one value or
    // node past it at most).
    for f in &summary.data_files {
        assert!(f.bytes < 50_000 + 4096, "{f:?}");
    }
    let snapshot = db.latest();
    let mut files = std::collections::BTreeSet::new();
    snapshot
        .for_each_value(b"", None, |_, v| {
            if let LeafValue::OutOfLine(r) = v {
                let size = store
                    .read(&r.file.full_path(), None)
                    .unwrap()
                    .unwrap()
                    .len() as u64;
                assert!(r.end() <= size);
                files.insert(r.file.full_path());
            }
            Ok(())
        })
        .unwrap();
    assert!(files.len() > 3);
}

#[test]
fn values_come_before_nodes_and_large_files_are_padded_like_tensorstore() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let model: Model = (0..5u8)
        .map(|i| (vec![b'v', i], vec![i; (1 << 20) + 1]))
        .chain([(b"small".to_vec(), b"{}".to_vec())])
        .collect();
    let summary = write(store.clone(), WriterOptions::default(), &model);
    assert_eq!(summary.data_files.len(), 1);
    let file = &summary.data_files[0];
    assert!(file.path.starts_with("d/") && file.path.len() == 34);
    assert_eq!(file.bytes % 4096, 0);
    assert_eq!(
        std::fs::metadata(dir.path().join(&file.path))
            .unwrap()
            .len(),
        file.bytes
    );
    let db = check(store, &model, &summary);
    let root = db.latest().version().root.clone().unwrap();
    assert_eq!(root.offset, 5 * ((1 << 20) + 1));
}

#[test]
fn concurrent_puts_from_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let writer = DatabaseWriter::new(store.clone(), options(1024, 100_000_000, 300_000)).unwrap();
    let model = zarr_like_model(2000, 4);
    let entries: Vec<(&Vec<u8>, &Vec<u8>)> = model.iter().collect();
    std::thread::scope(|s| {
        for part in entries.chunks(entries.len().div_ceil(8)) {
            let writer = &writer;
            s.spawn(move || {
                for (k, v) in part {
                    writer.put(k, v).unwrap();
                }
            });
        }
    });
    assert_eq!(writer.len(), model.len());
    let summary = writer.commit().unwrap();
    assert!(summary.data_files.len() > 1);
    check(store, &model, &summary);
}

#[test]
fn duplicate_keys_are_refused_even_when_racing() {
    let store = Arc::new(MemoryStore::new("mem"));
    let writer = DatabaseWriter::new(store.clone(), WriterOptions::default()).unwrap();
    writer.put(b"a", b"1").unwrap();
    let e = writer.put(b"a", b"2").unwrap_err();
    assert!(matches!(e, Error::DuplicateKey { .. }), "{e}");
    assert_eq!(e.code(), "ERR_INVALID_ARGUMENT");
    writer.put(b"big", &[0u8; 5000]).unwrap();
    assert!(matches!(
        writer.put(b"big", &[1u8; 5000]),
        Err(Error::DuplicateKey { .. })
    ));
    let ok = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                if writer.put(b"raced", &[7u8; 3000]).is_ok() {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(ok.load(Ordering::Relaxed), 1);
    let long = vec![b'x'; 65536];
    let e = writer.put(&long, b"").unwrap_err();
    assert_eq!(e.code(), "ERR_INVALID_ARGUMENT", "{e}");
    writer.put(&long[..65535], b"").unwrap();
    let summary = writer.commit().unwrap();
    let db = Database::open(store).unwrap();
    assert_eq!(db.get(b"a").unwrap().unwrap(), &b"1"[..]);
    assert_eq!(db.get(b"big").unwrap().unwrap(), &[0u8; 5000][..]);
    assert_eq!(summary.statistics.num_keys, 4);
}

#[test]
fn an_existing_database_is_not_overwritten() {
    let store = Arc::new(MemoryStore::new("mem"));
    write(store.clone(), WriterOptions::default(), &Model::new());
    let e = DatabaseWriter::new(store, WriterOptions::default()).unwrap_err();
    assert!(matches!(e, Error::DatabaseExists { .. }), "{e}");
    assert_eq!(e.code(), "ERR_ALREADY_EXISTS");
}

#[test]
fn unsupported_options_are_refused() {
    let store = Arc::new(MemoryStore::new("mem"));
    let mut o = WriterOptions::default();
    o.config.manifest_kind = orbax_ocdbt::format::ManifestKind::Numbered;
    assert_eq!(
        DatabaseWriter::new(store.clone(), o).unwrap_err().code(),
        "ERR_INVALID_ARGUMENT"
    );
    let o = WriterOptions {
        node_zstd_level: 99,
        ..WriterOptions::default()
    };
    assert_eq!(
        DatabaseWriter::new(store.clone(), o).unwrap_err().code(),
        "ERR_INVALID_ARGUMENT"
    );
    let mut o = WriterOptions::default();
    o.config.max_inline_value_bytes = (1 << 20) + 1;
    assert_eq!(
        DatabaseWriter::new(store, o).unwrap_err().code(),
        "ERR_INVALID_ARGUMENT"
    );
}

#[test]
fn abort_removes_the_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let writer = DatabaseWriter::new(store.clone(), options(1024, 0, 3000)).unwrap();
    for i in 0..10u8 {
        writer.put(&[i], &[i; 2000]).unwrap();
    }
    assert!(!store.list_prefix(b"d/").unwrap().is_empty());
    writer.abort().unwrap();
    assert!(store.list_prefix(b"").unwrap().is_empty());
}

/// A store whose appends fail once a budget of bytes is spent.
#[derive(Debug)]
struct FailingStore {
    inner: Arc<MemoryStore>,
    budget: Arc<AtomicU64>,
}

#[derive(Debug)]
struct FailingAppend {
    inner: Box<dyn AppendFile>,
    budget: Arc<AtomicU64>,
}

impl ReadableStore for FailingStore {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> orbax_kvstore::Result<Option<Bytes>> {
        self.inner.read(key, range)
    }
    fn list_prefix(&self, prefix: &[u8]) -> orbax_kvstore::Result<Vec<Vec<u8>>> {
        self.inner.list_prefix(prefix)
    }
    fn describe(&self, key: &[u8]) -> String {
        self.inner.describe(key)
    }
}

impl WritableStore for FailingStore {
    fn write(&self, key: &[u8], value: &[u8]) -> orbax_kvstore::Result<()> {
        self.inner.write(key, value)
    }
    fn write_atomic(&self, key: &[u8], value: &[u8]) -> orbax_kvstore::Result<()> {
        self.inner.write_atomic(key, value)
    }
    fn create_appendable(&self, key: &[u8]) -> orbax_kvstore::Result<Box<dyn AppendFile>> {
        Ok(Box::new(FailingAppend {
            inner: self.inner.create_appendable(key)?,
            budget: self.budget.clone(),
        }))
    }
    fn delete(&self, key: &[u8]) -> orbax_kvstore::Result<()> {
        self.inner.delete(key)
    }
    fn write_if_absent(&self, key: &[u8], value: &[u8]) -> orbax_kvstore::Result<bool> {
        self.inner.write_if_absent(key, value)
    }
}

impl AppendFile for FailingAppend {
    fn append(&mut self, data: &[u8]) -> orbax_kvstore::Result<()> {
        let n = data.len() as u64;
        let budget = self.budget.load(Ordering::SeqCst);
        if budget < n {
            return Err(orbax_kvstore::Error::Io {
                path: "failing".into(),
                source: std::io::Error::other("disk full"),
            });
        }
        self.budget.store(budget - n, Ordering::SeqCst);
        self.inner.append(data)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn finish(self: Box<Self>) -> orbax_kvstore::Result<()> {
        self.inner.finish()
    }
    fn abort(self: Box<Self>) -> orbax_kvstore::Result<()> {
        self.inner.abort()
    }
}

#[test]
fn a_failed_append_poisons_the_writer_and_no_manifest_is_written() {
    let inner = Arc::new(MemoryStore::new("mem"));
    let store = Arc::new(FailingStore {
        inner: inner.clone(),
        budget: Arc::new(AtomicU64::new(10_000)),
    });
    let writer = DatabaseWriter::new(store, WriterOptions::default()).unwrap();
    writer.put(b"a", &[1u8; 6000]).unwrap();
    let e = writer.put(b"b", &[2u8; 6000]).unwrap_err();
    assert!(matches!(e, Error::Write { .. }), "{e}");
    assert_eq!(e.code(), "ERR_IO");
    // The failed key can be retried only after the failure is gone: the writer refuses.
    let e = writer.put(b"c", &[3u8; 2000]).unwrap_err();
    assert!(matches!(e, Error::WriterFailed { .. }), "{e}");
    writer.put(b"inline", b"ok").unwrap();
    assert!(matches!(writer.commit(), Err(Error::WriterFailed { .. })));
    assert!(inner.read(b"manifest.ocdbt", None).unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// Merge

/// Three process databases under `<item>/ocdbt.process_<i>/` with disjoint keys.
fn write_processes(item: &std::path::Path, n: usize) -> Vec<Model> {
    (0..n)
        .map(|p| {
            let model: Model = zarr_like_model(40, 10 + p as u64)
                .into_iter()
                .map(|(k, v)| ([format!("p{p}.").into_bytes(), k].concat(), v))
                .collect();
            let store = Arc::new(FileStore::new(item.join(format!("ocdbt.process_{p}"))));
            write(store, WriterOptions::default(), &model);
            model
        })
        .collect()
}

fn open_dir(dir: &std::path::Path) -> Database {
    Database::open(Arc::new(FileStore::new(dir))).unwrap()
}

#[test]
fn merging_three_processes_builds_a_root_that_references_their_data_files() {
    let item = tempfile::tempdir().unwrap();
    let models = write_processes(item.path(), 3);
    let sources: Vec<(String, Database)> = (0..3)
        .map(|p| {
            let name = format!("ocdbt.process_{p}");
            (format!("{name}/"), open_dir(&item.path().join(name)))
        })
        .collect();
    let sources: Vec<(&str, Database)> = sources
        .iter()
        .map(|(d, db)| (d.as_str(), db.clone()))
        .collect();
    let root_store = Arc::new(FileStore::new(item.path()));
    let summary = merge_databases(root_store.clone(), WriterOptions::default(), &sources).unwrap();
    let union: Model = models
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let db = check(root_store.clone(), &union, &summary);

    // The root wrote exactly one data file of its own (just the leaf: no values were copied).
    assert_eq!(summary.data_files.len(), 1);
    assert_eq!((summary.root_height, summary.num_nodes), (0, 1));
    let own = &summary.data_files[0];
    let root = db.latest().version().root.clone().unwrap();
    assert_eq!(root.file.full_path(), own.path.as_bytes());
    assert!(root.file.base_path.is_empty());
    assert_eq!((root.offset, root.length), (0, own.bytes));

    // The root leaf copies inline values and references out-of-line ones in the process
    // data files through base paths.
    let bytes = root_store.read(own.path.as_bytes(), None).unwrap().unwrap();
    let leaf = decode_btree_node(&bytes, b"").unwrap();
    let BtreeNodeEntries::Leaf(entries) = leaf.entries else {
        panic!("root is not a leaf")
    };
    let mut bases = std::collections::BTreeSet::new();
    for e in &entries {
        let p = usize::from(e.key[1] - b'0');
        let process_db = &sources[p].1;
        let source_value = process_db.latest().lookup(&e.key).unwrap().unwrap();
        match (&e.value, source_value) {
            (LeafValue::Inline(v), LeafValue::Inline(s)) => assert_eq!(v, &s),
            (LeafValue::OutOfLine(r), LeafValue::OutOfLine(s)) => {
                assert_eq!(r.file.base_path, format!("ocdbt.process_{p}/").as_bytes());
                assert_eq!(r.file.relative_path, s.file.relative_path);
                assert!(r.file.relative_path.starts_with(b"d/"));
                assert_eq!((r.offset, r.length), (s.offset, s.length));
                bases.insert(r.file.base_path.clone());
            }
            (a, b) => panic!("value kinds differ: {a:?} vs {b:?}"),
        }
    }
    assert_eq!(bases.len(), 3);
    // The manifest's table lists only the root's own file.
    let manifest =
        decode_manifest(&root_store.read(b"manifest.ocdbt", None).unwrap().unwrap()).unwrap();
    assert_eq!(manifest.versions.len(), 1);
    assert_eq!(manifest.versions[0].generation_number, 1);
    assert_ne!(manifest.config.uuid, sources[0].1.config().uuid);
    let mut config = manifest.config.clone();
    config.uuid = [0; 16];
    assert_eq!(config, Config::orbax([0; 16]));
}

#[test]
fn merging_an_item_directory_finds_the_process_databases() {
    let item = tempfile::tempdir().unwrap();
    let models = write_processes(item.path(), 3);
    // A process that wrote nothing has no manifest; it contributes nothing.
    std::fs::create_dir(item.path().join("ocdbt.process_3")).unwrap();
    let summary = merge_item_directory(item.path(), WriterOptions::default()).unwrap();
    let union: Model = models
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    check(Arc::new(FileStore::new(item.path())), &union, &summary);
    // Merging again is refused: the root exists.
    let e = merge_item_directory(item.path(), WriterOptions::default()).unwrap_err();
    assert_eq!(e.code(), "ERR_ALREADY_EXISTS");
}

#[test]
fn a_key_in_two_processes_is_an_error() {
    let a = Arc::new(MemoryStore::new("a"));
    let b = Arc::new(MemoryStore::new("b"));
    let model: Model = [(b"same".to_vec(), vec![1u8; 2000])].into();
    write(a.clone(), WriterOptions::default(), &model);
    write(b.clone(), WriterOptions::default(), &model);
    let sources = [
        ("ocdbt.process_0/", Database::open(a).unwrap()),
        ("ocdbt.process_1", Database::open(b).unwrap()),
    ];
    let root = Arc::new(MemoryStore::new("root"));
    let e = merge_databases(root.clone(), WriterOptions::default(), &sources).unwrap_err();
    assert!(matches!(e, Error::DuplicateKey { .. }), "{e}");
    assert!(e.to_string().contains("ocdbt.process_1/"), "{e}");
    assert!(root.read(b"manifest.ocdbt", None).unwrap().is_none());
}

#[test]
fn merged_inline_values_longer_than_the_root_limit_move_out_of_line() {
    // A source with a larger inline limit than the root's: like TensorStore's write staging,
    // the root stores such values out of line in its own data file.
    let src = Arc::new(MemoryStore::new("src"));
    let model: Model = [(b"k".to_vec(), vec![5u8; 2000])].into();
    write(src.clone(), options(4096, 0, 0), &model);
    let root = Arc::new(MemoryStore::new("root"));
    let summary = merge_databases(
        root.clone(),
        WriterOptions::default(),
        &[("ocdbt.process_0/", Database::open(src).unwrap())],
    )
    .unwrap();
    assert_eq!(summary.num_out_of_line_values, 1);
    check(root, &model, &summary);
}

#[test]
fn identical_inline_values_in_several_processes_merge_into_one_key() {
    // Every process holding a block of an array writes the same zarr metadata.
    let item = Arc::new(MemoryStore::new("item"));
    let meta = br#"{"zarr_format":2,"shape":[8,6]}"#.to_vec();
    for p in 0..3u8 {
        let model: Model = [
            (b"x/.zarray".to_vec(), meta.clone()),
            (format!("x/{p}.0").into_bytes(), vec![p; 1500]),
            (format!("small/{p}").into_bytes(), vec![p; 10]),
        ]
        .into();
        let view = orbax_kvstore::PrefixStore::new(item.clone(), format!("ocdbt.process_{p}/"));
        write(Arc::new(view), WriterOptions::default(), &model);
    }
    // An unrelated key that only looks like a process database is ignored.
    item.write(b"ocdbt.process_9/not-a-manifest", b"").unwrap();
    assert_eq!(
        orbax_ocdbt::merge::process_databases_in(item.as_ref()).unwrap(),
        ["ocdbt.process_0", "ocdbt.process_1", "ocdbt.process_2"]
    );
    let summary =
        orbax_ocdbt::merge::merge_item_store(item.clone(), WriterOptions::default()).unwrap();
    assert_eq!(summary.statistics.num_keys, 1 + 3 + 3);
    let root = Database::open(item.clone()).unwrap();
    assert_eq!(root.get(b"x/.zarray").unwrap().unwrap(), &meta[..]);
    assert_eq!(root.get(b"x/2.0").unwrap().unwrap(), &[2u8; 1500][..]);
    assert_eq!(root.get(b"small/1").unwrap().unwrap(), &[1u8; 10][..]);
}

#[test]
fn differing_inline_values_of_one_key_are_a_duplicate() {
    let a = Arc::new(MemoryStore::new("a"));
    let b = Arc::new(MemoryStore::new("b"));
    write(
        a.clone(),
        WriterOptions::default(),
        &[(b"x/.zarray".to_vec(), b"chunks [2,6]".to_vec())].into(),
    );
    write(
        b.clone(),
        WriterOptions::default(),
        &[(b"x/.zarray".to_vec(), b"chunks [4,6]".to_vec())].into(),
    );
    let sources = [
        ("ocdbt.process_0/", Database::open(a).unwrap()),
        ("ocdbt.process_1/", Database::open(b).unwrap()),
    ];
    let root = Arc::new(MemoryStore::new("root"));
    let e = merge_databases(root.clone(), WriterOptions::default(), &sources).unwrap_err();
    assert!(
        matches!(e, Error::DuplicateKey { ref key, .. } if key == "x/.zarray"),
        "{e}"
    );
    assert!(e.to_string().contains("ocdbt.process_1/"), "{e}");
    assert!(root.read(b"manifest.ocdbt", None).unwrap().is_none());
}
