//! Point lookups (cold and warm cache), a full listing, and decoding one B+tree leaf, on the
//! `tsdb_small_nodes` fixture (a height-2 tree of small nodes); and the lookups a restore of
//! 5,000 arrays makes: every key of a database written like an Orbax item (10,000 keys:
//! `.zarray` inline, chunks of 1–16 KiB in a data file), values read into a reused buffer
//! from a store that keeps its files open.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use orbax_kvstore::{FileStore, ReadableStore};
use orbax_ocdbt::format::{decode_btree_node, BtreeNodeEntries, IndirectDataReference};
use orbax_ocdbt::writer::{DatabaseWriter, WriterOptions};
use orbax_ocdbt::Database;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/ocdbt/tsdb_small_nodes")
}

fn open(dir: &Path) -> Database {
    Database::open(Arc::new(FileStore::new(dir))).expect("fixture opens")
}

/// The bytes of the first leaf below the latest root.
fn first_leaf(dir: &Path, db: &Database) -> Vec<u8> {
    let store = FileStore::new(dir);
    let read = |r: &IndirectDataReference| {
        store
            .read(&r.file.full_path(), Some(r.offset..r.end()))
            .unwrap()
            .unwrap()
            .to_vec()
    };
    let mut loc = db.latest().version().root.clone().expect("non-empty tree");
    loop {
        let bytes = read(&loc);
        match decode_btree_node(&bytes, b"").unwrap().entries {
            BtreeNodeEntries::Leaf(_) => return bytes,
            BtreeNodeEntries::Interior(children) => loc = children[0].node.location.clone(),
        }
    }
}

fn benches(c: &mut Criterion) {
    let dir = fixture();
    let db = open(&dir);
    let keys: Vec<Vec<u8>> = db
        .list(b"", None)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .step_by(13)
        .collect();

    c.bench_function("get/cold (fresh database)", |b| {
        let mut i = 0;
        b.iter(|| {
            let db = open(&dir);
            i = (i + 1) % keys.len();
            black_box(db.get(&keys[i]).unwrap())
        })
    });

    c.bench_function("get/warm", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(db.get(&keys[i]).unwrap())
        })
    });

    c.bench_function("list/all keys (warm)", |b| {
        b.iter(|| black_box(db.list(b"", None).unwrap().len()))
    });

    let written = tempfile::tempdir().unwrap();
    let writer = DatabaseWriter::new(
        Arc::new(FileStore::new(written.path())),
        WriterOptions::default(),
    )
    .unwrap();
    let mut item_keys = Vec::new();
    for i in 0..5000usize {
        let meta = format!("opt.p_{i:04}/.zarray").into_bytes();
        writer
            .put(&meta, br#"{"chunks":[1024],"zarr_format":2}"#)
            .unwrap();
        let chunk = format!("opt.p_{i:04}/0").into_bytes();
        writer
            .put(&chunk, &vec![i as u8; 1024 * (1 + i % 16)])
            .unwrap();
        item_keys.push(meta);
        item_keys.push(chunk);
    }
    writer.commit().unwrap();
    let item = Database::open(Arc::new(FileStore::immutable(written.path()))).unwrap();
    let mut buf = Vec::new();
    c.bench_function(
        "get/10000 keys of an Orbax-like item, into a reused buffer",
        |b| {
            b.iter(|| {
                for key in &item_keys {
                    black_box(item.read_into(key, None, &mut buf).unwrap());
                }
            })
        },
    );

    let leaf = first_leaf(&dir, &db);
    c.bench_function("decode/b+tree leaf", |b| {
        b.iter(|| black_box(decode_btree_node(black_box(&leaf), b"").unwrap()))
    });
}

criterion_group! {
    name = ocdbt;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(ocdbt);
