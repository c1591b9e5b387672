//! Damaged copies of fixture databases: every failure is a precise error naming the file,
//! never a panic.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::builder::*;
use common::*;
use orbax_kvstore::{FileStore, ReadableStore};
use orbax_ocdbt::format::{
    decode_btree_node, envelope::encode_envelope, BtreeNodeEntries, BtreeNodeReference,
    BtreeNodeStatistics, Compression, IndirectDataReference, LeafValue, Magic,
};
use orbax_ocdbt::{Database, Error};

fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_dir(&ocdbt_fixture(name), &dir);
    (tmp, dir)
}

fn try_open(dir: &Path) -> Result<Database, Error> {
    Database::open(Arc::new(FileStore::new(dir)))
}

fn flip(path: &Path, offset: u64, mask: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= mask;
    fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn data_file(dir: &Path, r: &IndirectDataReference) -> PathBuf {
    dir.join(String::from_utf8(r.file.full_path()).unwrap())
}

/// Asserts the code, and that the message names `file` (and the byte range, for nodes).
fn assert_error(err: &Error, code: &str, file: &Path, range: Option<(u64, u64)>) {
    let message = err.to_string();
    assert_eq!(err.code(), code, "{message}");
    assert!(
        message.contains(&file.display().to_string()),
        "{message} does not name {}",
        file.display()
    );
    if let Some((start, end)) = range {
        assert!(message.contains(&format!("[{start}..{end}]")), "{message}");
    }
}

#[test]
fn truncated_manifests() {
    let (_tmp, dir) = copy_fixture("tsdb_small_nodes");
    let manifest = dir.join("manifest.ocdbt");
    let original = fs::read(&manifest).unwrap();
    for len in [0, 3, 4, 11, 12, 13, 16, 100, original.len() - 1] {
        fs::write(&manifest, &original[..len]).unwrap();
        let err = try_open(&dir).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Format {
                    what: "manifest",
                    ..
                }
            ),
            "{len}: {err}"
        );
        assert_error(&err, "ERR_OCDBT_TRUNCATED", &manifest, None);
    }
    fs::write(&manifest, &original).unwrap();
    assert!(try_open(&dir).is_ok());
}

#[test]
fn bit_flips_in_the_manifest() {
    use orbax_ocdbt::format::Error as F;
    let (_tmp, dir) = copy_fixture("tsdb_small_nodes");
    let manifest = dir.join("manifest.ocdbt");
    let original = fs::read(&manifest).unwrap();
    let last = original.len() as u64 - 1;
    let cases: Vec<(u64, u8, &str)> = vec![
        (0, 0x01, "ERR_OCDBT_CORRUPT"),    // magic
        (3, 0x80, "ERR_OCDBT_CORRUPT"),    // magic
        (4, 0x01, "ERR_OCDBT_TRUNCATED"),  // length, small change
        (6, 0x10, "ERR_OCDBT_TRUNCATED"),  // length, within limits
        (11, 0x80, "ERR_OCDBT_TOO_LARGE"), // length, 2^63 + n
        (12, 0x01, "ERR_OCDBT_CHECKSUM"),  // format version (covered by the CRC)
        (13, 0x02, "ERR_OCDBT_CHECKSUM"),  // compression
        (40, 0x04, "ERR_OCDBT_CHECKSUM"),  // body
        (last - 4, 0x01, "ERR_OCDBT_CHECKSUM"),
        (last, 0x80, "ERR_OCDBT_CHECKSUM"), // the CRC itself
    ];
    for (offset, mask, code) in cases {
        fs::write(&manifest, &original).unwrap();
        flip(&manifest, offset, mask);
        let err = try_open(&dir).unwrap_err();
        assert_error(&err, code, &manifest, None);
        let source = err.format_error().unwrap();
        match code {
            "ERR_OCDBT_CHECKSUM" => assert!(matches!(source, F::Checksum { .. })),
            "ERR_OCDBT_CORRUPT" => assert!(matches!(source, F::BadMagic { .. })),
            "ERR_OCDBT_TRUNCATED" => assert!(matches!(source, F::LengthMismatch { .. })),
            _ => assert!(matches!(source, F::TooLarge { .. })),
        }
    }
}

