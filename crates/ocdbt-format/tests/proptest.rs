//! Property tests: every encoder's output decodes to the same structure, and no decoder
//! panics on arbitrary or mutated bytes.

use std::sync::Arc;

use bytes::Bytes;
use orbax_ocdbt_format::envelope::{decode_envelope, encode_envelope};
use orbax_ocdbt_format::*;
use proptest::prelude::*;

/// Small alphabets make shared prefixes (and thus prefix compression) common.
fn short_bytes(alphabet: &'static [u8], max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(alphabet), 0..max)
}

fn file_id() -> impl Strategy<Value = Arc<DataFileId>> {
    (short_bytes(b"ab/", 5), short_bytes(b"d/0f", 8))
        .prop_map(|(base, rel)| Arc::new(DataFileId::new(base, rel)))
}

fn reference() -> impl Strategy<Value = IndirectDataReference> {
    (file_id(), 0..=(1u64 << 62), 0..=(1u64 << 62))
        .prop_map(|(file, offset, length)| IndirectDataReference::new(file, offset, length))
}

fn statistics() -> impl Strategy<Value = BtreeNodeStatistics> {
    (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c)| BtreeNodeStatistics {
        num_keys: a,
        num_tree_bytes: b,
        num_indirect_value_bytes: c,
    })
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        short_bytes(b"ab\x00\xff", 6),
        prop::collection::vec(any::<u8>(), 0..12)
    ]
}

fn leaf_value() -> impl Strategy<Value = LeafValue> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24).prop_map(|v| LeafValue::Inline(Bytes::from(v))),
        reference().prop_map(LeafValue::OutOfLine),
    ]
}

fn leaf_node() -> impl Strategy<Value = BtreeNode> {
    prop::collection::btree_map(key(), leaf_value(), 1..24).prop_map(|m| BtreeNode {
        height: 0,
        entries: BtreeNodeEntries::Leaf(
            m.into_iter()
                .map(|(key, value)| LeafEntry { key, value })
                .collect(),
        ),
    })
}

fn interior_node() -> impl Strategy<Value = BtreeNode> {
    (
        1u8..=255,
        prop::collection::btree_map(key(), (any::<usize>(), reference(), statistics()), 1..16),
    )
        .prop_map(|(height, m)| BtreeNode {
            height,
            entries: BtreeNodeEntries::Interior(
                m.into_iter()
                    .map(|(key, (scp, location, statistics))| InteriorEntry {
                        subtree_common_prefix_length: scp % (key.len() + 1),
                        key,
                        node: BtreeNodeReference {
                            location,
                            statistics,
                        },
                    })
                    .collect(),
            ),
        })
}

fn btree_node() -> impl Strategy<Value = BtreeNode> {
    prop_oneof![leaf_node(), interior_node()]
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        (MIN_ZSTD_LEVEL..=MAX_ZSTD_LEVEL).prop_map(|level| Compression::Zstd { level }),
    ]
}

/// Strictly increasing commit times starting above `start`.
fn commit_times(start: u64, n: usize) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(1u64..1_000_000, n).prop_map(move |steps| {
        steps
            .iter()
            .scan(start, |t, s| {
                *t += s;
                Some(*t)
            })
            .collect()
    })
}

fn generation_root() -> impl Strategy<Value = (u8, Option<BtreeNodeReference>)> {
    prop_oneof![
        Just((0u8, None)),
        (any::<u8>(), reference(), statistics()).prop_map(|(h, location, statistics)| (
            h,
            Some(BtreeNodeReference {
                location,
                statistics
            })
        )),
    ]
}

/// A valid version leaf array for arity `2^a`: positions within one aligned block.
fn version_leaf(a: u8, time_base: u64) -> impl Strategy<Value = Vec<BtreeGenerationReference>> {
    let arity = 1u64 << a;
    (
        0u64..1000,
        prop::collection::btree_set(0..arity, 1..=(arity.min(16) as usize)),
    )
        .prop_flat_map(move |(block, positions)| {
            let n = positions.len();
            (
                Just(block),
                Just(positions),
                prop::collection::vec(generation_root(), n),
                commit_times(time_base, n),
            )
        })
        .prop_map(move |(block, positions, roots, times)| {
            positions
                .into_iter()
                .zip(roots)
                .zip(times)
                .map(
                    |((pos, (root_height, root)), commit_time)| BtreeGenerationReference {
                        generation_number: block * arity + pos + 1,
                        root_height,
                        root,
                        commit_time,
                    },
                )
                .collect()
        })
}

