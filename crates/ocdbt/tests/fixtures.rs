//! Reads every fixture database and compares with what TensorStore itself listed and read.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use orbax_kvstore::{FileStore, ReadableStore};
use orbax_ocdbt::{Database, DatabaseOptions, Entry, Error};

const DATABASES: [&str; 5] = [
    "tsdb_small_nodes",
    "tsdb_default",
    "tsdb_raw_arity1",
    "tsdb_numbered",
    "orbax_merge2",
];

#[test]
fn latest_version_matches_tensorstore_listing_and_values() {
    for name in DATABASES {
        let dir = ocdbt_fixture(name);
        let db = open(&dir);
        let expected = expected(&dir);
        assert!(!expected.is_empty(), "{name}");
        let listed = db.list(b"", None).unwrap();
        let keys: Vec<&[u8]> = listed.iter().map(|e| e.key.as_slice()).collect();
        let expected_keys: Vec<&[u8]> = expected.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, expected_keys, "{name}");
        for ((key, value), entry) in expected.iter().zip(&listed) {
            assert_eq!(entry.value_length, value.len() as u64, "{name} {key:?}");
            let got = db
                .get(key)
                .unwrap()
                .unwrap_or_else(|| panic!("{name}: {key:?} missing"));
            assert_eq!(&got[..], &value[..], "{name} {key:?}");
        }
        assert_eq!(
            db.latest().version().statistics.num_keys,
            expected.len() as u64,
            "{name}"
        );
        let present: BTreeMap<&[u8], &[u8]> = expected
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        let mut absent: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\x00".to_vec(),
            b"zzzzzz".to_vec(),
            b"params.".to_vec(),
            b"\xff\xff\xff".to_vec(),
        ];
        for (k, _) in expected.iter().step_by(37) {
            let mut longer = k.clone();
            longer.push(0);
            absent.push(longer);
            absent.push(k[..k.len() - 1].to_vec());
        }
        for key in absent {
            if !present.contains_key(key.as_slice()) {
                assert_eq!(db.get(&key).unwrap(), None, "{name} {key:?}");
            }
        }
    }
}

#[test]
fn every_generation_is_readable_and_consistent_with_its_statistics() {
    for name in [
        "tsdb_small_nodes",
        "tsdb_default",
        "tsdb_raw_arity1",
        "tsdb_numbered",
    ] {
        let db = open(&ocdbt_fixture(name));
        let versions = db.generations().unwrap();
        let numbers: Vec<u64> = versions.iter().map(|v| v.generation).collect();
        let expected: Vec<u64> = (1..=db.latest_generation()).collect();
        assert_eq!(numbers, expected, "{name}");
        assert!(versions
            .windows(2)
            .all(|w| w[0].commit_time < w[1].commit_time));
        assert!(versions.len() >= 3, "{name}");
        for v in &versions {
            let snapshot = db.at_generation(v.generation).unwrap();
            assert_eq!(snapshot.version(), v);
            let listed = snapshot.list(b"", None).unwrap();
            assert_eq!(
                listed.len() as u64,
                v.statistics.num_keys,
                "{name} generation {}",
                v.generation
            );
            assert!(listed.windows(2).all(|w| w[0].key < w[1].key));
            for entry in listed.iter().step_by(7) {
                let value = snapshot.get(&entry.key).unwrap().unwrap();
                assert_eq!(value.len() as u64, entry.value_length);
            }
            assert_eq!(
                db.at_commit_time(v.commit_time).unwrap().generation(),
                v.generation
            );
        }
        let latest = db.latest();
        assert_eq!(latest.version(), versions.last().unwrap());
        let first = &versions[0];
        let err = db.at_commit_time(first.commit_time - 1).unwrap_err();
        assert_eq!(err.code(), "ERR_NOT_FOUND");
        assert_eq!(
            db.at_commit_time(versions[1].commit_time - 1)
                .unwrap()
                .generation(),
            first.generation
        );
        assert_eq!(
            db.at_commit_time(u64::MAX).unwrap().generation(),
            db.latest_generation()
        );
        for missing in [0, db.latest_generation() + 1, u64::MAX] {
            let err = db.at_generation(missing).unwrap_err();
            assert!(matches!(err, Error::GenerationNotFound { .. }), "{err}");
            assert_eq!(err.code(), "ERR_NOT_FOUND");
        }
    }
}

