//! Several per-process OCDBT databases (as N worker processes would write them) merged into one
//! item root, then restored by real Python Orbax (`verify_with_orbax.py`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use orbax_checkpoint::commit::write_commit_marker;
use orbax_checkpoint::pyjson::PyValue;
use orbax_checkpoint::step_metadata::{render_step_metadata, ItemHandlers};
use orbax_checkpoint::tree_metadata::render_tree_metadata;
use orbax_checkpoint::{
    DType, ItemReader, KeyEntry, KeyType, ReadRequest, RestoreOptions, TreeEntry,
};
use orbax_kvstore::FileStore;
use orbax_ocdbt::merge::merge_item_directory;
use orbax_ocdbt::{DatabaseWriter, WriterOptions};
use orbax_zarr::{chunk_key, encode_chunk, extract_chunk, metadata_key, ArrayMetadata};
use sha2::{Digest, Sha256};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("ORBAX_TS_REF_PYTHON").map(PathBuf::from),
        Some(repo_root().join(".venv-ref/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.exists());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("the Python reference (.venv-ref) is missing under CI");
    }
    found
}

/// Writes `arrays` (param, shape, f32 values) as zarr v2 + zstd into one process database.
fn write_process(item: &Path, process: usize, arrays: &[(&str, Vec<u64>, Vec<f32>)]) {
    let store = Arc::new(FileStore::new(
        item.join(format!("ocdbt.process_{process}")),
    ));
    let writer = DatabaseWriter::new(store, WriterOptions::default()).unwrap();
    let f32 = DType::from_name("float32").unwrap();
    for (param, shape, values) in arrays {
        let chunks: Vec<u64> = shape.iter().map(|&d| d.min(4)).collect();
        let meta = ArrayMetadata::new_v2(f32, shape, &chunks, Some(1)).unwrap();
        let host: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        writer
            .put(
                metadata_key(param, meta.format()).as_bytes(),
                meta.raw().as_bytes(),
            )
            .unwrap();
        let grid = meta.chunk_grid_shape();
        for i in 0..grid[0] {
            for j in 0..grid[1] {
                let chunk = extract_chunk(&meta, &host, &[i, j]).unwrap();
                writer
                    .put(
                        chunk_key(param, &meta, &[i, j]).as_bytes(),
                        &encode_chunk(&meta, &chunk).unwrap(),
                    )
                    .unwrap();
            }
        }
    }
    writer.commit().unwrap();
}

#[test]
fn three_process_databases_merge_into_one_item_that_orbax_restores() {
    let root = tempfile::tempdir().unwrap();
    let item = root.path().join("ckpt");
    std::fs::create_dir_all(&item).unwrap();
    let values = |n: usize, seed: f32| (0..n).map(|i| i as f32 * seed - 3.0).collect::<Vec<_>>();
    let per_process = [
        vec![("a", vec![6u64, 8u64], values(48, 0.5))],
        vec![
            ("b", vec![4, 4], values(16, 1.25)),
            ("c", vec![2, 9], values(18, -2.0)),
        ],
        vec![("d", vec![8, 3], values(24, 0.125))],
    ];
    for (process, arrays) in per_process.iter().enumerate() {
        write_process(&item, process, arrays);
    }
    merge_item_directory(&item, WriterOptions::default()).unwrap();
    let entries: Vec<TreeEntry> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| TreeEntry {
            path: vec![KeyEntry {
                key: (*k).into(),
                key_type: KeyType::Dict,
            }],
            value_type: "np.ndarray".into(),
            skip_deserialize: false,
            write_shape: None,
        })
        .collect();
    std::fs::write(
        item.join("_METADATA"),
        render_tree_metadata(&entries, true, false, &PyValue::None),
    )
    .unwrap();
    let handlers = ItemHandlers::Single(
        "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler".into(),
    );
    std::fs::write(
        item.join("_CHECKPOINT_METADATA"),
        render_step_metadata(Some(&handlers), Some(1), Some(2), &PyValue::Dict(vec![])),
    )
    .unwrap();
    write_commit_marker(&item, &item).unwrap();

    // orbax-ts reads the merged item back...
    let reader = ItemReader::open(&item).unwrap();
    let mut tree = serde_json::Map::new();
    for (param, shape, vals) in per_process.iter().flatten() {
        let bytes = reader
            .read(
                &ReadRequest {
                    param: (*param).into(),
                    region: None,
                    dtype: None,
                },
                &RestoreOptions::default(),
            )
            .unwrap();
        let expected: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(bytes, expected, "{param}");
        tree.insert(
            (*param).into(),
            serde_json::json!({"type": "array", "dtype": "float32", "shape": shape, "sha256": hex::encode(Sha256::digest(&expected))}),
        );
    }
    // ...and so does real Orbax.
    let Some(python) = reference_python() else {
        eprintln!("Python reference missing (.venv-ref): skipped the Orbax verification");
        return;
    };
    let expected = serde_json::json!({
        "schema_version": 1,
        "kind": "pytree",
        "restore": {"layout": "single", "handler": "PyTreeCheckpointHandler"},
        "items": {"item": {"handler": "PyTreeCheckpointHandler", "dir": ".", "tree": tree,
                           "storage": {"use_ocdbt": true, "root_ocdbt_manifest": true}}},
    });
    let expected_path = root.path().join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).unwrap();
    let output = Command::new(python)
        .arg(repo_root().join("../shared/interop/verify_with_orbax.py"))
        .arg(&item)
        .arg(&expected_path)
        .args(["--devices", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.starts_with("OK "),
        "verify_with_orbax.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
