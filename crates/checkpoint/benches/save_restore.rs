//! End-to-end throughput of the core on the tree shapes of `npm run bench` (scaled down so
//! that `cargo bench` stays quick): saving a checkpoint (commit included: everything durable)
//! and restoring it, OCDBT + zarr v2 + zstd level 1 as Orbax writes by default.
//!
//! * `model`: one transformer-like layer (4 × 1024², 2 × 1024×4096 float32, 6 vectors), 50 MB;
//! * `many_small`: 5,000 float32 vectors of 1–16 KiB (42 MB);
//! * `one_big`: one 64 MiB float32 array in 4 MiB chunks, and a 256 KiB slice of it;
//! * `many_small_dirs`: 1,000 small arrays in the plain directory layout (`use_ocdbt=False`),
//!   one file per chunk: what batching the fsyncs is for.
//!
//! `ORBAX_TS_BENCH_SCALE=16` multiplies the model and the big array (16 → about 1 GiB).

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orbax_checkpoint::pyjson::PyValue;
use orbax_checkpoint::save::{
    save_checkpoint, ArrayToSave, CheckpointToSave, ItemToSave, SaveOptions,
};
use orbax_checkpoint::{
    DType, ItemReader, KeyEntry, KeyType, ReadRequest, RestoreOptions, TreeEntry,
};

/// One leaf: param name, shape, host bytes, `chunk_byte_size`.
struct Leaf {
    param: String,
    shape: Vec<u64>,
    data: Vec<u8>,
    chunk_byte_size: Option<u64>,
}

/// The generator of benches/bench.mjs: weights-like float32 values with full mantissas.
fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

fn weights(n: usize, seed: u32) -> Vec<u8> {
    let base = hash32(seed);
    (0..n as u32)
        .flat_map(|i| {
            let t = (2 * i).wrapping_add(base);
            let v = (f64::from(hash32(t)) + f64::from(hash32(t.wrapping_add(1))) - 4294967296.0)
                * 2f64.powi(-37);
            (v as f32).to_le_bytes()
        })
        .collect()
}

fn leaf(param: String, shape: Vec<u64>, seed: u32, chunk_byte_size: Option<u64>) -> Leaf {
    let n = shape.iter().product::<u64>() as usize;
    Leaf {
        param,
        shape,
        data: weights(n, seed),
        chunk_byte_size,
    }
}

fn scale() -> u64 {
    std::env::var("ORBAX_TS_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn model(layers: u64) -> Vec<Leaf> {
    let d = 1024;
    let mut leaves = Vec::new();
    let mut seed = 0;
    let mut next = || {
        seed += 1;
        seed
    };
    for l in 0..layers {
        for k in ["q", "k", "v", "o"] {
            leaves.push(leaf(
                format!("layer_{l:03}.attn.{k}"),
                vec![d, d],
                next(),
                None,
            ));
        }
        leaves.push(leaf(
            format!("layer_{l:03}.mlp.w_in"),
            vec![d, 4 * d],
            next(),
            None,
        ));
        leaves.push(leaf(
            format!("layer_{l:03}.mlp.w_out"),
            vec![4 * d, d],
            next(),
            None,
        ));
        for k in ["scale1", "bias1", "scale2", "bias2", "b_in", "b_out"] {
            leaves.push(leaf(
                format!("layer_{l:03}.norm.{k}"),
                vec![d],
                next(),
                None,
            ));
        }
    }
    leaves
}

fn many_small(count: u32) -> Vec<Leaf> {
    (0..count)
        .map(|i| {
            let bytes = 1024 * (1 + u64::from(hash32(i + 7919) % 16));
            leaf(
                format!("group_{:03}.p_{:02}", i / 100, i % 100),
                vec![bytes / 4],
                100_000 + i,
                None,
            )
        })
        .collect()
}

fn one_big(bytes: u64) -> Vec<Leaf> {
    let side = ((bytes / 4) as f64).sqrt() as u64;
    vec![leaf(
        "weights".into(),
        vec![side, side],
        424_242,
        Some(4 << 20),
    )]
}

fn plan<'a>(leaves: &'a [Leaf], use_ocdbt: bool) -> CheckpointToSave<'a> {
    let f32 = DType::from_name("float32").unwrap();
    CheckpointToSave {
        item: ItemToSave {
            entries: leaves
                .iter()
                .map(|l| TreeEntry {
                    path: l
                        .param
                        .split('.')
                        .map(|k| KeyEntry {
                            key: k.to_string(),
                            key_type: KeyType::Dict,
                        })
                        .collect(),
                    value_type: "np.ndarray".into(),
                    skip_deserialize: false,
                    write_shape: None,
                })
                .collect(),
            arrays: leaves
                .iter()
                .map(|l| ArrayToSave {
                    param: l.param.clone(),
                    dtype: f32,
                    shape: l.shape.clone(),
                    data: &l.data,
                    chunk_byte_size: l.chunk_byte_size,
                    shard_axes: vec![],
                    placement: None,
                    sharding: None,
                })
                .collect(),
            strings: vec![],
            custom_metadata: PyValue::None,
        },
        options: SaveOptions {
            use_ocdbt,
            ..Default::default()
        },
        force: false,
        custom_metadata: PyValue::Dict(vec![]),
        handler_typestr:
            "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler"
                .into(),
    }
}

