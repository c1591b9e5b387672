//! One error type with semantic variants, each with a stable code for the bindings.

use std::io;

use crate::attempts::{Attempts, Outcome};

/// What was being done when an error happened; part of every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Reading a value or a byte range of it.
    Read,
    /// Reading an object's size and version.
    Head,
    /// Writing a whole value.
    Write,
    /// Writing a value only if absent, or only if unchanged.
    ConditionalWrite,
    /// Listing keys.
    List,
    /// Deleting a value.
    Delete,
    /// Starting, feeding or completing a multipart upload.
    Upload,
    /// Abandoning a multipart upload.
    AbortUpload,
    /// Building the store from a URL and options.
    Open,
}

impl Operation {
    /// The verb used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Head => "head",
            Operation::Write => "write",
            Operation::ConditionalWrite => "conditional write",
            Operation::List => "list",
            Operation::Delete => "delete",
            Operation::Upload => "multipart upload",
            Operation::AbortUpload => "abort of multipart upload",
            Operation::Open => "open",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of object storage, naming the object (as a URL such as `s3://bucket/prefix/key`).
///
/// [`Error::code`] gives each variant a stable `ERR_STORE_*` code that the bindings expose as
/// `error.code`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URL that names no supported store.
    #[error("invalid storage URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option (or a configuration read from the environment) the store rejects.
    #[error("invalid storage option {key:?} for {url}: {reason}")]
    InvalidOption {
        /// The store's URL.
        url: String,
        /// The option key (empty when the store's configuration as a whole is refused).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key that cannot be an object name.
    #[error("invalid key {key:?} in {store}: {reason}")]
    InvalidKey {
        /// The store's URL.
        store: String,
        /// The key, lossily decoded.
        key: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The object does not exist.
    #[error("{object} does not exist")]
    NotFound {
        /// The object.
        object: String,
    },
    /// The bucket (or container) itself does not exist: unlike an absent object, this is
    /// never read as "no value", since it would make a misspelled bucket look empty.
    #[error("the bucket of {object} does not exist: {message}")]
    BucketNotFound {
        /// The object whose bucket is missing.
        object: String,
        /// The store's message.
        message: String,
    },
    /// A write-if-absent found the object present.
    #[error("{object} already exists")]
    AlreadyExists {
        /// The object.
        object: String,
    },
    /// A write-if-unchanged found another version of the object (or none).
    #[error("{object} is no longer at the expected version: the conditional write was refused")]
    PreconditionFailed {
        /// The object.
        object: String,
    },
    /// A byte range past the end of the object.
    #[error("byte range {start}..{end} is past the end of {object} ({size} bytes)")]
    RangeOutOfBounds {
        /// The object.
        object: String,
        /// Requested start.
        start: u64,
        /// Requested end (exclusive).
        end: u64,
        /// The object's size.
        size: u64,
    },
    /// The store did not accept the credentials (HTTP 401), or found none.
    #[error("{operation} of {object} is not authenticated: {message}")]
    Unauthenticated {
        /// What was being done.
        operation: Operation,
        /// The object.
        object: String,
        /// The store's message.
        message: String,
    },
    /// The credentials do not allow the operation (HTTP 403).
    #[error("{operation} of {object} is not permitted: {message}")]
    PermissionDenied {
        /// What was being done.
        operation: Operation,
        /// The object.
        object: String,
        /// The store's message.
        message: String,
    },
    /// The store cannot do this (e.g. a conditional update on a local directory).
    #[error("{operation} of {object} is not supported by this store: {message}")]
    Unsupported {
        /// What was being done.
        operation: Operation,
        /// The object.
        object: String,
        /// The store's message.
        message: String,
    },
    /// A failure that may go away (server error, throttling, lost connection, timeout) that
    /// persisted through every retry.
    #[error("{operation} of {object} failed after {attempts} attempts ({last}): {message}")]
    Transient {
        /// What was being done.
        operation: Operation,
        /// The object.
        object: String,
        /// Requests sent for the failing step, retries included.
        attempts: u32,
        /// The last failure, e.g. `HTTP 503 Service Unavailable` or `connection error`.
        last: String,
        /// The store's message.
        message: String,
    },
    /// Any other failure of the store (a local I/O error, an unexpected response).
    #[error("{operation} of {object} failed: {message}")]
    Store {
        /// What was being done.
        operation: Operation,
        /// The object.
        object: String,
        /// The store's message.
        message: String,
    },
    /// The I/O runtime could not run the operation (it could not be started, or the task
    /// running the operation panicked).
    #[error("{operation} of {object} could not run: {message}")]
    Runtime {
        /// What was being done.
        operation: Operation,
        /// The object.
        object: String,
        /// Why.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A stable code for this kind of error, e.g. `ERR_STORE_TRANSIENT`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } => "ERR_STORE_INVALID_URL",
            Error::InvalidOption { .. } => "ERR_STORE_INVALID_OPTION",
            Error::InvalidKey { .. } => "ERR_STORE_INVALID_KEY",
            Error::NotFound { .. } => "ERR_STORE_NOT_FOUND",
            Error::BucketNotFound { .. } => "ERR_STORE_BUCKET_NOT_FOUND",
            Error::AlreadyExists { .. } => "ERR_STORE_ALREADY_EXISTS",
            Error::PreconditionFailed { .. } => "ERR_STORE_PRECONDITION_FAILED",
            Error::RangeOutOfBounds { .. } => "ERR_STORE_RANGE_OUT_OF_BOUNDS",
            Error::Unauthenticated { .. } => "ERR_STORE_UNAUTHENTICATED",
            Error::PermissionDenied { .. } => "ERR_STORE_PERMISSION_DENIED",
            Error::Unsupported { .. } => "ERR_STORE_UNSUPPORTED",
            Error::Transient { .. } => "ERR_STORE_TRANSIENT",
            Error::Store { .. } => "ERR_STORE_IO",
            Error::Runtime { .. } => "ERR_STORE_RUNTIME",
        }
    }

    /// True for failures that a later attempt may not meet (after this crate's retries were
    /// exhausted): the caller may try the whole step again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Transient { .. })
    }

