//! Writer throughput: a checkpoint-like database (64 values of 1 MiB and 5000 small values)
//! written to a temporary directory, from one thread and from four; and the in-memory build
//! of a 5000-key tree (sort, leaves, interior nodes, zstd) on a `MemoryStore`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orbax_kvstore::{FileStore, MemoryStore};
use orbax_ocdbt::writer::{DatabaseWriter, WriterOptions};

const LARGE: usize = 64;
const LARGE_BYTES: usize = 1 << 20;
const SMALL: usize = 5000;

fn small_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..SMALL)
        .map(|i| {
            let key = format!("params.layer_{:04}.w/{}.0", i / 10, i % 10).into_bytes();
            let value: Vec<u8> = (0..(i % 700)).map(|j| (i ^ j) as u8).collect();
            (key, value)
        })
        .collect()
}

fn large_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..LARGE)
        .map(|i| {
            let key = format!("params.big_{i:02}/0.0").into_bytes();
            let value: Vec<u8> = (0..LARGE_BYTES).map(|j| (i * 31 + j) as u8).collect();
            (key, value)
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let small = small_entries();
    let large = large_entries();
    let total: usize = small.iter().chain(&large).map(|(_, v)| v.len()).sum();
    let tmp = tempfile::tempdir().expect("temporary directory");
    let counter = AtomicU64::new(0);

    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("64 x 1 MiB + 5000 small, file store, 1 thread", |b| {
        b.iter(|| {
            let dir = tmp
                .path()
                .join(counter.fetch_add(1, Ordering::Relaxed).to_string());
            let w = DatabaseWriter::new(Arc::new(FileStore::new(&dir)), WriterOptions::default())
                .unwrap();
            for (k, v) in large.iter().chain(&small) {
                w.put(k, v).unwrap();
            }
            black_box(w.commit().unwrap());
            std::fs::remove_dir_all(&dir).unwrap();
        })
    });
    group.bench_function("64 x 1 MiB + 5000 small, file store, 4 threads", |b| {
        let all: Vec<&(Vec<u8>, Vec<u8>)> = large.iter().chain(&small).collect();
        b.iter(|| {
            let dir = tmp
                .path()
                .join(counter.fetch_add(1, Ordering::Relaxed).to_string());
            let w = DatabaseWriter::new(Arc::new(FileStore::new(&dir)), WriterOptions::default())
                .unwrap();
            std::thread::scope(|s| {
                for t in 0..4 {
                    let (w, all) = (&w, &all);
                    s.spawn(move || {
                        for (k, v) in all.iter().skip(t).step_by(4) {
                            w.put(k, v).unwrap();
                        }
                    });
                }
            });
            black_box(w.commit().unwrap());
            std::fs::remove_dir_all(&dir).unwrap();
        })
    });
    group.finish();

    let mut group = c.benchmark_group("build");
    group.throughput(Throughput::Elements(SMALL as u64));
    group.bench_function("5000-key tree, memory store", |b| {
        b.iter(|| {
            let w = DatabaseWriter::new(
                Arc::new(MemoryStore::new("bench")),
                WriterOptions::default(),
            )
            .unwrap();
            for (k, v) in &small {
                w.put(k, v).unwrap();
            }
            black_box(w.commit().unwrap())
        })
    });
    group.bench_function("5000-key tree split into 4 KiB nodes, memory store", |b| {
        let mut options = WriterOptions::default();
        options.config.max_decoded_node_bytes = 4096;
        b.iter(|| {
            let w =
                DatabaseWriter::new(Arc::new(MemoryStore::new("bench")), options.clone()).unwrap();
            for (k, v) in &small {
                w.put(k, v).unwrap();
            }
            black_box(w.commit().unwrap())
        })
    });
    group.finish();
}

criterion_group! {
    name = ocdbt_write;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(ocdbt_write);