fn requests(leaves: &[Leaf]) -> Vec<ReadRequest> {
    leaves
        .iter()
        .map(|l| ReadRequest {
            param: l.param.clone(),
            region: None,
            dtype: None,
        })
        .collect()
}

/// Times `iters` saves into fresh directories (removed outside the timing).
fn time_saves(root: &Path, save: &CheckpointToSave<'_>, iters: u64) -> Duration {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let dir = root.join(COUNTER.fetch_add(1, Ordering::Relaxed).to_string());
        let start = Instant::now();
        save_checkpoint(&dir, black_box(save)).unwrap();
        total += start.elapsed();
        std::fs::remove_dir_all(&dir).unwrap();
    }
    total
}

fn bench(c: &mut Criterion) {
    let scale = scale();
    let cases: Vec<(&str, Vec<Leaf>, bool)> = vec![
        ("model", model(scale), true),
        ("many_small", many_small(5000), true),
        ("one_big", one_big(scale * (64 << 20)), true),
        ("many_small_dirs", many_small(1000), false),
    ];
    let root = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("checkpoint");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for (name, leaves, use_ocdbt) in &cases {
        let bytes: usize = leaves.iter().map(|l| l.data.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        let save = plan(leaves, *use_ocdbt);
        group.bench_function(format!("save/{name}"), |b| {
            b.iter_custom(|iters| time_saves(root.path(), &save, iters))
        });
        let dir = root.path().join(format!("restore-{name}"));
        save_checkpoint(&dir, &save).unwrap();
        let reader = ItemReader::open(&dir).unwrap();
        let all = requests(leaves);
        group.bench_function(format!("restore/{name}"), |b| {
            b.iter(|| {
                reader
                    .read_many(black_box(&all), &RestoreOptions::default())
                    .unwrap()
            })
        });
        if *name == "many_small" {
            group.bench_function(format!("open/{name}"), |b| {
                b.iter(|| ItemReader::open(black_box(&dir)).unwrap())
            });
        }
        if *name == "one_big" {
            let side = leaves[0].shape[0];
            // A quarter MiB of rows from the middle: a browsing tool's read.
            let rows = (256 << 10) / (side * 4);
            let slice = ReadRequest {
                param: "weights".into(),
                region: Some(vec![side / 2..side / 2 + rows, 0..side]),
                dtype: None,
            };
            group.throughput(Throughput::Bytes(rows * side * 4));
            group.bench_function(format!("slice/{name}"), |b| {
                b.iter(|| {
                    ItemReader::open(&dir)
                        .unwrap()
                        .read(black_box(&slice), &RestoreOptions::default())
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
