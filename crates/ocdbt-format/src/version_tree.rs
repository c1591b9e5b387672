//! Versions and the version tree (spec §6): generation references, version-node references,
//! version-tree nodes, and the arithmetic of aligned generation blocks.

use std::sync::Arc;

use bytes::Bytes;

use crate::btree::{BtreeNodeReference, BtreeNodeStatistics};
use crate::codec::{put_varint, Reader};
use crate::config::validate_arity_log2;
use crate::data_file::{
    read_file_index, read_table, DataFileId, DataFileTable, DataFileTableBuilder,
    IndirectDataReference, MISSING_OFFSET,
};
use crate::envelope::{decode_envelope, encode_envelope, Compression, Magic};
use crate::error::{Error, Result};

/// One version of the database: generation number, commit time and B+tree root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BtreeGenerationReference {
    /// Generation number, from 1.
    pub generation_number: u64,
    /// Height of the root node (0 = leaf, and for an empty tree).
    pub root_height: u8,
    /// The root node with the statistics of the whole tree; `None` for an empty tree.
    pub root: Option<BtreeNodeReference>,
    /// Commit time, nanoseconds since the Unix epoch.
    pub commit_time: u64,
}

impl BtreeGenerationReference {
    /// Statistics of the tree (zero for an empty tree).
    pub fn statistics(&self) -> BtreeNodeStatistics {
        self.root.as_ref().map(|r| r.statistics).unwrap_or_default()
    }
}

/// A reference to a version-tree node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionNodeReference {
    /// Last generation contained in the referenced subtree.
    pub generation_number: u64,
    /// Where the encoded node is.
    pub location: IndirectDataReference,
    /// Number of generations in the subtree.
    pub num_generations: u64,
    /// Earliest commit time in the subtree, nanoseconds.
    pub commit_time: u64,
    /// Height of the referenced node (stored in manifests; implied by the parent in nodes).
    pub height: u8,
}

/// The entries of a version-tree node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionTreeEntries {
    /// Height 0: versions.
    Leaf(Vec<BtreeGenerationReference>),
    /// Height > 0: children of height `height - 1`.
    Interior(Vec<VersionNodeReference>),
}

/// A decoded version-tree node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionTreeNode {
    /// Must equal the config's.
    pub version_tree_arity_log2: u8,
    /// 0 = leaf.
    pub height: u8,
    /// Entries, oldest first.
    pub entries: VersionTreeEntries,
}

