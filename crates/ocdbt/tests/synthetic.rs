//! Databases built with the format crate's encoders: random trees against a model, base-path
//! resolution, and parent/child rule violations.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::builder::*;
use orbax_kvstore::MemoryStore;
use orbax_ocdbt::format::{Compression, DataFileId, IndirectDataReference, LeafValue};
use orbax_ocdbt::{prefix_range, Database, Error};
use proptest::prelude::*;

fn open(store: MemoryStore) -> Database {
    Database::open(Arc::new(store)).unwrap()
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(&b"ab/\x00\xff"[..]), 0..7)
}

fn model_keys(model: &BTreeMap<Vec<u8>, Vec<u8>>, lo: &[u8], hi: Option<&[u8]>) -> Vec<Vec<u8>> {
    model
        .keys()
        .filter(|k| k.as_slice() >= lo && hi.is_none_or(|hi| k.as_slice() < hi))
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn random_trees_behave_like_a_sorted_map(
        model in prop::collection::btree_map(key(), prop::collection::vec(any::<u8>(), 0..40), 0..80),
        leaf_sizes in prop::collection::vec(1usize..6, 1..4),
        interior_sizes in prop::collection::vec(2usize..5, 1..4),
        zstd in any::<bool>(),
        probes in prop::collection::vec(key(), 1..20),
        ranges in prop::collection::vec((key(), prop::option::of(key())), 1..10),
    ) {
        let compression = if zstd { Compression::Zstd { level: 0 } } else { Compression::None };
        let mut b = DbBuilder::new(compression);
        let entries: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
        let (root, height) = build_tree(&mut b, &entries, &leaf_sizes, &interior_sizes, 16);
        let manifest = b.manifest(root, height);
        let db = open(b.into_store(manifest));

        let listed = db.list(b"", None).unwrap();
        prop_assert_eq!(listed.len(), model.len());
        for (entry, (k, v)) in listed.iter().zip(&model) {
            prop_assert_eq!(&entry.key, k);
            prop_assert_eq!(entry.value_length, v.len() as u64);
            prop_assert_eq!(&db.get(k).unwrap().unwrap()[..], &v[..]);
        }
        for probe in &probes {
            prop_assert_eq!(db.get(probe).unwrap().map(|b| b.to_vec()), model.get(probe).cloned());
            let (lo, hi) = prefix_range(probe);
            let got: Vec<Vec<u8>> = db.list_prefix(probe).unwrap().into_iter().map(|e| e.key).collect();
            prop_assert_eq!(got, model_keys(&model, &lo, hi.as_deref()));
        }
        for (lo, hi) in &ranges {
            let got: Vec<Vec<u8>> = db.list(lo, hi.as_deref()).unwrap().into_iter().map(|e| e.key).collect();
            prop_assert_eq!(got, model_keys(&model, lo, hi.as_deref()));
        }
        prop_assert_eq!(db.latest().version().statistics.num_keys, model.len() as u64);
    }
}

#[test]
fn implicit_prefixes_are_concatenated_along_the_path() {
    let mut b = DbBuilder::new(Compression::None);
    // Leaf under implicit prefix "params.layer_1": keys "4.w" and "5.b".
    let leaf1 = b.node(
        b"",
        b"d/n",
        &leaf(vec![
            (b"4.w".to_vec(), inline(b"A")),
            (b"5.b".to_vec(), inline(b"B")),
        ]),
    );
    let leaf0 = b.node(
        b"",
        b"d/n",
        &leaf(vec![(b"params.a".to_vec(), inline(b"C"))]),
    );
    // Root entry "params.layer_14.w" with subtree_common_prefix_length 14.
    let root = interior(
        1,
        vec![
            (b"params.a".to_vec(), 0, leaf0),
            (b"params.layer_14.w".to_vec(), 14, leaf1),
        ],
    );
    let root = b.node(b"", b"d/n", &root);
    let manifest = b.manifest(Some(root), 1);
    let db = open(b.into_store(manifest));
    let keys: Vec<Vec<u8>> = db
        .list(b"", None)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(
        keys,
        vec![
            b"params.a".to_vec(),
            b"params.layer_14.w".to_vec(),
            b"params.layer_15.b".to_vec()
        ]
    );
    assert_eq!(db.get(b"params.layer_15.b").unwrap().unwrap(), &b"B"[..]);
    // Past the last separator but without the child's prefix: absent, not an error.
    assert_eq!(db.get(b"params.lz").unwrap(), None);
    assert_eq!(db.get(b"params.layer_2").unwrap(), None);
}

