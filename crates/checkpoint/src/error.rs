//! The one error type the bindings see, with stable codes (`ERR_…`) mapped to TS classes in one place.

use std::path::Path;

/// Errors raised while reading or writing Orbax checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path does not exist (Python: `FileNotFoundError`).
    #[error("{message}")]
    NotFound {
        /// The full message, worded as Orbax words it.
        message: String,
    },
    /// The path exists but is not a checkpoint (no `_METADATA`, no OCDBT manifest...).
    #[error("{path} is not an Orbax checkpoint: {reason}")]
    NotACheckpoint {
        /// The directory.
        path: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// A sidecar JSON file (`_METADATA`, `_CHECKPOINT_METADATA`, `_strings.json`...) is malformed.
    #[error("malformed {file}: {reason}")]
    Metadata {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A leaf that the tree metadata names cannot be found in the array store.
    #[error("{message}")]
    KeyNotFound {
        /// The message.
        message: String,
    },
    /// A multi-process save cannot be finalized: some processes have not committed their
    /// OCDBT database (`ocdbt.process_<i>/manifest.ocdbt` is missing).
    #[error("cannot finalize {location}: no committed OCDBT database from process{} {} (ocdbt.process_<i>/manifest.ocdbt is missing); did every process finish writing?", if missing.len() == 1 { "" } else { "es" }, join_indices(missing))]
    MissingProcesses {
        /// The item.
        location: String,
        /// The indices of the processes whose database is missing, ascending.
        missing: Vec<u32>,
    },
    /// A caller error (bad region, bad dtype name, buffer of the wrong size...).
    #[error("{0}")]
    InvalidArgument(String),
    /// The OCDBT database is unreadable.
    #[error(transparent)]
    Ocdbt(#[from] orbax_ocdbt::Error),
    /// An array is unreadable.
    #[error(transparent)]
    Zarr(#[from] orbax_zarr::Error),
    /// The underlying store failed.
    #[error(transparent)]
    Store(#[from] orbax_kvstore::Error),
    /// An I/O error on a sidecar file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable code the TypeScript layer maps to an error class.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "ERR_NOT_FOUND",
            Error::NotACheckpoint { .. } => "ERR_NOT_A_CHECKPOINT",
            Error::Metadata { .. } => "ERR_METADATA",
            Error::KeyNotFound { .. } => "ERR_KEY_NOT_FOUND",
            Error::InvalidArgument(_) => "ERR_INVALID_ARGUMENT",
            Error::MissingProcesses { .. } => "ERR_MISSING_PROCESSES",
            Error::Ocdbt(e) => e.code(),
            Error::Zarr(orbax_zarr::Error::Store(e)) => store_code(e),
            Error::Zarr(e) => e.code(),
            Error::Store(e) => store_code(e),
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "ERR_NOT_FOUND"
            }
            Error::Io { .. } => "ERR_IO",
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn metadata(path: &Path, reason: impl Into<String>) -> Self {
        Error::Metadata {
            file: path.display().to_string(),
            reason: reason.into(),
        }
    }
}

fn join_indices(indices: &[u32]) -> String {
    let text: Vec<String> = indices.iter().map(u32::to_string).collect();
    text.join(", ")
}

fn store_code(e: &orbax_kvstore::Error) -> &'static str {
    // An OCDBT database read through the generic store interface wraps its own errors.
    if let Some(code) = orbax_ocdbt::Error::store_error_code(e) {
        return code;
    }
    match e {
        orbax_kvstore::Error::RangeOutOfBounds { .. } => "ERR_TRUNCATED",
        orbax_kvstore::Error::InvalidKey { .. } => "ERR_INVALID_ARGUMENT",
        _ => "ERR_IO",
    }
}