    /// The object (or URL) the error is about.
    pub fn object(&self) -> &str {
        match self {
            Error::InvalidUrl { url, .. } | Error::InvalidOption { url, .. } => url,
            Error::InvalidKey { store, .. } => store,
            Error::NotFound { object }
            | Error::BucketNotFound { object, .. }
            | Error::AlreadyExists { object }
            | Error::PreconditionFailed { object }
            | Error::RangeOutOfBounds { object, .. }
            | Error::Unauthenticated { object, .. }
            | Error::PermissionDenied { object, .. }
            | Error::Unsupported { object, .. }
            | Error::Transient { object, .. }
            | Error::Store { object, .. }
            | Error::Runtime { object, .. } => object,
        }
    }

    /// The error of this crate carried by a [`orbax_kvstore::Error`] (see the `From`
    /// conversion), if any: lets a caller of the generic store traits recover the code.
    pub fn from_kvstore(error: &orbax_kvstore::Error) -> Option<&Error> {
        match error {
            orbax_kvstore::Error::Io { source, .. } => source.get_ref()?.downcast_ref::<Error>(),
            _ => None,
        }
    }

    fn io_kind(&self) -> io::ErrorKind {
        match self {
            Error::NotFound { .. } | Error::BucketNotFound { .. } => io::ErrorKind::NotFound,
            Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
            Error::Unauthenticated { .. } | Error::PermissionDenied { .. } => {
                io::ErrorKind::PermissionDenied
            }
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            Error::Transient { .. } => io::ErrorKind::TimedOut,
            Error::InvalidUrl { .. } | Error::InvalidOption { .. } | Error::InvalidKey { .. } => {
                io::ErrorKind::InvalidInput
            }
            Error::PreconditionFailed { .. }
            | Error::RangeOutOfBounds { .. }
            | Error::Store { .. }
            | Error::Runtime { .. } => io::ErrorKind::Other,
        }
    }
}