#[test]
fn a_corrupted_btree_node_fails_only_the_reads_that_need_it() {
    let (_tmp, dir) = copy_fixture("tsdb_small_nodes");
    let db = try_open(&dir).unwrap();
    let root = db.latest().version().root.clone().unwrap();
    let all = expected(&dir);
    // The root's last child: keys below the first child stay readable.
    let root_node = decode_btree_node(&read_slice(&dir, &root), b"").unwrap();
    let BtreeNodeEntries::Interior(children) = &root_node.entries else {
        panic!("root is a leaf")
    };
    let victim = children.last().unwrap().node.location.clone();
    let victim_file = data_file(&dir, &victim);
    flip(&victim_file, victim.offset + victim.length / 2, 0x08);

    let db = try_open(&dir).unwrap();
    let (last_key, _) = all.last().unwrap();
    let err = db.get(last_key).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Format {
                what: "b+tree node",
                ..
            }
        ),
        "{err}"
    );
    assert_error(
        &err,
        "ERR_OCDBT_CHECKSUM",
        &victim_file,
        Some((victim.offset, victim.end())),
    );
    assert!(
        err.to_string().contains("checksum mismatch (stored 0x"),
        "{err}"
    );
    let (first_key, first_value) = &all[0];
    assert_eq!(&db.get(first_key).unwrap().unwrap()[..], &first_value[..]);
    assert_eq!(db.list(b"", None).unwrap_err().code(), "ERR_OCDBT_CHECKSUM");
    // The store view reports the same error, recoverable with its code.
    let store_err = ReadableStore::read(&db, last_key, None).unwrap_err();
    assert_eq!(
        Error::store_error_code(&store_err),
        Some("ERR_OCDBT_CHECKSUM")
    );

    // Now the root itself.
    let root_file = data_file(&dir, &root);
    flip(&root_file, root.offset + 20, 0x01);
    let db = try_open(&dir).unwrap();
    let err = db.get(first_key).unwrap_err();
    assert_error(
        &err,
        "ERR_OCDBT_CHECKSUM",
        &root_file,
        Some((root.offset, root.end())),
    );
}

fn read_slice(dir: &Path, r: &IndirectDataReference) -> Vec<u8> {
    let bytes = fs::read(data_file(dir, r)).unwrap();
    bytes[r.offset as usize..r.end() as usize].to_vec()
}

#[test]
fn truncated_data_files() {
    let (_tmp, dir) = copy_fixture("tsdb_small_nodes");
    let db = try_open(&dir).unwrap();
    let root = db.latest().version().root.clone().unwrap();
    let all = expected(&dir);
    let limit = db.config().max_inline_value_bytes as usize;
    let (big_key, _) = all.iter().find(|(_, v)| v.len() > limit).unwrap();
    let Some(LeafValue::OutOfLine(value)) = db.latest().lookup(big_key).unwrap() else {
        panic!("expected an out-of-line value");
    };

    // A value whose file ends inside it.
    let value_file = data_file(&dir, &value);
    truncate(&value_file, value.end() - 1);
    let err = db.get(big_key).unwrap_err();
    assert!(
        matches!(&err, Error::Truncated { what: "value", size, .. } if *size == value.end() - 1),
        "{err}"
    );
    assert_error(
        &err,
        "ERR_OCDBT_TRUNCATED",
        &value_file,
        Some((value.offset, value.end())),
    );
    // A range inside the surviving bytes is still readable.
    assert!(db.get_range(big_key, 0..1).is_ok());

    // The root node's file ends inside it.
    let (_tmp2, dir) = copy_fixture("tsdb_small_nodes");
    let root_file = data_file(&dir, &root);
    truncate(&root_file, root.offset + 10);
    let db = try_open(&dir).unwrap();
    let err = db.get(&all[0].0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                what: "b+tree node",
                ..
            }
        ),
        "{err}"
    );
    assert_error(
        &err,
        "ERR_OCDBT_TRUNCATED",
        &root_file,
        Some((root.offset, root.end())),
    );
}

