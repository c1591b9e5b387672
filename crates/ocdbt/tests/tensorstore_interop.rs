//! Databases written by this crate, read by real TensorStore (the reference decides).
//!
//! Writes several databases into a temporary directory — inline and out-of-line values, several
//! data files, a split tree, an empty database, raw nodes, and an Orbax item with two process
//! databases merged into its root — then runs `tensorstore_read.py` with the reference Python
//! (`ORBAX_TS_REF_PYTHON`, else `<repo>/.venv-ref/bin/python`, created by
//! `bash ../shared/interop/setup-ref.sh .venv-ref`), which lists and reads every key with
//! TensorStore. It also opens a per-process database and a merged root with Orbax's own
//! MERGE-mode kvstore spec (config constraints + `assume_config`) and writes a key, which
//! TensorStore refuses unless the config is byte-compatible with Orbax's; our reader then reads
//! the generation TensorStore added (and checks that a config with another zstd level field is
//! refused, so the acceptance means something). Finally Orbax's own finalize merge runs on a copy
//! of our process databases, and its root must hold exactly the leaf values ours holds.
//!
//! Without the reference Python the test prints a notice and passes, unless `CI` is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use orbax_kvstore::FileStore;
use orbax_ocdbt::format::{Compression, LeafValue};
use orbax_ocdbt::merge::merge_item_directory;
use orbax_ocdbt::writer::{CommitSummary, DatabaseWriter, WriterOptions};
use orbax_ocdbt::Database;
use serde_json::{json, Value};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn reference_python() -> Option<PathBuf> {
    let p = match std::env::var_os("ORBAX_TS_REF_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-ref/bin/python"),
    };
    p.exists().then_some(p)
}

/// Deterministic pseudo-random bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Zarr-like keys (`<param>/.zarray`, `<param>/<chunk>`) plus binary and UTF-8 keys; values
/// empty, inline (≤ 1024 bytes) and out-of-line.
fn model(n: usize, prefix: &str, seed: u64) -> Model {
    let mut rng = Rng(seed);
    let mut m = Model::new();
    for i in 0..n {
        let key = match i % 7 {
            0 => format!("{prefix}params.layer_{:03}.w/.zarray", i / 7).into_bytes(),
            1 => [prefix.as_bytes(), b"\x00\xff", &rng.bytes(3)].concat(),
            2 => format!("{prefix}params.lé_{i}/0.0").into_bytes(),
            _ => format!("{prefix}params.layer_{:03}.w/{}.0", i / 7, i % 7).into_bytes(),
        };
        let len = match rng.next() % 5 {
            0 => 0,
            1 | 2 => (rng.next() % 1025) as usize,
            _ => 1025 + (rng.next() % 6000) as usize,
        };
        m.insert(key, rng.bytes(len));
    }
    m
}