/// The generic store traits return [`orbax_kvstore::Error`], which has no variant for remote
/// failures: an error of this crate travels inside its `Io` variant (with the closest
/// `io::ErrorKind`), whole, so that [`Error::from_kvstore`] recovers it with its code.
/// Invalid keys and byte ranges map to the kvstore's own variants.
impl From<Error> for orbax_kvstore::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidKey { key, reason, .. } => {
                orbax_kvstore::Error::InvalidKey { key, reason }
            }
            Error::RangeOutOfBounds {
                object,
                start,
                end,
                size,
            } => orbax_kvstore::Error::RangeOutOfBounds {
                path: object,
                start,
                end,
                size,
            },
            other => orbax_kvstore::Error::Io {
                path: other.object().to_owned(),
                source: io::Error::new(other.io_kind(), other),
            },
        }
    }
}

/// Messages by which stores say that the bucket or container itself is missing (S3, GCS,
/// Azure), as opposed to the object.
const MISSING_BUCKET_MARKERS: [&str; 3] =
    ["NoSuchBucket", "ContainerNotFound", "bucket does not exist"];

/// Turns an `object_store` error of `operation` on `object` into this crate's error, using
/// what the HTTP layer saw (`attempts`) to tell transient failures from the others.
pub(crate) fn classify(
    operation: Operation,
    object: &str,
    error: object_store::Error,
    attempts: &Attempts,
) -> Error {
    use object_store::Error as E;
    let object = object.to_owned();
    let message = error.to_string();
    // Listing a missing bucket is a generic error, reading from one a "not found".
    if MISSING_BUCKET_MARKERS.iter().any(|m| message.contains(m)) {
        return Error::BucketNotFound { object, message };
    }
    match error {
        E::NotFound { .. } => Error::NotFound { object },
        E::AlreadyExists { .. } => Error::AlreadyExists { object },
        E::Precondition { .. } => Error::PreconditionFailed { object },
        E::Unauthenticated { .. } => Error::Unauthenticated {
            operation,
            object,
            message,
        },
        E::PermissionDenied { .. } => Error::PermissionDenied {
            operation,
            object,
            message,
        },
        E::NotSupported { .. } | E::NotImplemented { .. } => Error::Unsupported {
            operation,
            object,
            message,
        },
        E::InvalidPath { .. } => Error::InvalidKey {
            store: object,
            key: String::new(),
            reason: "not a valid object path",
        },
        E::JoinError { .. } => Error::Runtime {
            operation,
            object,
            message,
        },
        error => match transient_failure(&error, attempts) {
            Some(last) => Error::Transient {
                operation,
                object,
                attempts: attempts.count().max(1),
                last,
                message,
            },
            None => Error::Store {
                operation,
                object,
                message,
            },
        },
    }
}

/// A description of the failure if `error` is one that may go away with time: a server
/// error, throttling or request timeout status, or a connection that failed, dropped or timed
/// out.
fn transient_failure(error: &object_store::Error, attempts: &Attempts) -> Option<String> {
    use object_store::client::{HttpError, HttpErrorKind};
    let transient_kind = |kind: HttpErrorKind| {
        matches!(
            kind,
            HttpErrorKind::Connect
                | HttpErrorKind::Request
                | HttpErrorKind::Timeout
                | HttpErrorKind::Interrupted
        )
    };
    let describe_kind = |kind: HttpErrorKind| match kind {
        HttpErrorKind::Connect => "connection error".to_owned(),
        HttpErrorKind::Request => "request not completed".to_owned(),
        HttpErrorKind::Timeout => "timeout".to_owned(),
        HttpErrorKind::Interrupted => "connection interrupted".to_owned(),
        other => format!("{other:?}"),
    };
    // A failure while streaming a body is only in the error's chain.
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return transient_kind(http.kind()).then(|| describe_kind(http.kind()));
        }
        current = e.source();
    }
    match attempts.last_outcome()? {
        Outcome::Status(status)
            if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 =>
        {
            Some(format!("HTTP {status}"))
        }
        Outcome::Transport(kind) if transient_kind(kind) => Some(describe_kind(kind)),
        _ => None,
    }
}
