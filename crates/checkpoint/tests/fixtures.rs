//! Every PyTree/Standard item of the Orbax 0.12.8 fixtures opens, and every array leaf reads
//! back to the bytes whose sha256 expected.json records.

use std::path::{Path, PathBuf};

use orbax_checkpoint::{DType, ItemReader, ReadRequest, RestoreOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixtures_dir() -> PathBuf {
    let shared = std::env::var_os("ORBAX_TS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    shared.join("fixtures/orbax-0.12.8")
}

struct Item {
    label: String,
    dir: PathBuf,
    tree: Value,
}

fn items() -> Vec<Item> {
    let mut out = Vec::new();
    let root = fixtures_dir();
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("fixtures at {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    for case in cases {
        let expected: Value =
            serde_json::from_slice(&std::fs::read(case.join("expected.json")).unwrap()).unwrap();
        let mut collect = |items: &Value, base: &Path, label: String| {
            for (name, item) in items.as_object().unwrap() {
                let handler = item["handler"].as_str().unwrap();
                if handler != "StandardCheckpointHandler" && handler != "PyTreeCheckpointHandler" {
                    continue;
                }
                out.push(Item {
                    label: format!("{label}/{name}"),
                    dir: base.join(item["dir"].as_str().unwrap()),
                    tree: item["tree"].clone(),
                });
            }
        };
        let case_name = case.file_name().unwrap().to_string_lossy().to_string();
        if let Some(items) = expected.get("items") {
            collect(items, &case, case_name.clone());
        }
        if let Some(steps) = expected.get("steps").and_then(Value::as_array) {
            for step in steps {
                let dir = step["dir"].as_str().unwrap();
                collect(
                    &step["items"],
                    &case.join(dir),
                    format!("{case_name}/{dir}"),
                );
            }
        }
    }
    out
}

fn array_leaves(node: &Value, out: &mut Vec<Value>) {
    match node {
        Value::Array(children) => children.iter().for_each(|c| array_leaves(c, out)),
        Value::Object(map) => match map.get("type").and_then(Value::as_str) {
            Some("array") => out.push(node.clone()),
            Some("prng_key") => out.push(node["key_data"].clone()),
            Some(_) => {}
            None => map.values().for_each(|c| array_leaves(c, out)),
        },
        _ => {}
    }
}

fn storage_bytes(dtype: DType, host: &[u8]) -> Vec<u8> {
    match dtype.name() {
        "int4" => host.iter().map(|b| b & 0x0f).collect(),
        "int2" => host.iter().map(|b| b & 0x03).collect(),
        _ => host.to_vec(),
    }
}

#[test]
fn every_array_leaf_of_every_fixture_reads_back_exactly() {
    let items = items();
    assert!(items.len() >= 20, "only {} items", items.len());
    let mut checked = 0;
    for item in items {
        let reader = ItemReader::open(&item.dir).unwrap_or_else(|e| panic!("{}: {e}", item.label));
        let mut leaves = Vec::new();
        array_leaves(&item.tree, &mut leaves);
        let requests: Vec<ReadRequest> = leaves
            .iter()
            .map(|leaf| ReadRequest {
                param: leaf["param"].as_str().unwrap().to_string(),
                region: None,
                dtype: None,
            })
            .collect();
        let buffers = reader
            .read_many(&requests, &RestoreOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", item.label));
        for (leaf, data) in leaves.iter().zip(buffers) {
            let param = leaf["param"].as_str().unwrap();
            let info = reader.leaves().iter().find(|l| l.param == param).unwrap();
            let meta = info.array.as_ref().unwrap();
            assert_eq!(
                meta.dtype().name(),
                leaf["dtype"].as_str().unwrap(),
                "{}: {param}",
                item.label
            );
            let digest = hex::encode(Sha256::digest(storage_bytes(meta.dtype(), &data)));
            assert_eq!(
                digest,
                leaf["sha256"].as_str().unwrap(),
                "{}: {param}",
                item.label
            );
            if let Some(text) = leaf.get("zarr_metadata").and_then(Value::as_str) {
                assert_eq!(meta.raw(), text, "{}: {param}", item.label);
            }
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} arrays checked");
}

#[test]
fn a_small_concurrency_budget_still_reads_everything() {
    let dir = fixtures_dir().join("multichunk");
    let reader = ItemReader::open(&dir).unwrap();
    let requests = whole_arrays(&reader);
    let wide = reader
        .read_many(&requests, &RestoreOptions::default())
        .unwrap();
    let narrow = reader
        .read_many(
            &requests,
            &RestoreOptions {
                concurrent_bytes: 1024,
                ..RestoreOptions::default()
            },
        )
        .unwrap();
    assert_eq!(wide, narrow);
}

#[test]
fn regions_and_casts_are_validated() {
    let reader = ItemReader::open(&fixtures_dir().join("standard_basic")).unwrap();
    let bad_rank = ReadRequest {
        param: "mat".into(),
        region: Some(std::iter::once(0..1).collect()),
        dtype: None,
    };
    let err = reader
        .read(&bad_rank, &RestoreOptions::default())
        .unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARGUMENT");
    assert_eq!(
        err.to_string(),
        "mat: a region of 1 dimensions for an array of 2 dimensions"
    );
    let outside = ReadRequest {
        param: "mat".into(),
        region: Some(vec![0..6, 0..1]),
        dtype: None,
    };
    let err = reader
        .read(&outside, &RestoreOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "mat: region 0..6 of axis 0 is outside the shape [5, 6]"
    );
    let missing = ReadRequest {
        param: "nope".into(),
        region: None,
        dtype: None,
    };
    assert_eq!(
        reader
            .read(&missing, &RestoreOptions::default())
            .unwrap_err()
            .code(),
        "ERR_KEY_NOT_FOUND"
    );
    let cast = ReadRequest {
        param: "mat".into(),
        region: Some(vec![1..2, 2..4]),
        dtype: Some(DType::from_name("float64").unwrap()),
    };
    let whole = reader
        .read(
            &ReadRequest {
                param: "mat".into(),
                region: None,
                dtype: None,
            },
            &RestoreOptions::default(),
        )
        .unwrap();
    let part = reader.read(&cast, &RestoreOptions::default()).unwrap();
    let f32_at = |i: usize| f32::from_le_bytes(whole[i * 4..i * 4 + 4].try_into().unwrap()) as f64;
    let f64_at = |i: usize| f64::from_le_bytes(part[i * 8..i * 8 + 8].try_into().unwrap());
    assert_eq!([f64_at(0), f64_at(1)], [f32_at(8), f32_at(9)]);
}

/// A request for every array leaf of `reader`, whole, in its stored dtype.
fn whole_arrays(reader: &ItemReader) -> Vec<ReadRequest> {
    reader
        .leaves()
        .iter()
        .filter(|l| l.array.is_some())
        .map(|l| ReadRequest {
            param: l.param.clone(),
            region: None,
            dtype: None,
        })
        .collect()
}

fn copy_into(store: &mut orbax_kvstore::MemoryStore, root: &Path, dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            copy_into(store, root, &path);
        } else {
            let key = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            store.insert(key.into_bytes(), std::fs::read(&path).unwrap());
        }
    }
}

#[test]
fn items_open_from_any_store_not_only_local_directories() {
    // The same item through a MemoryStore (what an object store looks like to the reader): the
    // same leaves and the same bytes as through the local directory.
    for case in [
        "standard_basic",
        "zarr3",
        "no_ocdbt",
        "pytree_strings",
        "ocdbt_multifile",
    ] {
        let dir = fixtures_dir().join(case);
        let mut memory = orbax_kvstore::MemoryStore::new(format!("memory://{case}"));
        copy_into(&mut memory, &dir, &dir);
        let local = ItemReader::open(&dir).unwrap();
        let remote =
            ItemReader::open_store(std::sync::Arc::new(memory), &format!("memory://{case}"))
                .unwrap();
        assert_eq!(local.leaves().len(), remote.leaves().len(), "{case}");
        let requests = whole_arrays(&local);
        let options = RestoreOptions::default();
        assert_eq!(
            local.read_many(&requests, &options).unwrap(),
            remote.read_many(&requests, &options).unwrap(),
            "{case}"
        );
        for (a, b) in local.leaves().iter().zip(remote.leaves()) {
            assert_eq!(a.string_value, b.string_value, "{case} {}", a.param);
        }
    }
    let empty = orbax_kvstore::MemoryStore::new("memory://empty");
    let err = ItemReader::open_store(std::sync::Arc::new(empty), "memory://empty").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Metadata file (named _METADATA) does not exist at memory://empty."
    );
}
