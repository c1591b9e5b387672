//! The read side (and the encoders a writer needs) of the small zarr subset that Orbax and
//! TensorStore write, over any [`orbax_kvstore::ReadableStore`] — a plain directory for
//! `use_ocdbt=False` checkpoints, or an OCDBT database.
//!
//! * zarr v2 (`.zarray`): C order, `.` (or `/`) dimension separator, zstd or no compressor,
//!   no filters, any chunk grid with full-size edge chunks.
//! * zarr v3 (`zarr.json`): regular grid, `default`/`v2` chunk keys, `bytes` [+ `zstd`]
//!   [+ `crc32c`], or `sharding_indexed` with such an inner chain and a `bytes` + `crc32c`
//!   index at the end (or start).
//! * Every dtype TensorStore 0.1.86 stores, including bfloat16, the float8 families,
//!   float4_e2m1fn, int4 and int2 ([`DType`]), converted to a host representation that
//!   JavaScript typed arrays hold directly (see [`dtype`]).
//!
//! Entry points: [`read_metadata`], [`read_region`] / [`read_array`], [`cast()`], and for
//! writers [`ArrayMetadata::new_v2`] / [`ArrayMetadata::new_v3`] / [`ArrayMetadata::encode`],
//! [`extract_chunk`] and [`encode_chunk`].
//!
//! The `zarrs` crate was evaluated and rejected (it does not accept TensorStore's bare
//! `"bfloat16"` v2 dtype, and writes keys in a different order); this subset is small.

pub mod cast;
pub mod codec;
pub mod dtype;
pub mod error;
pub mod grid;
mod json;
pub mod metadata;
mod minifloat;
mod progress;
pub mod read;

pub use cast::cast;
pub use codec::{decode_chunk, encode_chunk, extract_chunk, ChunkEncoder};
pub use dtype::{
    disk_to_host_in_place, host_to_disk, host_to_disk_in_place, DType, DTypeKind, Endian,
};
pub use error::{Error, Result};
pub use grid::{chunk_key, metadata_key};
pub use metadata::{
    ArrayMetadata, ChunkCodecs, ChunkKeyEncoding, Compression, FillValue, IndexLocation, Sharding,
    ZarrFormat, ZstdConfig,
};
pub use progress::Progress;
pub use read::{
    read_array, read_metadata, read_region, read_regions, MissingChunkPolicy, ReadOptions,
    RegionRead,
};
