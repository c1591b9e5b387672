//! B+tree nodes (spec §7): column-wise, prefix-compressed keys relative to an implicit prefix,
//! inline or out-of-line leaf values, and child references with subtree statistics.

use std::ops::AddAssign;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{common_prefix_len, put_varint, Reader};
use crate::data_file::{
    read_file_index, read_table, DataFileId, DataFileTableBuilder, IndirectDataReference,
};
use crate::envelope::{decode_envelope, encode_envelope, Compression, Magic};
use crate::error::{Error, Result};

/// Most entries a node may hold.
pub const MAX_NODE_ARITY: usize = 1 << 20;
/// Longest relative key.
pub const MAX_KEY_LENGTH: usize = 65535;
/// Longest inline value.
pub const MAX_INLINE_VALUE_LENGTH: u64 = 1 << 20;

/// Statistics of a subtree, carried by every reference to a B+tree node (spec §7.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BtreeNodeStatistics {
    /// Number of leaf entries.
    pub num_keys: u64,
    /// Sum of the encoded sizes of all nodes of the subtree, the referenced node included.
    pub num_tree_bytes: u64,
    /// Sum of the lengths of the out-of-line values of the subtree.
    pub num_indirect_value_bytes: u64,
}

impl BtreeNodeStatistics {
    /// True when every field is zero (required for an empty tree).
    pub fn is_zero(&self) -> bool {
        *self == BtreeNodeStatistics::default()
    }
}

impl AddAssign for BtreeNodeStatistics {
    /// Saturating, like TensorStore's.
    fn add_assign(&mut self, o: Self) {
        self.num_keys = self.num_keys.saturating_add(o.num_keys);
        self.num_tree_bytes = self.num_tree_bytes.saturating_add(o.num_tree_bytes);
        self.num_indirect_value_bytes = self
            .num_indirect_value_bytes
            .saturating_add(o.num_indirect_value_bytes);
    }
}

/// Location and statistics of a B+tree node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BtreeNodeReference {
    /// Where the encoded node is.
    pub location: IndirectDataReference,
    /// Statistics of the subtree rooted there.
    pub statistics: BtreeNodeStatistics,
}

/// A leaf entry's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LeafValue {
    /// Stored in the node. Decoded values share the node's decoded body buffer.
    Inline(Bytes),
    /// Stored in a data file; the reference's `length` is the value's length.
    OutOfLine(IndirectDataReference),
}

impl LeafValue {
    /// Length of the value in bytes.
    pub fn len(&self) -> u64 {
        match self {
            LeafValue::Inline(b) => b.len() as u64,
            LeafValue::OutOfLine(r) => r.length,
        }
    }

    /// True for a zero-length value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An entry of a leaf node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeafEntry {
    /// Key relative to the node's implicit prefix.
    pub key: Vec<u8>,
    /// The value.
    pub value: LeafValue,
}

/// An entry of an interior node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InteriorEntry {
    /// Inclusive lower bound of the child's keys, relative to this node's implicit prefix.
    pub key: Vec<u8>,
    /// Length of the prefix of `key` that every key below the child shares; the child's
    /// implicit prefix is this node's prefix followed by `key[..subtree_common_prefix_length]`.
    pub subtree_common_prefix_length: usize,
    /// The child.
    pub node: BtreeNodeReference,
}

impl InteriorEntry {
    /// The part of `key` the child's keys omit.
    pub fn child_prefix(&self) -> &[u8] {
        &self.key[..self.subtree_common_prefix_length]
    }

    /// `key` relative to the child's implicit prefix: the inclusive minimum of its first key.
    pub fn child_inclusive_min(&self) -> &[u8] {
        &self.key[self.subtree_common_prefix_length..]
    }
}

/// The entries of a node: a leaf's values or an interior node's children.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BtreeNodeEntries {
    /// Height 0.
    Leaf(Vec<LeafEntry>),
    /// Height > 0.
    Interior(Vec<InteriorEntry>),
}