#[test]
fn deleted_data_files() {
    let (_tmp, dir) = copy_fixture("orbax_merge2");
    let db = try_open(&dir).unwrap();
    let root = db.latest().version().root.clone().unwrap();
    let all = expected(&dir);
    // A per-process data file holding an out-of-line value of the merged root.
    let (key, value) = all
        .iter()
        .find_map(|(k, _)| match db.latest().lookup(k).unwrap() {
            Some(LeafValue::OutOfLine(r)) => Some((k.clone(), r)),
            _ => None,
        })
        .unwrap();
    assert!(value.file.base_path.starts_with(b"ocdbt.process_"));
    let value_file = data_file(&dir, &value);
    fs::remove_file(&value_file).unwrap();
    let err = db.get(&key).unwrap_err();
    assert!(
        matches!(err, Error::MissingFile { what: "value", .. }),
        "{err}"
    );
    assert_error(
        &err,
        "ERR_OCDBT_MISSING_FILE",
        &value_file,
        Some((value.offset, value.end())),
    );

    let root_file = data_file(&dir, &root);
    fs::remove_file(&root_file).unwrap();
    let db = try_open(&dir).unwrap();
    let err = db.list(b"", None).unwrap_err();
    assert_error(
        &err,
        "ERR_OCDBT_MISSING_FILE",
        &root_file,
        Some((root.offset, root.end())),
    );
    let store_err = ReadableStore::read(&db, &key, None).unwrap_err();
    assert_eq!(
        Error::store_error_code(&store_err),
        Some("ERR_OCDBT_MISSING_FILE")
    );
    assert!(
        store_err
            .to_string()
            .contains(&root_file.display().to_string()),
        "{store_err}"
    );
}

#[test]
fn a_corrupted_version_node_only_affects_old_generations() {
    let (_tmp, dir) = copy_fixture("tsdb_small_nodes");
    let db = try_open(&dir).unwrap();
    let node = db.manifest().version_tree_nodes[0].location.clone();
    let file = data_file(&dir, &node);
    flip(&file, node.offset + node.length - 2, 0x40);
    let db = try_open(&dir).unwrap();
    assert!(db.get(&expected(&dir)[0].0).unwrap().is_some());
    assert!(db.at_generation(db.latest_generation()).is_ok());
    let err = db.generations().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Format {
                what: "version tree node",
                ..
            }
        ),
        "{err}"
    );
    assert_error(
        &err,
        "ERR_OCDBT_CHECKSUM",
        &file,
        Some((node.offset, node.end())),
    );
    assert_eq!(
        db.at_generation(1).unwrap_err().code(),
        "ERR_OCDBT_CHECKSUM"
    );
}

#[test]
fn missing_and_inconsistent_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let err = try_open(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::NoManifest { .. }), "{err}");
    assert_error(
        &err,
        "ERR_NOT_A_CHECKPOINT",
        &tmp.path().join("manifest.ocdbt"),
        None,
    );

    // Numbered kind: the newest numbered manifest must hold the generation its name says.
    let (_tmp, dir) = copy_fixture("tsdb_numbered");
    fs::rename(
        dir.join("manifest.0000000000000015"),
        dir.join("manifest.0000000000000016"),
    )
    .unwrap();
    let err = try_open(&dir).unwrap_err();
    assert_error(
        &err,
        "ERR_OCDBT_CORRUPT",
        &dir.join("manifest.0000000000000016"),
        None,
    );
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_str().unwrap().len() == 25 {
            fs::remove_file(path).unwrap();
        }
    }
    let err = try_open(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingFile {
                what: "numbered manifest",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), "ERR_OCDBT_MISSING_FILE");
}