fn version_interior(a: u8, h: u8) -> impl Strategy<Value = Vec<VersionNodeReference>> {
    let arity = 1u64 << a;
    let stride = 1u64 << (u32::from(a) * u32::from(h));
    let block = 1u64 << (u32::from(a) * (u32::from(h) + 1));
    let max_block_index = (u64::MAX / block).saturating_sub(1).min(1000);
    (
        0..=max_block_index,
        prop::collection::btree_set(0..arity, 1..=(arity.min(16) as usize)),
    )
        .prop_flat_map(move |(k, children)| {
            let n = children.len();
            (
                Just(k),
                Just(children),
                prop::collection::vec((reference(), any::<u64>()), n),
                commit_times(0, n),
            )
        })
        .prop_map(move |(k, children, refs, times)| {
            children
                .into_iter()
                .zip(refs)
                .zip(times)
                .map(|((j, (location, ng)), commit_time)| VersionNodeReference {
                    generation_number: k * block + (j + 1) * stride,
                    location,
                    num_generations: ng % stride + 1,
                    commit_time,
                    height: h - 1,
                })
                .collect()
        })
}

fn version_node() -> impl Strategy<Value = VersionTreeNode> {
    (1u8..=6).prop_flat_map(|a| {
        let leaf = version_leaf(a, 0).prop_map(move |v| VersionTreeNode {
            version_tree_arity_log2: a,
            height: 0,
            entries: VersionTreeEntries::Leaf(v),
        });
        let interior = (1..=max_version_tree_height(a)).prop_flat_map(move |h| {
            version_interior(a, h).prop_map(move |v| VersionTreeNode {
                version_tree_arity_log2: a,
                height: h,
                entries: VersionTreeEntries::Interior(v),
            })
        });
        prop_oneof![leaf, interior]
    })
}

fn config() -> impl Strategy<Value = Config> {
    (
        any::<[u8; 16]>(),
        any::<u32>(),
        any::<u32>(),
        1u8..=MAX_VERSION_TREE_ARITY_LOG2,
        compression(),
    )
        .prop_map(|(uuid, inline, decoded, a, compression)| Config {
            uuid,
            manifest_kind: ManifestKind::Single,
            max_inline_value_bytes: inline,
            max_decoded_node_bytes: decoded,
            version_tree_arity_log2: a,
            compression,
        })
}