fn write(dir: &Path, options: WriterOptions, model: &Model) -> CommitSummary {
    let w = DatabaseWriter::new(Arc::new(FileStore::new(dir)), options).unwrap();
    for (k, v) in model {
        w.put(k, v).unwrap();
    }
    w.commit().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn entries_of(result: &Value, name: &str) -> Model {
    let r = &result[name];
    assert_eq!(
        r["ok"],
        json!(true),
        "TensorStore failed on {name}: {}",
        r["error"]
    );
    r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                hex::decode(e[0].as_str().unwrap()).unwrap(),
                hex::decode(e[1].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

fn read_with_rust(dir: &Path) -> (Database, Model) {
    let db = Database::open(Arc::new(FileStore::new(dir))).unwrap();
    let mut m = Model::new();
    for e in db.list(b"", None).unwrap() {
        let v = db.get(&e.key).unwrap().unwrap().to_vec();
        m.insert(e.key, v);
    }
    (db, m)
}

#[test]
fn tensorstore_reads_what_we_write() {
    let Some(python) = reference_python() else {
        let msg =
            "tensorstore_interop: reference Python not found (set ORBAX_TS_REF_PYTHON or run \
                   `bash ../shared/interop/setup-ref.sh .venv-ref` in the repository root)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("SKIPPED {msg}");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut expected: BTreeMap<&str, Model> = BTreeMap::new();
    let mut jobs = Vec::new();
    let mut read_job = |name: &'static str, dir: &Path, m: Model| {
        jobs.push(json!({"name": name, "dir": dir.to_str().unwrap(), "action": "read"}));
        expected.insert(name, m);
    };

    // One data file, Orbax's config: inline and out-of-line values, binary keys, empty values.
    let single = model(400, "", 1);
    let s = write(&root.join("single"), WriterOptions::default(), &single);
    assert_eq!(s.data_files.len(), 1);
    read_job("single", &root.join("single"), single);

    // Several data files.
    let files = model(300, "", 2);
    let o = WriterOptions {
        target_data_file_size: 30_000,
        ..WriterOptions::default()
    };
    let s = write(&root.join("files"), o, &files);
    assert!(s.data_files.len() >= 5, "{}", s.data_files.len());
    read_job("files", &root.join("files"), files);

    // A split tree of height >= 2 (small max_decoded_node_bytes), raw and zstd nodes.
    let split = model(3000, "", 3);
    let mut o = WriterOptions::default();
    o.config.max_decoded_node_bytes = 4096;
    let s = write(&root.join("split"), o.clone(), &split);
    assert!(s.root_height >= 2, "height {}", s.root_height);
    read_job("split", &root.join("split"), split.clone());
    o.config.uuid = [9; 16];
    o.config.compression = Compression::None;
    let s = write(&root.join("split_raw"), o, &split);
    assert!(s.root_height >= 2);
    read_job("split_raw", &root.join("split_raw"), split);

    // An empty database.
    write(&root.join("empty"), WriterOptions::default(), &Model::new());
    read_job("empty", &root.join("empty"), Model::new());

    // An Orbax item: two process databases and the merged root.
    let item = root.join("item");
    let p0 = model(120, "a.", 4);
    let p1 = model(120, "b.", 5);
    write(&item.join("ocdbt.process_0"), WriterOptions::default(), &p0);
    write(&item.join("ocdbt.process_1"), WriterOptions::default(), &p1);
    let merged = merge_item_directory(&item, WriterOptions::default()).unwrap();
    assert_eq!(merged.data_files.len(), 1);
    let union: Model = p0
        .iter()
        .chain(&p1)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    read_job("item_root", &item, union.clone());
    read_job("item_process_1", &item.join("ocdbt.process_1"), p1);

    // Orbax's MERGE-mode spec accepts our config and writes on top of our databases: a
    // per-process database and (on a copy of the item) the merged root.
    let extra_key = b"zz.extra/.zarray".to_vec();
    let extra_value = b"{\"zarr_format\":2}".to_vec();
    let orbax_proc = root.join("orbax_proc");
    let proc_model = model(100, "", 6);
    write(&orbax_proc, WriterOptions::default(), &proc_model);
    let item_copy = root.join("item_copy");
    copy_dir(&item, &item_copy);
    let mut orbax_expected = BTreeMap::new();
    for (name, dir, mut m) in [
        ("orbax_write_process", orbax_proc.clone(), proc_model),
        ("orbax_write_root", item_copy.clone(), union),
    ] {
        jobs.push(json!({
            "name": name, "dir": dir.to_str().unwrap(), "action": "orbax_write",
            "key_hex": hex::encode(&extra_key), "value_hex": hex::encode(&extra_value),
        }));
        m.insert(extra_key.clone(), extra_value.clone());
        orbax_expected.insert(name, (dir, m));
    }

    // Negative control: the same database with config zstd level 3 must be refused.
    let level3 = root.join("orbax_level3");
    let mut o = WriterOptions::default();
    o.config.compression = Compression::Zstd { level: 3 };
    write(&level3, o, &model(10, "", 7));
    jobs.push(json!({
        "name": "orbax_write_level3", "dir": level3.to_str().unwrap(), "action": "orbax_write",
        "key_hex": hex::encode(&extra_key), "value_hex": hex::encode(&extra_value),
    }));

    // Orbax's own merge of our process databases.
    let orbax_item = root.join("orbax_item");
    for p in ["ocdbt.process_0", "ocdbt.process_1"] {
        copy_dir(&item.join(p), &orbax_item.join(p));
    }
    jobs.push(json!({"name": "orbax_merge", "dir": orbax_item.to_str().unwrap(), "action": "orbax_merge"}));

    let jobs_path = root.join("jobs.json");
    let result_path = root.join("result.json");
    std::fs::write(&jobs_path, serde_json::to_vec(&jobs).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tensorstore_read.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&jobs_path)
        .arg(&result_path)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{} failed: {}\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&result_path).unwrap()).unwrap();

    for (name, m) in &expected {
        let got = entries_of(&result, name);
        assert_eq!(got.len(), m.len(), "{name}: number of keys");
        assert!(
            got == *m,
            "{name}: TensorStore read different keys or values"
        );
        println!("tensorstore read {name}: {} keys OK", got.len());
    }
    for (name, (dir, m)) in &orbax_expected {
        let got = entries_of(&result, name);
        assert!(
            got == *m,
            "{name}: TensorStore read different keys or values after its write"
        );
        // TensorStore committed generation 2 on top of ours; our reader follows it.
        let (db, ours) = read_with_rust(dir);
        assert_eq!(db.latest_generation(), 2, "{name}");
        assert!(
            ours == *m,
            "{name}: our reader disagrees after TensorStore's write"
        );
        println!(
            "orbax MERGE-spec write into {name}: OK ({} keys)",
            got.len()
        );
    }
    let refused = &result["orbax_write_level3"];
    assert_eq!(
        refused["ok"],
        json!(false),
        "a config with zstd level 3 was accepted"
    );
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("does not match"), "{error}");
    println!("orbax MERGE-spec write into a level-3 config: refused as expected");

    // Orbax's merge and ours produce the same leaf values: inline copies and references to the
    // same process data file ranges through the same base paths.
    let orbax_root = entries_of(&result, "orbax_merge");
    assert!(
        orbax_root == expected["item_root"],
        "Orbax's merge of our databases differs"
    );
    let values = |dir: &Path| {
        let db = Database::open(Arc::new(FileStore::new(dir))).unwrap();
        let mut out = Vec::new();
        db.latest()
            .for_each_value(b"", None, |k, v| {
                out.push((k.to_vec(), describe(v)));
                Ok(())
            })
            .unwrap();
        (out, db.latest().version().statistics)
    };
    let (ours, our_stats) = values(&item);
    let (theirs, their_stats) = values(&orbax_item);
    assert_eq!(ours, theirs);
    assert_eq!(our_stats.num_keys, their_stats.num_keys);
    assert_eq!(
        our_stats.num_indirect_value_bytes,
        their_stats.num_indirect_value_bytes
    );
    println!(
        "orbax merge of our process databases: {} leaf values identical to our merge",
        ours.len()
    );
}

/// A leaf value with the file named by its full path parts, comparable across databases.
fn describe(v: &LeafValue) -> (bool, Vec<u8>, Vec<u8>, Vec<u8>, u64, u64) {
    match v {
        LeafValue::Inline(b) => (true, b.to_vec(), vec![], vec![], 0, b.len() as u64),
        LeafValue::OutOfLine(r) => (
            false,
            vec![],
            r.file.base_path.clone(),
            r.file.relative_path.clone(),
            r.offset,
            r.length,
        ),
    }
}
