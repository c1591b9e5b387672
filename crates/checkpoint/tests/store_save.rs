//! Saves into any store and multi-process (sharded) saves: several simulated processes write
//! their blocks of global arrays into one store, the primary finalizes, and the whole arrays
//! read back exactly; sidecar bytes are checked against Orbax's formats; real Orbax restores the
//! result when the Python reference is installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use orbax_checkpoint::commit::write_commit_marker;
use orbax_checkpoint::pyjson::PyValue;
use orbax_checkpoint::save::{save_item, ArrayToSave, ItemToSave, SaveOptions};
use orbax_checkpoint::step_metadata::{render_step_metadata, ItemHandlers};
use orbax_checkpoint::store_save::{finalize_item, finalize_item_dir, save_item_to_store};
use orbax_checkpoint::{
    DType, Error, GlobalPlacement, ItemReader, KeyEntry, KeyType, ProcessSpec, ReadRequest,
    RestoreOptions, TreeEntry,
};
use orbax_kvstore::{FileStore, MemoryStore, ReadableStore, WritableStore};

const SHARDING_X: &str = r#"{"sharding_type": "NamedSharding", "shape": [4], "axis_names": ["data"], "axis_types": ["AxisType.Auto"], "partition_spec": ["data"], "device_mesh": {"mesh": [{"id": 0}, {"id": 1}, {"id": 2}, {"id": 3}]}}"#;
const SHARDING_Y: &str = r#"{"sharding_type": "NamedSharding", "shape": [2, 2], "axis_names": ["a", "b"], "axis_types": ["AxisType.Auto", "AxisType.Auto"], "partition_spec": ["a", "b"], "device_mesh": {"mesh": [[{"id": 0}, {"id": 1}], [{"id": 2}, {"id": 3}]]}}"#;
const SHARDING_R: &str = r#"{"sharding_type": "NamedSharding", "shape": [4], "axis_names": ["data"], "axis_types": ["AxisType.Auto"], "partition_spec": [], "device_mesh": {"mesh": [{"id": 0}, {"id": 1}, {"id": 2}, {"id": 3}]}}"#;

fn f32() -> DType {
    DType::from_name("float32").unwrap()
}

fn bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The global arrays: x f32[8,6], y f32[4,4], r f32[3] (replicated).
struct Globals {
    x: Vec<f32>,
    y: Vec<f32>,
    r: Vec<f32>,
}

fn globals() -> Globals {
    Globals {
        x: (0..48).map(|i| i as f32 * 0.5 - 7.0).collect(),
        y: (0..16).map(|i| 100.0 + i as f32).collect(),
        r: vec![1.5, -2.25, 3.0],
    }
}

/// The block of `global` (shape `shape`, C order) at `offset` of shape `block`.
fn block(global: &[f32], shape: &[usize; 2], offset: [usize; 2], block: [usize; 2]) -> Vec<f32> {
    let mut out = Vec::new();
    for i in offset[0]..offset[0] + block[0] {
        for j in offset[1]..offset[1] + block[1] {
            out.push(global[i * shape[1] + j]);
        }
    }
    out
}

fn entry(key: &str, value_type: &str, write_shape: Option<Vec<u64>>) -> TreeEntry {
    TreeEntry {
        path: vec![KeyEntry {
            key: key.into(),
            key_type: KeyType::Dict,
        }],
        value_type: value_type.into(),
        skip_deserialize: false,
        write_shape,
    }
}

fn entries() -> Vec<TreeEntry> {
    vec![
        entry("name", "string", None),
        entry("r", "jax.Array", Some(vec![3])),
        entry("x", "jax.Array", Some(vec![2, 6])),
        entry("y", "jax.Array", Some(vec![2, 2])),
    ]
}

/// The data of process `p`'s blocks: x rows `2p..2p+2`, y the 2×2 tile `p` (row-major tiles).
fn process_blocks(g: &Globals, p: usize) -> (Vec<u8>, Vec<u8>) {
    let x = block(&g.x, &[8, 6], [2 * p, 0], [2, 6]);
    let y = block(&g.y, &[4, 4], [2 * (p / 2), 2 * (p % 2)], [2, 2]);
    (bytes(&x), bytes(&y))
}