#[test]
fn older_generations_differ_from_the_latest() {
    // tsdb_small_nodes deletes and rewrites keys: an early generation must not see later ones.
    let db = open(&ocdbt_fixture("tsdb_small_nodes"));
    let versions = db.generations().unwrap();
    let counts: Vec<u64> = versions.iter().map(|v| v.statistics.num_keys).collect();
    assert!(counts.windows(2).any(|w| w[0] != w[1]));
    let early = db.at_generation(versions[1].generation).unwrap();
    let latest_keys = db.list(b"", None).unwrap();
    let early_keys = early.list(b"", None).unwrap();
    assert_ne!(early_keys, latest_keys);
    for e in &early_keys {
        assert!(early.get(&e.key).unwrap().is_some());
    }
}

#[test]
fn special_configurations_are_read() {
    let db = open(&ocdbt_fixture("tsdb_numbered"));
    assert_eq!(db.manifest_key(), b"manifest.0000000000000015");
    assert_eq!(db.latest_generation(), 21);
    assert_eq!(
        db.config().manifest_kind,
        orbax_ocdbt::format::ManifestKind::Numbered
    );

    let db = open(&ocdbt_fixture("tsdb_default"));
    assert_eq!(db.generations().unwrap()[0].root, None);
    assert!(db
        .at_generation(1)
        .unwrap()
        .list(b"", None)
        .unwrap()
        .is_empty());
    assert_eq!(db.at_generation(1).unwrap().get(b"a").unwrap(), None);

    let db = open(&ocdbt_fixture("tsdb_raw_arity1"));
    assert_eq!(db.config().version_tree_arity_log2, 1);
    assert!(db.manifest().version_tree_nodes.len() >= 4);
}

