//! Traversal: reading and checking nodes, point lookups, range listings and version lookups.

use std::cmp::Ordering;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use orbax_ocdbt_format::{
    self as format, decode_btree_node, decode_version_tree_node, validate_version_node_reference,
    BtreeNode, BtreeNodeEntries, DataFileId, IndirectDataReference, LeafValue,
    VersionNodeReference, VersionTreeEntries, VersionTreeNode, MAX_OBJECT_BYTES,
};

use crate::cache::{CachedNode, NodeKey, NodeKind};
use crate::{Entry, Error, Inner, Result, VersionInfo};

/// Compares the concatenation `prefix ‖ rel` with `other` without building it.
fn cmp_prefixed(prefix: &[u8], rel: &[u8], other: &[u8]) -> Ordering {
    let n = prefix.len().min(other.len());
    match prefix[..n].cmp(&other[..n]) {
        Ordering::Equal if prefix.len() <= other.len() => rel.cmp(&other[prefix.len()..]),
        // `other` is a proper prefix of `prefix`, so the concatenation is longer.
        Ordering::Equal => Ordering::Greater,
        unequal => unequal,
    }
}

fn concat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(a.len() + b.len());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v
}

fn escape(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}

/// The key bounds a parent promises for a child node.
struct Bounds<'a> {
    /// The child's implicit prefix (full key bytes).
    prefix: &'a [u8],
    /// Inclusive minimum of the child's first key, relative to `prefix`.
    inclusive_min: &'a [u8],
    /// Exclusive maximum of every key of the child, as a full key.
    exclusive_max: Option<&'a [u8]>,
}