fn placed<'a>(
    param: &str,
    shape: Vec<u64>,
    data: &'a [u8],
    global: Vec<u64>,
    offset: Vec<u64>,
    sharding: &str,
) -> ArrayToSave<'a> {
    ArrayToSave {
        param: param.into(),
        dtype: f32(),
        shape,
        data,
        chunk_byte_size: None,
        shard_axes: vec![],
        placement: Some(GlobalPlacement {
            global_shape: global,
            offset,
        }),
        sharding: Some(sharding.into()),
    }
}

/// Process `p`'s plan: its x and y blocks, and r (which only the primary writes).
fn process_item<'a>(p: usize, x: &'a [u8], y: &'a [u8], r: &'a [u8]) -> ItemToSave<'a> {
    let p64 = p as u64;
    ItemToSave {
        entries: entries(),
        arrays: vec![
            placed("x", vec![2, 6], x, vec![8, 6], vec![2 * p64, 0], SHARDING_X),
            placed(
                "y",
                vec![2, 2],
                y,
                vec![4, 4],
                vec![2 * (p64 / 2), 2 * (p64 % 2)],
                SHARDING_Y,
            ),
            ArrayToSave {
                param: "r".into(),
                dtype: f32(),
                shape: vec![3],
                data: r,
                chunk_byte_size: None,
                shard_axes: vec![],
                placement: None,
                sharding: Some(SHARDING_R.into()),
            },
        ],
        strings: vec![("name".into(), "run".into())],
        custom_metadata: PyValue::None,
    }
}

fn spec(index: u32) -> ProcessSpec {
    ProcessSpec {
        index,
        count: 4,
        primary: 0,
    }
}

/// Processes `which` of 4 save their parts into `store`, concurrently.
fn save_processes(store: &Arc<dyn WritableStore>, opts: &SaveOptions, which: &[usize]) {
    let g = globals();
    let r = bytes(&g.r);
    std::thread::scope(|s| {
        for &p in which {
            let (store, g, r) = (Arc::clone(store), &g, &r);
            s.spawn(move || {
                let (x, y) = process_blocks(g, p);
                save_item_to_store(store, &process_item(p, &x, &y, r), opts, &spec(p as u32))
                    .unwrap();
            });
        }
    });
}

fn read_all(reader: &ItemReader, param: &str) -> Vec<u8> {
    reader
        .read(
            &ReadRequest {
                param: param.into(),
                region: None,
                dtype: None,
            },
            &RestoreOptions::default(),
        )
        .unwrap()
}

fn assert_globals_read_back(reader: &ItemReader) {
    let g = globals();
    assert_eq!(read_all(reader, "x"), bytes(&g.x));
    assert_eq!(read_all(reader, "y"), bytes(&g.y));
    assert_eq!(read_all(reader, "r"), bytes(&g.r));
    let x = reader.leaves().iter().find(|l| l.param == "x").unwrap();
    let meta = x.array.as_ref().unwrap();
    assert_eq!(meta.shape(), [8, 6]);
    assert_eq!(meta.chunk_shape(), [2, 6]);
    assert_eq!(x.sharding.as_deref(), Some(SHARDING_X));
    let y = reader.leaves().iter().find(|l| l.param == "y").unwrap();
    assert_eq!(y.array.as_ref().unwrap().chunk_shape(), [2, 2]);
    let name = reader.leaves().iter().find(|l| l.param == "name").unwrap();
    assert_eq!(name.string_value.as_deref(), Some("run"));
}

fn text(store: &dyn ReadableStore, key: &str) -> String {
    String::from_utf8(store.read(key.as_bytes(), None).unwrap().unwrap().to_vec()).unwrap()
}

