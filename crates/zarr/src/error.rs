//! The one error type of this crate, with stable codes for the TypeScript layer.

/// Errors of this crate. Every variant that concerns stored data names the key or file involved
/// (as the store describes it, e.g. a file path or `manifest.ocdbt [key "w/0.0"]`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dtype this crate does not know (in metadata, or requested by a caller).
    #[error("unsupported dtype {dtype:?} in {file}")]
    UnsupportedDtype {
        /// The dtype string as found.
        dtype: String,
        /// Where it was found.
        file: String,
    },
    /// A codec, compressor, filter, chunk grid or chunk layout outside the supported subset.
    #[error("unsupported zarr codec {codec} in {file}")]
    UnsupportedCodec {
        /// What was found (e.g. `compressor "blosc"`, `codec "transpose"`).
        codec: String,
        /// Where it was found.
        file: String,
    },
    /// Array metadata that does not parse or is inconsistent.
    #[error("invalid zarr metadata {key}: {reason}")]
    InvalidMetadata {
        /// The metadata file or key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The array's metadata key (`.zarray` / `zarr.json`) does not exist.
    #[error("zarr metadata {key} does not exist")]
    MissingMetadata {
        /// The metadata key, as the store describes it.
        key: String,
    },
    /// A chunk is absent and the read policy forbids substituting the fill value (Orbax writes
    /// every chunk, `store_array_data_equal_to_fill_value: true`).
    #[error(
        "zarr chunk {key} is missing (the checkpoint stores every chunk, so it is incomplete)"
    )]
    MissingChunk {
        /// The chunk key, as the store describes it.
        key: String,
    },
    /// A chunk whose bytes do not decode to exactly one chunk of the array's dtype.
    #[error("corrupt zarr chunk {key}: {reason}")]
    CorruptChunk {
        /// The chunk key, as the store describes it.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A crc32c checksum (of a shard index, or of a chunk with a `crc32c` codec) does not match.
    #[error("crc32c mismatch in {key}: stored {stored:#010x}, computed {computed:#010x}")]
    ShardIndexChecksum {
        /// The shard (or chunk) key, as the store describes it.
        key: String,
        /// The checksum stored in the data.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// A requested region that does not lie inside the array.
    #[error("region {region} is outside the array of shape {shape:?}")]
    RegionOutOfBounds {
        /// The requested region, formatted.
        region: String,
        /// The array's shape.
        shape: Vec<u64>,
    },
    /// An output buffer whose length does not match the requested region.
    #[error("output buffer has {actual} bytes, the region needs {expected}")]
    OutputSizeMismatch {
        /// Bytes needed.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
    /// Another invalid argument (mismatched buffer lengths in a cast, a chunk index outside
    /// the grid, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The read was cancelled through [`crate::ReadOptions::cancel`].
    #[error("the read was cancelled")]
    Cancelled,
    /// The underlying key-value store failed.
    #[error(transparent)]
    Store(#[from] orbax_kvstore::Error),
    /// Any other error raised by an underlying store or callback.
    #[error(transparent)]
    Source(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A stable machine-readable code, surfaced as `error.code` in JavaScript.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnsupportedDtype { .. } => "ERR_ZARR_UNSUPPORTED_DTYPE",
            Error::UnsupportedCodec { .. } => "ERR_ZARR_UNSUPPORTED_CODEC",
            Error::InvalidMetadata { .. } | Error::MissingMetadata { .. } => "ERR_ZARR_METADATA",
            Error::MissingChunk { .. } => "ERR_ZARR_MISSING_CHUNK",
            Error::CorruptChunk { .. } => "ERR_ZARR_CORRUPT_CHUNK",
            Error::ShardIndexChecksum { .. } => "ERR_ZARR_CHECKSUM",
            Error::RegionOutOfBounds { .. }
            | Error::OutputSizeMismatch { .. }
            | Error::InvalidArgument(_) => "ERR_INVALID_ARGUMENT",
            Error::Cancelled => "ERR_CANCELLED",
            Error::Store(_) | Error::Source(_) => "ERR_IO",
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::UnsupportedDtype {
                    dtype: "<U8".into(),
                    file: "f".into(),
                },
                "ERR_ZARR_UNSUPPORTED_DTYPE",
            ),
            (
                Error::UnsupportedCodec {
                    codec: "blosc".into(),
                    file: "f".into(),
                },
                "ERR_ZARR_UNSUPPORTED_CODEC",
            ),
            (
                Error::InvalidMetadata {
                    key: "k".into(),
                    reason: "r".into(),
                },
                "ERR_ZARR_METADATA",
            ),
            (
                Error::MissingMetadata { key: "k".into() },
                "ERR_ZARR_METADATA",
            ),
            (
                Error::MissingChunk { key: "k".into() },
                "ERR_ZARR_MISSING_CHUNK",
            ),
            (
                Error::CorruptChunk {
                    key: "k".into(),
                    reason: "r".into(),
                },
                "ERR_ZARR_CORRUPT_CHUNK",
            ),
            (
                Error::ShardIndexChecksum {
                    key: "k".into(),
                    stored: 1,
                    computed: 2,
                },
                "ERR_ZARR_CHECKSUM",
            ),
            (
                Error::RegionOutOfBounds {
                    region: "[0..9]".into(),
                    shape: vec![3],
                },
                "ERR_INVALID_ARGUMENT",
            ),
            (
                Error::OutputSizeMismatch {
                    expected: 1,
                    actual: 2,
                },
                "ERR_INVALID_ARGUMENT",
            ),
            (Error::InvalidArgument("x".into()), "ERR_INVALID_ARGUMENT"),
            (Error::Cancelled, "ERR_CANCELLED"),
            (
                Error::Store(orbax_kvstore::Error::InvalidKey {
                    key: "k".into(),
                    reason: "r",
                }),
                "ERR_IO",
            ),
            (Error::Source("boom".into()), "ERR_IO"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error}");
        }
    }

    #[test]
    fn messages_name_the_key() {
        let e = Error::CorruptChunk {
            key: "/ckpt/w/0.0".into(),
            reason: "truncated".into(),
        };
        assert_eq!(e.to_string(), "corrupt zarr chunk /ckpt/w/0.0: truncated");
    }
}
