//! Building a B+tree bottom-up from sorted entries, splitting nodes like TensorStore's
//! `BtreeNodeEncoder::Finalize` (spec §9.3).

use std::ops::Range;

use orbax_ocdbt_format::{
    common_prefix_len, encode_btree_node, BtreeNode, BtreeNodeEntries, BtreeNodeReference,
    Compression, IndirectDataReference, InteriorEntry, LeafEntry, LeafValue, MAX_NODE_ARITY,
};

use crate::{Error, Result};

/// Fixed part of the estimated decoded size of a leaf entry (TensorStore `kLeafNodeFixedSize`).
const LEAF_ENTRY_FIXED_SIZE: u64 = 16;
/// Estimated decoded size of an out-of-line value reference, excluding its file id
/// (offset and length).
const VALUE_REFERENCE_SIZE: u64 = 16;
/// Fixed part of the estimated decoded size of an interior entry
/// (TensorStore `kInteriorNodeFixedSize`).
const INTERIOR_ENTRY_FIXED_SIZE: u64 = 56;

/// A finished tree.
#[derive(Debug)]
pub(crate) struct BuiltTree {
    /// The root node, with the statistics of the whole tree.
    pub root: BtreeNodeReference,
    /// Height of the root (0 = a single leaf).
    pub height: u8,
    /// Number of nodes written.
    pub num_nodes: u64,
}

/// A reference to a node of the level being built, as its parent will hold it.
struct ChildEntry {
    /// First full key of the child: the inclusive lower bound the parent stores.
    first_key: Vec<u8>,
    /// Length of the child's implicit prefix (absolute, i.e. counted from the start of
    /// `first_key`): becomes the parent's `subtree_common_prefix_length`.
    prefix_len: usize,
    node: BtreeNodeReference,
}

/// Estimated decoded size of a leaf entry (spec §9.3).
fn leaf_entry_size(key: &[u8], value: &LeafValue) -> u64 {
    let data = match value {
        LeafValue::Inline(bytes) => bytes.len() as u64,
        LeafValue::OutOfLine(r) => VALUE_REFERENCE_SIZE + r.file.full_path_len() as u64,
    };
    key.len() as u64 + LEAF_ENTRY_FIXED_SIZE + data
}

/// Estimated decoded size of an interior entry (spec §9.3).
fn interior_entry_size(child: &ChildEntry) -> u64 {
    child.first_key.len() as u64
        + INTERIOR_ENTRY_FIXED_SIZE
        + child.node.location.file.full_path_len() as u64
}

/// Splits `n` consecutive entries into nodes, TensorStore's way.
///
/// `size(i)` is the estimated decoded size of entry `i` (full key included) and `common` the
/// length of the prefix shared by all the keys of the level; a run of `m` entries is estimated
/// at the sum of its sizes minus `(m - 1) * common`. The number of nodes aims at
/// `ceil(total / max_node_bytes)`; entries are then taken greedily until a node reaches the
/// average size of the remaining nodes (never fewer than `min_arity` entries, backing off one
/// entry when that overshoots `max_node_bytes`).
///
/// Two deliberate differences from TensorStore: `max_node_bytes = 0` means "no limit" (as the
/// format documentation says) rather than "as many nodes as possible", and no node gets more
/// than [`MAX_NODE_ARITY`] entries, which readers reject.
fn partition(
    n: usize,
    size: impl Fn(usize) -> u64,
    common: u64,
    max_node_bytes: u64,
    min_arity: usize,
) -> Vec<Range<usize>> {
    let mut cumulative = Vec::with_capacity(n + 1);
    cumulative.push(0u64);
    for i in 0..n {
        let last = *cumulative.last().expect("non-empty");
        cumulative.push(last.saturating_add(size(i)));
    }
    let run_size = |start: usize, end: usize| {
        (cumulative[end] - cumulative[start]).saturating_sub((end - start - 1) as u64 * common)
    };
    let mut nodes = Vec::new();
    let mut start = 0;
    while start < n {
        let remaining = n - start;
        let upper = run_size(start, n);
        let mut num_nodes = remaining.div_ceil(min_arity) as u64;
        if max_node_bytes != 0 {
            num_nodes = num_nodes.min(upper.div_ceil(max_node_bytes));
        } else {
            num_nodes = 1;
        }
        num_nodes = num_nodes
            .max(remaining.div_ceil(MAX_NODE_ARITY) as u64)
            .max(1);
        let target = upper.div_ceil(num_nodes);
        let mut end = start + 1;
        while end < n {
            if end - start >= MAX_NODE_ARITY {
                break;
            }
            let size = run_size(start, end);
            if size >= target && end >= start + min_arity {
                if max_node_bytes != 0 && size > max_node_bytes && end > start + min_arity {
                    end -= 1;
                }
                break;
            }
            end += 1;
        }
        nodes.push(start..end);
        start = end;
    }
    nodes
}