const EXPECTED_METADATA: &str = r#"{"tree_metadata": {"('name',)": {"key_metadata": [{"key": "name", "key_type": 2}], "value_metadata": {"value_type": "string", "skip_deserialize": false}}, "('r',)": {"key_metadata": [{"key": "r", "key_type": 2}], "value_metadata": {"value_type": "jax.Array", "skip_deserialize": false, "write_shape": [3]}}, "('x',)": {"key_metadata": [{"key": "x", "key_type": 2}], "value_metadata": {"value_type": "jax.Array", "skip_deserialize": false, "write_shape": [2, 6]}}, "('y',)": {"key_metadata": [{"key": "y", "key_type": 2}], "value_metadata": {"value_type": "jax.Array", "skip_deserialize": false, "write_shape": [2, 2]}}}, "use_ocdbt": true, "use_zarr3": false, "store_array_data_equal_to_fill_value": true, "custom_metadata": null}"#;

fn expected_sharding() -> String {
    let esc = |s: &str| s.replace('"', "\\\"");
    format!(
        r#"{{"cg==":"{}","eA==":"{}","eQ==":"{}"}}"#,
        esc(SHARDING_R),
        esc(SHARDING_X),
        esc(SHARDING_Y)
    )
}

const XY_METADATAS: &str = r#"{"array_metadata": {"param_name": "x", "write_shape": [2, 6], "chunk_shape": [2, 6], "ext_metadata": null}}, {"array_metadata": {"param_name": "y", "write_shape": [2, 2], "chunk_shape": [2, 2], "ext_metadata": null}}"#;

#[test]
fn four_processes_save_blocks_into_one_store_and_the_primary_merges_them() {
    let mem = Arc::new(MemoryStore::new("mem"));
    let store: Arc<dyn WritableStore> = mem.clone();
    let opts = SaveOptions::default();
    save_processes(&store, &opts, &[0, 1, 2, 3]);

    // Each process committed its own database; nothing is merged yet.
    for p in 0..4 {
        assert!(mem
            .read(format!("ocdbt.process_{p}/manifest.ocdbt").as_bytes(), None)
            .unwrap()
            .is_some());
    }
    assert!(mem.read(b"manifest.ocdbt", None).unwrap().is_none());
    // Sidecars: the item-wide files from the primary, array metadata from every process.
    assert_eq!(text(mem.as_ref(), "_METADATA"), EXPECTED_METADATA);
    assert_eq!(text(mem.as_ref(), "_sharding"), expected_sharding());
    assert_eq!(text(mem.as_ref(), "_strings.json"), r#"{"name":"run"}"#);
    assert_eq!(
        text(mem.as_ref(), "array_metadatas/process_0"),
        format!(
            r#"{{"array_metadatas": [{XY_METADATAS}, {{"array_metadata": {{"param_name": "r", "write_shape": [3], "chunk_shape": [3], "ext_metadata": null}}}}]}}"#
        )
    );
    for p in 1..4 {
        assert_eq!(
            text(mem.as_ref(), &format!("array_metadatas/process_{p}")),
            format!(r#"{{"array_metadatas": [{XY_METADATAS}]}}"#)
        );
    }
    let top_level: Vec<String> = mem
        .list_prefix(b"")
        .unwrap()
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .filter(|k| !k.starts_with("ocdbt.process_"))
        .collect();
    assert_eq!(
        top_level,
        [
            "_METADATA",
            "_sharding",
            "_strings.json",
            "array_metadatas/process_0",
            "array_metadatas/process_1",
            "array_metadatas/process_2",
            "array_metadatas/process_3"
        ]
    );
    // Process 2 holds x's chunk row 2, y's tile (1, 0) and the zarr metadata of both, not r.
    let db2 = orbax_ocdbt::Database::open(Arc::new(orbax_kvstore::PrefixStore::new(
        store.clone(),
        "ocdbt.process_2/",
    )))
    .unwrap();
    let keys: Vec<String> = db2
        .list_prefix(b"")
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.key.to_vec()).unwrap())
        .collect();
    assert_eq!(keys, ["x/.zarray", "x/2.0", "y/.zarray", "y/1.0"]);

    finalize_item(store.clone(), &opts, 4).unwrap();
    let reader = ItemReader::open_store(mem.clone(), "mem").unwrap();
    assert_globals_read_back(&reader);
    // Finalizing twice is refused: the root database exists.
    let again = finalize_item(store, &opts, 4).unwrap_err();
    assert_eq!(again.code(), "ERR_ALREADY_EXISTS", "{again}");
}