/// A decoded B+tree node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BtreeNode {
    /// 0 for leaves.
    pub height: u8,
    /// Entries sorted by key.
    pub entries: BtreeNodeEntries,
}

impl BtreeNode {
    /// Number of entries.
    pub fn len(&self) -> usize {
        match &self.entries {
            BtreeNodeEntries::Leaf(e) => e.len(),
            BtreeNodeEntries::Interior(e) => e.len(),
        }
    }

    /// True if there are no entries (never the case for a decoded node).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Relative key of entry `i`.
    pub fn key(&self, i: usize) -> &[u8] {
        match &self.entries {
            BtreeNodeEntries::Leaf(e) => &e[i].key,
            BtreeNodeEntries::Interior(e) => &e[i].key,
        }
    }

    /// Statistics of the subtree rooted at this node, given its own encoded size: for a leaf
    /// counted from its entries, for an interior node summed from its child references.
    pub fn statistics(&self, encoded_size: u64) -> BtreeNodeStatistics {
        let mut s = BtreeNodeStatistics::default();
        match &self.entries {
            BtreeNodeEntries::Leaf(entries) => {
                s.num_keys = entries.len() as u64;
                for e in entries {
                    if let LeafValue::OutOfLine(r) = &e.value {
                        s.num_indirect_value_bytes =
                            s.num_indirect_value_bytes.saturating_add(r.length);
                    }
                }
            }
            BtreeNodeEntries::Interior(entries) => {
                for e in entries {
                    s += e.node.statistics;
                }
            }
        }
        s.num_tree_bytes = s.num_tree_bytes.saturating_add(encoded_size);
        s
    }

    /// Rough number of heap bytes the decoded node occupies, for cache accounting.
    pub fn estimated_memory(&self) -> usize {
        const ENTRY_OVERHEAD: usize = 96;
        let entries: usize = match &self.entries {
            BtreeNodeEntries::Leaf(entries) => entries
                .iter()
                .map(|e| {
                    e.key.len()
                        + ENTRY_OVERHEAD
                        + match &e.value {
                            LeafValue::Inline(b) => b.len(),
                            LeafValue::OutOfLine(_) => 0,
                        }
                })
                .sum(),
            BtreeNodeEntries::Interior(entries) => {
                entries.iter().map(|e| e.key.len() + ENTRY_OVERHEAD).sum()
            }
        };
        entries + 128
    }

    fn validate(&self) -> Result<()> {
        let n = self.len();
        if n == 0 {
            return Err(Error::invalid("empty b+tree node"));
        }
        if n > MAX_NODE_ARITY {
            return Err(Error::TooLarge {
                what: "b+tree node num_entries",
                size: n as u64,
                limit: MAX_NODE_ARITY as u64,
            });
        }
        match (&self.entries, self.height) {
            (BtreeNodeEntries::Leaf(_), 0) | (BtreeNodeEntries::Interior(_), 1..) => {}
            _ => {
                return Err(Error::invalid(format!(
                    "b+tree node of height {} has {} entries",
                    self.height,
                    if self.height == 0 { "interior" } else { "leaf" }
                )))
            }
        }
        for i in 0..n {
            let key = self.key(i);
            if key.len() > MAX_KEY_LENGTH {
                return Err(Error::invalid(format!(
                    "key {i}: length {} exceeds {MAX_KEY_LENGTH}",
                    key.len()
                )));
            }
            if i > 0 && key <= self.key(i - 1) {
                return Err(Error::invalid(format!(
                    "key {i}: keys not strictly increasing"
                )));
            }
        }
        match &self.entries {
            BtreeNodeEntries::Leaf(entries) => {
                for (i, e) in entries.iter().enumerate() {
                    match &e.value {
                        LeafValue::Inline(b) if b.len() as u64 > MAX_INLINE_VALUE_LENGTH => {
                            return Err(Error::TooLarge {
                                what: "inline value length",
                                size: b.len() as u64,
                                limit: MAX_INLINE_VALUE_LENGTH,
                            })
                        }
                        LeafValue::Inline(_) => {}
                        LeafValue::OutOfLine(r) => r.validate(&format!("value {i}"))?,
                    }
                }
            }
            BtreeNodeEntries::Interior(entries) => {
                for (i, e) in entries.iter().enumerate() {
                    if e.subtree_common_prefix_length > e.key.len() {
                        return Err(Error::invalid(format!(
                            "key {i}: subtree common prefix length of {} exceeds key length of {}",
                            e.subtree_common_prefix_length,
                            e.key.len()
                        )));
                    }
                    e.node.location.validate(&format!("child {i}"))?;
                }
            }
        }
        Ok(())
    }
}