/// Length of the prefix shared by every key of a sorted list: that of its first and last key.
fn level_common_prefix(first: &[u8], last: &[u8]) -> u64 {
    common_prefix_len(first, last) as u64
}

/// Encodes `node`, hands it to `store` and returns its reference with statistics.
fn write_node(
    node: &BtreeNode,
    compression: Compression,
    store: &mut dyn FnMut(Vec<u8>) -> Result<IndirectDataReference>,
) -> Result<BtreeNodeReference> {
    let encoded = encode_btree_node(node, compression).map_err(|source| Error::Encode {
        what: "b+tree node",
        source,
    })?;
    let statistics = node.statistics(encoded.len() as u64);
    let location = store(encoded)?;
    Ok(BtreeNodeReference {
        location,
        statistics,
    })
}

/// Builds the B+tree of `entries` (sorted by key, unique, non-empty): leaves first, then each
/// interior level, children before parents. `store` appends an encoded node to a data file
/// and returns where it went.
pub(crate) fn build_tree(
    entries: Vec<(Vec<u8>, LeafValue)>,
    max_decoded_node_bytes: u32,
    compression: Compression,
    store: &mut dyn FnMut(Vec<u8>) -> Result<IndirectDataReference>,
) -> Result<BuiltTree> {
    assert!(!entries.is_empty(), "an empty tree has no nodes");
    let max = u64::from(max_decoded_node_bytes);
    let mut num_nodes = 0u64;

    // Leaves.
    let common = level_common_prefix(&entries[0].0, &entries[entries.len() - 1].0);
    let groups = partition(
        entries.len(),
        |i| leaf_entry_size(&entries[i].0, &entries[i].1),
        common,
        max,
        1,
    );
    let single = groups.len() == 1;
    let mut level: Vec<ChildEntry> = Vec::with_capacity(groups.len());
    let mut entries = entries.into_iter();
    for group in groups {
        let items: Vec<(Vec<u8>, LeafValue)> = entries.by_ref().take(group.len()).collect();
        // The root is reached with an empty prefix; every other node omits the prefix its
        // first and last key share (so do all keys between them).
        let prefix_len = if single {
            0
        } else {
            common_prefix_len(&items[0].0, &items[items.len() - 1].0)
        };
        let first_key = items[0].0.clone();
        let node = BtreeNode {
            height: 0,
            entries: BtreeNodeEntries::Leaf(
                items
                    .into_iter()
                    .map(|(mut key, value)| {
                        key.drain(..prefix_len);
                        LeafEntry { key, value }
                    })
                    .collect(),
            ),
        };
        let node = write_node(&node, compression, store)?;
        num_nodes += 1;
        level.push(ChildEntry {
            first_key,
            prefix_len,
            node,
        });
    }
    if single {
        let root = level.pop().expect("one leaf").node;
        return Ok(BuiltTree {
            root,
            height: 0,
            num_nodes,
        });
    }

    // Interior levels, until one node remains.
    let mut height: u8 = 0;
    loop {
        height = height
            .checked_add(1)
            .ok_or_else(|| Error::InvalidArgument {
                what: "the b+tree would exceed 255 levels".into(),
            })?;
        let common = level_common_prefix(&level[0].first_key, &level[level.len() - 1].first_key);
        let groups = partition(
            level.len(),
            |i| interior_entry_size(&level[i]),
            common,
            max,
            2,
        );
        let single = groups.len() == 1;
        let mut parents: Vec<ChildEntry> = Vec::with_capacity(groups.len());
        let mut children = std::mem::take(&mut level).into_iter();
        for group in groups {
            let items: Vec<ChildEntry> = children.by_ref().take(group.len()).collect();
            // A node may omit only a prefix that every child's own prefix also covers,
            // because each entry's `subtree_common_prefix_length` is stored relative to it.
            let prefix_len = if single {
                0
            } else {
                let min_child_prefix = items.iter().map(|c| c.prefix_len).min().unwrap_or(0);
                min_child_prefix.min(common_prefix_len(
                    &items[0].first_key,
                    &items[items.len() - 1].first_key,
                ))
            };
            let first_key = items[0].first_key.clone();
            let node = BtreeNode {
                height,
                entries: BtreeNodeEntries::Interior(
                    items
                        .into_iter()
                        .map(|child| {
                            let mut key = child.first_key;
                            key.drain(..prefix_len);
                            InteriorEntry {
                                key,
                                subtree_common_prefix_length: child.prefix_len - prefix_len,
                                node: child.node,
                            }
                        })
                        .collect(),
                ),
            };
            let node = write_node(&node, compression, store)?;
            num_nodes += 1;
            parents.push(ChildEntry {
                first_key,
                prefix_len,
                node,
            });
        }
        if single {
            let root = parents.pop().expect("one node").node;
            return Ok(BuiltTree {
                root,
                height,
                num_nodes,
            });
        }
        level = parents;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(groups: &[Range<usize>]) -> Vec<usize> {
        groups.iter().map(|g| g.len()).collect()
    }

    #[test]
    fn no_limit_gives_one_node() {
        let g = partition(1000, |_| 100, 0, 0, 1);
        assert_eq!(sizes(&g), vec![1000]);
    }

    #[test]
    fn nodes_are_balanced_below_the_limit() {
        // 100 entries of 10 bytes, limit 250: ceil(1000 / 250) = 4 nodes of 25.
        let g = partition(100, |_| 10, 0, 250, 1);
        assert_eq!(sizes(&g), vec![25, 25, 25, 25]);
        // The shared key prefix is counted once per node.
        let g = partition(100, |_| 12, 2, 250, 1);
        assert_eq!(g.len(), 5);
        assert!(g.iter().all(|r| r.len() * 12 - (r.len() - 1) * 2 <= 250));
    }

    #[test]
    fn entries_larger_than_the_limit_get_their_own_leaf_and_interior_nodes_two_entries() {
        let g = partition(5, |_| 1000, 0, 10, 1);
        assert_eq!(sizes(&g), vec![1, 1, 1, 1, 1]);
        let g = partition(5, |_| 1000, 0, 10, 2);
        assert_eq!(sizes(&g), vec![2, 2, 1]);
    }

    #[test]
    fn groups_cover_every_entry_in_order() {
        for n in 1..60 {
            for max in [0u64, 1, 7, 50, 300] {
                for min_arity in [1, 2] {
                    let g = partition(n, |i| (i % 7 + 1) as u64 * 5, 1, max, min_arity);
                    let mut next = 0;
                    for r in &g {
                        assert_eq!(r.start, next);
                        assert!(!r.is_empty());
                        next = r.end;
                    }
                    assert_eq!(next, n);
                }
            }
        }
    }
}