#[test]
fn plain_zarr_multi_process_saves_need_no_merge() {
    let mem = Arc::new(MemoryStore::new("plain"));
    let store: Arc<dyn WritableStore> = mem.clone();
    let opts = SaveOptions {
        use_ocdbt: false,
        ..SaveOptions::default()
    };
    save_processes(&store, &opts, &[3, 1, 0, 2]);
    finalize_item(store, &opts, 4).unwrap();
    let keys: Vec<String> = mem
        .list_prefix(b"x/")
        .unwrap()
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .collect();
    assert_eq!(keys, ["x/.zarray", "x/0.0", "x/1.0", "x/2.0", "x/3.0"]);
    assert!(mem.list_prefix(b"ocdbt").unwrap().is_empty());
    let reader = ItemReader::open_store(mem.clone(), "plain").unwrap();
    assert_globals_read_back(&reader);
}

#[test]
fn finalizing_with_a_missing_process_names_it_and_merges_nothing() {
    let mem = Arc::new(MemoryStore::new("missing"));
    let store: Arc<dyn WritableStore> = mem.clone();
    let opts = SaveOptions::default();
    save_processes(&store, &opts, &[0, 1, 3]);
    let e = finalize_item(store.clone(), &opts, 4).unwrap_err();
    assert!(
        matches!(&e, Error::MissingProcesses { missing, location } if missing == &[2] && location == "missing"),
        "{e:?}"
    );
    assert_eq!(e.code(), "ERR_MISSING_PROCESSES");
    assert_eq!(
        e.to_string(),
        "cannot finalize missing: no committed OCDBT database from process 2 (ocdbt.process_<i>/manifest.ocdbt is missing); did every process finish writing?"
    );
    assert!(mem.read(b"manifest.ocdbt", None).unwrap().is_none());
    let e = finalize_item(store.clone(), &opts, 6).unwrap_err();
    assert!(e.to_string().contains("from processes 2, 4, 5 "), "{e}");
    assert_eq!(
        finalize_item(store, &opts, 0).unwrap_err().to_string(),
        "process count must be at least 1"
    );
}

#[test]
fn processes_disagreeing_on_the_chunk_layout_fail_the_merge() {
    let mem = Arc::new(MemoryStore::new("disagree"));
    let store: Arc<dyn WritableStore> = mem.clone();
    let opts = SaveOptions::default();
    let g = globals();
    // Process 0 saves x in [2, 6] blocks, process 1 thinks its block is [4, 6]: their
    // `.zarray`s differ (chunks [2, 6] and [4, 6]).
    let x0 = bytes(&block(&g.x, &[8, 6], [0, 0], [2, 6]));
    let x1 = bytes(&block(&g.x, &[8, 6], [4, 0], [4, 6]));
    for (p, data, shape, offset) in [
        (0u32, &x0, vec![2, 6], vec![0, 0]),
        (1, &x1, vec![4, 6], vec![4, 0]),
    ] {
        let item = ItemToSave {
            entries: vec![entry("x", "jax.Array", Some(shape.clone()))],
            arrays: vec![placed("x", shape, data, vec![8, 6], offset, SHARDING_X)],
            strings: vec![],
            custom_metadata: PyValue::None,
        };
        let spec = ProcessSpec {
            index: p,
            count: 2,
            primary: 0,
        };
        save_item_to_store(store.clone(), &item, &opts, &spec).unwrap();
    }
    let e = finalize_item(store, &opts, 2).unwrap_err();
    assert!(
        matches!(&e, Error::Ocdbt(orbax_ocdbt::Error::DuplicateKey { key, .. }) if key == "x/.zarray"),
        "{e:?}"
    );
    assert!(mem.read(b"manifest.ocdbt", None).unwrap().is_none());
}