#[test]
fn base_paths_resolve_transitively() {
    // Like Orbax's merged root and TensorStore's `w_b_zstd`: the tree lives under "sub/" and
    // is reached with base path "sub/"; inside its nodes, table entries resolve under "sub/".
    let mut b = DbBuilder::new(Compression::Zstd { level: 0 });
    let value_in_sub = b.append(b"sub/", b"d/values", b"out-of-line value in sub/");
    let value_in_other = b.append(b"sub/other/", b"d/values", b"value in sub/other/");
    // Nodes under "sub/" name files relative to "sub/".
    let relative = |r: &IndirectDataReference, base: &[u8]| {
        IndirectDataReference::new(
            Arc::new(DataFileId::new(base, r.file.relative_path.clone())),
            r.offset,
            r.length,
        )
    };
    let leaf_node = leaf(vec![
        (
            b"k1".to_vec(),
            LeafValue::OutOfLine(relative(&value_in_sub, b"")),
        ),
        (
            b"k2".to_vec(),
            LeafValue::OutOfLine(relative(&value_in_other, b"other/")),
        ),
        (b"k3".to_vec(), inline(b"inline")),
    ]);
    let mut leaf_ref = b.node(b"sub/", b"d/nodes", &leaf_node);
    leaf_ref.location = relative(&leaf_ref.location, b"");
    let root = interior(1, vec![(b"k1".to_vec(), 0, leaf_ref)]);
    let root_ref = b.node(b"sub/", b"d/nodes", &root);
    assert_eq!(root_ref.location.file.base_path, b"sub/");
    let manifest = b.manifest(Some(root_ref), 1);
    let mut store = b.into_store(manifest);
    // Decoys at the unprefixed paths: resolving without the base path would read them.
    store.insert(&b"d/nodes"[..], &b"decoy"[..]);
    store.insert(&b"d/values"[..], &b"decoy"[..]);
    let db = open(store);
    assert_eq!(
        db.get(b"k1").unwrap().unwrap(),
        &b"out-of-line value in sub/"[..]
    );
    assert_eq!(db.get(b"k2").unwrap().unwrap(), &b"value in sub/other/"[..]);
    assert_eq!(db.get(b"k3").unwrap().unwrap(), &b"inline"[..]);
    match db.latest().lookup(b"k2").unwrap().unwrap() {
        LeafValue::OutOfLine(r) => {
            assert_eq!(r.file.base_path, b"sub/other/");
            assert_eq!(r.file.relative_path, b"d/values");
        }
        other => panic!("{other:?}"),
    }
}

fn two_leaf_db(
    second_entry_key: &[u8],
    second_leaf_keys: &[&[u8]],
    first_leaf_keys: &[&[u8]],
) -> Result<Database, Error> {
    let mut b = DbBuilder::new(Compression::None);
    let mk = |keys: &[&[u8]]| leaf(keys.iter().map(|k| (k.to_vec(), inline(b"v"))).collect());
    let l0 = b.node(b"", b"d/n", &mk(first_leaf_keys));
    let l1 = b.node(b"", b"d/n", &mk(second_leaf_keys));
    let root = interior(
        1,
        vec![(b"a".to_vec(), 0, l0), (second_entry_key.to_vec(), 0, l1)],
    );
    let root = b.node(b"", b"d/n", &root);
    let manifest = b.manifest(Some(root), 1);
    Database::open(Arc::new(b.into_store(manifest)))
}

#[test]
fn children_outside_their_parent_interval_are_rejected() {
    let ok = two_leaf_db(b"m", &[b"m", b"n"], &[b"a", b"b"]).unwrap();
    assert_eq!(ok.list(b"", None).unwrap().len(), 4);

    // The second child's first key "l" is below its entry key "m".
    let db = two_leaf_db(b"m", &[b"l", b"n"], &[b"a", b"b"]).unwrap();
    let err = db.get(b"n").unwrap_err();
    assert_eq!(err.code(), "ERR_OCDBT_CORRUPT");
    assert!(err.to_string().contains("inclusive minimum"), "{err}");
    assert!(err.to_string().contains("mem://db/d/n["), "{err}");
    assert!(db.list(b"", None).is_err());

    // The first child's last key "x" is not below the next entry key "m".
    let db = two_leaf_db(b"m", &[b"m", b"n"], &[b"a", b"x"]).unwrap();
    let err = db.get(b"a").unwrap_err();
    assert_eq!(err.code(), "ERR_OCDBT_CORRUPT");
    assert!(err.to_string().contains("exclusive maximum"), "{err}");
    // Its sibling's subtree is still readable.
    assert_eq!(db.get(b"n").unwrap().unwrap(), &b"v"[..]);
}

#[test]
fn a_root_of_the_wrong_height_is_rejected() {
    let mut b = DbBuilder::new(Compression::None);
    let l = b.node(b"", b"d/n", &leaf(vec![(b"a".to_vec(), inline(b"v"))]));
    let manifest = b.manifest(Some(l), 1);
    let db = open(b.into_store(manifest));
    let err = db.get(b"a").unwrap_err();
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
    assert!(err.to_string().contains("expected height 1"), "{err}");
    assert_eq!(err.code(), "ERR_OCDBT_CORRUPT");
}

#[test]
fn an_empty_database_lists_nothing() {
    let b = DbBuilder::new(Compression::Zstd { level: 0 });
    let manifest = b.manifest(None, 0);
    let db = open(b.into_store(manifest));
    assert!(db.list(b"", None).unwrap().is_empty());
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.generations().unwrap().len(), 1);
}
