//! Errors of the database reader, each naming the file (and for nodes the byte range) involved.

use std::fmt;
use std::ops::Range;

use orbax_ocdbt_format::Error as FormatError;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest or node does not decode, or violates a rule relating it to its parent.
    #[error("ocdbt {what} at {file}[{offset}..{end}]: {source}", end = .offset.saturating_add(*.length))]
    Format {
        /// `"manifest"`, `"b+tree node"` or `"version tree node"`.
        what: &'static str,
        /// The file, as the base store describes it.
        file: String,
        /// Offset of the object in the file.
        offset: u64,
        /// Length of the object.
        length: u64,
        /// What is wrong.
        #[source]
        source: FormatError,
    },
    /// The base store failed.
    #[error(transparent)]
    Store(#[from] orbax_kvstore::Error),
    /// The directory holds no `manifest.ocdbt`.
    #[error("not an OCDBT database: {path} does not exist")]
    NoManifest {
        /// The manifest that was looked for.
        path: String,
    },
    /// A file the database references does not exist.
    #[error("ocdbt {what} at {path}{}: the file does not exist", RangeSuffix(.range))]
    MissingFile {
        /// What was being read (`"value"`, `"b+tree node"`, `"numbered manifest"`...).
        what: &'static str,
        /// The file, as the base store describes it.
        path: String,
        /// The byte range that was needed, if any.
        range: Option<Range<u64>>,
    },
    /// A reference runs past the end of its data file.
    #[error("ocdbt {what} at {path}[{}..{}]: the reference runs past the end of the file ({size} bytes); the file is truncated", .range.start, .range.end)]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// The file, as the base store describes it.
        path: String,
        /// The byte range that was needed.
        range: Range<u64>,
        /// Actual size of the file.
        size: u64,
    },
    /// The requested generation is not in the database.
    #[error(
        "generation {generation} does not exist in the OCDBT database {path} (latest is {latest})"
    )]
    GenerationNotFound {
        /// Requested generation (or commit time, for lookups by time).
        generation: u64,
        /// Latest generation of the database.
        latest: u64,
        /// The database's manifest.
        path: String,
    },
    /// A byte range outside the value it was asked of.
    #[error("byte range {start}..{end} is past the end of {key} ({size} bytes)")]
    ValueRangeOutOfBounds {
        /// The key, described with the database.
        key: String,
        /// Requested start.
        start: u64,
        /// Requested end (exclusive).
        end: u64,
        /// Length of the value.
        size: u64,
    },
    /// A caller error of the writer or the merge: a key too long, an unsupported option, a
    /// malformed source directory.
    #[error("invalid argument: {what}")]
    InvalidArgument {
        /// What is wrong.
        what: String,
    },
    /// The same key was put twice into a writer, or occurs in two merged databases.
    #[error("duplicate key \"{key}\" in the OCDBT database being written at {path}")]
    DuplicateKey {
        /// The key, with non-printable bytes escaped.
        key: String,
        /// The manifest of the database being written.
        path: String,
    },
    /// The writer's target already holds a database.
    #[error("an OCDBT database already exists at {path}; the writer only creates new databases")]
    DatabaseExists {
        /// The existing manifest.
        path: String,
    },
    /// Writing a data file or the manifest failed.
    #[error("writing ocdbt {what} at {path} failed: {source}")]
    Write {
        /// `"value"`, `"b+tree node"`, `"data file"` or `"manifest"`.
        what: &'static str,
        /// The file, as the store describes it.
        path: String,
        /// The store's error.
        #[source]
        source: orbax_kvstore::Error,
    },
    /// A structure could not be encoded (a writer bug or an unsupported input).
    #[error("encoding ocdbt {what} failed: {source}")]
    Encode {
        /// `"b+tree node"` or `"manifest"`.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: FormatError,
    },
    /// An earlier data file write of this writer failed, so it can no longer produce a
    /// consistent database.
    #[error("the OCDBT writer cannot continue after an earlier failure: {reason}")]
    WriterFailed {
        /// The earlier failure.
        reason: String,
    },
}

struct RangeSuffix<'a>(&'a Option<Range<u64>>);

impl fmt::Display for RangeSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(r) => write!(f, "[{}..{}]", r.start, r.end),
            None => Ok(()),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable code the TypeScript layer maps to an error class.
    ///
    /// Format problems carry the format crate's code (`ERR_OCDBT_CHECKSUM`,
    /// `ERR_OCDBT_TRUNCATED`, `ERR_OCDBT_UNSUPPORTED`, `ERR_OCDBT_TOO_LARGE`,
    /// `ERR_OCDBT_CORRUPT`); a missing data file is `ERR_OCDBT_MISSING_FILE`, a reference past
    /// the end of a data file `ERR_OCDBT_TRUNCATED`, a missing manifest
    /// `ERR_NOT_A_CHECKPOINT`, an unknown generation `ERR_NOT_FOUND`, a value byte range
    /// past the value's end `ERR_TRUNCATED`, and other store failures `ERR_IO`.
    ///
    /// Writer errors: a duplicate key or other caller error is `ERR_INVALID_ARGUMENT`, an
    /// existing database at the writer's target `ERR_ALREADY_EXISTS`, a failed write
    /// `ERR_IO`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Format { source, .. } => source.code(),
            Error::Store(e) => match e {
                orbax_kvstore::Error::RangeOutOfBounds { .. } => "ERR_OCDBT_TRUNCATED",
                // The base store only ever sees paths taken from the database itself.
                orbax_kvstore::Error::InvalidKey { .. } => "ERR_OCDBT_CORRUPT",
                orbax_kvstore::Error::TooLarge { .. } => "ERR_OCDBT_TOO_LARGE",
                _ => "ERR_IO",
            },
            Error::NoManifest { .. } => "ERR_NOT_A_CHECKPOINT",
            Error::MissingFile { .. } => "ERR_OCDBT_MISSING_FILE",
            Error::Truncated { .. } => "ERR_OCDBT_TRUNCATED",
            Error::GenerationNotFound { .. } => "ERR_NOT_FOUND",
            Error::ValueRangeOutOfBounds { .. } => "ERR_TRUNCATED",
            Error::InvalidArgument { .. } | Error::DuplicateKey { .. } => "ERR_INVALID_ARGUMENT",
            Error::DatabaseExists { .. } => "ERR_ALREADY_EXISTS",
            Error::Write { .. } | Error::WriterFailed { .. } => "ERR_IO",
            Error::Encode { source, .. } => source.code(),
        }
    }

    /// The format-level error, if this is one.
    pub fn format_error(&self) -> Option<&FormatError> {
        match self {
            Error::Format { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Recovers the database error that [`crate::Database`]'s `ReadableStore` implementation
    /// wrapped into a store error (as the `source` of an `Io` error of kind `InvalidData`), so
    /// callers that only see `orbax_kvstore::Error` can still report the precise code.
    pub fn from_store_error(e: &orbax_kvstore::Error) -> Option<&Error> {
        match e {
            orbax_kvstore::Error::Io { source, .. } => source.get_ref()?.downcast_ref::<Error>(),
            _ => None,
        }
    }

    /// The stable code of a store error returned by [`crate::Database`] through the
    /// `ReadableStore` trait: the wrapped database error's code when there is one.
    pub fn store_error_code(e: &orbax_kvstore::Error) -> Option<&'static str> {
        Self::from_store_error(e).map(Error::code)
    }
}
