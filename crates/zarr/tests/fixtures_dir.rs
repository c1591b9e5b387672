//! Orbax fixtures whose arrays are plain zarr directories (`use_ocdbt=False`: the `no_ocdbt`
//! case, the ArrayCheckpointHandler and the JAX random-key items), read through `FileStore`.

mod common;

use std::ops::Range;

use common::{all_items, check_leaf, fixtures_root, leaves, CountingStore};
use orbax_kvstore::FileStore;
use orbax_zarr::{
    read_array, read_metadata, read_region, DType, Error, MissingChunkPolicy, ReadOptions,
    ZarrFormat,
};

#[test]
fn every_plain_directory_leaf_matches_expected() {
    let items: Vec<_> = all_items().into_iter().filter(|i| !i.use_ocdbt).collect();
    let cases: Vec<&str> = items.iter().map(|i| i.case.as_str()).collect();
    assert!(cases.contains(&"no_ocdbt"), "{cases:?}");
    assert!(cases.contains(&"array_handler"), "{cases:?}");
    let mut checked = 0;
    for item in &items {
        let store = FileStore::new(&item.dir);
        for leaf in leaves(&item.tree) {
            check_leaf(
                &store,
                item.format,
                leaf,
                &format!("{} item {}", item.case, item.name),
            );
            checked += 1;
        }
    }
    // no_ocdbt has 6 array leaves, array_handler 1, random_keys' two JAX keys 1 each.
    assert!(checked >= 9, "only {checked} leaves checked");
}

/// Every `zarr_metadata` string anywhere in any expected.json parses and re-encodes to the
/// identical bytes, and re-building it from its parts with the writer constructors does too.
#[test]
fn every_fixture_metadata_string_round_trips() {
    fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(text)) = map.get("zarr_metadata") {
                    out.push(text.clone());
                }
                map.values().for_each(|v| collect(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(fixtures_root()).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("expected.json").is_file() {
            collect(&common::load_expected(&dir), &mut texts);
        }
    }
    assert!(texts.len() > 100, "only {} metadata strings", texts.len());
    let mut v3 = 0;
    for text in &texts {
        let format = if text.contains("\"zarr_format\":3") {
            v3 += 1;
            ZarrFormat::V3
        } else {
            ZarrFormat::V2
        };
        let meta = orbax_zarr::ArrayMetadata::parse(text, format, "expected.json")
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(&meta.encode(), text);
        // What an orbax-ts writer would produce for the same array is byte-identical.
        let level = meta.compression().map(|c| c.level);
        let rebuilt = match format {
            ZarrFormat::V2 => orbax_zarr::ArrayMetadata::new_v2(
                meta.dtype(),
                meta.shape(),
                meta.chunk_shape(),
                level,
            ),
            ZarrFormat::V3 => orbax_zarr::ArrayMetadata::new_v3(
                meta.dtype(),
                meta.shape(),
                meta.chunk_shape(),
                level,
            ),
        }
        .unwrap();
        assert_eq!(rebuilt.raw(), text);
    }
    assert!(v3 > 10, "{v3} zarr v3 documents");
}

fn no_ocdbt() -> std::path::PathBuf {
    fixtures_root().join("no_ocdbt")
}