/// Decodes an encoded B+tree node (envelope included). `base_path` is the base path of the
/// reference through which the node was reached; it prefixes the base paths of the node's
/// own data file table.
pub fn decode_btree_node(encoded: &[u8], base_path: &[u8]) -> Result<BtreeNode> {
    let body = decode_envelope(encoded, Magic::BtreeNode)?;
    decode_btree_node_body(&body, base_path)
}

/// Decodes the (decompressed) body of a B+tree node.
pub fn decode_btree_node_body(body: &Bytes, base_path: &[u8]) -> Result<BtreeNode> {
    let mut r = Reader::new(body);
    let height = r.u8("b+tree node height")?;
    let table = read_table(&mut r, base_path)?;
    let n = r.varint32("b+tree node num_entries")? as usize;
    if n == 0 {
        return Err(Error::invalid("empty b+tree node"));
    }
    if n > MAX_NODE_ARITY {
        return Err(Error::TooLarge {
            what: "b+tree node num_entries",
            size: n as u64,
            limit: MAX_NODE_ARITY as u64,
        });
    }
    r.count(n as u64, "b+tree node entries")?;
    let (keys, scp) = read_keys(&mut r, n, height > 0)?;
    let entries = if height == 0 {
        BtreeNodeEntries::Leaf(read_leaf_values(&mut r, body, &table, keys)?)
    } else {
        BtreeNodeEntries::Interior(read_children(&mut r, &table, keys, scp)?)
    };
    r.expect_end("the b+tree node")?;
    Ok(BtreeNode { height, entries })
}

fn read_keys(r: &mut Reader<'_>, n: usize, interior: bool) -> Result<(Vec<Vec<u8>>, Vec<u16>)> {
    let mut prefix_lengths = Vec::with_capacity(n);
    prefix_lengths.push(0u16);
    for _ in 1..n {
        prefix_lengths.push(r.varint16("key_prefix_length")?);
    }
    let suffix_lengths = r.column(n, "key_suffix_length", Reader::varint16)?;
    let scp = if interior {
        r.column(n, "subtree_common_prefix_length", Reader::varint16)?
    } else {
        Vec::new()
    };
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(n);
    for i in 0..n {
        let prefix = usize::from(prefix_lengths[i]);
        let suffix = usize::from(suffix_lengths[i]);
        let prev: &[u8] = keys.last().map_or(&[], |k| k.as_slice());
        if prefix > prev.len() {
            return Err(Error::invalid(format!(
                "key {i}: prefix length of {prefix} exceeds previous key length {}",
                prev.len()
            )));
        }
        let key_len = prefix + suffix;
        if key_len > MAX_KEY_LENGTH {
            return Err(Error::invalid(format!(
                "key {i}: length {key_len} exceeds limit of {MAX_KEY_LENGTH}"
            )));
        }
        if interior && usize::from(scp[i]) > key_len {
            return Err(Error::invalid(format!(
                "key {i}: subtree common prefix length of {} exceeds key length of {key_len}",
                scp[i]
            )));
        }
        let suffix_bytes = r.bytes(suffix, "key_suffix")?;
        if i > 0 && &prev[prefix..] >= suffix_bytes {
            return Err(Error::invalid(format!("key {i}: invalid key order")));
        }
        let mut key = Vec::with_capacity(key_len);
        key.extend_from_slice(&prev[..prefix]);
        key.extend_from_slice(suffix_bytes);
        keys.push(key);
    }
    Ok((keys, scp))
}