impl VersionTreeNode {
    /// Last generation in the node.
    pub fn generation_number(&self) -> u64 {
        match &self.entries {
            VersionTreeEntries::Leaf(e) => e.last().map_or(0, |v| v.generation_number),
            VersionTreeEntries::Interior(e) => e.last().map_or(0, |v| v.generation_number),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match &self.entries {
            VersionTreeEntries::Leaf(e) => e.len(),
            VersionTreeEntries::Interior(e) => e.len(),
        }
    }

    /// True if there are no entries (never the case for a decoded node).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rough number of heap bytes the decoded node occupies, for cache accounting.
    pub fn estimated_memory(&self) -> usize {
        128 + self.len() * 112
    }

    fn validate(&self) -> Result<()> {
        validate_arity_log2(self.version_tree_arity_log2)?;
        let a = self.version_tree_arity_log2;
        match (&self.entries, self.height) {
            (VersionTreeEntries::Leaf(entries), 0) => validate_leaf_entries(a, entries),
            (VersionTreeEntries::Interior(entries), h @ 1..) => {
                let max = max_version_tree_height(a);
                if h > max {
                    return Err(Error::invalid(format!(
                        "version node height={h} exceeds maximum of {max} for version_tree_arity_log2={a}"
                    )));
                }
                if entries.iter().any(|e| e.height != h - 1) {
                    return Err(Error::invalid(format!(
                        "children of a version node of height {h} must have height {}",
                        h - 1
                    )));
                }
                validate_interior_entries(a, h, entries)
            }
            _ => Err(Error::invalid(format!(
                "version node of height {} has entries of the wrong kind",
                self.height
            ))),
        }
    }
}

/// Greatest height of a version-tree node: `floor(63 / a) - 1`.
pub fn max_version_tree_height(version_tree_arity_log2: u8) -> u8 {
    63 / version_tree_arity_log2.max(1) - 1
}

/// `2^bits`, or `None` when that does not fit a `u64`.
fn pow2(bits: u32) -> Option<u64> {
    1u64.checked_shl(bits)
}

/// First generation of the leaf block whose last generation is `last`:
/// `last - ((last - 1) mod 2^a)`.
pub fn min_leaf_generation(version_tree_arity_log2: u8, last: u64) -> u64 {
    block_start(last, u32::from(version_tree_arity_log2))
}

/// First generation of the aligned block of `2^bits` generations that contains `g` (≥ 1).
fn block_start(g: u64, bits: u32) -> u64 {
    match pow2(bits) {
        Some(size) => g - (g - 1) % size,
        None => 1,
    }
}

/// The `(min_generation, max_generation, height)` ranges a manifest's version-tree node
/// references may cover when its latest generation is `latest`, from height 1 upwards
/// (TensorStore's `ForEachManifestVersionTreeNodeRef`).
pub fn manifest_version_node_ranges(
    version_tree_arity_log2: u8,
    latest: u64,
) -> Vec<(u64, u64, u8)> {
    let a = u32::from(version_tree_arity_log2);
    let mut out = Vec::new();
    if latest == 0 {
        return out;
    }
    let mut g = ((latest - 1) >> a) << a;
    let mut h: u32 = 1;
    while g != 0 {
        let shift = (h + 1) * a;
        let next = if shift >= 64 {
            0
        } else {
            ((g - 1) >> shift) << shift
        };
        out.push((next + 1, g, h as u8));
        h += 1;
        g = next;
    }
    out
}

/// Largest latest generation a manifest may have (a 0.1.86 read-time check):
/// `2^(a·(H+1)) + 2^a` with `H = floor(63/a) - 1`.
pub fn max_generation_number(version_tree_arity_log2: u8) -> u64 {
    let a = u32::from(version_tree_arity_log2);
    let h = u32::from(max_version_tree_height(version_tree_arity_log2));
    pow2(a * (h + 1))
        .unwrap_or(u64::MAX)
        .saturating_add(pow2(a).unwrap_or(u64::MAX))
}

/// The rules of §6.2/§6.5 for a leaf array (manifest inline versions or a leaf node).
pub(crate) fn validate_leaf_entries(a: u8, entries: &[BtreeGenerationReference]) -> Result<()> {
    let max = 1u64 << a;
    if entries.is_empty() || entries.len() as u64 > max {
        return Err(Error::invalid(format!(
            "num_versions={} outside valid range [1, {max}]",
            entries.len()
        )));
    }
    for (i, e) in entries.iter().enumerate() {
        match &e.root {
            None => {
                if e.root_height != 0 {
                    return Err(Error::invalid(format!(
                        "non-zero root_height={} for empty generation {}",
                        e.root_height, e.generation_number
                    )));
                }
            }
            Some(root) => root
                .location
                .validate(&format!("root of generation {}", e.generation_number))?,
        }
        if e.generation_number == 0 {
            return Err(Error::invalid(format!(
                "generation_number[{i}] must be non-zero"
            )));
        }
        if i > 0 {
            let prev = &entries[i - 1];
            strictly_increasing(
                "generation_number",
                i,
                e.generation_number,
                prev.generation_number,
            )?;
            strictly_increasing("commit_time", i, e.commit_time, prev.commit_time)?;
        }
    }
    let first = entries[0].generation_number;
    let last = entries[entries.len() - 1].generation_number;
    let min = min_leaf_generation(a, last);
    if first < min {
        return Err(Error::invalid(format!(
            "generation range [{first}, {last}] exceeds maximum of [{min}, {last}]"
        )));
    }
    Ok(())
}

/// The rules of §6.5 for the children of an interior version node of height `h`.
pub(crate) fn validate_interior_entries(
    a: u8,
    h: u8,
    entries: &[VersionNodeReference],
) -> Result<()> {
    let max = 1u64 << a;
    if entries.is_empty() || entries.len() as u64 > max {
        return Err(Error::invalid(format!(
            "num_children={} outside valid range [1, {max}]",
            entries.len()
        )));
    }
    // h ≤ floor(63/a) - 1, so a·(h+1) ≤ 63 and neither shift overflows.
    let stride = 1u64 << (u32::from(a) * u32::from(h));
    for (i, e) in entries.iter().enumerate() {
        e.location.validate(&format!("version node child {i}"))?;
        if e.generation_number == 0 {
            return Err(Error::invalid(format!(
                "generation_number[{i}] must be non-zero"
            )));
        }
        if e.generation_number % stride != 0 {
            return Err(Error::invalid(format!(
                "generation_number[{i}]={} is not a multiple of {stride}",
                e.generation_number
            )));
        }
        if e.num_generations == 0 || e.num_generations > stride {
            return Err(Error::invalid(format!(
                "num_generations[{i}]={} for generation_number[{i}]={} outside [1, {stride}]",
                e.num_generations, e.generation_number
            )));
        }
        if i > 0 {
            let prev = &entries[i - 1];
            strictly_increasing(
                "generation_number",
                i,
                e.generation_number,
                prev.generation_number,
            )?;
            if (e.generation_number - 1) / stride == (prev.generation_number - 1) / stride {
                return Err(Error::invalid(format!(
                    "generation_number[{i}]={} is in the same child node as generation_number[{}]={}",
                    e.generation_number,
                    i - 1,
                    prev.generation_number
                )));
            }
            strictly_increasing("commit_time", i, e.commit_time, prev.commit_time)?;
        }
    }
    let first = entries[0].generation_number;
    let last = entries[entries.len() - 1].generation_number;
    if (last - 1) / stride / max != (first - 1) / stride / max {
        return Err(Error::invalid(format!(
            "generation_number[0]={first} cannot be in the same node as generation_number[{}]={last}",
            entries.len() - 1
        )));
    }
    Ok(())
}

/// The rules of §6.5 for a manifest's `version_tree_nodes`, given the latest generation.
pub(crate) fn validate_manifest_version_nodes(
    a: u8,
    latest: u64,
    entries: &[VersionNodeReference],
) -> Result<()> {
    let max_height = max_version_tree_height(a);
    if entries.len() > usize::from(max_height) {
        return Err(Error::invalid(format!(
            "{} version tree nodes exceed the maximum of {max_height}",
            entries.len()
        )));
    }
    for (i, e) in entries.iter().enumerate() {
        e.location.validate(&format!("version node {i}"))?;
        if e.height == 0 || e.height > max_height {
            return Err(Error::invalid(format!(
                "entry_height[{i}]={} outside valid range [1, {max_height}]",
                e.height
            )));
        }
        if e.generation_number == 0 {
            return Err(Error::invalid(format!(
                "generation_number[{i}] must be non-zero"
            )));
        }
        if i > 0 {
            let prev = &entries[i - 1];
            strictly_increasing(
                "generation_number",
                i,
                e.generation_number,
                prev.generation_number,
            )?;
            if e.height >= prev.height {
                return Err(Error::invalid(format!(
                    "entry_height[{i}]={} >= entry_height[{}]={}",
                    e.height,
                    i - 1,
                    prev.height
                )));
            }
            strictly_increasing("commit_time", i, e.commit_time, prev.commit_time)?;
        }
    }
    let mut remaining = entries.len();
    for (min, max, h) in manifest_version_node_ranges(a, latest) {
        if remaining == 0 {
            break;
        }
        let e = &entries[remaining - 1];
        if e.height != h {
            continue;
        }
        remaining -= 1;
        if e.generation_number < min || e.generation_number > max {
            return Err(Error::invalid(format!(
                "generation_number[{remaining}]={} is outside expected range [{min}, {max}] for height {h}",
                e.generation_number
            )));
        }
    }
    if remaining != 0 {
        let e = &entries[remaining - 1];
        return Err(Error::invalid(format!(
            "unexpected version node with generation_number[{}]={} and entry_height[{}]={} given last generation_number={latest}",
            remaining - 1,
            e.generation_number,
            remaining - 1,
            e.height
        )));
    }
    Ok(())
}

/// Checks a version node read through a reference (spec §6.5): its height, its arity and its
/// last generation must match what the reference promised.
pub fn validate_version_node_reference(
    node: &VersionTreeNode,
    version_tree_arity_log2: u8,
    height: u8,
    generation_number: u64,
) -> Result<()> {
    if node.height != height {
        return Err(Error::invalid(format!(
            "expected version node height {height} but found {}",
            node.height
        )));
    }
    if node.version_tree_arity_log2 != version_tree_arity_log2 {
        return Err(Error::invalid(format!(
            "expected version_tree_arity_log2={version_tree_arity_log2} but found {}",
            node.version_tree_arity_log2
        )));
    }
    if node.generation_number() != generation_number {
        return Err(Error::invalid(format!(
            "expected last generation number {generation_number} but found {}",
            node.generation_number()
        )));
    }
    Ok(())
}

pub(crate) fn read_leaf_entries(
    r: &mut Reader<'_>,
    a: u8,
    table: &[Arc<DataFileId>],
) -> Result<Vec<BtreeGenerationReference>> {
    let n = r.varint64("num_versions")?;
    let max = 1u64 << a;
    if n == 0 || n > max {
        return Err(Error::invalid(format!(
            "num_versions={n} outside valid range [1, {max}]"
        )));
    }
    let n = r.count(n, "num_versions")?;
    let generations = r.column(n, "generation_number", Reader::varint64)?;
    let heights = r.column(n, "root_height", Reader::u8)?;
    let files = r.column(n, "root data file id", |r, what| {
        read_file_index(r, table, what)
    })?;
    let offsets = r.column(n, "root offset", Reader::varint64)?;
    let lengths = r.column(n, "root length", Reader::varint64)?;
    let num_keys = r.column(n, "num_keys", Reader::varint64)?;
    let tree_bytes = r.column(n, "num_tree_bytes", Reader::varint64)?;
    let indirect = r.column(n, "num_indirect_value_bytes", Reader::varint64)?;
    let times = r.column(n, "commit_time", Reader::u64le)?;
    let mut out = Vec::with_capacity(n);
    for (i, file) in files.into_iter().enumerate() {
        let statistics = BtreeNodeStatistics {
            num_keys: num_keys[i],
            num_tree_bytes: tree_bytes[i],
            num_indirect_value_bytes: indirect[i],
        };
        let root = if offsets[i] == MISSING_OFFSET && lengths[i] == MISSING_OFFSET {
            if !statistics.is_zero() {
                return Err(Error::invalid(format!(
                    "non-zero statistics {statistics:?} for empty generation_number[{i}]={}",
                    generations[i]
                )));
            }
            None
        } else {
            Some(BtreeNodeReference {
                location: IndirectDataReference::new(file, offsets[i], lengths[i]),
                statistics,
            })
        };
        out.push(BtreeGenerationReference {
            generation_number: generations[i],
            root_height: heights[i],
            root,
            commit_time: times[i],
        });
    }
    validate_leaf_entries(a, &out)?;
    Ok(out)
}

/// Reads a version interior entry array. `node_height` is `None` for the manifest's array,
/// which stores each entry's height, and the node's height for a node's array, whose
/// children implicitly have height `node_height - 1`.
pub(crate) fn read_interior_entries(
    r: &mut Reader<'_>,
    table: &[Arc<DataFileId>],
    max_entries: u64,
    node_height: Option<u8>,
) -> Result<Vec<VersionNodeReference>> {
    let n = r.varint64("num_children")?;
    if n > max_entries {
        return Err(Error::invalid(format!(
            "num_children={n} exceeds the maximum of {max_entries}"
        )));
    }
    let n = r.count(n, "num_children")?;
    let generations = r.column(n, "generation_number", Reader::varint64)?;
    let files = r.column(n, "version node data file id", |r, what| {
        read_file_index(r, table, what)
    })?;
    let offsets = r.column(n, "version node offset", Reader::varint64)?;
    let lengths = r.column(n, "version node length", Reader::varint64)?;
    let num_generations = r.column(n, "num_generations", Reader::varint64)?;
    let times = r.column(n, "commit_time", Reader::u64le)?;
    let heights = match node_height {
        None => r.column(n, "entry_height", Reader::u8)?,
        Some(h) => vec![h.saturating_sub(1); n],
    };
    Ok(files
        .into_iter()
        .enumerate()
        .map(|(i, file)| VersionNodeReference {
            generation_number: generations[i],
            location: IndirectDataReference::new(file, offsets[i], lengths[i]),
            num_generations: num_generations[i],
            commit_time: times[i],
            height: heights[i],
        })
        .collect())
}

/// Adds the files of a version leaf array to a table under construction. Empty trees use the
/// empty file id, as TensorStore's writer does.
pub(crate) fn add_leaf_files(
    table: &mut DataFileTableBuilder,
    entries: &[BtreeGenerationReference],
) {
    for e in entries {
        match &e.root {
            Some(root) => table.add(&root.location.file),
            None => table.add(&DataFileId::default()),
        }
    }
}

pub(crate) fn write_leaf_entries(
    out: &mut Vec<u8>,
    table: &DataFileTable,
    entries: &[BtreeGenerationReference],
) -> Result<()> {
    put_varint(out, entries.len() as u64);
    for e in entries {
        put_varint(out, e.generation_number);
    }
    for e in entries {
        out.push(e.root_height);
    }
    for e in entries {
        let index = match &e.root {
            Some(root) => table.index_of(&root.location.file)?,
            None => table.index_of(&DataFileId::default())?,
        };
        put_varint(out, index);
    }
    for e in entries {
        put_varint(
            out,
            e.root
                .as_ref()
                .map_or(MISSING_OFFSET, |r| r.location.offset),
        );
    }
    for e in entries {
        put_varint(
            out,
            e.root
                .as_ref()
                .map_or(MISSING_OFFSET, |r| r.location.length),
        );
    }
    for e in entries {
        put_varint(out, e.statistics().num_keys);
    }
    for e in entries {
        put_varint(out, e.statistics().num_tree_bytes);
    }
    for e in entries {
        put_varint(out, e.statistics().num_indirect_value_bytes);
    }
    for e in entries {
        out.extend_from_slice(&e.commit_time.to_le_bytes());
    }
    Ok(())
}

pub(crate) fn write_interior_entries(
    out: &mut Vec<u8>,
    table: &DataFileTable,
    entries: &[VersionNodeReference],
    with_heights: bool,
) -> Result<()> {
    put_varint(out, entries.len() as u64);
    for e in entries {
        put_varint(out, e.generation_number);
    }
    for e in entries {
        put_varint(out, table.index_of(&e.location.file)?);
    }
    for e in entries {
        put_varint(out, e.location.offset);
    }
    for e in entries {
        put_varint(out, e.location.length);
    }
    for e in entries {
        put_varint(out, e.num_generations);
    }
    for e in entries {
        out.extend_from_slice(&e.commit_time.to_le_bytes());
    }
    if with_heights {
        for e in entries {
            out.push(e.height);
        }
    }
    Ok(())
}

/// Decodes an encoded version-tree node (envelope included), reached through a reference
/// whose file has base path `base_path`.
pub fn decode_version_tree_node(encoded: &[u8], base_path: &[u8]) -> Result<VersionTreeNode> {
    let body = decode_envelope(encoded, Magic::VersionNode)?;
    decode_version_tree_node_body(&body, base_path)
}

/// Decodes the (decompressed) body of a version-tree node.
pub fn decode_version_tree_node_body(body: &Bytes, base_path: &[u8]) -> Result<VersionTreeNode> {
    let mut r = Reader::new(body);
    let a = r.u8("version_tree_arity_log2")?;
    validate_arity_log2(a)?;
    let height = r.u8("version node height")?;
    let table = read_table(&mut r, base_path)?;
    let entries = if height == 0 {
        VersionTreeEntries::Leaf(read_leaf_entries(&mut r, a, &table)?)
    } else {
        let max = max_version_tree_height(a);
        if height > max {
            return Err(Error::invalid(format!(
                "version node height={height} exceeds maximum of {max} for version_tree_arity_log2={a}"
            )));
        }
        let entries = read_interior_entries(&mut r, &table, 1u64 << a, Some(height))?;
        validate_interior_entries(a, height, &entries)?;
        VersionTreeEntries::Interior(entries)
    };
    r.expect_end("the version tree node")?;
    Ok(VersionTreeNode {
        version_tree_arity_log2: a,
        height,
        entries,
    })
}

/// Encodes a version-tree node (envelope included).
pub fn encode_version_tree_node(
    node: &VersionTreeNode,
    compression: Compression,
) -> Result<Vec<u8>> {
    let body = encode_version_tree_node_body(node)?;
    encode_envelope(Magic::VersionNode, &body, compression)
}

/// Encodes the body of a version-tree node (no envelope).
pub fn encode_version_tree_node_body(node: &VersionTreeNode) -> Result<Vec<u8>> {
    node.validate().map_err(Error::into_input_error)?;
    let mut builder = DataFileTableBuilder::new();
    match &node.entries {
        VersionTreeEntries::Leaf(entries) => add_leaf_files(&mut builder, entries),
        VersionTreeEntries::Interior(entries) => {
            for e in entries {
                builder.add(&e.location.file);
            }
        }
    }
    let table = builder.finish();
    let mut out = vec![node.version_tree_arity_log2, node.height];
    table.encode(&mut out)?;
    match &node.entries {
        VersionTreeEntries::Leaf(entries) => write_leaf_entries(&mut out, &table, entries)?,
        VersionTreeEntries::Interior(entries) => {
            write_interior_entries(&mut out, &table, entries, false)?
        }
    }
    Ok(out)
}

/// Entries of every version array are ordered: `field[i]` must exceed `field[i - 1]`.
fn strictly_increasing(field: &str, i: usize, value: u64, previous: u64) -> Result<()> {
    if value <= previous {
        return Err(Error::invalid(format!(
            "{field}[{i}]={value} <= {field}[{}]={previous}",
            i - 1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_ranges_match_spec_examples() {
        // G = 74, a = 4: one height-1 node covering 1..64.
        assert_eq!(manifest_version_node_ranges(4, 74), vec![(1, 64, 1)]);
        // G = 69, a = 1: heights 1..5 with last generations 68, 64, 56, 48, 32.
        let r = manifest_version_node_ranges(1, 69);
        let maxes: Vec<(u64, u8)> = r.iter().map(|&(_, max, h)| (max, h)).collect();
        assert_eq!(maxes, vec![(68, 1), (64, 2), (56, 3), (48, 4), (32, 5)]);
        assert!(manifest_version_node_ranges(4, 16).is_empty());
        assert_eq!(manifest_version_node_ranges(4, 17), vec![(1, 16, 1)]);
        // Huge generations with a = 1 must not overflow a shift.
        assert!(!manifest_version_node_ranges(1, u64::MAX).is_empty());
        assert_eq!(max_generation_number(4), (1 << 60) + 16);
        assert_eq!(max_generation_number(1), (1 << 63) + 2);
    }

    #[test]
    fn leaf_block_arithmetic() {
        assert_eq!(min_leaf_generation(4, 74), 65);
        assert_eq!(min_leaf_generation(4, 64), 49);
        assert_eq!(min_leaf_generation(1, 69), 69);
        assert_eq!(min_leaf_generation(16, 5), 1);
    }
}
