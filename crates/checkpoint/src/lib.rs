//! Orbax checkpoints: the sidecar files (`_METADATA`, `_CHECKPOINT_METADATA`, `_strings.json`,
//! `_sharding`), items whose arrays live in OCDBT or in plain zarr directories, and restore plans
//! that read many arrays in parallel with bounded memory.

pub mod chunking;
pub mod commit;
mod error;
pub mod item;
mod ocdbt_sink;
pub mod process;
pub mod pyjson;
pub mod pyjson_parse;
pub mod pyrepr;
pub mod save;
pub mod sharding;
pub mod step_metadata;
pub mod store_save;
pub mod strings;
pub mod tree_metadata;

pub use error::{Error, Result};
pub use item::{ItemReader, LeafInfo, ReadRequest, RestoreOptions};
pub use orbax_zarr::DType;
pub use orbax_zarr::Progress;
pub use orbax_zarr::ZarrFormat;
pub use process::{GlobalPlacement, ProcessSpec};
pub use step_metadata::{ItemHandlers, StepMetadataFile};
pub use tree_metadata::{KeyEntry, KeyType, TreeEntry, TreeMetadata};

/// Converts host-representation elements between dtypes (numpy `astype` semantics).
pub fn cast(from: DType, data: &[u8], to: DType, out: &mut [u8]) -> Result<()> {
    orbax_zarr::cast(from, data, to, out).map_err(Error::from)
}
