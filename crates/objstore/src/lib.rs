//! Cloud object storage for the orbax-ts core: S3 (and S3-compatible endpoints), Google Cloud
//! Storage, Azure Blob Storage, local directories and memory, through the `object_store`
//! crate, behind the synchronous key-value traits of `orbax-kvstore` that OCDBT and zarr use.
//!
//! - [`open_url`] opens `s3://bucket/prefix`, `gs://…`, `az://…`, `file:///…`, plain paths
//!   and `memory://name` as an [`ObjectStoreKv`], with credentials from the environment and
//!   [`StoreOptions`].
//! - [`ObjectStoreKv`] implements [`orbax_kvstore::ReadableStore`] and
//!   [`orbax_kvstore::WritableStore`] (ranged GETs, sorted listing, atomic PUTs, multipart
//!   uploads for appendable values) and offers conditional writes
//!   ([`ObjectStoreKv::put_if_absent`], [`ObjectStoreKv::put_if_version`]) for commit
//!   protocols.
//! - Transient failures are retried with exponential backoff ([`RetrySettings`]); what
//!   remains is an [`Error`] naming the object, with a stable [`Error::code`].
//! - The traits are synchronous and `object_store` is async: operations run on an
//!   [`IoRuntime`] (see [`runtime`] for why blocking on it from worker threads is sound and
//!   why it must not be done from async code).

mod append;
mod attempts;
mod error;
mod open;
mod options;
pub mod runtime;
mod store;
mod tree;

pub use error::{Error, Operation, Result};
pub use open::{drop_memory_store, open_url};
pub use options::{RetrySettings, StoreOptions, DEFAULT_PART_SIZE, MIN_PART_SIZE};
pub use runtime::IoRuntime;
pub use store::{ObjectInfo, ObjectStoreKv, ObjectVersion, PARALLEL_READS};
pub use tree::{children_of, Child, ListedObject};

/// The `object_store` crate this one is built on, for custom stores given to
/// [`ObjectStoreKv::new`].
pub use object_store;
