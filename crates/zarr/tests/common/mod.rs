//! Shared helpers of the fixture tests: walking `expected.json` (schema in
//! `shared/interop/README.md` §4) and checking one leaf against a store.

#![allow(dead_code)] // each test binary uses a subset

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use orbax_kvstore::ReadableStore;
use orbax_zarr::{
    cast, host_to_disk, read_array, read_metadata, DType, DTypeKind, ReadOptions, ZarrFormat,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `shared/fixtures/orbax-0.12.8`.
pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/orbax-0.12.8")
}

/// One item of a fixture case whose arrays this crate can read.
pub struct ItemDir {
    pub case: String,
    pub name: String,
    /// The directory holding `_METADATA` (and `manifest.ocdbt` or the plain zarr dirs).
    pub dir: PathBuf,
    pub use_ocdbt: bool,
    pub format: ZarrFormat,
    pub tree: Value,
}

pub fn load_expected(case_dir: &Path) -> Value {
    let text = std::fs::read_to_string(case_dir.join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Every item (single, composite, and manager steps) of every case that has a tree.
pub fn all_items() -> Vec<ItemDir> {
    let mut out = Vec::new();
    let mut cases: Vec<_> = std::fs::read_dir(fixtures_root())
        .expect("fixtures exist")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    cases.sort();
    for case_dir in cases {
        let case = case_dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected = load_expected(&case_dir);
        let mut push_items = |base: &Path, items: &Value, label: &str| {
            for (name, item) in items.as_object().into_iter().flatten() {
                let (Some(tree), Some(storage)) = (item.get("tree"), item.get("storage")) else {
                    continue;
                };
                let dir = base
                    .join(item["dir"].as_str().unwrap_or("."))
                    .join(storage["pytree_dir"].as_str().unwrap_or("."));
                // `_METADATA` decides the storage: use_zarr3 (missing = false), use_ocdbt
                // (missing/null = whether manifest.ocdbt exists).
                let meta: Value = serde_json::from_str(
                    &std::fs::read_to_string(dir.join("_METADATA")).expect("_METADATA"),
                )
                .expect("_METADATA is JSON");
                let use_zarr3 = meta["use_zarr3"].as_bool().unwrap_or(false);
                let use_ocdbt = meta["use_ocdbt"]
                    .as_bool()
                    .unwrap_or_else(|| dir.join("manifest.ocdbt").exists());
                assert_eq!(Some(use_zarr3), storage["use_zarr3"].as_bool(), "{case}");
                out.push(ItemDir {
                    case: case.clone(),
                    name: format!("{label}{name}"),
                    dir,
                    use_ocdbt,
                    format: if use_zarr3 {
                        ZarrFormat::V3
                    } else {
                        ZarrFormat::V2
                    },
                    tree: tree.clone(),
                });
            }
        };
        if let Some(items) = expected.get("items") {
            push_items(&case_dir, items, "");
        }
        for step in expected["steps"].as_array().into_iter().flatten() {
            let step_dir = case_dir.join(step["dir"].as_str().unwrap());
            push_items(
                &step_dir,
                &step["items"],
                &format!("step {}/", step["step"]),
            );
        }
    }
    out
}

/// Array and scalar leaves (with a `param`) of a tree, including PRNG key data.
pub fn leaves(tree: &Value) -> Vec<&Value> {
    fn walk<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
        match node {
            Value::Array(items) => items.iter().for_each(|n| walk(n, out)),
            Value::Object(map) => match map.get("type").and_then(Value::as_str) {
                Some("array") | Some("scalar") if map.contains_key("param") => out.push(node),
                Some("prng_key") => walk(&map["key_data"], out),
                Some(_) => {}
                None => map.values().for_each(|n| walk(n, out)),
            },
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(tree, &mut out);
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn as_u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

/// The first `n` elements of `host` as JSON values in the fixture encoding (§5).
fn values_as_json(dtype: DType, host: &[u8], n: usize) -> Vec<Value> {
    let size = dtype.host_size();
    let n = n.min(host.len() / size);
    let host = &host[..n * size];
    let float = |f: f64| -> Value {
        if f.is_nan() {
            Value::from("NaN")
        } else if f.is_infinite() {
            Value::from(if f > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            Value::from(f)
        }
    };
    let int = |i: i128| -> Value {
        if i.abs() > (1i128 << 53) - 1 {
            Value::from(i.to_string())
        } else {
            Value::from(i as i64)
        }
    };
    match dtype.kind() {
        DTypeKind::Bool => host.iter().map(|&b| Value::from(b != 0)).collect(),
        DTypeKind::SignedInt => {
            let mut wide = vec![0u8; n * 8];
            cast(dtype, host, DType::Int64, &mut wide).unwrap();
            wide.chunks_exact(8)
                .map(|c| int(i64::from_le_bytes(c.try_into().unwrap()).into()))
                .collect()
        }
        DTypeKind::UnsignedInt => {
            let mut wide = vec![0u8; n * 8];
            cast(dtype, host, DType::UInt64, &mut wide).unwrap();
            wide.chunks_exact(8)
                .map(|c| int(u64::from_le_bytes(c.try_into().unwrap()).into()))
                .collect()
        }
        DTypeKind::Float => {
            let mut wide = vec![0u8; n * 8];
            cast(dtype, host, DType::Float64, &mut wide).unwrap();
            wide.chunks_exact(8)
                .map(|c| float(f64::from_le_bytes(c.try_into().unwrap())))
                .collect()
        }
        DTypeKind::Complex => {
            let mut wide = vec![0u8; n * 16];
            cast(dtype, host, DType::Complex128, &mut wide).unwrap();
            wide.chunks_exact(16)
                .map(|c| {
                    Value::from(vec![
                        float(f64::from_le_bytes(c[..8].try_into().unwrap())),
                        float(f64::from_le_bytes(c[8..].try_into().unwrap())),
                    ])
                })
                .collect()
        }
    }
}

/// JSON equality that also distinguishes -0.0 from 0.0.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) if x.is_f64() || y.is_f64() => {
                p == q && p.is_sign_negative() == q.is_sign_negative()
            }
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        _ => a == b,
    }
}

/// Checks one leaf: metadata text (parse and re-encode), dtype, shape, chunk shape, the
/// sha256 of the storage bytes, the recorded first values. Returns the host bytes.
pub fn check_leaf(
    store: &dyn ReadableStore,
    format: ZarrFormat,
    leaf: &Value,
    context: &str,
) -> Vec<u8> {
    let param = leaf["param"].as_str().unwrap();
    let ctx = format!("{context} leaf {param:?}");
    let meta = read_metadata(store, param, format).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let expected_text = leaf["zarr_metadata"].as_str().unwrap();
    assert_eq!(meta.raw(), expected_text, "{ctx}: stored metadata");
    assert_eq!(meta.encode(), expected_text, "{ctx}: re-encoded metadata");
    assert_eq!(
        meta.dtype().name(),
        leaf["dtype"].as_str().unwrap(),
        "{ctx}"
    );
    let is_array = leaf["type"] == "array";
    if is_array {
        assert_eq!(meta.shape(), as_u64s(&leaf["shape"]), "{ctx}: shape");
        assert_eq!(
            meta.chunk_shape(),
            as_u64s(&leaf["chunk_shape"]),
            "{ctx}: chunk shape"
        );
    } else {
        assert!(meta.shape().is_empty(), "{ctx}: scalars are 0-d");
    }
    let host = read_array(store, param, &meta, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
    if is_array {
        let disk = host_to_disk(meta.dtype(), &host);
        assert_eq!(
            sha256_hex(&disk),
            leaf["sha256"].as_str().unwrap(),
            "{ctx}: sha256"
        );
        let expected = leaf["values"].as_array().unwrap();
        let got = values_as_json(meta.dtype(), &host, expected.len());
        assert_eq!(got.len(), expected.len(), "{ctx}");
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert!(same_json(g, e), "{ctx}: value {i}: got {g}, expected {e}");
        }
    } else {
        let got = values_as_json(meta.dtype(), &host, 1);
        assert!(
            same_json(&got[0], &leaf["value"]),
            "{ctx}: scalar value: got {}, expected {}",
            got[0],
            leaf["value"]
        );
    }
    host
}

/// A store wrapper that records every key read.
#[derive(Debug)]
pub struct CountingStore<S> {
    pub inner: S,
    pub reads: Mutex<Vec<(String, Option<Range<u64>>)>>,
    pub count: AtomicUsize,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        CountingStore {
            inner,
            reads: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
        }
    }

    pub fn take_reads(&self) -> Vec<(String, Option<Range<u64>>)> {
        std::mem::take(&mut self.reads.lock().unwrap())
    }
}

impl<S: ReadableStore> ReadableStore for CountingStore<S> {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> orbax_kvstore::Result<Option<Bytes>> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.reads
            .lock()
            .unwrap()
            .push((String::from_utf8_lossy(key).into_owned(), range.clone()));
        self.inner.read(key, range)
    }

    fn list_prefix(&self, prefix: &[u8]) -> orbax_kvstore::Result<Vec<Vec<u8>>> {
        self.inner.list_prefix(prefix)
    }

    fn describe(&self, key: &[u8]) -> String {
        self.inner.describe(key)
    }
}