type PlacementCase = (Vec<u64>, Vec<u64>, Vec<u64>, &'static str);

#[test]
fn placements_are_validated_naming_the_param() {
    let data = vec![0u8; 2 * 6 * 4];
    // (block shape, global shape, offset, message)
    let cases: [PlacementCase; 5] = [
        (
            vec![2, 6],
            vec![8],
            vec![0, 0],
            "x: global shape [8], offset [0, 0] and block shape [2, 6] must have the same rank",
        ),
        (
            vec![2, 6],
            vec![8, 6],
            vec![0],
            "x: global shape [8, 6], offset [0] and block shape [2, 6] must have the same rank",
        ),
        (
            vec![2, 6],
            vec![8, 6],
            vec![1, 0],
            "x: the offset [1, 0] is not a multiple of the block shape [2, 6] (axis 0)",
        ),
        (
            vec![2, 6],
            vec![7, 6],
            vec![0, 0],
            "x: the block shape [2, 6] does not divide the global shape [7, 6] (axis 0)",
        ),
        (
            vec![2, 6],
            vec![8, 6],
            vec![8, 0],
            "x: the block at offset [8, 0] of shape [2, 6] extends past the global shape [8, 6] (axis 0)",
        ),
    ];
    let store: Arc<dyn WritableStore> = Arc::new(MemoryStore::new("bad"));
    for (shape, global, offset, message) in cases {
        let item = ItemToSave {
            entries: vec![entry("x", "jax.Array", Some(shape.clone()))],
            arrays: vec![placed("x", shape, &data, global, offset, SHARDING_X)],
            strings: vec![],
            custom_metadata: PyValue::None,
        };
        let e = save_item_to_store(store.clone(), &item, &SaveOptions::default(), &spec(1))
            .unwrap_err();
        assert_eq!(e.to_string(), message);
        assert_eq!(e.code(), "ERR_INVALID_ARGUMENT");
    }
    // Nothing was written by the refused saves.
    assert!(store.list_prefix(b"").unwrap().is_empty());
    // A single process must hold every block of its arrays.
    let item = ItemToSave {
        entries: vec![entry("x", "jax.Array", Some(vec![2, 6]))],
        arrays: vec![placed(
            "x",
            vec![2, 6],
            &data,
            vec![8, 6],
            vec![2, 0],
            SHARDING_X,
        )],
        strings: vec![],
        custom_metadata: PyValue::None,
    };
    let e = save_item_to_store(
        store.clone(),
        &item,
        &SaveOptions::default(),
        &ProcessSpec::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "x: the blocks given cover 12 of the 48 elements of the global array; a single-process save must hold all of them"
    );
    let bad_spec = ProcessSpec {
        index: 4,
        count: 4,
        primary: 0,
    };
    let e = save_item_to_store(store, &item, &SaveOptions::default(), &bad_spec).unwrap_err();
    assert_eq!(
        e.to_string(),
        "process index 4 is out of range for 4 processes"
    );
}

#[test]
fn one_process_may_hold_every_block_and_writes_sidecars_for_them() {
    let g = globals();
    let blocks: Vec<(Vec<u8>, Vec<u8>)> = (0..4).map(|p| process_blocks(&g, p)).collect();
    let r = bytes(&g.r);
    let mut arrays = Vec::new();
    for (p, (x, y)) in blocks.iter().enumerate() {
        let mut item = process_item(p, x, y, &r);
        arrays.extend(item.arrays.drain(..2));
    }
    arrays.push(
        process_item(0, &blocks[0].0, &blocks[0].1, &r)
            .arrays
            .remove(2),
    );
    let item = ItemToSave {
        entries: entries(),
        arrays,
        strings: vec![("name".into(), "run".into())],
        custom_metadata: PyValue::None,
    };
    let mem = Arc::new(MemoryStore::new("one"));
    save_item_to_store(
        mem.clone(),
        &item,
        &SaveOptions::default(),
        &ProcessSpec::default(),
    )
    .unwrap();
    assert!(mem.read(b"manifest.ocdbt", None).unwrap().is_some());
    assert_eq!(text(mem.as_ref(), "_sharding"), expected_sharding());
    assert_eq!(
        text(mem.as_ref(), "array_metadatas/process_0"),
        format!(
            r#"{{"array_metadatas": [{XY_METADATAS}, {{"array_metadata": {{"param_name": "r", "write_shape": [3], "chunk_shape": [3], "ext_metadata": null}}}}]}}"#
        )
    );
    assert_globals_read_back(&ItemReader::open_store(mem, "one").unwrap());
    // The same block twice is refused.
    let mut twice = item.clone();
    twice.arrays.push(item.arrays[0].clone());
    let e = save_item_to_store(
        Arc::new(MemoryStore::new("twice")),
        &twice,
        &SaveOptions::default(),
        &ProcessSpec::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "x: given more than once, twice with the block at offset [0, 0]"
    );
}

/// Keys with the random data file names replaced by `*`.
fn normalized_keys(store: &dyn ReadableStore) -> Vec<String> {
    let mut keys: Vec<String> = store
        .list_prefix(b"")
        .unwrap()
        .into_iter()
        .map(|k| {
            let k = String::from_utf8(k).unwrap();
            match k.rsplit_once("d/") {
                Some((dir, name)) if name.len() == 32 => format!("{dir}d/*"),
                _ => k,
            }
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn single_process_item<'a>(w: &'a [u8], b: &'a [u8]) -> ItemToSave<'a> {
    let array = |param: &str, shape: Vec<u64>, data: &'a [u8], cbs| ArrayToSave {
        param: param.into(),
        dtype: f32(),
        shape,
        data,
        chunk_byte_size: cbs,
        shard_axes: vec![],
        placement: None,
        sharding: None,
    };
    ItemToSave {
        entries: vec![
            entry("b", "np.ndarray", None),
            entry("name", "string", None),
            entry("w", "np.ndarray", None),
        ],
        arrays: vec![
            array("w", vec![64, 48], w, Some(1024)),
            array("b", vec![300], b, None),
        ],
        strings: vec![("name".into(), "run".into())],
        custom_metadata: PyValue::None,
    }
}

#[test]
fn a_single_process_save_into_memory_matches_a_local_save() {
    let w = bytes(&(0..64 * 48).map(|i| i as f32 * 0.25).collect::<Vec<_>>());
    let b = bytes(&(0..300).map(|i| -(i as f32)).collect::<Vec<_>>());
    let item = single_process_item(&w, &b);
    for use_ocdbt in [true, false] {
        let opts = SaveOptions {
            use_ocdbt,
            ..SaveOptions::default()
        };
        let mem = Arc::new(MemoryStore::new("mem"));
        save_item_to_store(mem.clone(), &item, &opts, &ProcessSpec::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save_item(dir.path(), &item, &opts, &ProcessSpec::default()).unwrap();
        let local = FileStore::new(dir.path());
        assert_eq!(normalized_keys(mem.as_ref()), normalized_keys(&local));
        if use_ocdbt {
            assert!(normalized_keys(mem.as_ref()).contains(&"ocdbt.process_0/d/*".to_string()));
            assert!(normalized_keys(mem.as_ref()).contains(&"manifest.ocdbt".to_string()));
        }
        for name in ["_METADATA", "_strings.json"] {
            assert_eq!(text(mem.as_ref(), name), text(&local, name));
        }
        // No jax arrays: no `_sharding`, no `array_metadatas/`.
        assert!(mem.read(b"_sharding", None).unwrap().is_none());
        assert!(mem.list_prefix(b"array_metadatas").unwrap().is_empty());
        let from_memory = ItemReader::open_store(mem.clone(), "mem").unwrap();
        let from_disk = ItemReader::open(dir.path()).unwrap();
        for param in ["w", "b"] {
            assert_eq!(read_all(&from_memory, param), read_all(&from_disk, param));
        }
        assert_eq!(read_all(&from_memory, "w"), w);
        assert_eq!(read_all(&from_memory, "b"), b);
    }
}

#[test]
fn store_saves_report_progress_and_can_be_cancelled() {
    let w = bytes(&(0..64 * 48).map(|i| i as f32).collect::<Vec<_>>());
    let b = bytes(&[0.0; 300]);
    let item = single_process_item(&w, &b);
    let progress = Arc::new(orbax_checkpoint::Progress::default());
    let opts = SaveOptions {
        progress: Some(progress.clone()),
        ..SaveOptions::default()
    };
    save_item_to_store(
        Arc::new(MemoryStore::new("p")),
        &item,
        &opts,
        &ProcessSpec::default(),
    )
    .unwrap();
    let (done, total) = progress.snapshot();
    assert_eq!(
        (done, total),
        (64 * 48 * 4 + 300 * 4, 64 * 48 * 4 + 300 * 4)
    );

    let cancelled = SaveOptions {
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..SaveOptions::default()
    };
    let mem = Arc::new(MemoryStore::new("c"));
    let e =
        save_item_to_store(mem.clone(), &item, &cancelled, &ProcessSpec::default()).unwrap_err();
    assert_eq!(e.code(), "ERR_CANCELLED");
    assert!(
        mem.list_prefix(b"").unwrap().is_empty(),
        "nothing is left behind"
    );
    let e = finalize_item(mem, &cancelled, 1).unwrap_err();
    assert_eq!(e.code(), "ERR_MISSING_PROCESSES");
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference_python() -> Option<PathBuf> {
    let python = repo_root().join(".venv-ref/bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::env::var_os("CI").is_some() {
        panic!("the Python reference (.venv-ref) is missing under CI");
    }
    None
}

/// The leaf named `name` with `"type": "array"` anywhere in `value`.
fn find_array<'v>(value: &'v serde_json::Value, name: &str) -> Option<&'v serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(leaf) = map.get(name).filter(|l| l["type"] == "array") {
                return Some(leaf);
            }
            map.values().find_map(|v| find_array(v, name))
        }
        serde_json::Value::Array(items) => items.iter().find_map(|v| find_array(v, name)),
        _ => None,
    }
}

