//! Saving through the core and reading back through the core (the TS suite and the Python
//! reference check the same files from the outside).

use orbax_checkpoint::pyjson::PyValue;
use orbax_checkpoint::save::{
    save_checkpoint, ArrayToSave, CheckpointToSave, ItemToSave, SaveOptions,
};
use orbax_checkpoint::{
    DType, ItemReader, KeyEntry, KeyType, ReadRequest, RestoreOptions, TreeEntry,
};

fn entry(key: &str, value_type: &str) -> TreeEntry {
    TreeEntry {
        path: vec![KeyEntry {
            key: key.into(),
            key_type: KeyType::Dict,
        }],
        value_type: value_type.into(),
        skip_deserialize: value_type == "Dict",
        write_shape: None,
    }
}

fn save(dir: &std::path::Path, options: SaveOptions, data: &[u8]) -> orbax_checkpoint::Result<()> {
    let item = ItemToSave {
        entries: vec![
            entry("empty", "Dict"),
            entry("w", "np.ndarray"),
            entry("name", "string"),
        ],
        arrays: vec![ArrayToSave {
            param: "w".into(),
            dtype: DType::from_name("float32").unwrap(),
            shape: vec![64, 48],
            data,
            chunk_byte_size: Some(1024),
            shard_axes: vec![],
            placement: None,
            sharding: None,
        }],
        strings: vec![("name".into(), "run".into())],
        custom_metadata: PyValue::None,
    };
    save_checkpoint(
        dir,
        &CheckpointToSave {
            item,
            options,
            force: false,
            custom_metadata: PyValue::dict([("k", PyValue::int(1))]),
            handler_typestr:
                "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler"
                    .into(),
        },
    )
}

#[test]
fn directory_layouts_round_trip_in_every_zarr_flavour() {
    let data: Vec<u8> = (0..64 * 48)
        .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
        .collect();
    for (zarr3, compression) in [(false, true), (true, true), (false, false), (true, false)] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("ckpt");
        let options = SaveOptions {
            use_ocdbt: false,
            use_zarr3: zarr3,
            use_compression: compression,
            ..Default::default()
        };
        save(&dir, options, &data).unwrap();
        assert!(!root.path().join("ckpt.orbax-checkpoint-tmp").exists());
        let reader = ItemReader::open(&dir).unwrap();
        let meta = reader.leaves()[1].array.as_ref().unwrap();
        assert_eq!(meta.chunk_shape(), [16, 16]);
        assert_eq!(reader.leaves()[2].string_value.as_deref(), Some("run"));
        let read = reader
            .read(
                &ReadRequest {
                    param: "w".into(),
                    region: None,
                    dtype: None,
                },
                &RestoreOptions::default(),
            )
            .unwrap();
        assert_eq!(read, data, "zarr3={zarr3} compression={compression}");
        let step = std::fs::read_to_string(dir.join("_CHECKPOINT_METADATA")).unwrap();
        assert!(
            step.ends_with(r#", "custom_metadata": {"k": 1}}"#),
            "{step}"
        );
        assert!(step.contains(r#""commit_timestamp_nsecs": 1"#), "{step}");
    }
}

#[test]
fn wrong_sizes_and_relative_paths_are_refused_without_touching_the_destination() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ckpt");
    let short = vec![0u8; 16];
    let options = SaveOptions {
        use_ocdbt: false,
        ..Default::default()
    };
    let err = save(&dir, options.clone(), &short).unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARGUMENT");
    assert!(!dir.exists());
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "no temporary directory either"
    );
    let err = save(std::path::Path::new("relative/ckpt"), options, &short).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Checkpoint path should be absolute. Got relative/ckpt"
    );
}
