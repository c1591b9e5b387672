//! Manifests (spec §5): config, and for the single kind the data file table, the inline
//! versions and the references to version-tree nodes.

use bytes::Bytes;

use crate::codec::Reader;
use crate::config::{Config, ManifestKind};
use crate::data_file::{read_table, DataFileTableBuilder};
use crate::envelope::{decode_envelope, encode_envelope, Magic};
use crate::error::{Error, Result};
use crate::version_tree::{
    add_leaf_files, max_generation_number, max_version_tree_height, read_interior_entries,
    read_leaf_entries, validate_leaf_entries, validate_manifest_version_nodes,
    write_interior_entries, write_leaf_entries, BtreeGenerationReference, VersionNodeReference,
};

/// A decoded manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Manifest {
    /// The database configuration.
    pub config: Config,
    /// The versions of the latest aligned block, oldest first; the last one is the latest
    /// version. Empty for a config-only manifest (`manifest.ocdbt` of the numbered kind).
    pub versions: Vec<BtreeGenerationReference>,
    /// References to older versions, from the greatest height (oldest) down to height 1.
    pub version_tree_nodes: Vec<VersionNodeReference>,
}

impl Manifest {
    /// The latest version, `None` for a config-only manifest.
    pub fn latest(&self) -> Option<&BtreeGenerationReference> {
        self.versions.last()
    }

    /// True if this is the config-only `manifest.ocdbt` of a numbered-kind database.
    pub fn is_config_only(&self) -> bool {
        self.config.manifest_kind == ManifestKind::Numbered && self.versions.is_empty()
    }

    fn validate(&self) -> Result<()> {
        self.config.validate()?;
        if self.config.manifest_kind == ManifestKind::Numbered {
            if !self.versions.is_empty() || !self.version_tree_nodes.is_empty() {
                return Err(Error::invalid(
                    "a numbered-kind manifest.ocdbt holds only the config; encode numbered manifest files with kind single",
                ));
            }
            return Ok(());
        }
        let a = self.config.version_tree_arity_log2;
        validate_leaf_entries(a, &self.versions)?;
        let latest = self.versions[self.versions.len() - 1].generation_number;
        validate_manifest_tail(a, latest, &self.versions, &self.version_tree_nodes)
    }
}

fn validate_manifest_tail(
    a: u8,
    latest: u64,
    versions: &[BtreeGenerationReference],
    nodes: &[VersionNodeReference],
) -> Result<()> {
    let max = max_generation_number(a);
    if latest > max {
        return Err(Error::invalid(format!(
            "latest generation {latest} exceeds the maximum of {max} for version_tree_arity_log2={a}"
        )));
    }
    validate_manifest_version_nodes(a, latest, nodes)?;
    if let (Some(last_node), Some(first_version)) = (nodes.last(), versions.first()) {
        if last_node.commit_time >= first_version.commit_time {
            return Err(Error::invalid(format!(
                "version_tree_nodes.back().commit_time={} >= versions.front().commit_time={}",
                last_node.commit_time, first_version.commit_time
            )));
        }
    }
    Ok(())
}

/// Decodes an encoded manifest (envelope included).
pub fn decode_manifest(encoded: &[u8]) -> Result<Manifest> {
    let body = decode_envelope(encoded, Magic::Manifest)?;
    decode_manifest_body(&body)
}

/// Decodes the (decompressed) body of a manifest.
pub fn decode_manifest_body(body: &Bytes) -> Result<Manifest> {
    let mut r = Reader::new(body);
    let config = Config::read(&mut r)?;
    if config.manifest_kind == ManifestKind::Numbered {
        r.expect_end("the config-only manifest")?;
        return Ok(Manifest {
            config,
            versions: Vec::new(),
            version_tree_nodes: Vec::new(),
        });
    }
    let a = config.version_tree_arity_log2;
    let table = read_table(&mut r, b"")?;
    let versions = read_leaf_entries(&mut r, a, &table)?;
    let nodes = read_interior_entries(&mut r, &table, u64::from(max_version_tree_height(a)), None)?;
    r.expect_end("the manifest")?;
    let latest = versions[versions.len() - 1].generation_number;
    validate_manifest_tail(a, latest, &versions, &nodes)?;
    Ok(Manifest {
        config,
        versions,
        version_tree_nodes: nodes,
    })
}