#[test]
fn hostile_sizes_are_refused_before_allocating() {
    // A manifest whose envelope claims 2^40 bytes.
    let (_tmp, dir) = copy_fixture("tsdb_default");
    let manifest = dir.join("manifest.ocdbt");
    let mut bytes = fs::read(&manifest).unwrap();
    bytes[4..12].copy_from_slice(&(1u64 << 40).to_le_bytes());
    fs::write(&manifest, bytes).unwrap();
    let err = try_open(&dir).unwrap_err();
    assert_error(&err, "ERR_OCDBT_TOO_LARGE", &manifest, None);

    // A B+tree node claiming 1048577 entries.
    let tmp = tempfile::tempdir().unwrap();
    let mut b = DbBuilder::new(Compression::None);
    let body = [0u8, 0, 0x81, 0x80, 0x40];
    let node = b.append(
        b"",
        b"d/hostile",
        &encode_envelope(Magic::BtreeNode, &body, Compression::None).unwrap(),
    );
    let root = BtreeNodeReference {
        location: node.clone(),
        statistics: BtreeNodeStatistics::default(),
    };
    let manifest = b.manifest(Some(root), 0);
    b.write_to(tmp.path(), manifest);
    let db = try_open(tmp.path()).unwrap();
    let err = db.get(b"x").unwrap_err();
    assert_error(
        &err,
        "ERR_OCDBT_TOO_LARGE",
        &tmp.path().join("d/hostile"),
        Some((node.offset, node.end())),
    );
    assert!(err.to_string().contains("1048577"), "{err}");

    // A zstd body whose frame header claims a 2^40-byte content size.
    let tmp = tempfile::tempdir().unwrap();
    let mut b = DbBuilder::new(Compression::Zstd { level: 0 });
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
    frame.extend_from_slice(&(1u64 << 40).to_le_bytes());
    frame.extend_from_slice(&[1, 0, 0]);
    let mut envelope = Magic::BtreeNode.value().to_be_bytes().to_vec();
    let total = 12 + 2 + frame.len() + 4;
    envelope.extend_from_slice(&(total as u64).to_le_bytes());
    envelope.extend_from_slice(&[0, 1]);
    envelope.extend_from_slice(&frame);
    let crc = crc32c_of(&envelope);
    envelope.extend_from_slice(&crc.to_le_bytes());
    let node = b.append(b"", b"d/bomb", &envelope);
    let root = BtreeNodeReference {
        location: node.clone(),
        statistics: BtreeNodeStatistics::default(),
    };
    let manifest = b.manifest(Some(root), 0);
    b.write_to(tmp.path(), manifest);
    let db = try_open(tmp.path()).unwrap();
    let err = db.get(b"x").unwrap_err();
    assert_error(
        &err,
        "ERR_OCDBT_TOO_LARGE",
        &tmp.path().join("d/bomb"),
        Some((node.offset, node.end())),
    );

    // A node reference claiming 2^40 bytes is refused without reading.
    let tmp = tempfile::tempdir().unwrap();
    let mut b = DbBuilder::new(Compression::None);
    let mut node = b.append(b"", b"d/small", b"tiny");
    node.length = 1 << 40;
    let root = BtreeNodeReference {
        location: node,
        statistics: BtreeNodeStatistics::default(),
    };
    let manifest = b.manifest(Some(root), 0);
    b.write_to(tmp.path(), manifest);
    let err = try_open(tmp.path()).unwrap().get(b"x").unwrap_err();
    assert_eq!(err.code(), "ERR_OCDBT_TOO_LARGE", "{err}");
}

/// CRC-32C, bitwise (the test must not trust the implementation under test).
fn crc32c_of(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn random_damage_never_panics() {
    // Every byte of the manifest and of the latest root, and a sample of every data file:
    // opening and reading may fail, but only with an error.
    let (_tmp, dir) = copy_fixture("tsdb_small_nodes");
    let keys: Vec<Vec<u8>> = expected(&dir)
        .into_iter()
        .map(|(k, _)| k)
        .step_by(50)
        .collect();
    let manifest = dir.join("manifest.ocdbt");
    let original = fs::read(&manifest).unwrap();
    assert_eq!(crc32c_of(b"123456789"), 0xe306_9283);
    let mut failures = 0;
    for offset in 0..original.len() as u64 {
        flip(&manifest, offset, 0x10);
        if try_open(&dir).is_err() {
            failures += 1;
        }
        flip(&manifest, offset, 0x10);
    }
    assert_eq!(failures, original.len());
    let mut paths: Vec<PathBuf> = fs::read_dir(dir.join("d"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for (i, path) in paths.iter().enumerate().step_by(7) {
        let len = fs::metadata(path).unwrap().len();
        let offset = (i as u64 * 7919) % len;
        flip(path, offset, 0x20);
        let db = try_open(&dir).unwrap();
        for key in &keys {
            let _ = db.get(key);
        }
        let _ = db.list(b"", None);
        let _ = db.generations();
        flip(path, offset, 0x20);
    }
}
