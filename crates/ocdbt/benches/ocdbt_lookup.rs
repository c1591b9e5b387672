//! Point lookups (cold and warm cache), a full listing, and decoding one B+tree leaf, on the
//! `tsdb_small_nodes` fixture (a height-2 tree of small nodes).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use orbax_kvstore::{FileStore, ReadableStore};
use orbax_ocdbt::format::{decode_btree_node, BtreeNodeEntries, IndirectDataReference};
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
