//! Builds small OCDBT databases with the format crate's encoders, for tests that need shapes
//! or defects the fixtures do not have.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use orbax_kvstore::MemoryStore;
use orbax_ocdbt::format::{
    common_prefix_len, encode_btree_node, encode_manifest, BtreeGenerationReference, BtreeNode,
    BtreeNodeEntries, BtreeNodeReference, Compression, Config, DataFileId, IndirectDataReference,
    InteriorEntry, LeafEntry, LeafValue, Manifest,
};

/// Data files being assembled: full path → contents.
pub struct DbBuilder {
    pub files: BTreeMap<Vec<u8>, Vec<u8>>,
    pub compression: Compression,
}

impl DbBuilder {
    pub fn new(compression: Compression) -> Self {
        DbBuilder {
            files: BTreeMap::new(),
            compression,
        }
    }

    /// Appends `bytes` to the file `base ‖ rel`; the reference names it with that base path.
    pub fn append(&mut self, base: &[u8], rel: &[u8], bytes: &[u8]) -> IndirectDataReference {
        let file = Arc::new(DataFileId::new(base, rel));
        let content = self.files.entry(file.full_path()).or_default();
        let offset = content.len() as u64;
        content.extend_from_slice(bytes);
        IndirectDataReference::new(file, offset, bytes.len() as u64)
    }

    /// Encodes `node` and appends it to `base ‖ rel`.
    pub fn node(&mut self, base: &[u8], rel: &[u8], node: &BtreeNode) -> BtreeNodeReference {
        let encoded = encode_btree_node(node, self.compression).unwrap();
        let location = self.append(base, rel, &encoded);
        BtreeNodeReference {
            statistics: node.statistics(location.length),
            location,
        }
    }

    /// The manifest of a one-generation database with this root.
    pub fn manifest(&self, root: Option<BtreeNodeReference>, root_height: u8) -> Vec<u8> {
        let mut config = Config::orbax([9; 16]);
        config.compression = self.compression;
        encode_manifest(&Manifest {
            config,
            versions: vec![BtreeGenerationReference {
                generation_number: 1,
                root_height,
                root,
                commit_time: 1_700_000_000_000_000_000,
            }],
            version_tree_nodes: vec![],
        })
        .unwrap()
    }

    pub fn into_store(self, manifest: Vec<u8>) -> MemoryStore {
        let mut store = MemoryStore::new("mem://db");
        for (path, content) in self.files {
            store.insert(path, content);
        }
        store.insert(&b"manifest.ocdbt"[..], manifest);
        store
    }

    pub fn write_to(self, dir: &Path, manifest: Vec<u8>) {
        for (path, content) in self.files {
            let path = dir.join(String::from_utf8(path).unwrap());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        std::fs::write(dir.join("manifest.ocdbt"), manifest).unwrap();
    }
}

pub fn leaf(entries: Vec<(Vec<u8>, LeafValue)>) -> BtreeNode {
    BtreeNode {
        height: 0,
        entries: BtreeNodeEntries::Leaf(
            entries
                .into_iter()
                .map(|(key, value)| LeafEntry { key, value })
                .collect(),
        ),
    }
}

pub fn interior(height: u8, entries: Vec<(Vec<u8>, usize, BtreeNodeReference)>) -> BtreeNode {
    BtreeNode {
        height,
        entries: BtreeNodeEntries::Interior(
            entries
                .into_iter()
                .map(|(key, subtree_common_prefix_length, node)| InteriorEntry {
                    key,
                    subtree_common_prefix_length,
                    node,
                })
                .collect(),
        ),
    }
}

pub fn inline(v: &[u8]) -> LeafValue {
    LeafValue::Inline(Bytes::copy_from_slice(v))
}

struct Child {
    first_key: Vec<u8>,
    prefix_len: usize,
    reference: BtreeNodeReference,
}

/// Splits `n` items into consecutive runs whose sizes cycle through `sizes` (each ≥ 1).
fn runs(n: usize, sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while start < n {
        let size = sizes[i % sizes.len()].max(1);
        out.push(start..(start + size).min(n));
        start += size;
        i += 1;
    }
    out
}

/// Builds a B+tree over sorted `entries` the way TensorStore shapes one: leaves and interior
/// nodes of the given run sizes, each non-root node with the implicit prefix its keys share
/// (capped, for interior nodes, by its entries' own prefixes), the root with none. Values
/// longer than `inline_limit` go out of line into `d/values`.
pub fn build_tree(
    b: &mut DbBuilder,
    entries: &[(Vec<u8>, Vec<u8>)],
    leaf_sizes: &[usize],
    interior_sizes: &[usize],
    inline_limit: usize,
) -> (Option<BtreeNodeReference>, u8) {
    if entries.is_empty() {
        return (None, 0);
    }
    let groups = runs(entries.len(), leaf_sizes);
    let single = groups.len() == 1;
    let mut level: Vec<Child> = groups
        .into_iter()
        .map(|range| {
            let es = &entries[range];
            let prefix_len = if single {
                0
            } else {
                common_prefix_len(&es[0].0, &es[es.len() - 1].0)
            };
            let node = leaf(
                es.iter()
                    .map(|(k, v)| {
                        let value = if v.len() > inline_limit {
                            LeafValue::OutOfLine(b.append(b"", b"d/values", v))
                        } else {
                            inline(v)
                        };
                        (k[prefix_len..].to_vec(), value)
                    })
                    .collect(),
            );
            Child {
                first_key: es[0].0.clone(),
                prefix_len,
                reference: b.node(b"", b"d/nodes", &node),
            }
        })
        .collect();
    let mut height = 0u8;
    while level.len() > 1 {
        height += 1;
        let groups = runs(level.len(), interior_sizes);
        let single = groups.len() == 1;
        level = groups
            .into_iter()
            .map(|range| {
                let cs = &level[range];
                let prefix_len = if single {
                    0
                } else {
                    let keys = common_prefix_len(&cs[0].first_key, &cs[cs.len() - 1].first_key);
                    cs.iter().map(|c| c.prefix_len).min().unwrap().min(keys)
                };
                let node = interior(
                    height,
                    cs.iter()
                        .map(|c| {
                            (
                                c.first_key[prefix_len..].to_vec(),
                                c.prefix_len - prefix_len,
                                c.reference.clone(),
                            )
                        })
                        .collect(),
                );
                Child {
                    first_key: cs[0].first_key.clone(),
                    prefix_len,
                    reference: b.node(b"", b"d/nodes", &node),
                }
            })
            .collect();
    }
    (Some(level.pop().unwrap().reference), height)
}