impl Inner {
    /// Reads bytes `range` of data file `file`, mapping absence and short files to errors
    /// that name the file and the range.
    fn read_file_range(
        &self,
        file: &DataFileId,
        range: Range<u64>,
        what: &'static str,
    ) -> Result<Bytes> {
        let path = file.full_path();
        match self.base.read(&path, Some(range.clone())) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(Error::MissingFile {
                what,
                path: self.base.describe(&path),
                range: Some(range),
            }),
            Err(orbax_kvstore::Error::RangeOutOfBounds { size, .. }) => Err(Error::Truncated {
                what,
                path: self.base.describe(&path),
                range,
                size,
            }),
            Err(e) => Err(Error::Store(e)),
        }
    }

    fn node_error(
        &self,
        what: &'static str,
        loc: &IndirectDataReference,
        source: format::Error,
    ) -> Error {
        Error::Format {
            what,
            file: self.base.describe(&loc.file.full_path()),
            offset: loc.offset,
            length: loc.length,
            source,
        }
    }

    fn read_node_bytes(&self, what: &'static str, loc: &IndirectDataReference) -> Result<Bytes> {
        if loc.length > MAX_OBJECT_BYTES {
            return Err(self.node_error(
                what,
                loc,
                format::Error::TooLarge {
                    what: "node reference length",
                    size: loc.length,
                    limit: MAX_OBJECT_BYTES,
                },
            ));
        }
        self.read_file_range(&loc.file, loc.offset..loc.end(), what)
    }

    fn node_key(kind: NodeKind, loc: &IndirectDataReference) -> NodeKey {
        NodeKey {
            kind,
            file: loc.file.clone(),
            offset: loc.offset,
            length: loc.length,
        }
    }

    /// The decoded B+tree node at `loc`, from the cache or the data file.
    pub(crate) fn btree_node(&self, loc: &IndirectDataReference) -> Result<Arc<BtreeNode>> {
        const WHAT: &str = "b+tree node";
        let key = Self::node_key(NodeKind::Btree, loc);
        if let Some(CachedNode::Btree(node)) = self.cache.get(&key) {
            return Ok(node);
        }
        let bytes = self.read_node_bytes(WHAT, loc)?;
        let node = decode_btree_node(&bytes, &loc.file.base_path)
            .map_err(|e| self.node_error(WHAT, loc, e))?;
        let node = Arc::new(node);
        let size = node.estimated_memory();
        self.cache
            .insert(key, CachedNode::Btree(node.clone()), size);
        Ok(node)
    }

    /// The decoded version-tree node at `loc`, from the cache or the data file.
    fn version_node(&self, loc: &IndirectDataReference) -> Result<Arc<VersionTreeNode>> {
        const WHAT: &str = "version tree node";
        let key = Self::node_key(NodeKind::Version, loc);
        if let Some(CachedNode::Version(node)) = self.cache.get(&key) {
            return Ok(node);
        }
        let bytes = self.read_node_bytes(WHAT, loc)?;
        let node = decode_version_tree_node(&bytes, &loc.file.base_path)
            .map_err(|e| self.node_error(WHAT, loc, e))?;
        let node = Arc::new(node);
        let size = node.estimated_memory();
        self.cache
            .insert(key, CachedNode::Version(node.clone()), size);
        Ok(node)
    }

    /// Reads the B+tree node at `loc` and checks it against its parent: the expected height,
    /// a first key not below the parent's entry key, and a last key below the next entry's.
    fn checked_btree_node(
        &self,
        loc: &IndirectDataReference,
        height: u8,
        bounds: &Bounds<'_>,
    ) -> Result<Arc<BtreeNode>> {
        let node = self.btree_node(loc)?;
        let invalid =
            |what: String| self.node_error("b+tree node", loc, format::Error::Invalid { what });
        if node.height != height {
            return Err(invalid(format!(
                "expected height {height} but the node has height {}",
                node.height
            )));
        }
        let first = node.key(0);
        if first < bounds.inclusive_min {
            return Err(invalid(format!(
                "first key \"{}\" is less than the inclusive minimum \"{}\" specified by the parent node",
                escape(&concat(bounds.prefix, first)),
                escape(&concat(bounds.prefix, bounds.inclusive_min))
            )));
        }
        if let Some(max) = bounds.exclusive_max {
            let last = node.key(node.len() - 1);
            if cmp_prefixed(bounds.prefix, last, max) != Ordering::Less {
                return Err(invalid(format!(
                    "last key \"{}\" is not less than the exclusive maximum \"{}\" specified by the parent node",
                    escape(&concat(bounds.prefix, last)),
                    escape(max)
                )));
            }
        }
        Ok(node)
    }

    /// Finds the leaf value of `key`, descending a single path.
    pub(crate) fn find(&self, version: &VersionInfo, key: &[u8]) -> Result<Option<LeafValue>> {
        let Some(root) = &version.root else {
            return Ok(None);
        };
        let mut loc = root.clone();
        let mut height = version.root_height;
        // The current node's implicit prefix is `key[..consumed]`: a child is only entered
        // when the key starts with the child's prefix.
        let mut consumed = 0;
        let mut inclusive_min: Vec<u8> = Vec::new();
        let mut exclusive_max: Option<Vec<u8>> = None;
        loop {
            let bounds = Bounds {
                prefix: &key[..consumed],
                inclusive_min: &inclusive_min,
                exclusive_max: exclusive_max.as_deref(),
            };
            let node = self.checked_btree_node(&loc, height, &bounds)?;
            let rest = &key[consumed..];
            match &node.entries {
                BtreeNodeEntries::Leaf(entries) => {
                    return Ok(entries
                        .binary_search_by(|e| e.key.as_slice().cmp(rest))
                        .ok()
                        .map(|i| entries[i].value.clone()));
                }
                BtreeNodeEntries::Interior(entries) => {
                    let i = entries.partition_point(|e| e.key.as_slice() <= rest);
                    let Some(entry) = i.checked_sub(1).map(|j| &entries[j]) else {
                        return Ok(None);
                    };
                    if !rest.starts_with(entry.child_prefix()) {
                        return Ok(None);
                    }
                    if let Some(next) = entries.get(i) {
                        exclusive_max = Some(concat(&key[..consumed], &next.key));
                    }
                    inclusive_min = entry.child_inclusive_min().to_vec();
                    consumed += entry.subtree_common_prefix_length;
                    loc = entry.node.location.clone();
                    height -= 1;
                }
            }
        }
    }

    /// Like [`get`](Self::get), into `buf` (replacing its contents); `false` when absent.
    pub(crate) fn get_into(
        &self,
        version: &VersionInfo,
        key: &[u8],
        range: Option<Range<u64>>,
        buf: &mut Vec<u8>,
    ) -> Result<Option<usize>> {
        let Some(value) = self.find(version, key)? else {
            return Ok(None);
        };
        let range = self.value_range(key, &value, range)?;
        match value {
            LeafValue::Inline(bytes) => {
                let bytes = &bytes[range.start as usize..range.end as usize];
                if buf.len() < bytes.len() {
                    buf.resize(bytes.len(), 0);
                }
                buf[..bytes.len()].copy_from_slice(bytes);
                Ok(Some(bytes.len()))
            }
            LeafValue::OutOfLine(_) if range.is_empty() => Ok(Some(0)),
            LeafValue::OutOfLine(r) => {
                let range = r.offset + range.start..r.offset + range.end;
                let path = r.file.full_path();
                match self.base.read_into(&path, Some(range.clone()), buf) {
                    Ok(Some(n)) => Ok(Some(n)),
                    Ok(None) => Err(Error::MissingFile {
                        what: "value",
                        path: self.base.describe(&path),
                        range: Some(range),
                    }),
                    Err(orbax_kvstore::Error::RangeOutOfBounds { size, .. }) => {
                        Err(Error::Truncated {
                            what: "value",
                            path: self.base.describe(&path),
                            range,
                            size,
                        })
                    }
                    Err(e) => Err(Error::Store(e)),
                }
            }
        }
    }

    /// `range` (default: all) of a value, checked against its size.
    fn value_range(
        &self,
        key: &[u8],
        value: &LeafValue,
        range: Option<Range<u64>>,
    ) -> Result<Range<u64>> {
        let size = value.len();
        let range = range.unwrap_or(0..size);
        if range.start > range.end || range.end > size {
            return Err(Error::ValueRangeOutOfBounds {
                key: format!(
                    "{} [key {:?}]",
                    self.base.describe(crate::MANIFEST_KEY),
                    String::from_utf8_lossy(key)
                ),
                start: range.start,
                end: range.end,
                size,
            });
        }
        Ok(range)
    }

    /// The value of `key` (or bytes `range` of it) in `version`.
    pub(crate) fn get(
        &self,
        version: &VersionInfo,
        key: &[u8],
        range: Option<Range<u64>>,
    ) -> Result<Option<Bytes>> {
        let Some(value) = self.find(version, key)? else {
            return Ok(None);
        };
        let range = self.value_range(key, &value, range)?;
        match value {
            LeafValue::Inline(bytes) => {
                Ok(Some(bytes.slice(range.start as usize..range.end as usize)))
            }
            LeafValue::OutOfLine(_) if range.is_empty() => Ok(Some(Bytes::new())),
            LeafValue::OutOfLine(r) => {
                let bytes = self.read_file_range(
                    &r.file,
                    r.offset + range.start..r.offset + range.end,
                    "value",
                )?;
                Ok(Some(bytes))
            }
        }
    }

    /// Keys of `version` in `[lo, hi)`, visiting only subtrees whose interval meets it.
    pub(crate) fn list(
        &self,
        version: &VersionInfo,
        lo: &[u8],
        hi: Option<&[u8]>,
    ) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.for_each_leaf(version, lo, hi, &mut |key, value| {
            out.push(Entry {
                key: key.to_vec(),
                value_length: value.len(),
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `visit` with the full key and the value of every leaf entry of `version` in
    /// `[lo, hi)`, in key order, visiting only subtrees whose interval meets the range.
    pub(crate) fn for_each_leaf(
        &self,
        version: &VersionInfo,
        lo: &[u8],
        hi: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &LeafValue) -> Result<()>,
    ) -> Result<()> {
        if hi.is_some_and(|hi| hi <= lo) {
            return Ok(());
        }
        if let Some(root) = &version.root {
            let bounds = Bounds {
                prefix: &[],
                inclusive_min: &[],
                exclusive_max: None,
            };
            let mut key = Vec::new();
            self.visit_node(root, version.root_height, &bounds, lo, hi, &mut key, visit)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn visit_node(
        &self,
        loc: &IndirectDataReference,
        height: u8,
        bounds: &Bounds<'_>,
        lo: &[u8],
        hi: Option<&[u8]>,
        key: &mut Vec<u8>,
        visit: &mut dyn FnMut(&[u8], &LeafValue) -> Result<()>,
    ) -> Result<()> {
        let node = self.checked_btree_node(loc, height, bounds)?;
        let prefix = bounds.prefix;
        let below_hi =
            |key: &[u8]| hi.is_none_or(|hi| cmp_prefixed(prefix, key, hi) == Ordering::Less);
        match &node.entries {
            BtreeNodeEntries::Leaf(entries) => {
                let start =
                    entries.partition_point(|e| cmp_prefixed(prefix, &e.key, lo) == Ordering::Less);
                for e in &entries[start..] {
                    if !below_hi(&e.key) {
                        break;
                    }
                    // One buffer for every full key of the walk.
                    key.clear();
                    key.extend_from_slice(prefix);
                    key.extend_from_slice(&e.key);
                    visit(key, &e.value)?;
                }
            }
            BtreeNodeEntries::Interior(entries) => {
                // Child i covers [P‖r[i], P‖r[i+1]); start with the one that contains `lo`.
                let start = entries
                    .partition_point(|e| cmp_prefixed(prefix, &e.key, lo) != Ordering::Greater)
                    .saturating_sub(1);
                for (i, entry) in entries.iter().enumerate().skip(start) {
                    if !below_hi(&entry.key) {
                        break;
                    }
                    let next_key = entries.get(i + 1).map(|next| concat(prefix, &next.key));
                    let child_prefix = concat(prefix, entry.child_prefix());
                    let child_bounds = Bounds {
                        prefix: &child_prefix,
                        inclusive_min: entry.child_inclusive_min(),
                        exclusive_max: next_key.as_deref().or(bounds.exclusive_max),
                    };
                    self.visit_node(
                        &entry.node.location,
                        height - 1,
                        &child_bounds,
                        lo,
                        hi,
                        key,
                        visit,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Every version, oldest first.
    pub(crate) fn all_versions(&self) -> Result<Vec<VersionInfo>> {
        let mut out = Vec::new();
        for r in &self.manifest.version_tree_nodes {
            self.collect_versions(r, &mut out)?;
        }
        out.extend(self.manifest.versions.iter().map(VersionInfo::from));
        Ok(out)
    }

    fn collect_versions(&self, r: &VersionNodeReference, out: &mut Vec<VersionInfo>) -> Result<()> {
        match &self.checked_version_node(r)?.entries {
            VersionTreeEntries::Leaf(versions) => {
                out.extend(versions.iter().map(VersionInfo::from))
            }
            VersionTreeEntries::Interior(children) => {
                for c in children {
                    self.collect_versions(c, out)?;
                }
            }
        }
        Ok(())
    }

    /// Reads the version node `r` references and checks it against the reference.
    fn checked_version_node(&self, r: &VersionNodeReference) -> Result<Arc<VersionTreeNode>> {
        let invalid = |e: format::Error| self.node_error("version tree node", &r.location, e);
        // TensorStore 0.1.86 rejects this only once the reference is followed.
        if r.num_generations == 0 {
            return Err(invalid(format::Error::Invalid {
                what: format!(
                    "reference to generation {} has num_generations = 0",
                    r.generation_number
                ),
            }));
        }
        let node = self.version_node(&r.location)?;
        validate_version_node_reference(
            &node,
            self.manifest.config.version_tree_arity_log2,
            r.height,
            r.generation_number,
        )
        .map_err(invalid)?;
        Ok(node)
    }

    fn not_found(&self, generation: u64) -> Error {
        Error::GenerationNotFound {
            generation,
            latest: self.latest().generation_number,
            path: self.manifest_path(),
        }
    }

    /// The version with generation number `g` (spec §6.6).
    pub(crate) fn find_generation(&self, g: u64) -> Result<VersionInfo> {
        let inline = &self.manifest.versions;
        let exact = |versions: &[format::BtreeGenerationReference]| {
            versions
                .binary_search_by_key(&g, |v| v.generation_number)
                .ok()
                .map(|i| VersionInfo::from(&versions[i]))
                .ok_or_else(|| self.not_found(g))
        };
        if g >= inline[0].generation_number {
            return exact(inline);
        }
        let a = u32::from(self.manifest.config.version_tree_arity_log2);
        // The first reference whose subtree ends at or after `g`; it contains `g` only if its
        // aligned block starts at or before `g`.
        let covers = |r: &VersionNodeReference, height: u8| {
            let block = 1u64.checked_shl(a * (u32::from(height) + 1));
            let start = block.map_or(1, |b| r.generation_number - (r.generation_number - 1) % b);
            g >= start
        };
        let mut r = self
            .manifest
            .version_tree_nodes
            .iter()
            .find(|r| r.generation_number >= g)
            .filter(|r| covers(r, r.height))
            .ok_or_else(|| self.not_found(g))?
            .clone();
        loop {
            let node = self.checked_version_node(&r)?;
            match &node.entries {
                VersionTreeEntries::Leaf(versions) => return exact(versions),
                VersionTreeEntries::Interior(children) => {
                    r = children
                        .iter()
                        .find(|c| c.generation_number >= g)
                        .filter(|c| covers(c, c.height))
                        .ok_or_else(|| self.not_found(g))?
                        .clone();
                }
            }
        }
    }

    /// The last version committed at or before `t` (spec §6.6).
    pub(crate) fn find_commit_time(&self, t: u64) -> Result<VersionInfo> {
        let last_at_or_before = |versions: &[format::BtreeGenerationReference]| {
            let i = versions.partition_point(|v| v.commit_time <= t);
            i.checked_sub(1).map(|i| VersionInfo::from(&versions[i]))
        };
        let inline = &self.manifest.versions;
        if inline[0].commit_time <= t {
            return last_at_or_before(inline).ok_or_else(|| self.not_found(t));
        }
        let nodes = &self.manifest.version_tree_nodes;
        let mut r = match nodes.partition_point(|r| r.commit_time <= t).checked_sub(1) {
            Some(i) => nodes[i].clone(),
            None => return Err(self.not_found(t)),
        };
        loop {
            let node = self.checked_version_node(&r)?;
            match &node.entries {
                VersionTreeEntries::Leaf(versions) => {
                    return last_at_or_before(versions).ok_or_else(|| self.not_found(t));
                }
                VersionTreeEntries::Interior(children) => {
                    let i = children.partition_point(|c| c.commit_time <= t);
                    r = match i.checked_sub(1) {
                        Some(i) => children[i].clone(),
                        None => return Err(self.not_found(t)),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_comparison_matches_concatenation() {
        let cases: &[(&[u8], &[u8], &[u8])] = &[
            (b"ab", b"c", b"abc"),
            (b"ab", b"c", b"abd"),
            (b"ab", b"c", b"ab"),
            (b"ab", b"", b"a"),
            (b"abc", b"", b"ab"),
            (b"", b"x", b""),
            (b"b", b"", b"abc"),
            (b"a\xff", b"\x00", b"a\xff"),
        ];
        for &(p, r, o) in cases {
            assert_eq!(
                cmp_prefixed(p, r, o),
                concat(p, r).as_slice().cmp(o),
                "{p:?} {r:?} {o:?}"
            );
        }
    }
}
