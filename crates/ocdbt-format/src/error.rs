//! The one error type of the format crate.

/// Everything that can be wrong with encoded OCDBT bytes (or with a structure handed to an
/// encoder).
///
/// Variants are semantic; [`Error::code`] maps them onto the stable codes the TypeScript layer
/// understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The first four bytes are not the magic number of the expected object kind.
    #[error("bad magic number 0x{found:08x} (expected 0x{expected:08x}, {kind})")]
    BadMagic {
        /// Magic of the expected kind.
        expected: u32,
        /// Magic found in the bytes.
        found: u32,
        /// Name of the expected kind.
        kind: &'static str,
    },
    /// The envelope's length field disagrees with the number of bytes actually present.
    #[error("length field says {declared} bytes but {actual} bytes are present")]
    LengthMismatch {
        /// Value of the length field.
        declared: u64,
        /// Size of the bytes handed to the decoder.
        actual: u64,
    },
    /// A format version this reader does not know.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u32),
    /// A compression method this reader does not know.
    #[error("unsupported compression method {0}")]
    UnsupportedCompression(u32),
    /// Another enumerated field with an unknown value (e.g. the manifest kind).
    #[error("unsupported {what} {value}")]
    Unsupported {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// The stored CRC-32C does not match the bytes.
    #[error("checksum mismatch (stored 0x{expected:08x}, computed 0x{actual:08x})")]
    Checksum {
        /// CRC-32C stored in the object.
        expected: u32,
        /// CRC-32C computed over the bytes.
        actual: u32,
    },
    /// The bytes end in the middle of a field.
    #[error("truncated: unexpected end of data while reading {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// Bytes are left over after a complete structure.
    #[error("{count} trailing bytes after {what}")]
    TrailingBytes {
        /// The structure that should have ended.
        what: &'static str,
        /// Number of extra bytes.
        count: u64,
    },
    /// A varint that is longer than its width allows or has bits beyond it.
    #[error("invalid varint in {what}: exceeds {bits} bits")]
    InvalidVarint {
        /// The field being read.
        what: &'static str,
        /// Width of the field.
        bits: u32,
    },
    /// A size or count beyond what any valid database holds; refused before allocating.
    #[error("{what} of {size} exceeds the limit of {limit}")]
    TooLarge {
        /// The size or count.
        what: &'static str,
        /// Its value.
        size: u64,
        /// The largest accepted value.
        limit: u64,
    },
    /// The zstd body is not one well-formed frame.
    #[error("invalid zstd body: {0}")]
    Zstd(String),
    /// A structural rule of the format is violated.
    #[error("{what}")]
    Invalid {
        /// Which rule, with the offending values.
        what: String,
    },
    /// An encoder was handed a structure that would not decode (unsorted keys, ...).
    #[error("cannot encode: {what}")]
    InvalidInput {
        /// Which rule, with the offending values.
        what: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Stable machine-readable code of this error.
    ///
    /// `ERR_OCDBT_CHECKSUM` (CRC mismatch), `ERR_OCDBT_TRUNCATED` (truncation and length
    /// mismatches), `ERR_OCDBT_UNSUPPORTED` (unknown version, compression or kind),
    /// `ERR_OCDBT_TOO_LARGE` (hostile sizes), `ERR_INVALID_ARGUMENT` (bad encoder input) and
    /// `ERR_OCDBT_CORRUPT` for every other structural violation.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Checksum { .. } => "ERR_OCDBT_CHECKSUM",
            Error::LengthMismatch { .. } | Error::Truncated { .. } => "ERR_OCDBT_TRUNCATED",
            Error::UnsupportedVersion(_)
            | Error::UnsupportedCompression(_)
            | Error::Unsupported { .. } => "ERR_OCDBT_UNSUPPORTED",
            Error::TooLarge { .. } => "ERR_OCDBT_TOO_LARGE",
            Error::InvalidInput { .. } => "ERR_INVALID_ARGUMENT",
            Error::BadMagic { .. }
            | Error::TrailingBytes { .. }
            | Error::InvalidVarint { .. }
            | Error::Zstd(_)
            | Error::Invalid { .. } => "ERR_OCDBT_CORRUPT",
        }
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        Error::Invalid { what: what.into() }
    }

    /// Turns a decoder-side rule violation into an encoder-side one, so that encoders that
    /// reuse the decoder's validation report a caller error rather than corruption.
    pub(crate) fn into_input_error(self) -> Self {
        match self {
            Error::Invalid { what } => Error::InvalidInput { what },
            Error::TooLarge { what, size, limit } => Error::InvalidInput {
                what: format!("{what} of {size} exceeds the limit of {limit}"),
            },
            other => other,
        }
    }
}