fn manifest() -> impl Strategy<Value = Manifest> {
    const INLINE_TIMES: u64 = 1 << 40;
    (config(), any::<bool>()).prop_flat_map(|(config, config_only)| {
        if config_only {
            let mut config = config;
            config.manifest_kind = ManifestKind::Numbered;
            return Just(Manifest {
                config,
                versions: vec![],
                version_tree_nodes: vec![],
            })
            .boxed();
        }
        let a = config.version_tree_arity_log2;
        version_leaf(a, INLINE_TIMES)
            .prop_flat_map(move |versions| {
                let latest = versions.last().unwrap().generation_number;
                let ranges = manifest_version_node_ranges(a, latest);
                let n = ranges.len();
                (
                    Just(versions),
                    Just(ranges),
                    prop::collection::vec(
                        (any::<bool>(), any::<u64>(), reference(), any::<u64>()),
                        n,
                    ),
                    commit_times(0, n),
                )
            })
            .prop_map(move |(versions, ranges, picks, times)| {
                // Listed from the greatest height (oldest) down to height 1.
                let version_tree_nodes = ranges
                    .iter()
                    .rev()
                    .zip(picks.iter().rev())
                    .zip(times)
                    .filter(|((_, (present, ..)), _)| *present)
                    .map(|((&(min, max, h), (_, g, location, ng)), commit_time)| {
                        VersionNodeReference {
                            generation_number: min + g % (max - min + 1),
                            location: location.clone(),
                            num_generations: *ng,
                            commit_time,
                            height: h,
                        }
                    })
                    .collect();
                Manifest {
                    config: config.clone(),
                    versions,
                    version_tree_nodes,
                }
            })
            .boxed()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn btree_nodes_round_trip(node in btree_node(), compression in compression()) {
        let encoded = encode_btree_node(&node, compression).unwrap();
        prop_assert_eq!(decode_btree_node(&encoded, b"").unwrap(), node);
    }

    #[test]
    fn version_nodes_round_trip(node in version_node(), compression in compression()) {
        let encoded = encode_version_tree_node(&node, compression).unwrap();
        prop_assert_eq!(decode_version_tree_node(&encoded, b"").unwrap(), node);
    }

    #[test]
    fn manifests_round_trip(m in manifest()) {
        let encoded = encode_manifest(&m).unwrap();
        prop_assert_eq!(decode_manifest(&encoded).unwrap(), m);
    }

    #[test]
    fn envelopes_round_trip(body in prop::collection::vec(any::<u8>(), 0..2000), compression in compression()) {
        let encoded = encode_envelope(Magic::VersionNode, &body, compression).unwrap();
        prop_assert_eq!(&decode_envelope(&encoded, Magic::VersionNode).unwrap()[..], &body[..]);
    }

    #[test]
    fn encoding_is_canonical(node in btree_node()) {
        // Decoding and re-encoding TensorStore-style output is the identity on bytes.
        let body = encode_btree_node_body(&node).unwrap();
        let decoded = decode_btree_node_body(&Bytes::from(body.clone()), b"").unwrap();
        prop_assert_eq!(encode_btree_node_body(&decoded).unwrap(), body);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_manifest(&bytes);
        let _ = decode_btree_node(&bytes, b"");
        let _ = decode_version_tree_node(&bytes, b"base/");
        let body = Bytes::from(bytes);
        let _ = decode_manifest_body(&body);
        let _ = decode_btree_node_body(&body, b"");
        let _ = decode_version_tree_node_body(&body, b"");
    }

    #[test]
    fn arbitrary_bodies_in_valid_envelopes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        zstd in any::<bool>(),
    ) {
        let compression = if zstd { Compression::Zstd { level: 1 } } else { Compression::None };
        for magic in [Magic::Manifest, Magic::BtreeNode, Magic::VersionNode] {
            let encoded = encode_envelope(magic, &bytes, compression).unwrap();
            let _ = decode_manifest(&encoded);
            let _ = decode_btree_node(&encoded, b"");
            let _ = decode_version_tree_node(&encoded, b"");
        }
    }
}

/// Applies byte edits to a valid body, so that decoding gets past the first fields.
fn mutate(mut body: Vec<u8>, edits: &[(usize, u8)]) -> Bytes {
    for &(pos, value) in edits {
        if body.is_empty() {
            break;
        }
        let i = pos % body.len();
        body[i] = value;
    }
    Bytes::from(body)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn mutated_btree_nodes_never_panic(
        node in btree_node(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let body = encode_btree_node_body(&node).unwrap();
        let mutated = mutate(body.clone(), &edits);
        let _ = decode_btree_node_body(&mutated, b"");
        let truncated = Bytes::from(body[..cut % (body.len() + 1)].to_vec());
        if truncated.len() < body.len() {
            prop_assert!(decode_btree_node_body(&truncated, b"").is_err());
        }
    }

    #[test]
    fn mutated_version_nodes_never_panic(
        node in version_node(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let body = encode_version_tree_node_body(&node).unwrap();
        let _ = decode_version_tree_node_body(&mutate(body, &edits), b"");
    }

    #[test]
    fn mutated_manifests_never_panic(
        m in manifest(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let body = encode_manifest_body(&m).unwrap();
        let _ = decode_manifest_body(&mutate(body.clone(), &edits));
        let truncated = Bytes::from(body[..cut % (body.len() + 1)].to_vec());
        if truncated.len() < body.len() {
            prop_assert!(decode_manifest_body(&truncated).is_err());
        }
    }

    #[test]
    fn flipped_bits_in_an_envelope_are_detected(
        node in leaf_node(),
        bit in any::<usize>(),
    ) {
        let encoded = encode_btree_node(&node, Compression::None).unwrap();
        let mut corrupted = encoded.clone();
        let bit = bit % (encoded.len() * 8);
        corrupted[bit / 8] ^= 1 << (bit % 8);
        let err = decode_btree_node(&corrupted, b"").unwrap_err();
        let declared = u64::from_le_bytes(corrupted[4..12].try_into().unwrap());
        let expected = match bit / 8 {
            0..=3 => "ERR_OCDBT_CORRUPT",
            4..=11 if declared > MAX_OBJECT_BYTES => "ERR_OCDBT_TOO_LARGE",
            4..=11 => "ERR_OCDBT_TRUNCATED",
            _ => "ERR_OCDBT_CHECKSUM",
        };
        prop_assert_eq!(err.code(), expected, "{:?}", err);
    }
}

#[test]
fn unsorted_keys_are_refused_by_the_encoder() {
    let node = BtreeNode {
        height: 0,
        entries: BtreeNodeEntries::Leaf(vec![
            LeafEntry {
                key: b"b".to_vec(),
                value: LeafValue::Inline(Bytes::new()),
            },
            LeafEntry {
                key: b"a".to_vec(),
                value: LeafValue::Inline(Bytes::new()),
            },
        ]),
    };
    let err = encode_btree_node(&node, Compression::None).unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARGUMENT");
}