/// Reference slice of a C-order float32 array.
fn slice_f32(array: &[u8], shape: [u64; 2], region: &[Range<u64>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in region[0].clone() {
        let row = (r * shape[1]) as usize * 4;
        out.extend_from_slice(
            &array[row + region[1].start as usize * 4..row + region[1].end as usize * 4],
        );
    }
    out
}

#[test]
fn sub_regions_equal_slices_of_the_whole_array() {
    let store = FileStore::new(no_ocdbt());
    let meta = read_metadata(&store, "chunked", ZarrFormat::V2).unwrap();
    assert_eq!(meta.shape(), [64, 48]);
    assert_eq!(meta.chunk_shape(), [16, 24]);
    let opts = ReadOptions::default();
    let whole = read_array(&store, "chunked", &meta, &opts).unwrap();
    for region in [
        [0..64, 0..48],
        [0..1, 0..1],
        [15..17, 23..25],
        [10..60, 5..45],
        [63..64, 0..48],
        [16..32, 24..48],
        [0..64, 47..48],
    ] {
        let want = slice_f32(&whole, [64, 48], &region);
        let mut got = vec![0u8; want.len()];
        read_region(&store, "chunked", &meta, Some(&region), &mut got, &opts).unwrap();
        assert_eq!(got, want, "{region:?}");
    }
}

#[test]
fn a_region_inside_one_chunk_reads_exactly_that_chunk() {
    let store = CountingStore::new(FileStore::new(no_ocdbt()));
    let meta = read_metadata(&store, "chunked", ZarrFormat::V2).unwrap();
    store.take_reads();
    let mut out = vec![0u8; 3 * 5 * 4];
    let opts = ReadOptions::default();
    read_region(
        &store,
        "chunked",
        &meta,
        Some(&[17..20, 30..35]),
        &mut out,
        &opts,
    )
    .unwrap();
    let reads = store.take_reads();
    assert_eq!(reads, [("chunked/1.1".to_owned(), None)]);
    // A region straddling a chunk boundary in both dimensions reads four chunks, each once.
    let mut out = vec![0u8; 2 * 2 * 4];
    read_region(
        &store,
        "chunked",
        &meta,
        Some(&[15..17, 23..25]),
        &mut out,
        &opts,
    )
    .unwrap();
    let mut keys: Vec<String> = store.take_reads().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["chunked/0.0", "chunked/0.1", "chunked/1.0", "chunked/1.1"]
    );
}

#[test]
fn params_with_slashes_dots_and_zero_d() {
    let store = FileStore::new(no_ocdbt());
    let opts = ReadOptions::default();
    let xy = read_metadata(&store, "x/y", ZarrFormat::V2).unwrap();
    assert_eq!(read_array(&store, "x/y", &xy, &opts).unwrap().len(), 8);
    let zero_d = read_metadata(&store, "zero_d", ZarrFormat::V2).unwrap();
    assert_eq!(zero_d.dtype(), DType::Int64);
    assert_eq!(
        read_array(&store, "zero_d", &zero_d, &opts).unwrap().len(),
        8
    );
    let e = read_metadata(&store, "x", ZarrFormat::V2).unwrap_err();
    assert!(
        matches!(&e, Error::MissingMetadata { key } if key.ends_with("no_ocdbt/x/.zarray")),
        "{e}"
    );
}

#[test]
fn a_deleted_chunk_follows_the_missing_chunk_policy() {
    let dir = tempfile::tempdir().unwrap();
    let src = no_ocdbt().join("chunked");
    std::fs::create_dir(dir.path().join("chunked")).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "1.0" {
            std::fs::copy(
                entry.path(),
                dir.path().join("chunked").join(entry.file_name()),
            )
            .unwrap();
        }
    }
    let store = FileStore::new(dir.path());
    let meta = read_metadata(&store, "chunked", ZarrFormat::V2).unwrap();
    let e = read_array(&store, "chunked", &meta, &ReadOptions::default()).unwrap_err();
    assert_eq!(e.code(), "ERR_ZARR_MISSING_CHUNK");
    assert!(e.to_string().contains("chunked/1.0"), "{e}");
    let opts = ReadOptions {
        missing_chunk: MissingChunkPolicy::FillValue,
        ..Default::default()
    };
    let got = read_array(&store, "chunked", &meta, &opts).unwrap();
    let original = read_array(&FileStore::new(no_ocdbt()), "chunked", &meta, &opts).unwrap();
    for row in 0..64usize {
        for col in 0..48usize {
            let i = (row * 48 + col) * 4;
            let in_missing = (16..32).contains(&row) && col < 24;
            let want = if in_missing {
                &[0u8; 4][..]
            } else {
                &original[i..i + 4]
            };
            assert_eq!(&got[i..i + 4], want, "({row}, {col})");
        }
    }
}