fn read_leaf_values(
    r: &mut Reader<'_>,
    body: &Bytes,
    table: &[Arc<DataFileId>],
    keys: Vec<Vec<u8>>,
) -> Result<Vec<LeafEntry>> {
    let n = keys.len();
    let lengths = r.column(n, "value_length", Reader::varint64)?;
    let kinds = r.column(n, "value_kind", Reader::u8)?;
    for (i, (&kind, &len)) in kinds.iter().zip(&lengths).enumerate() {
        match kind {
            0 if len > MAX_INLINE_VALUE_LENGTH => {
                return Err(Error::TooLarge {
                    what: "inline value length",
                    size: len,
                    limit: MAX_INLINE_VALUE_LENGTH,
                })
            }
            0 | 1 => {}
            other => {
                return Err(Error::invalid(format!(
                    "value_kind[{i}]={other} is outside valid range [0, 1]"
                )))
            }
        }
    }
    let out_of_line = kinds.iter().filter(|&&k| k == 1).count();
    let files = r.column(out_of_line, "value data file id", |r, what| {
        read_file_index(r, table, what)
    })?;
    let offsets = r.column(out_of_line, "value offset", Reader::varint64)?;
    let mut files = files.into_iter();
    let mut offsets = offsets.into_iter();
    let mut entries = Vec::with_capacity(n);
    // Out-of-line references first (their columns precede the inline bytes), then slice the
    // inline values out of the body without copying.
    let mut refs: Vec<Option<IndirectDataReference>> = Vec::with_capacity(n);
    for i in 0..n {
        if kinds[i] == 1 {
            let reference = IndirectDataReference::new(
                files.next().expect("one file per out-of-line value"),
                offsets.next().expect("one offset per out-of-line value"),
                lengths[i],
            );
            reference.validate(&format!("value {i}"))?;
            refs.push(Some(reference));
        } else {
            refs.push(None);
        }
    }
    for (i, (key, reference)) in keys.into_iter().zip(refs).enumerate() {
        let value = match reference {
            Some(reference) => LeafValue::OutOfLine(reference),
            None => {
                let start = r.position();
                r.bytes(lengths[i] as usize, "inline value")?;
                LeafValue::Inline(body.slice(start..start + lengths[i] as usize))
            }
        };
        entries.push(LeafEntry { key, value });
    }
    Ok(entries)
}

fn read_children(
    r: &mut Reader<'_>,
    table: &[Arc<DataFileId>],
    keys: Vec<Vec<u8>>,
    scp: Vec<u16>,
) -> Result<Vec<InteriorEntry>> {
    let n = keys.len();
    let files = r.column(n, "child data file id", |r, what| {
        read_file_index(r, table, what)
    })?;
    let offsets = r.column(n, "child offset", Reader::varint64)?;
    let lengths = r.column(n, "child length", Reader::varint64)?;
    let num_keys = r.column(n, "child num_keys", Reader::varint64)?;
    let tree_bytes = r.column(n, "child num_tree_bytes", Reader::varint64)?;
    let indirect = r.column(n, "child num_indirect_value_bytes", Reader::varint64)?;
    let mut entries = Vec::with_capacity(n);
    for (i, (key, file)) in keys.into_iter().zip(files).enumerate() {
        let location = IndirectDataReference::new(file, offsets[i], lengths[i]);
        location.validate(&format!("child {i}"))?;
        entries.push(InteriorEntry {
            key,
            subtree_common_prefix_length: usize::from(scp[i]),
            node: BtreeNodeReference {
                location,
                statistics: BtreeNodeStatistics {
                    num_keys: num_keys[i],
                    num_tree_bytes: tree_bytes[i],
                    num_indirect_value_bytes: indirect[i],
                },
            },
        });
    }
    Ok(entries)
}