/// Encodes a manifest (envelope included), compressed as its config says.
///
/// A manifest whose config has the numbered kind is encoded config-only (that is
/// `manifest.ocdbt` of a numbered database); the numbered `manifest.<16 hex>` files are full
/// manifests whose config says [`ManifestKind::Single`].
pub fn encode_manifest(manifest: &Manifest) -> Result<Vec<u8>> {
    let body = encode_manifest_body(manifest)?;
    encode_envelope(Magic::Manifest, &body, manifest.config.compression)
}

/// Encodes the body of a manifest (no envelope).
pub fn encode_manifest_body(manifest: &Manifest) -> Result<Vec<u8>> {
    manifest.validate().map_err(Error::into_input_error)?;
    let mut out = Vec::new();
    manifest.config.encode(&mut out)?;
    if manifest.config.manifest_kind == ManifestKind::Numbered {
        return Ok(out);
    }
    let mut builder = DataFileTableBuilder::new();
    add_leaf_files(&mut builder, &manifest.versions);
    for n in &manifest.version_tree_nodes {
        builder.add(&n.location.file);
    }
    let table = builder.finish();
    table.encode(&mut out)?;
    write_leaf_entries(&mut out, &table, &manifest.versions)?;
    write_interior_entries(&mut out, &table, &manifest.version_tree_nodes, true)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::btree::{BtreeNodeReference, BtreeNodeStatistics};
    use crate::data_file::{DataFileId, IndirectDataReference};
    use crate::envelope::Compression;

    fn example_manifest() -> Manifest {
        let file = Arc::new(DataFileId::new("", "d/0123456789abcdef0123456789abcdef"));
        let mut config = Config::orbax((0..16).collect::<Vec<u8>>().try_into().unwrap());
        config.compression = Compression::None;
        Manifest {
            config,
            versions: vec![BtreeGenerationReference {
                generation_number: 1,
                root_height: 0,
                root: Some(BtreeNodeReference {
                    location: IndirectDataReference::new(file, 2048, 79),
                    statistics: BtreeNodeStatistics {
                        num_keys: 2,
                        num_tree_bytes: 79,
                        num_indirect_value_bytes: 2048,
                    },
                }),
                commit_time: 1_700_000_000_000_000_000,
            }],
            version_tree_nodes: vec![],
        }
    }

    #[test]
    fn worked_example_manifest_matches_spec_bytes() {
        let m = example_manifest();
        let encoded = encode_manifest(&m).unwrap();
        let mut expected = hex::decode("0cdb3a2a64000000000000000000").unwrap();
        expected.extend(0u8..16);
        expected.extend_from_slice(&[0x00, 0x80, 0x08, 0x80, 0xc2, 0xd7, 0x2f, 0x04, 0x00]);
        expected.extend_from_slice(&[0x01, 0x22, 0x00]);
        expected.extend_from_slice(b"d/0123456789abcdef0123456789abcdef");
        expected.extend_from_slice(&[
            0x01, 0x01, 0x00, 0x00, 0x80, 0x10, 0x4f, 0x02, 0x4f, 0x80, 0x10,
        ]);
        expected.extend_from_slice(&hex::decode("00002a36fe9c9717").unwrap());
        expected.push(0x00);
        expected.extend_from_slice(&hex::decode("506f8479").unwrap());
        assert_eq!(hex::encode(&encoded), hex::encode(&expected));
        assert_eq!(encoded.len(), 100);
        assert_eq!(decode_manifest(&encoded).unwrap(), m);
    }

    #[test]
    fn empty_database_manifest_uses_the_empty_file_id() {
        let mut m = example_manifest();
        m.config.compression = Compression::Zstd { level: 0 };
        m.versions[0].root = None;
        let body = encode_manifest_body(&m).unwrap();
        // table: one file with empty path
        assert_eq!(&body[29..32], &[1, 0, 0]);
        let encoded = encode_manifest(&m).unwrap();
        assert_eq!(decode_manifest(&encoded).unwrap(), m);
    }

    #[test]
    fn config_only_manifest_round_trips() {
        let mut m = example_manifest();
        m.config.manifest_kind = ManifestKind::Numbered;
        assert!(encode_manifest(&m).is_err());
        m.versions.clear();
        let encoded = encode_manifest(&m).unwrap();
        let decoded = decode_manifest(&encoded).unwrap();
        assert!(decoded.is_config_only());
        assert_eq!(decoded, m);
    }
}