#[test]
fn a_four_process_local_checkpoint_restores_in_orbax() {
    let root = tempfile::tempdir().unwrap();
    let item = root.path().join("ckpt");
    std::fs::create_dir_all(&item).unwrap();
    let g = globals();
    let r = bytes(&g.r);
    let opts = SaveOptions::default();
    std::thread::scope(|s| {
        for p in 0..4usize {
            let (item, g, r, opts) = (&item, &g, &r, &opts);
            s.spawn(move || {
                let (x, y) = process_blocks(g, p);
                save_item(item, &process_item(p, &x, &y, r), opts, &spec(p as u32)).unwrap();
            });
        }
    });
    finalize_item_dir(&item, &opts, 4).unwrap();
    let handlers = ItemHandlers::Single(
        "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler".into(),
    );
    std::fs::write(
        item.join("_CHECKPOINT_METADATA"),
        render_step_metadata(Some(&handlers), Some(1), Some(2), &PyValue::Dict(vec![])),
    )
    .unwrap();
    write_commit_marker(&item, &item).unwrap();
    assert_globals_read_back(&ItemReader::open(&item).unwrap());

    let Some(python) = reference_python() else {
        eprintln!("Python reference missing (.venv-ref): skipped the Orbax verification");
        return;
    };
    let output = Command::new(python)
        .arg(repo_root().join("../shared/interop/verify_with_orbax.py"))
        .args(["--describe"])
        .arg(&item)
        .args(["--handler", "PyTreeCheckpointHandler"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "verify_with_orbax.py --describe failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let described: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for (name, shape, values) in [
        ("x", vec![8, 6], &g.x),
        ("y", vec![4, 4], &g.y),
        ("r", vec![3], &g.r),
    ] {
        let leaf = find_array(&described, name)
            .unwrap_or_else(|| panic!("Orbax restored no array {name}:\n{stdout}"));
        assert_eq!(leaf["dtype"], "float32", "{name}");
        assert_eq!(leaf["shape"], serde_json::json!(shape), "{name}");
        // The description lists the first values and hashes the raw bytes of all.
        use sha2::Digest;
        let expected = hex::encode(sha2::Sha256::digest(bytes(values)));
        assert_eq!(leaf["sha256"], expected.as_str(), "{name}");
        let listed: Vec<f32> = leaf["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(listed, values[..listed.len()], "{name}");
    }
}
