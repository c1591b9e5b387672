//! The database configuration stored at the start of every manifest (spec §5.1).

use crate::codec::{put_varint, Reader};
use crate::envelope::Compression;
use crate::error::{Error, Result};

/// Smallest valid zstd level in a config.
pub const MIN_ZSTD_LEVEL: i32 = -131072;
/// Largest valid zstd level in a config.
pub const MAX_ZSTD_LEVEL: i32 = 22;
/// Largest `version_tree_arity_log2`.
pub const MAX_VERSION_TREE_ARITY_LOG2: u8 = 16;

/// How manifests are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// `manifest.ocdbt` holds config and version tree and is replaced on every commit (the
    /// only kind Orbax uses).
    Single,
    /// `manifest.ocdbt` holds only the config; each commit writes `manifest.<16 hex>`.
    Numbered,
}

impl ManifestKind {
    /// The stored byte.
    pub fn to_byte(self) -> u8 {
        match self {
            ManifestKind::Single => 0,
            ManifestKind::Numbered => 1,
        }
    }
}

/// A database configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    /// Random database id.
    pub uuid: [u8; 16],
    /// How manifests are stored.
    pub manifest_kind: ManifestKind,
    /// Values up to this size are stored inline in leaves.
    pub max_inline_value_bytes: u32,
    /// Target upper bound of a node's estimated decoded size (0 = unlimited).
    pub max_decoded_node_bytes: u32,
    /// log2 of the version tree arity, in `1..=16`.
    pub version_tree_arity_log2: u8,
    /// How manifests and nodes are compressed.
    pub compression: Compression,
}

impl Config {
    /// The configuration every Orbax database uses (spec §10.3), with the given uuid.
    pub fn orbax(uuid: [u8; 16]) -> Self {
        Config {
            uuid,
            manifest_kind: ManifestKind::Single,
            max_inline_value_bytes: 1024,
            max_decoded_node_bytes: 100_000_000,
            version_tree_arity_log2: 4,
            compression: Compression::Zstd { level: 0 },
        }
    }

    /// Version tree arity `2^version_tree_arity_log2`.
    pub fn version_tree_arity(&self) -> u64 {
        1u64 << self.version_tree_arity_log2
    }

    pub(crate) fn validate(&self) -> Result<()> {
        validate_arity_log2(self.version_tree_arity_log2)?;
        if let Compression::Zstd { level } = self.compression {
            if !(MIN_ZSTD_LEVEL..=MAX_ZSTD_LEVEL).contains(&level) {
                return Err(Error::invalid(format!(
                    "zstd level {level} outside [{MIN_ZSTD_LEVEL}, {MAX_ZSTD_LEVEL}]"
                )));
            }
        }
        Ok(())
    }

    /// Appends the encoded config.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        self.validate().map_err(Error::into_input_error)?;
        out.extend_from_slice(&self.uuid);
        out.push(self.manifest_kind.to_byte());
        put_varint(out, self.max_inline_value_bytes.into());
        put_varint(out, self.max_decoded_node_bytes.into());
        out.push(self.version_tree_arity_log2);
        match self.compression {
            Compression::None => put_varint(out, 0),
            Compression::Zstd { level } => {
                put_varint(out, 1);
                out.extend_from_slice(&level.to_le_bytes());
            }
        }
        Ok(())
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let uuid = r.array("config uuid")?;
        let manifest_kind = match r.u8("config manifest_kind")? {
            0 => ManifestKind::Single,
            1 => ManifestKind::Numbered,
            other => {
                return Err(Error::Unsupported {
                    what: "manifest kind",
                    value: other.into(),
                })
            }
        };
        let max_inline_value_bytes = r.varint32("config max_inline_value_bytes")?;
        let max_decoded_node_bytes = r.varint32("config max_decoded_node_bytes")?;
        let version_tree_arity_log2 = r.u8("config version_tree_arity_log2")?;
        validate_arity_log2(version_tree_arity_log2)?;
        let compression = match r.varint32("config compression_method")? {
            0 => Compression::None,
            1 => Compression::Zstd {
                level: r.i32le("config zstd level")?,
            },
            other => return Err(Error::UnsupportedCompression(other)),
        };
        let config = Config {
            uuid,
            manifest_kind,
            max_inline_value_bytes,
            max_decoded_node_bytes,
            version_tree_arity_log2,
            compression,
        };
        config.validate()?;
        Ok(config)
    }
}

pub(crate) fn validate_arity_log2(a: u8) -> Result<()> {
    if a == 0 || a > MAX_VERSION_TREE_ARITY_LOG2 {
        return Err(Error::invalid(format!(
            "version_tree_arity_log2 {a} outside [1, {MAX_VERSION_TREE_ARITY_LOG2}]"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orbax_config_bytes_match_the_spec() {
        let mut out = Vec::new();
        Config::orbax([0; 16]).encode(&mut out).unwrap();
        assert_eq!(
            &out[16..],
            &[0x00, 0x80, 0x08, 0x80, 0xc2, 0xd7, 0x2f, 0x04, 0x01, 0, 0, 0, 0]
        );
        let mut r = Reader::new(&out);
        assert_eq!(Config::read(&mut r).unwrap(), Config::orbax([0; 16]));
        r.expect_end("config").unwrap();
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let mut base = Vec::new();
        Config::orbax([7; 16]).encode(&mut base).unwrap();
        let read = |bytes: &[u8]| Config::read(&mut Reader::new(bytes));
        let mut kind = base.clone();
        kind[16] = 2;
        assert!(matches!(read(&kind), Err(Error::Unsupported { .. })));
        let mut arity = base.clone();
        arity[23] = 17;
        assert!(matches!(read(&arity), Err(Error::Invalid { .. })));
        arity[23] = 0;
        assert!(matches!(read(&arity), Err(Error::Invalid { .. })));
        let mut method = base.clone();
        method[24] = 2;
        assert!(matches!(
            read(&method),
            Err(Error::UnsupportedCompression(2))
        ));
        let mut level = base.clone();
        level[25..29].copy_from_slice(&23i32.to_le_bytes());
        assert!(matches!(read(&level), Err(Error::Invalid { .. })));
        let mut c = Config::orbax([0; 16]);
        c.compression = Compression::Zstd { level: 99 };
        assert!(matches!(
            c.encode(&mut Vec::new()),
            Err(Error::InvalidInput { .. })
        ));
    }
}