/// Encodes a node (envelope included) the way TensorStore does: sorted data file table,
/// longest common prefixes between consecutive keys, shortest varints.
///
/// Keys are encoded as given, i.e. relative to whatever implicit prefix the writer chose for
/// the node.
pub fn encode_btree_node(node: &BtreeNode, compression: Compression) -> Result<Vec<u8>> {
    let body = encode_btree_node_body(node)?;
    encode_envelope(Magic::BtreeNode, &body, compression)
}

/// Encodes the body of a node (no envelope).
pub fn encode_btree_node_body(node: &BtreeNode) -> Result<Vec<u8>> {
    node.validate().map_err(Error::into_input_error)?;
    let mut table = DataFileTableBuilder::new();
    match &node.entries {
        BtreeNodeEntries::Leaf(entries) => {
            for e in entries {
                if let LeafValue::OutOfLine(r) = &e.value {
                    table.add(&r.file);
                }
            }
        }
        BtreeNodeEntries::Interior(entries) => {
            for e in entries {
                table.add(&e.node.location.file);
            }
        }
    }
    let table = table.finish();
    let n = node.len();
    let mut out = Vec::new();
    out.push(node.height);
    table.encode(&mut out)?;
    put_varint(&mut out, n as u64);
    let prefixes: Vec<usize> = (0..n)
        .map(|i| {
            if i == 0 {
                0
            } else {
                common_prefix_len(node.key(i - 1), node.key(i))
            }
        })
        .collect();
    for &p in prefixes.iter().skip(1) {
        put_varint(&mut out, p as u64);
    }
    for (i, &p) in prefixes.iter().enumerate() {
        put_varint(&mut out, (node.key(i).len() - p) as u64);
    }
    if let BtreeNodeEntries::Interior(entries) = &node.entries {
        for e in entries {
            put_varint(&mut out, e.subtree_common_prefix_length as u64);
        }
    }
    for (i, &p) in prefixes.iter().enumerate() {
        out.extend_from_slice(&node.key(i)[p..]);
    }
    match &node.entries {
        BtreeNodeEntries::Leaf(entries) => {
            for e in entries {
                put_varint(&mut out, e.value.len());
            }
            for e in entries {
                out.push(match e.value {
                    LeafValue::Inline(_) => 0,
                    LeafValue::OutOfLine(_) => 1,
                });
            }
            let refs = || {
                entries.iter().filter_map(|e| match &e.value {
                    LeafValue::OutOfLine(r) => Some(r),
                    LeafValue::Inline(_) => None,
                })
            };
            for r in refs() {
                put_varint(&mut out, table.index_of(&r.file)?);
            }
            for r in refs() {
                put_varint(&mut out, r.offset);
            }
            for e in entries {
                if let LeafValue::Inline(b) = &e.value {
                    out.extend_from_slice(b);
                }
            }
        }
        BtreeNodeEntries::Interior(entries) => {
            for e in entries {
                put_varint(&mut out, table.index_of(&e.node.location.file)?);
            }
            for e in entries {
                put_varint(&mut out, e.node.location.offset);
            }
            for e in entries {
                put_varint(&mut out, e.node.location.length);
            }
            for e in entries {
                put_varint(&mut out, e.node.statistics.num_keys);
            }
            for e in entries {
                put_varint(&mut out, e.node.statistics.num_tree_bytes);
            }
            for e in entries {
                put_varint(&mut out, e.node.statistics.num_indirect_value_bytes);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(entries: Vec<(&[u8], LeafValue)>) -> BtreeNode {
        BtreeNode {
            height: 0,
            entries: BtreeNodeEntries::Leaf(
                entries
                    .into_iter()
                    .map(|(k, value)| LeafEntry {
                        key: k.to_vec(),
                        value,
                    })
                    .collect(),
            ),
        }
    }

    fn body_with_keys(height: u8, columns: &[u8]) -> Bytes {
        let mut body = vec![height, 0];
        body.extend_from_slice(columns);
        Bytes::from(body)
    }

    #[test]
    fn unsorted_duplicate_and_empty_nodes_are_rejected() {
        // 2 entries, prefix [0], suffix [1, 1], keys "b" "a", values len 0 inline.
        let unsorted = body_with_keys(0, &[2, 0, 1, 1, b'b', b'a', 0, 0, 0, 0]);
        assert!(matches!(
            decode_btree_node_body(&unsorted, b""),
            Err(Error::Invalid { .. })
        ));
        let duplicate = body_with_keys(0, &[2, 1, 1, 0, b'a', 0, 0, 0, 0]);
        assert!(matches!(
            decode_btree_node_body(&duplicate, b""),
            Err(Error::Invalid { .. })
        ));
        let sorted = body_with_keys(0, &[2, 0, 1, 1, b'a', b'b', 0, 0, 0, 0]);
        assert_eq!(decode_btree_node_body(&sorted, b"").unwrap().len(), 2);
        let empty = body_with_keys(0, &[0]);
        assert!(matches!(
            decode_btree_node_body(&empty, b""),
            Err(Error::Invalid { .. })
        ));
        let mut trailing = sorted.to_vec();
        trailing.push(0);
        assert!(matches!(
            decode_btree_node_body(&Bytes::from(trailing), b""),
            Err(Error::TrailingBytes { .. })
        ));
    }

    #[test]
    fn hostile_counts_and_sizes_are_refused() {
        // num_entries = 1048577
        let too_many = body_with_keys(0, &[0x81, 0x80, 0x40]);
        let err = decode_btree_node_body(&too_many, b"").unwrap_err();
        assert!(
            matches!(err, Error::TooLarge { size: 1048577, .. }),
            "{err:?}"
        );
        // num_entries = 1000 with a handful of bytes left
        let truncated = body_with_keys(0, &[0xe8, 0x07, 0, 0]);
        assert!(matches!(
            decode_btree_node_body(&truncated, b""),
            Err(Error::Truncated { .. })
        ));
        // an inline value claiming 2 MiB
        let big_inline = body_with_keys(0, &[1, 1, b'a', 0x80, 0x80, 0x80, 0x01, 0]);
        assert!(matches!(
            decode_btree_node_body(&big_inline, b""),
            Err(Error::TooLarge { .. })
        ));
        // value_kind 2
        let bad_kind = body_with_keys(0, &[1, 1, b'a', 0, 2]);
        assert!(matches!(
            decode_btree_node_body(&bad_kind, b""),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn out_of_line_reference_overflow_is_rejected() {
        let file = Arc::new(DataFileId::new("", "d/x"));
        let node = leaf(vec![(
            b"k",
            LeafValue::OutOfLine(IndirectDataReference::new(file, i64::MAX as u64, 1)),
        )]);
        assert!(matches!(
            encode_btree_node_body(&node),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn worked_example_leaf_matches_spec_bytes() {
        let file = Arc::new(DataFileId::new("", "d/0123456789abcdef0123456789abcdef"));
        let node = leaf(vec![
            (b"a/.zarray", LeafValue::Inline(Bytes::from_static(b"{}"))),
            (
                b"a/0",
                LeafValue::OutOfLine(IndirectDataReference::new(file, 0, 2048)),
            ),
        ]);
        let encoded = encode_btree_node(&node, Compression::None).unwrap();
        let mut expected = hex::decode("0cdb20de4f000000000000000000000122").unwrap();
        expected.extend_from_slice(b"\x00d/0123456789abcdef0123456789abcdef");
        expected.extend_from_slice(&[2, 2, 9, 1]);
        expected.extend_from_slice(b"a/.zarray0");
        expected.extend_from_slice(&[2, 0x80, 0x10, 0, 1, 0, 0, 0x7b, 0x7d]);
        expected.extend_from_slice(&[0xfe, 0xe9, 0xd8, 0xe1]);
        assert_eq!(hex::encode(&encoded), hex::encode(&expected));
        assert_eq!(decode_btree_node(&encoded, b"").unwrap(), node);
        assert_eq!(node.statistics(79).num_indirect_value_bytes, 2048);
    }
}
