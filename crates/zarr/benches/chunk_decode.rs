//! Decode throughput: one 4 MiB zstd float32 chunk, a whole 16-chunk array read from a
//! `MemoryStore` (chunks that are row slabs decode straight into the output; column-split
//! chunks go through per-chunk buffers), a 16-shard zarr v3 array, and a bfloat16 → float32
//! cast.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orbax_kvstore::MemoryStore;
use orbax_zarr::{
    cast, chunk_key, decode_chunk, encode_chunk, extract_chunk, read_array, ArrayMetadata, DType,
    ReadOptions,
};

const ROWS: u64 = 2048;
const COLS: u64 = 512;

/// Smooth, moderately compressible float32 data (like trained weights: noisy mantissas).
fn data(n: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .flat_map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            ((i as f32 * 0.001).sin() * 0.1 + noise * 0.01).to_le_bytes()
        })
        .collect()
}

fn store_array(meta: &ArrayMetadata, param: &str, array: &[u8]) -> MemoryStore {
    let mut store = MemoryStore::new("bench");
    let grid = meta.chunk_grid_shape();
    for i in 0..grid[0] {
        for j in 0..grid[1] {
            let chunk = extract_chunk(meta, array, &[i, j]).unwrap();
            store.insert(
                chunk_key(param, meta, &[i, j]).into_bytes(),
                encode_chunk(meta, &chunk).unwrap(),
            );
        }
    }
    store
}

fn benches(c: &mut Criterion) {
    let array = data((ROWS * COLS) as usize);
    let bytes = array.len() as u64;

    let mut group = c.benchmark_group("zarr");
    group.throughput(Throughput::Bytes(bytes));

    let one = ArrayMetadata::new_v2(DType::Float32, &[ROWS, COLS], &[ROWS, COLS], Some(1)).unwrap();
    let stored = encode_chunk(&one, &array).unwrap();
    group.bench_function("decode_4MiB_f32_zstd_chunk", |b| {
        b.iter(|| decode_chunk(&one, "bench/0.0", black_box(&stored)).unwrap())
    });

    let opts = ReadOptions::default();
    for (name, chunks) in [
        ("read_16_row_chunks_direct", [ROWS / 16, COLS]),
        ("read_16_tile_chunks_scatter", [ROWS / 4, COLS / 4]),
    ] {
        let meta = ArrayMetadata::new_v2(DType::Float32, &[ROWS, COLS], &chunks, Some(1)).unwrap();
        let store = store_array(&meta, "w", &array);
        group.bench_function(name, |b| {
            b.iter(|| read_array(&store, "w", &meta, black_box(&opts)).unwrap())
        });
    }
    let meta = ArrayMetadata::new_v3(
        DType::Float32,
        &[ROWS, COLS],
        &[ROWS / 4, COLS / 4],
        Some(3),
    )
    .unwrap();
    let store = store_array(&meta, "w", &array);
    group.bench_function("read_16_zarr3_shards", |b| {
        b.iter(|| read_array(&store, "w", &meta, black_box(&opts)).unwrap())
    });

    let n = (ROWS * COLS) as usize;
    let bf16: Vec<u8> = array.chunks_exact(4).flat_map(|c| [c[2], c[3]]).collect();
    let mut out = vec![0u8; n * 4];
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("cast_bf16_to_f32_1M", |b| {
        b.iter(|| cast(DType::BFloat16, black_box(&bf16), DType::Float32, &mut out).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = chunk_decode;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(chunk_decode);