fn orbax_databases() -> Vec<PathBuf> {
    fn find(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                find(&path, out);
            } else if path.file_name().unwrap() == "manifest.ocdbt" {
                out.push(path.parent().unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    find(&fixtures().join("orbax-0.12.8"), &mut out);
    out.sort();
    out
}

fn contents(db: &Database) -> Vec<(Entry, Vec<u8>)> {
    db.list(b"", None)
        .unwrap()
        .into_iter()
        .map(|e| {
            let value = db.get(&e.key).unwrap().unwrap().to_vec();
            assert_eq!(value.len() as u64, e.value_length);
            (e, value)
        })
        .collect()
}

#[test]
fn every_orbax_database_opens_and_lists_like_its_process_database() {
    let dbs = orbax_databases();
    assert!(dbs.len() >= 30, "{}", dbs.len());
    let mut compared = 0;
    for dir in &dbs {
        let db = open(dir);
        let root = contents(&db);
        assert!(!root.is_empty(), "{}", dir.display());
        assert!(
            root.iter()
                .any(|(e, _)| e.key.ends_with(b".zarray") || e.key.ends_with(b"zarr.json")),
            "{}",
            dir.display()
        );
        let process = dir.join("ocdbt.process_0");
        if process.join("manifest.ocdbt").is_file() {
            assert_eq!(root, contents(&open(&process)), "{}", dir.display());
            compared += 1;
        }
    }
    assert!(compared >= 20, "{compared}");
}

#[test]
fn merged_root_reads_values_from_per_process_directories() {
    let dir = ocdbt_fixture("orbax_merge2");
    let store = CountingStore::new(Arc::new(FileStore::new(&dir)));
    let db = Database::open(store.clone()).unwrap();
    store.take();
    for (key, value) in expected(&dir) {
        assert_eq!(db.get(&key).unwrap().unwrap(), value);
    }
    let reads = store.take();
    for process in [&b"ocdbt.process_0/d/"[..], b"ocdbt.process_1/d/"] {
        assert!(
            reads.iter().any(|(k, _)| k.starts_with(process)),
            "{process:?}"
        );
    }
    // Values are read directly from the per-process data files: never their manifests.
    assert!(!reads.iter().any(|(k, _)| k.ends_with(b"manifest.ocdbt")));
}

/// Keys of the expected listing within `[lo, hi)`.
fn expected_range(all: &[(Vec<u8>, Vec<u8>)], lo: &[u8], hi: Option<&[u8]>) -> Vec<Vec<u8>> {
    all.iter()
        .map(|(k, _)| k.clone())
        .filter(|k| k.as_slice() >= lo && hi.is_none_or(|hi| k.as_slice() < hi))
        .collect()
}

fn keys(entries: Vec<Entry>) -> Vec<Vec<u8>> {
    entries.into_iter().map(|e| e.key).collect()
}

#[test]
fn prefix_and_range_listings_match_a_filter_of_all_keys() {
    let dir = ocdbt_fixture("tsdb_small_nodes");
    let db = open(&dir);
    let all = expected(&dir);
    let prefixes: Vec<&[u8]> = vec![
        b"",
        b"a",
        b"ab",
        b"params.",
        b"params.decoder.layer_1",
        b"params.decoder.layer_14.w",
        b"params.x.layer_9.w9",
        b"\x00",
        b"\x00\xff",
        b"\xc3",
        b"\xc3\xa9t\xc3\xa9/",
        b"\xff",
        b"nothing-here",
    ];
    let mut nonempty = 0;
    for prefix in prefixes {
        let got = keys(db.list_prefix(prefix).unwrap());
        let want: Vec<Vec<u8>> = all
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| k.starts_with(prefix))
            .collect();
        assert_eq!(got, want, "prefix {prefix:?}");
        nonempty += usize::from(!got.is_empty());
    }
    assert!(nonempty >= 8);
    let middle = all[all.len() / 2].0.clone();
    let ranges: Vec<(&[u8], Option<&[u8]>)> = vec![
        (b"", None),
        (b"", Some(b"a")),
        (b"a", Some(b"params.decoder.layer_2")),
        (b"params.decoder.layer_1", Some(b"params.decoder.layer_15")),
        (b"params.x", None),
        (&middle, None),
        (b"", Some(&middle)),
        (&middle, Some(&middle)),
        (b"zz", Some(b"a")),
        (
            b"params.decoder.layer_0.w1258/0.3",
            Some(b"params.decoder.layer_0.w1258/0.3\x00"),
        ),
        (b"\x00\xff", Some(b"\x01")),
    ];
    for (lo, hi) in ranges {
        let got = keys(db.list(lo, hi).unwrap());
        assert_eq!(got, expected_range(&all, lo, hi), "range {lo:?}..{hi:?}");
    }
    // Every split point gives a partition of the whole listing.
    for (k, _) in all.iter().step_by(97) {
        let mut left = keys(db.list(b"", Some(k)).unwrap());
        let right = keys(db.list(k, None).unwrap());
        assert_eq!(right.first(), Some(k));
        left.extend(right);
        assert_eq!(left.len(), all.len());
    }
}

#[test]
fn byte_ranges_of_values() {
    let dir = ocdbt_fixture("tsdb_small_nodes");
    let db = open(&dir);
    let all = expected(&dir);
    let inline_limit = u64::from(db.config().max_inline_value_bytes);
    let big = all
        .iter()
        .find(|(_, v)| v.len() as u64 > inline_limit)
        .unwrap();
    let small = all
        .iter()
        .find(|(_, v)| (3..100).contains(&v.len()))
        .unwrap();
    for (key, value) in [big, small] {
        let n = value.len() as u64;
        assert_eq!(
            db.get_range(key, 1..n - 1).unwrap().unwrap(),
            &value[1..value.len() - 1]
        );
        assert_eq!(db.get_range(key, n..n).unwrap().unwrap().len(), 0);
        let err = db.get_range(key, 0..n + 1).unwrap_err();
        assert!(
            matches!(err, Error::ValueRangeOutOfBounds { size, .. } if size == n),
            "{err}"
        );
        assert_eq!(err.code(), "ERR_TRUNCATED");
        // Through the store trait: the standard range error.
        let store_err = ReadableStore::read(&db, key, Some(2..n + 5)).unwrap_err();
        assert!(
            matches!(store_err, orbax_kvstore::Error::RangeOutOfBounds { .. }),
            "{store_err}"
        );
    }
    assert_eq!(db.get_range(b"absent key", 0..1).unwrap(), None);
    let empty = all
        .iter()
        .find(|(_, v)| v.is_empty())
        .expect("an empty value");
    assert_eq!(db.get(&empty.0).unwrap().unwrap().len(), 0);
}

#[test]
fn point_lookups_read_one_node_per_level() {
    let dir = ocdbt_fixture("tsdb_small_nodes");
    let store = CountingStore::new(Arc::new(FileStore::new(&dir)));
    let db = Database::open(store.clone()).unwrap();
    let height = db.latest().version().root_height;
    assert!(height >= 2);
    let all = expected(&dir);
    let inline_limit = db.config().max_inline_value_bytes as usize;
    let (key, value) = all
        .iter()
        .rev()
        .find(|(_, v)| v.len() <= inline_limit)
        .unwrap();
    store.take();
    assert_eq!(db.get(key).unwrap().unwrap(), value);
    let reads = store.take();
    assert_eq!(reads.len(), usize::from(height) + 1, "{reads:?}");
    assert!(reads
        .iter()
        .all(|(k, r)| k.starts_with(b"d/") && r.is_some()));

    // Warm: no reads at all.
    assert_eq!(db.get(key).unwrap().unwrap(), value);
    assert!(store.take().is_empty());

    // An out-of-line value: the nodes of its path (some cached now) and exactly the value's
    // byte range, or the requested part of it.
    let fresh = Database::open(store.clone()).unwrap();
    let (key, value) = all.iter().find(|(_, v)| v.len() > inline_limit).unwrap();
    store.take();
    fresh.get_range(key, 10..20).unwrap().unwrap();
    let reads = store.take();
    assert_eq!(reads.len(), usize::from(height) + 2, "{reads:?}");
    let value_read = reads.last().unwrap().1.clone().unwrap();
    assert_eq!(value_read.end - value_read.start, 10);
    assert_eq!(&fresh.get(key).unwrap().unwrap()[..], &value[..]);
    let value_read = store.take().last().unwrap().1.clone().unwrap();
    assert_eq!(value_read.end - value_read.start, value.len() as u64);

    // An absent key below the first separator touches only the root.
    store.take();
    let fresh = Database::open(store.clone()).unwrap();
    store.take();
    assert_eq!(fresh.get(b"").unwrap(), None);
    assert!(store.take().len() <= usize::from(height) + 1);
}

#[test]
fn listings_prune_unrelated_subtrees() {
    let dir = ocdbt_fixture("tsdb_small_nodes");
    let store = CountingStore::new(Arc::new(FileStore::new(&dir)));
    let db = Database::open_with_options(
        store.clone(),
        DatabaseOptions {
            node_cache_bytes: 0,
        },
    )
    .unwrap();
    store.take();
    db.list(b"", None).unwrap();
    let full = store.take().len();
    let narrow = db.list_prefix(b"params.decoder.layer_14.w2").unwrap();
    assert!(!narrow.is_empty());
    let partial = store.take().len();
    let height = usize::from(db.latest().version().root_height);
    assert!(partial < full / 4, "{partial} of {full}");
    assert!(partial > height);
    // With the cache disabled every access reads again.
    db.get(&narrow[0].key).unwrap();
    assert_eq!(store.take().len(), height + 1);
}

#[test]
fn the_node_cache_is_bounded_and_shared_by_clones() {
    let dir = ocdbt_fixture("tsdb_small_nodes");
    let db = Database::open_with_options(
        Arc::new(FileStore::new(&dir)),
        DatabaseOptions {
            node_cache_bytes: 20_000,
        },
    )
    .unwrap();
    db.list(b"", None).unwrap();
    let stats = db.cache_stats();
    assert!(stats.bytes <= 20_000 && stats.entries > 0, "{stats:?}");
    let clone = db.clone();
    let key = db.list(b"", None).unwrap().pop().unwrap().key;
    clone.get(&key).unwrap();
    let before = db.cache_stats().hits;
    clone.get(&key).unwrap();
    assert!(db.cache_stats().hits > before);
}

#[test]
fn concurrent_readers_share_one_database() {
    let dir = ocdbt_fixture("tsdb_small_nodes");
    let db = open(&dir);
    let all = Arc::new(expected(&dir));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            let all = all.clone();
            std::thread::spawn(move || {
                for (key, value) in all.iter().skip(t).step_by(4) {
                    assert_eq!(db.get(key).unwrap().unwrap(), value);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn the_database_is_a_readable_store() {
    let dir = ocdbt_fixture("orbax_merge2");
    let db = open(&dir);
    let store: Arc<dyn ReadableStore> = Arc::new(db.clone());
    let all = expected(&dir);
    let (key, value) = &all[0];
    assert_eq!(store.read(key, None).unwrap().unwrap(), value);
    assert_eq!(store.read(key, Some(1..3)).unwrap().unwrap(), &value[1..3]);
    assert!(store.read(b"no such key", None).unwrap().is_none());
    let listed = store.list_prefix(b"").unwrap();
    assert_eq!(listed.len(), all.len());
    let some_prefix = &key[..2];
    assert_eq!(
        store.list_prefix(some_prefix).unwrap(),
        keys(db.list_prefix(some_prefix).unwrap())
    );
    let described = store.describe(b"a/0");
    assert!(described.contains("orbax_merge2"), "{described}");
    assert!(
        described.ends_with("manifest.ocdbt [key \"a/0\"]"),
        "{described}"
    );
    assert!(format!("{db:?}").contains("latest_generation"));
}
