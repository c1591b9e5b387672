//! Damaged stores: every failure is a precise error variant with a stable code that names
//! the key (as the store describes it).

use orbax_kvstore::{FileStore, MemoryStore};
use orbax_zarr::{
    chunk_key, encode_chunk, extract_chunk, metadata_key, read_array, read_metadata, ArrayMetadata,
    DType, Error, MissingChunkPolicy, ReadOptions, ZarrFormat,
};

fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

/// A store holding `param` written with `meta`, chunk by chunk.
fn store_with(meta: &ArrayMetadata, param: &str, array: &[u8]) -> MemoryStore {
    let mut store = MemoryStore::new("mem");
    store.insert(
        metadata_key(param, meta.format()).into_bytes(),
        meta.raw().as_bytes().to_vec(),
    );
    let grid = meta.chunk_grid_shape();
    for i in 0..grid.iter().product::<u64>() {
        // Row-major chunk index from a linear one.
        let mut rest = i;
        let mut idx = vec![0; grid.len()];
        for d in (0..grid.len()).rev() {
            idx[d] = rest % grid[d];
            rest /= grid[d];
        }
        let chunk = extract_chunk(meta, array, &idx).unwrap();
        store.insert(
            chunk_key(param, meta, &idx).into_bytes(),
            encode_chunk(meta, &chunk).unwrap(),
        );
    }
    store
}

fn read_err(store: &MemoryStore, param: &str) -> Error {
    let meta = read_metadata(store, param, format_of(store, param)).unwrap();
    read_array(store, param, &meta, &ReadOptions::default()).unwrap_err()
}

fn format_of(store: &MemoryStore, param: &str) -> ZarrFormat {
    use orbax_kvstore::ReadableStore;
    if store
        .read(metadata_key(param, ZarrFormat::V3).as_bytes(), None)
        .unwrap()
        .is_some()
    {
        ZarrFormat::V3
    } else {
        ZarrFormat::V2
    }
}

fn assert_corrupt(e: &Error, key: &str, fragment: &str) {
    match e {
        Error::CorruptChunk { key: k, reason } => {
            assert_eq!(k, key, "{e}");
            assert!(reason.contains(fragment), "{e}");
        }
        other => panic!("expected CorruptChunk, got {other:?}"),
    }
    assert_eq!(e.code(), "ERR_ZARR_CORRUPT_CHUNK");
}

#[test]
fn truncated_invalid_and_wrong_size_v2_chunks() {
    let meta = ArrayMetadata::new_v2(DType::Float32, &[8], &[4], Some(1)).unwrap();
    let mut store = store_with(&meta, "w", &f32_bytes(8));
    let good = {
        use orbax_kvstore::ReadableStore;
        store.read(b"w/1", None).unwrap().unwrap()
    };
    store.insert(&b"w/1"[..], good.slice(..good.len() - 2));
    assert_corrupt(&read_err(&store, "w"), "mem/w/1", "zstd");
    store.insert(&b"w/1"[..], &b"\x00\x01\x02 not a zstd frame"[..]);
    assert_corrupt(&read_err(&store, "w"), "mem/w/1", "invalid zstd data");
    store.insert(&b"w/1"[..], zstd::bulk::compress(&[0u8; 12], 1).unwrap());
    assert_corrupt(&read_err(&store, "w"), "mem/w/1", "expected 16");
    store.insert(&b"w/1"[..], zstd::bulk::compress(&[0u8; 4096], 1).unwrap());
    assert_corrupt(&read_err(&store, "w"), "mem/w/1", "expected 16");

    let raw = ArrayMetadata::new_v2(DType::Float32, &[8], &[4], None).unwrap();
    let mut store = store_with(&raw, "r", &f32_bytes(8));
    store.insert(&b"r/0"[..], vec![0u8; 17]);
    assert_corrupt(&read_err(&store, "r"), "mem/r/0", "17 bytes, expected 16");
}

