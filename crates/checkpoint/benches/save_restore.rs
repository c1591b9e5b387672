//! End-to-end throughput of the core: saving and restoring a checkpoint (directory layout,
//! zarr v2 + zstd level 1 as Orbax writes it) of one large array and of many small ones.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orbax_checkpoint::pyjson::PyValue;
use orbax_checkpoint::save::{
    save_checkpoint, ArrayToSave, CheckpointToSave, ItemToSave, SaveOptions,
};
use orbax_checkpoint::{
    DType, ItemReader, KeyEntry, KeyType, ReadRequest, RestoreOptions, TreeEntry,
};

/// (param, shape, host bytes) of each array of a benchmark tree.
type Arrays = Vec<(String, Vec<u64>, Vec<u8>)>;

fn weights(n: usize, seed: u32) -> Vec<u8> {
    let mut state = seed;
    (0..n)
        .flat_map(|_| {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            ((state >> 8) as f32 / (1 << 24) as f32 - 0.5).to_le_bytes()
        })
        .collect()
}

fn plan<'a>(arrays: &'a [(String, Vec<u64>, Vec<u8>)]) -> CheckpointToSave<'a> {
    let f32 = DType::from_name("float32").unwrap();
    CheckpointToSave {
        item: ItemToSave {
            entries: arrays
                .iter()
                .map(|(param, _, _)| TreeEntry {
                    path: vec![KeyEntry {
                        key: param.clone(),
                        key_type: KeyType::Dict,
                    }],
                    value_type: "np.ndarray".into(),
                    skip_deserialize: false,
                    write_shape: None,
                })
                .collect(),
            arrays: arrays
                .iter()
                .map(|(param, shape, data)| ArrayToSave {
                    param: param.clone(),
                    dtype: f32,
                    shape: shape.clone(),
                    data,
                    chunk_byte_size: Some(4 << 20),
                    shard_axes: vec![],
                })
                .collect(),
            strings: vec![],
            custom_metadata: PyValue::None,
        },
        options: SaveOptions {
            use_ocdbt: false,
            ..Default::default()
        },
        force: true,
        custom_metadata: PyValue::Dict(vec![]),
        handler_typestr:
            "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler"
                .into(),
    }
}

fn bench(c: &mut Criterion) {
    let cases: Vec<(&str, Arrays)> = vec![
        (
            "one_64mib_array",
            vec![("w".to_string(), vec![4096, 4096], weights(4096 * 4096, 1))],
        ),
        (
            "1000_small_arrays",
            (0..1000)
                .map(|i| (format!("p{i:04}"), vec![16, 64], weights(16 * 64, i)))
                .collect(),
        ),
    ];
    let mut group = c.benchmark_group("checkpoint");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (name, arrays) in &cases {
        let bytes: usize = arrays.iter().map(|(_, _, d)| d.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(name);
        let save = plan(arrays);
        group.bench_function(format!("save/{name}"), |b| {
            b.iter(|| save_checkpoint(&dir, black_box(&save)).unwrap())
        });
        let reader = ItemReader::open(&dir).unwrap();
        let requests: Vec<ReadRequest> = arrays
            .iter()
            .map(|(param, _, _)| ReadRequest {
                param: param.clone(),
                region: None,
                dtype: None,
            })
            .collect();
        group.bench_function(format!("restore/{name}"), |b| {
            b.iter(|| {
                reader
                    .read_many(black_box(&requests), &RestoreOptions::default())
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
