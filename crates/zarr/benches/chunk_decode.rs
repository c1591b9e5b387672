//! Chunk codec throughput: encoding one 4 MiB zstd float32 chunk (copied out of the array
//! then encoded, or by a reused `ChunkEncoder` straight from the array; row slab and column
//! tile), decoding it, a whole 16-chunk array read from a `MemoryStore` (chunks that are row
//! slabs decode straight into the output; column-split chunks go through per-chunk
//! buffers), a 16-shard zarr v3 array, a slice of rows out of one big chunk (only the prefix
//! it needs is decoded), and a bfloat16 → float32 cast.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orbax_kvstore::MemoryStore;
use orbax_zarr::{
    cast, chunk_key, decode_chunk, encode_chunk, extract_chunk, read_array, read_region,
    ArrayMetadata, ChunkEncoder, DType, ReadOptions,
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
    group.bench_function("encode_4MiB_f32_zstd_chunk/extract+encode", |b| {
        b.iter(|| {
            let chunk = extract_chunk(&one, black_box(&array), &[0, 0]).unwrap();
            encode_chunk(&one, &chunk).unwrap()
        })
    });
    let mut encoder = ChunkEncoder::new();
    group.bench_function("encode_4MiB_f32_zstd_chunk/encoder, row slab", |b| {
        b.iter(|| {
            encoder
                .encode_array_chunk(&one, black_box(&array), &[0, 0])
                .unwrap()
                .len()
        })
    });
    // The same bytes as a column tile of a wider array: staged (strided copy) then encoded.
    let wide = [ROWS * 2, COLS * 2];
    let wide_array = data((wide[0] * wide[1]) as usize);
    let tiles = ArrayMetadata::new_v2(DType::Float32, &wide, &[ROWS, COLS], Some(1)).unwrap();
    group.bench_function("encode_4MiB_f32_zstd_chunk/encoder, column tile", |b| {
        b.iter(|| {
            encoder
                .encode_array_chunk(&tiles, black_box(&wide_array), &[0, 1])
                .unwrap()
                .len()
        })
    });
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

    // 32 rows (64 KiB) out of the middle of the single 4 MiB chunk: only the first half of
    // the chunk is decoded.
    let rows = [ROWS / 2..ROWS / 2 + 32, 0..COLS];
    let mut slice_out = vec![0u8; 32 * COLS as usize * 4];
    let store = store_array(&one, "w", &array);
    group.bench_function("read_32_rows_of_one_chunk (prefix decode)", |b| {
        b.iter(|| read_region(&store, "w", &one, Some(&rows), &mut slice_out, &opts).unwrap())
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
