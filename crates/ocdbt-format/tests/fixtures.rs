//! Decodes every object of the TensorStore- and Orbax-written fixture databases by following
//! references from their manifests, and checks that re-encoding each decoded body reproduces
//! TensorStore's bytes exactly.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use orbax_ocdbt_format::envelope::decode_envelope;
use orbax_ocdbt_format::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

fn read_range(root: &Path, r: &IndirectDataReference) -> Vec<u8> {
    thread_local! {
        static FILES: std::cell::RefCell<HashMap<PathBuf, Vec<u8>>> = Default::default();
    }
    let path = root.join(String::from_utf8(r.file.full_path()).unwrap());
    FILES.with(|files| {
        let mut files = files.borrow_mut();
        let data = files.entry(path.clone()).or_insert_with(|| {
            fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        });
        data[r.offset as usize..(r.offset + r.length) as usize].to_vec()
    })
}

#[derive(Default)]
struct Walk {
    btree_nodes: HashSet<(Vec<u8>, u64, u64)>,
    version_nodes: usize,
    generations: Vec<BtreeGenerationReference>,
    raw_envelopes: usize,
}

/// Re-encoding must reproduce the body (and, for uncompressed objects, the whole envelope).
fn check_body(
    encoded: &[u8],
    body: &Bytes,
    reencoded_body: Vec<u8>,
    magic: Magic,
    walk: &mut Walk,
) {
    assert_eq!(
        hex(&reencoded_body),
        hex(body),
        "re-encoded {} body differs",
        magic.name()
    );
    if encoded[13] == 0 {
        let envelope =
            envelope::encode_envelope(magic, &reencoded_body, Compression::None).unwrap();
        assert_eq!(envelope, encoded);
        walk.raw_envelopes += 1;
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn walk_btree(
    root: &Path,
    r: &BtreeNodeReference,
    height: u8,
    walk: &mut Walk,
) -> BtreeNodeStatistics {
    let encoded = read_range(root, &r.location);
    let node = decode_btree_node(&encoded, &r.location.file.base_path).unwrap();
    assert_eq!(node.height, height);
    let key = (
        r.location.file.full_path(),
        r.location.offset,
        r.location.length,
    );
    if walk.btree_nodes.insert(key) {
        let body = decode_envelope(&encoded, Magic::BtreeNode).unwrap();
        // Decode with an empty transitive path so that the table re-encodes as stored.
        let plain = decode_btree_node_body(&body, b"").unwrap();
        check_body(
            &encoded,
            &body,
            encode_btree_node_body(&plain).unwrap(),
            Magic::BtreeNode,
            walk,
        );
        let zstd = encode_btree_node(&plain, Compression::Zstd { level: 0 }).unwrap();
        assert_eq!(decode_btree_node(&zstd, b"").unwrap(), plain);
    }
    let mut stats = node.statistics(r.location.length);
    if let BtreeNodeEntries::Interior(children) = &node.entries {
        let mut sum = BtreeNodeStatistics::default();
        for child in children {
            sum += walk_btree(root, &child.node, height - 1, walk);
        }
        sum.num_tree_bytes += r.location.length;
        stats = sum;
    }
    assert_eq!(stats, r.statistics, "statistics of {:?}", r.location);
    stats
}

fn walk_version_node(root: &Path, a: u8, r: &VersionNodeReference, walk: &mut Walk) {
    let encoded = read_range(root, &r.location);
    let node = decode_version_tree_node(&encoded, &r.location.file.base_path).unwrap();
    validate_version_node_reference(&node, a, r.height, r.generation_number).unwrap();
    let body = decode_envelope(&encoded, Magic::VersionNode).unwrap();
    let plain = decode_version_tree_node_body(&body, b"").unwrap();
    check_body(
        &encoded,
        &body,
        encode_version_tree_node_body(&plain).unwrap(),
        Magic::VersionNode,
        walk,
    );
    walk.version_nodes += 1;
    let before = walk.generations.len();
    match &node.entries {
        VersionTreeEntries::Leaf(versions) => walk.generations.extend(versions.iter().cloned()),
        VersionTreeEntries::Interior(children) => {
            for c in children {
                walk_version_node(root, a, c, walk);
            }
        }
    }
    let under = &walk.generations[before..];
    assert_eq!(under.len() as u64, r.num_generations);
    assert_eq!(under[0].commit_time, r.commit_time);
}

fn walk_manifest(root: &Path, file: &str) -> (Manifest, Walk) {
    let encoded = fs::read(root.join(file)).unwrap();
    let manifest = decode_manifest(&encoded).unwrap();
    let mut walk = Walk::default();
    let body = decode_envelope(&encoded, Magic::Manifest).unwrap();
    check_body(
        &encoded,
        &body,
        encode_manifest_body(&manifest).unwrap(),
        Magic::Manifest,
        &mut walk,
    );
    if manifest.is_config_only() {
        return (manifest, walk);
    }
    let a = manifest.config.version_tree_arity_log2;
    for r in &manifest.version_tree_nodes {
        walk_version_node(root, a, r, &mut walk);
    }
    walk.generations.extend(manifest.versions.iter().cloned());
    let generations: Vec<u64> = walk
        .generations
        .iter()
        .map(|g| g.generation_number)
        .collect();
    let expected: Vec<u64> = (1..=generations.len() as u64).collect();
    assert_eq!(generations, expected, "{}", root.display());
    for g in walk.generations.clone() {
        if let Some(r) = &g.root {
            walk_btree(root, r, g.root_height, &mut walk);
        }
    }
    (manifest, walk)
}

#[test]
fn tsdb_small_nodes_every_object_round_trips() {
    let root = fixtures().join("ocdbt/tsdb_small_nodes");
    let (manifest, walk) = walk_manifest(&root, "manifest.ocdbt");
    assert_eq!(manifest.config.max_decoded_node_bytes, 2048);
    assert!(manifest.versions.last().unwrap().root_height >= 2);
    assert!(!manifest.version_tree_nodes.is_empty());
    assert!(walk.version_nodes >= 1);
    assert!(walk.btree_nodes.len() > 100, "{}", walk.btree_nodes.len());
}

#[test]
fn tsdb_raw_arity1_deep_version_tree_round_trips_byte_for_byte() {
    let root = fixtures().join("ocdbt/tsdb_raw_arity1");
    let (manifest, walk) = walk_manifest(&root, "manifest.ocdbt");
    assert_eq!(manifest.config.version_tree_arity_log2, 1);
    assert_eq!(manifest.config.compression, Compression::None);
    assert!(manifest.version_tree_nodes.len() >= 4);
    assert!(walk.version_nodes > 10);
    // Uncompressed: every manifest/node envelope was rebuilt identically.
    assert_eq!(
        walk.raw_envelopes,
        1 + walk.version_nodes + walk.btree_nodes.len()
    );
}

#[test]
fn tsdb_default_starts_with_an_empty_generation() {
    let root = fixtures().join("ocdbt/tsdb_default");
    let (manifest, walk) = walk_manifest(&root, "manifest.ocdbt");
    assert_eq!(manifest.config.max_inline_value_bytes, 100);
    assert_eq!(manifest.config.max_decoded_node_bytes, 8388608);
    assert!(walk.generations[0].root.is_none());
    assert!(walk.generations.last().unwrap().root.is_some());
}

#[test]
fn tsdb_numbered_manifests_decode() {
    let root = fixtures().join("ocdbt/tsdb_numbered");
    let (top, _) = walk_manifest(&root, "manifest.ocdbt");
    assert!(top.is_config_only());
    assert_eq!(top.config.manifest_kind, ManifestKind::Numbered);
    let mut seen = 0;
    for entry in fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(g) = parse_numbered_manifest_name(name.as_bytes()) else {
            continue;
        };
        let (m, walk) = walk_manifest(&root, &name);
        assert_eq!(m.config.manifest_kind, ManifestKind::Single);
        assert_eq!(m.latest().unwrap().generation_number, g);
        assert_eq!(walk.generations.len() as u64, g);
        let mut config = m.config.clone();
        config.manifest_kind = ManifestKind::Numbered;
        assert_eq!(config, top.config);
        seen += 1;
    }
    assert_eq!(seen, 21);
}

#[test]
fn orbax_merged_root_references_process_databases_through_base_paths() {
    let root = fixtures().join("ocdbt/orbax_merge2");
    let (manifest, walk) = walk_manifest(&root, "manifest.ocdbt");
    assert_eq!(manifest.config, Config::orbax(manifest.config.uuid));
    assert_eq!(walk.generations.len(), 1);
    // The root leaf's table holds both per-process base paths.
    let leaf = manifest.versions[0].root.as_ref().unwrap();
    let node = decode_btree_node(&read_range(&root, &leaf.location), b"").unwrap();
    let BtreeNodeEntries::Leaf(entries) = &node.entries else {
        panic!("expected a leaf root");
    };
    let bases: HashSet<Vec<u8>> = entries
        .iter()
        .filter_map(|e| match &e.value {
            LeafValue::OutOfLine(r) => Some(r.file.base_path.clone()),
            LeafValue::Inline(_) => None,
        })
        .collect();
    assert!(bases.contains(&b"ocdbt.process_0/"[..]));
    assert!(bases.contains(&b"ocdbt.process_1/"[..]));
    for p in ["ocdbt.process_0", "ocdbt.process_1"] {
        walk_manifest(&root.join(p), "manifest.ocdbt");
    }
}

#[test]
fn every_orbax_fixture_manifest_decodes_and_round_trips() {
    fn find(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                find(&path, out);
            } else if path.file_name().unwrap() == "manifest.ocdbt" {
                out.push(path.parent().unwrap().to_path_buf());
            }
        }
    }
    let mut dbs = Vec::new();
    find(&fixtures().join("orbax-0.12.8"), &mut dbs);
    assert!(dbs.len() >= 30, "{}", dbs.len());
    for db in dbs {
        let (m, walk) = walk_manifest(&db, "manifest.ocdbt");
        assert_eq!(m.config, Config::orbax(m.config.uuid), "{}", db.display());
        assert!(!walk.btree_nodes.is_empty());
    }
}
