//! Orbax fixtures whose arrays live in an OCDBT database (every `use_ocdbt=True` item:
//! dtypes, multichunk, edge_chunks, zarr3, no_compression(_zarr3), standard_basic, nested,
//! pytree_strings, ocdbt_multifile, sharded, custom_metadata, composite and manager items...),
//! read through `orbax_ocdbt::Database` over a `FileStore` of the item directory.

mod common;

use std::sync::Arc;

use common::{all_items, check_leaf, fixtures_root, leaves, CountingStore};
use orbax_kvstore::{FileStore, ReadableStore};
use orbax_ocdbt::Database;
use orbax_zarr::{cast, read_array, read_metadata, read_region, DType, ReadOptions, ZarrFormat};

fn open(dir: &std::path::Path) -> Database {
    Database::open(Arc::new(FileStore::new(dir)))
        .unwrap_or_else(|e| panic!("open OCDBT database {}: {e}", dir.display()))
}

#[test]
fn every_ocdbt_leaf_matches_expected() {
    let items: Vec<_> = all_items().into_iter().filter(|i| i.use_ocdbt).collect();
    let mut per_case = std::collections::BTreeMap::<String, usize>::new();
    for item in &items {
        let item_leaves = leaves(&item.tree);
        if item_leaves.is_empty() {
            continue;
        }
        let db = open(&item.dir);
        for leaf in item_leaves {
            check_leaf(
                &db,
                item.format,
                leaf,
                &format!("{} item {}", item.case, item.name),
            );
            *per_case.entry(item.case.clone()).or_default() += 1;
        }
    }
    for case in [
        "custom_metadata",
        "dtypes",
        "edge_chunks",
        "multichunk",
        "nested",
        "no_compression",
        "no_compression_zarr3",
        "ocdbt_multifile",
        "pytree_strings",
        "sharded",
        "standard_basic",
        "zarr3",
        "composite",
        "manager",
    ] {
        assert!(
            per_case.get(case).is_some_and(|&n| n > 0),
            "{case}: {per_case:?}"
        );
    }
    // Every dtype of the dtypes case (all 25 supported ones plus the jax variants).
    assert_eq!(per_case["dtypes"], 28, "{per_case:?}");
}

/// Decoded values of the float8/float4 leaves re-encode to the stored bit patterns (the
/// fixture hashes pin the patterns; this pins the cast tables against them).
#[test]
fn stored_minifloat_patterns_survive_a_float64_round_trip() {
    let dir = fixtures_root().join("dtypes");
    let db = open(&dir);
    for dtype in DType::ALL {
        if !matches!(dtype.kind(), orbax_zarr::DTypeKind::Float) {
            continue;
        }
        let meta = read_metadata(&db, dtype.name(), ZarrFormat::V2).unwrap();
        let host = read_array(&db, dtype.name(), &meta, &ReadOptions::default()).unwrap();
        let n = host.len() / dtype.host_size();
        let mut wide = vec![0u8; n * 8];
        cast(dtype, &host, DType::Float64, &mut wide).unwrap();
        let mut back = vec![0u8; host.len()];
        cast(DType::Float64, &wide, dtype, &mut back).unwrap();
        let size = dtype.host_size();
        for i in 0..n {
            let v = f64::from_le_bytes(wide[i * 8..i * 8 + 8].try_into().unwrap());
            let (orig, again) = (&host[i * size..][..size], &back[i * size..][..size]);
            if v.is_nan() {
                // Payloads may differ; NaN-ness may not.
                let mut w = [0u8; 8];
                cast(dtype, again, DType::Float64, &mut w).unwrap();
                assert!(f64::from_le_bytes(w).is_nan(), "{dtype} element {i}");
            } else {
                assert_eq!(orig, again, "{dtype} element {i} = {v}");
            }
        }
    }
}

#[test]
fn multichunk_regions_through_ocdbt() {
    let db = CountingStore::new(open(&fixtures_root().join("multichunk")));
    let meta = read_metadata(&db, "big", ZarrFormat::V2).unwrap();
    assert_eq!(meta.shape(), [1024, 640]);
    assert_eq!(meta.chunk_shape(), [128, 128]);
    let opts = ReadOptions {
        concurrency: 2,
        ..Default::default()
    };
    let whole = read_array(&db, "big", &meta, &opts).unwrap();
    db.take_reads();
    let region = [100..300, 120..140];
    let mut got = vec![0u8; 200 * 20 * 4];
    read_region(&db, "big", &meta, Some(&region), &mut got, &opts).unwrap();
    let mut keys: Vec<String> = db.take_reads().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["big/0.0", "big/0.1", "big/1.0", "big/1.1", "big/2.0", "big/2.1"]
    );
    for (r, row) in got.chunks_exact(20 * 4).enumerate() {
        let start = ((100 + r) * 640 + 120) * 4;
        assert_eq!(row, &whole[start..start + 80], "row {r}");
    }
}

#[test]
fn zarr3_sharded_regions_through_ocdbt() {
    let db = open(&fixtures_root().join("zarr3"));
    let meta = read_metadata(&db, "chunked", ZarrFormat::V3).unwrap();
    assert!(meta.sharding().is_some());
    let opts = ReadOptions::default();
    let whole = read_array(&db, "chunked", &meta, &opts).unwrap();
    let region = [10..40, 3..20];
    let mut got = vec![0u8; 30 * 17 * 4];
    read_region(&db, "chunked", &meta, Some(&region), &mut got, &opts).unwrap();
    for (r, row) in got.chunks_exact(17 * 4).enumerate() {
        let start = ((10 + r) * 32 + 3) * 4;
        assert_eq!(row, &whole[start..start + 17 * 4], "row {r}");
    }
    // The int4 leaf decodes to sign-extended host bytes.
    let i4 = read_metadata(&db, "i4", ZarrFormat::V3).unwrap();
    let host = read_array(&db, "i4", &i4, &opts).unwrap();
    let values: Vec<i8> = host.iter().map(|&b| b as i8).collect();
    assert_eq!(values, [3, -2, -6, 3, -4, -8, 4, 5, 2]);
    // Keys the database holds are the ones the reader asks for.
    assert!(db.read(b"i4/c/0", None).unwrap().is_some());
}
