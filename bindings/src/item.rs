//! An opened checkpoint item: its leaves' metadata, and reads of whole arrays or slices.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi::Result;
use napi_derive::napi;
use orbax_checkpoint::{DType, ItemReader, LeafInfo, ReadRequest, RestoreOptions};

use crate::errors::{coded, join_error, to_js};
use crate::location::{open_location, store_error, Location};

/// zarr metadata of an array leaf.
#[napi(object)]
pub struct ArrayInfo {
    /// numpy dtype name (`float32`, `bfloat16`, `int4`...).
    pub dtype: String,
    pub shape: Vec<i64>,
    /// The zarr chunk shape (zarr3: the shard shape).
    pub chunk_shape: Vec<i64>,
    /// 2 or 3.
    pub zarr_format: u32,
    /// `zstd:<level>` or null when uncompressed.
    pub compression: Option<String>,
    /// The exact `.zarray` / `zarr.json` text.
    pub zarr_metadata: String,
}

/// One entry of `_METADATA`.
#[napi(object)]
pub struct LeafEntry {
    /// Path components.
    pub keys: Vec<String>,
    /// Per component: 1 = sequence index, 2 = dict key.
    pub key_types: Vec<u32>,
    pub value_type: String,
    pub skip_deserialize: bool,
    /// Param name (path joined by `.`).
    pub param: String,
    pub write_shape: Option<Vec<i64>>,
    pub array: Option<ArrayInfo>,
    pub string_value: Option<String>,
    /// The `_sharding` JSON document, for jax.Array leaves.
    pub sharding: Option<String>,
}

/// What `_METADATA` says about the item as a whole.
#[napi(object)]
pub struct ItemInfo {
    pub dir: String,
    pub use_ocdbt: bool,
    pub use_zarr3: bool,
    pub store_array_data_equal_to_fill_value: bool,
    /// `custom_metadata` as JSON text.
    pub custom_metadata_json: String,
    pub leaves: Vec<LeafEntry>,
}

/// One array to read.
#[napi(object)]
pub struct ArrayReadRequest {
    pub param: String,
    /// `[start, end)` per dimension; omitted = the whole array.
    pub region: Option<Vec<Vec<i64>>>,
    /// Cast to this numpy dtype name; omitted = the stored dtype.
    pub dtype: Option<String>,
}

/// Limits of a read.
#[napi(object)]
pub struct ReadOptions {
    /// Bytes decoded at once (Orbax's `restore_concurrent_gb` × 2^30).
    pub concurrent_bytes: Option<f64>,
    /// A transfer handle (`createTransfer`) for cancellation and progress.
    pub transfer: Option<u32>,
}

/// An opened item directory (the directory that holds `_METADATA`).
#[napi]
pub struct CheckpointItem {
    inner: Arc<ItemReader>,
}

/// Whether `location` is a URL (`s3://…`, `gs://…`, `memory://…`) rather than a local path.
/// Opens an item in an object store. A checkpoint there is committed by its
/// `commit_success.txt` (stores without an atomic rename), so an item without one is refused.
fn open_remote(store: Arc<orbax_objstore::ObjectStoreKv>) -> Result<ItemReader> {
    let url = store.location().to_owned();
    let root: Arc<dyn orbax_kvstore::ReadableStore> = store;
    let committed = root
        .read(b"commit_success.txt", Some(0..0))
        .map_err(|e| store_error(&e))?
        .is_some();
    if !committed {
        let has_metadata = root
            .read(b"_METADATA", Some(0..0))
            .map_err(|e| store_error(&e))?
            .is_some();
        return Err(if has_metadata {
            coded(
                "ERR_NOT_A_CHECKPOINT",
                format!("Found incomplete checkpoint at {url}."),
            )
        } else {
            coded("ERR_NOT_FOUND", format!("Checkpoint at {url} not found."))
        });
    }
    ItemReader::open_store(root, &url).map_err(to_js)
}

