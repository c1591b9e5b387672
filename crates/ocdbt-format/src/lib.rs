//! Encode and decode of TensorStore's OCDBT on-disk format (`shared/spec/ocdbt.md`), without
//! any I/O.
//!
//! Every structure has a decoder that enforces the reader checks of TensorStore 0.1.86 and an
//! encoder that emits what TensorStore emits (shortest varints, longest common prefixes, sorted
//! data file tables). Decoders treat their input as hostile: every count and length is checked
//! against the bytes actually present, and compressed bodies against [`MAX_OBJECT_BYTES`],
//! before anything is allocated for it.
//!
//! * [`envelope`]: magic, length, version, compression and CRC-32C around every object;
//! * [`Manifest`] with its [`Config`], inline versions and version-tree node references;
//! * [`VersionTreeNode`]s holding older versions;
//! * [`BtreeNode`]s holding keys and values.

#![warn(missing_docs)]

mod btree;
mod codec;
mod config;
mod data_file;
pub mod envelope;
mod error;
mod manifest;
mod version_tree;

pub use btree::{
    decode_btree_node, decode_btree_node_body, encode_btree_node, encode_btree_node_body,
    BtreeNode, BtreeNodeEntries, BtreeNodeReference, BtreeNodeStatistics, InteriorEntry, LeafEntry,
    LeafValue, MAX_INLINE_VALUE_LENGTH, MAX_KEY_LENGTH, MAX_NODE_ARITY,
};
pub use codec::{common_prefix_len, varint_len};
pub use config::{
    Config, ManifestKind, MAX_VERSION_TREE_ARITY_LOG2, MAX_ZSTD_LEVEL, MIN_ZSTD_LEVEL,
};
pub use data_file::{
    DataFileId, DataFileTable, DataFileTableBuilder, IndirectDataReference, MAX_PATH_LENGTH,
    MAX_REFERENCE_END, MISSING_OFFSET,
};
pub use envelope::{Compression, Magic, MAX_OBJECT_BYTES};
pub use error::{Error, Result};
pub use manifest::{
    decode_manifest, decode_manifest_body, encode_manifest, encode_manifest_body, Manifest,
};
pub use version_tree::{
    decode_version_tree_node, decode_version_tree_node_body, encode_version_tree_node,
    encode_version_tree_node_body, manifest_version_node_ranges, max_generation_number,
    max_version_tree_height, min_leaf_generation, validate_version_node_reference,
    BtreeGenerationReference, VersionNodeReference, VersionTreeEntries, VersionTreeNode,
};

/// The name of a numbered manifest file holding generation `generation`:
/// `manifest.` followed by 16 lowercase hex digits.
pub fn numbered_manifest_name(generation: u64) -> String {
    format!("manifest.{generation:016x}")
}

/// The generation a numbered manifest file name stands for, if `name` is `manifest.` followed
/// by exactly 16 hex digits with a non-zero value.
pub fn parse_numbered_manifest_name(name: &[u8]) -> Option<u64> {
    let digits = name.strip_prefix(b"manifest.")?;
    if digits.len() != 16 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let g = u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
    (g != 0).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_manifest_names() {
        assert_eq!(numbered_manifest_name(21), "manifest.0000000000000015");
        assert_eq!(
            parse_numbered_manifest_name(b"manifest.0000000000000015"),
            Some(21)
        );
        assert_eq!(
            parse_numbered_manifest_name(b"manifest.0000000000000000"),
            None
        );
        assert_eq!(parse_numbered_manifest_name(b"manifest.ocdbt"), None);
        assert_eq!(
            parse_numbered_manifest_name(b"manifest.000000000000015"),
            None
        );
        assert_eq!(
            parse_numbered_manifest_name(b"manifest.000000000000001g"),
            None
        );
    }
}