#[test]
fn sharded_chunks_bad_checksum_bad_entry_and_bad_inner_chunk() {
    let meta = ArrayMetadata::new_v3(DType::Float32, &[8], &[4], Some(3)).unwrap();
    let clean = store_with(&meta, "s", &f32_bytes(8));
    let shard = {
        use orbax_kvstore::ReadableStore;
        clean.read(b"s/c/1", None).unwrap().unwrap().to_vec()
    };
    let n = shard.len();

    let mut store = clean.clone();
    let mut bad = shard.clone();
    bad[n - 2] ^= 0x40;
    store.insert(&b"s/c/1"[..], bad);
    let e = read_err(&store, "s");
    assert!(
        matches!(&e, Error::ShardIndexChecksum { key, .. } if key == "mem/s/c/1"),
        "{e:?}"
    );
    assert_eq!(e.code(), "ERR_ZARR_CHECKSUM");

    // nbytes of the only entry points past the end; the checksum is recomputed to match.
    let mut bad = shard.clone();
    bad[n - 12..n - 4].copy_from_slice(&1000u64.to_le_bytes());
    let crc = crc32c::crc32c(&bad[n - 20..n - 4]);
    bad[n - 4..].copy_from_slice(&crc.to_le_bytes());
    let mut store = clean.clone();
    store.insert(&b"s/c/1"[..], bad);
    assert_corrupt(
        &read_err(&store, "s"),
        "mem/s/c/1",
        "past the end of the shard",
    );

    // The inner chunk's zstd frame is damaged (index intact).
    let mut bad = shard.clone();
    bad[0] ^= 0xff;
    let mut store = clean.clone();
    store.insert(&b"s/c/1"[..], bad);
    assert_corrupt(
        &read_err(&store, "s"),
        "mem/s/c/1 (inner chunk [0])",
        "zstd",
    );

    // Shorter than an index.
    let mut store = clean.clone();
    store.insert(&b"s/c/1"[..], vec![0u8; 7]);
    assert_corrupt(&read_err(&store, "s"), "mem/s/c/1", "index");

    // An absent inner chunk (empty index entry) follows the missing-chunk policy.
    let mut empty = Vec::new();
    let mut index = [0xffu8; 16].to_vec();
    index.extend_from_slice(&crc32c::crc32c(&index).to_le_bytes());
    empty.extend_from_slice(&index);
    let mut store = clean.clone();
    store.insert(&b"s/c/1"[..], empty);
    let e = read_err(&store, "s");
    assert!(
        matches!(&e, Error::MissingChunk { key } if key == "mem/s/c/1 (inner chunk [0])"),
        "{e:?}"
    );
    let opts = ReadOptions {
        missing_chunk: MissingChunkPolicy::FillValue,
        ..Default::default()
    };
    let got = read_array(&store, "s", &meta, &opts).unwrap();
    assert_eq!(&got[..16], &f32_bytes(4)[..]);
    assert_eq!(&got[16..], &[0u8; 16]);
}

#[test]
fn missing_chunks_with_both_policies_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let meta = ArrayMetadata::new_v2(DType::Int16, &[6], &[2], Some(1)).unwrap();
    std::fs::create_dir_all(dir.path().join("a.b")).unwrap();
    std::fs::write(dir.path().join("a.b/.zarray"), meta.raw()).unwrap();
    let array: Vec<u8> = (1..=6i16).flat_map(|v| v.to_le_bytes()).collect();
    for c in [0u64, 2] {
        let chunk = extract_chunk(&meta, &array, &[c]).unwrap();
        std::fs::write(
            dir.path().join(format!("a.b/{c}")),
            encode_chunk(&meta, &chunk).unwrap(),
        )
        .unwrap();
    }
    let store = FileStore::new(dir.path());
    let meta = read_metadata(&store, "a.b", ZarrFormat::V2).unwrap();
    let e = read_array(&store, "a.b", &meta, &ReadOptions::default()).unwrap_err();
    let expected_path = dir.path().join("a.b/1").display().to_string();
    assert!(
        matches!(&e, Error::MissingChunk { key } if *key == expected_path),
        "{e:?}"
    );
    assert_eq!(e.code(), "ERR_ZARR_MISSING_CHUNK");
    let opts = ReadOptions {
        missing_chunk: MissingChunkPolicy::FillValue,
        ..Default::default()
    };
    let got = read_array(&store, "a.b", &meta, &opts).unwrap();
    let want: Vec<u8> = [1i16, 2, 0, 0, 5, 6]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn bad_metadata_is_typed_and_names_the_file() {
    let mut store = MemoryStore::new("mem");
    let good = ArrayMetadata::new_v2(DType::Float32, &[2], &[2], Some(1)).unwrap();
    let cases = [
        (
            "dt",
            good.raw().replace("<f4", "<U4"),
            "ERR_ZARR_UNSUPPORTED_DTYPE",
        ),
        (
            "bf",
            good.raw().replace("<f4", "bfloat8"),
            "ERR_ZARR_UNSUPPORTED_DTYPE",
        ),
        (
            "cc",
            good.raw().replace("zstd", "blosc"),
            "ERR_ZARR_UNSUPPORTED_CODEC",
        ),
        ("js", "{\"chunks\": [2".to_owned(), "ERR_ZARR_METADATA"),
        (
            "sh",
            good.raw().replace("\"shape\":[2]", "\"shape\":[2,2]"),
            "ERR_ZARR_METADATA",
        ),
    ];
    for (param, text, _) in &cases {
        store.insert(
            format!("{param}/.zarray").into_bytes(),
            text.clone().into_bytes(),
        );
    }
    for (param, _, code) in &cases {
        let e = read_metadata(&store, param, ZarrFormat::V2).unwrap_err();
        assert_eq!(e.code(), *code, "{param}: {e}");
        assert!(
            e.to_string().contains(&format!("mem/{param}/.zarray")),
            "{e}"
        );
    }
    let v3 = ArrayMetadata::new_v3(DType::Float32, &[2], &[2], Some(3)).unwrap();
    store.insert(
        &b"t/zarr.json"[..],
        v3.raw().replace("\"zstd\"", "\"blosc\"").into_bytes(),
    );
    let e = read_metadata(&store, "t", ZarrFormat::V3).unwrap_err();
    assert!(
        matches!(&e, Error::UnsupportedCodec { codec, file } if codec.contains("blosc") && file == "mem/t/zarr.json"),
        "{e:?}"
    );
    let e = read_metadata(&store, "missing", ZarrFormat::V3).unwrap_err();
    assert!(matches!(&e, Error::MissingMetadata { key } if key == "mem/missing/zarr.json"));
}