/// Opens an item: a local directory, or a URL of an object store (`s3://bucket/prefix`, `gs://`,
/// `az://`, `memory://`) with optional store configuration (credentials, endpoint...). Reads its
/// sidecar files and every array's zarr metadata, no chunk data.
#[napi]
pub async fn open_item(
    dir: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<CheckpointItem> {
    let reader =
        napi::tokio::task::spawn_blocking(move || match open_location(&dir, storage_options)? {
            Location::Remote(store) => open_remote(store),
            Location::Local(path) => ItemReader::open(&path).map_err(to_js),
        })
        .await
        .map_err(join_error)??;
    Ok(CheckpointItem {
        inner: Arc::new(reader),
    })
}

fn to_i64(values: &[u64]) -> Vec<i64> {
    values.iter().map(|&v| v as i64).collect()
}

fn leaf_entry(leaf: &LeafInfo) -> LeafEntry {
    LeafEntry {
        keys: leaf.entry.path.iter().map(|k| k.key.clone()).collect(),
        key_types: leaf
            .entry
            .path
            .iter()
            .map(|k| match k.key_type {
                orbax_checkpoint::KeyType::Sequence => 1,
                orbax_checkpoint::KeyType::Dict => 2,
            })
            .collect(),
        value_type: leaf.entry.value_type.clone(),
        skip_deserialize: leaf.entry.skip_deserialize,
        param: leaf.param.clone(),
        write_shape: leaf.entry.write_shape.as_deref().map(to_i64),
        array: leaf.array.as_ref().map(|meta| ArrayInfo {
            dtype: meta.dtype().name().to_string(),
            shape: to_i64(meta.shape()),
            chunk_shape: to_i64(meta.chunk_shape()),
            zarr_format: match meta.format() {
                orbax_checkpoint::ZarrFormat::V2 => 2,
                orbax_checkpoint::ZarrFormat::V3 => 3,
            },
            compression: meta
                .compression()
                .map(|c| format!("{}:{}", c.algorithm, c.level)),
            zarr_metadata: meta.raw().to_string(),
        }),
        string_value: leaf.string_value.clone(),
        sharding: leaf.sharding.clone(),
    }
}

pub(crate) fn parse_dtype(name: &str) -> Result<DType> {
    DType::from_name(name)
        .ok_or_else(|| coded("ERR_INVALID_ARGUMENT", format!("unknown dtype {name:?}")))
}

fn to_request(request: ArrayReadRequest) -> Result<ReadRequest> {
    let region = match request.region {
        None => None,
        Some(dims) => Some(
            dims.into_iter()
                .map(|pair| match pair.as_slice() {
                    [start, end] if *start >= 0 && *end >= 0 => Ok(*start as u64..*end as u64),
                    _ => Err(coded(
                        "ERR_INVALID_ARGUMENT",
                        format!(
                            "{}: a region is a list of [start, end) pairs of non-negative integers",
                            request.param
                        ),
                    )),
                })
                .collect::<Result<Vec<Range<u64>>>>()?,
        ),
    };
    let dtype = request.dtype.as_deref().map(parse_dtype).transpose()?;
    Ok(ReadRequest {
        param: request.param,
        region,
        dtype,
    })
}

fn to_options(options: Option<ReadOptions>) -> Result<RestoreOptions> {
    let mut out = RestoreOptions::default();
    let Some(options) = options else {
        return Ok(out);
    };
    if let Some(bytes) = options.concurrent_bytes {
        if bytes.is_finite() && bytes >= 1.0 {
            out.concurrent_bytes = bytes as u64;
        }
    }
    if let Some(t) = crate::transfer::transfer(options.transfer)? {
        out.cancel = Some(t.cancel);
        out.progress = Some(t.progress);
    }
    Ok(out)
}

#[napi]
impl CheckpointItem {
    /// The item's metadata (no chunk data is read).
    #[napi]
    pub fn info(&self) -> ItemInfo {
        let tree = self.inner.tree();
        ItemInfo {
            dir: self.inner.dir().display().to_string(),
            use_ocdbt: tree.use_ocdbt.unwrap_or(false),
            use_zarr3: tree.use_zarr3,
            store_array_data_equal_to_fill_value: tree.store_array_data_equal_to_fill_value,
            custom_metadata_json: tree.custom_metadata_json.clone(),
            leaves: self.inner.leaves().iter().map(leaf_entry).collect(),
        }
    }

    /// Reads arrays (or slices of them) in parallel; one buffer per request, in the host
    /// representation of the requested dtype.
    #[napi]
    pub async fn read(
        &self,
        requests: Vec<ArrayReadRequest>,
        options: Option<ReadOptions>,
    ) -> Result<Vec<Buffer>> {
        let requests = requests
            .into_iter()
            .map(to_request)
            .collect::<Result<Vec<_>>>()?;
        let options = to_options(options)?;
        let inner = Arc::clone(&self.inner);
        let buffers =
            napi::tokio::task::spawn_blocking(move || inner.read_many(&requests, &options))
                .await
                .map_err(join_error)?
                .map_err(to_js)?;
        Ok(buffers.into_iter().map(Buffer::from).collect())
    }

    /// Reads one array (or a slice) into a caller-provided buffer, which must have exactly the
    /// size of the result. The caller must not touch the buffer until the promise settles.
    #[napi]
    pub async fn read_into(
        &self,
        request: ArrayReadRequest,
        mut target: Buffer,
        options: Option<ReadOptions>,
    ) -> Result<()> {
        let request = to_request(request)?;
        let options = to_options(options)?;
        let inner = Arc::clone(&self.inner);
        // The same contract as Node's `fs.read(fd, buffer)`: a worker thread fills the caller's
        // memory, and the caller must leave it alone until the promise settles (documented on
        // `readArrayInto`). `target` holds a reference that keeps the memory alive meanwhile.
        napi::tokio::task::spawn_blocking(move || {
            let out: &mut [u8] = &mut target;
            inner.read_into(&request, out, &options)
        })
        .await
        .map_err(join_error)?
        .map_err(to_js)
    }

    /// Bytes a request produces.
    #[napi]
    pub fn output_length(&self, request: ArrayReadRequest) -> Result<f64> {
        let request = to_request(request)?;
        self.inner
            .output_len(&request)
            .map(|n| n as f64)
            .map_err(to_js)
    }
}
