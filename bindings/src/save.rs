//! Saving a PyTree item: the TS layer sends a flattened plan (entries, arrays, strings, options)
//! in one call; the core encodes and writes it off the JS thread, into a local directory or an
//! object-store prefix, as the only process or as one of several (then the primary finalizes).

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi::Result;
use napi_derive::napi;
use orbax_checkpoint::pyjson::PyValue;
use orbax_checkpoint::save::{
    default_target_data_file_size, save_item, ArrayToSave, ItemToSave, SaveOptions,
};
use orbax_checkpoint::store_save::{
    finalize_item as finalize_store, finalize_item_dir, save_item_to_store,
};
use orbax_checkpoint::{GlobalPlacement, KeyEntry, KeyType, ProcessSpec, TreeEntry};
use orbax_kvstore::WritableStore;

use crate::errors::{coded, join_error, to_js};
use crate::item::parse_dtype;
use crate::location::{open_location, store_error, Location};

/// One `_METADATA` entry.
#[napi(object)]
pub struct SaveEntry {
    pub keys: Vec<String>,
    /// 1 = sequence index, 2 = dict key.
    pub key_types: Vec<u32>,
    pub value_type: String,
    pub skip_deserialize: bool,
    /// `write_shape` of a `jax.Array` leaf (its per-process block shape).
    pub write_shape: Option<Vec<i64>>,
}

/// One array (or scalar) leaf, in host representation.
#[napi(object)]
pub struct SaveArray {
    pub param: String,
    pub dtype: String,
    pub shape: Vec<i64>,
    /// The elements; not to be modified until the save settles.
    pub data: Buffer,
    pub chunk_byte_size: Option<f64>,
    pub shard_axes: Option<Vec<u32>>,
    /// For a block of a global array (with `offset`): the whole array's shape; `shape` and
    /// `data` are then the block.
    pub global_shape: Option<Vec<i64>>,
    /// Index of the block's first element in the global array (with `globalShape`).
    pub offset: Option<Vec<i64>>,
    /// The `_sharding` document (Python `json.dumps` text) of a jax array.
    pub sharding: Option<String>,
}

/// Which process of a multi-process save writes this plan.
#[napi(object)]
pub struct SaveProcess {
    pub index: u32,
    pub count: u32,
    /// Default 0.
    pub primary: Option<u32>,
}

/// Options of `finalizeItem`.
#[napi(object)]
pub struct FinalizeOptions {
    /// How many processes wrote the item.
    pub process_count: u32,
    /// Default true; nothing to merge otherwise.
    pub use_ocdbt: Option<bool>,
    pub ocdbt_target_data_file_size: Option<f64>,
}

/// One string leaf.
#[napi(object)]
pub struct SaveString {
    pub param: String,
    pub value: String,
}

/// One PyTree item, written by a handler into a directory that already exists (the checkpointer
/// owns the temporary directory and the commit).
#[napi(object)]
pub struct ItemPlan {
    pub entries: Vec<SaveEntry>,
    pub arrays: Vec<SaveArray>,
    pub strings: Vec<SaveString>,
    /// `_METADATA.custom_metadata`, tagged JSON text (see `PyValue::from_tagged`).
    pub item_custom_metadata: String,
    pub use_ocdbt: bool,
    pub use_zarr3: bool,
    pub use_compression: bool,
    pub ocdbt_target_data_file_size: Option<f64>,
    /// Chunk bytes encoded and written at once (Orbax's `save_concurrent_gb` × 2^30).
    pub concurrent_bytes: Option<f64>,
    /// A transfer handle (`createTransfer`) for cancellation and progress.
    pub transfer: Option<u32>,
    /// Omitted: a single-process save.
    pub process: Option<SaveProcess>,
}

pub(crate) fn tagged(text: &str, what: &str) -> Result<PyValue> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| coded("ERR_INVALID_ARGUMENT", format!("{what}: {e}")))?;
    PyValue::from_tagged(&value).map_err(|e| coded("ERR_INVALID_ARGUMENT", format!("{what}: {e}")))
}

fn to_u64s(values: &[i64], what: &str) -> Result<Vec<u64>> {
    values
        .iter()
        .map(|&v| {
            u64::try_from(v).map_err(|_| {
                coded(
                    "ERR_INVALID_ARGUMENT",
                    format!("{what}: negative dimension {v}"),
                )
            })
        })
        .collect()
}

/// A JS error from a save error: an object-store failure anywhere in its causes keeps its
/// `ERR_STORE_*` code, everything else the core's code.
fn save_error(e: orbax_checkpoint::Error) -> napi::Error {
    if let orbax_checkpoint::Error::Store(kv) = &e {
        if orbax_objstore::Error::from_kvstore(kv).is_some() {
            return store_error(kv);
        }
    }
    // Deeper (inside an OCDBT or zarr error) the object-store error travels in an io::Error.
    let mut cause = std::error::Error::source(&e);
    while let Some(error) = cause {
        let typed = match error.downcast_ref::<orbax_kvstore::Error>() {
            Some(kv) => orbax_objstore::Error::from_kvstore(kv),
            None => error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<orbax_objstore::Error>()),
        };
        if let Some(typed) = typed {
            return coded(typed.code(), &e);
        }
        cause = error.source();
    }
    to_js(e)
}

fn to_process(process: Option<SaveProcess>) -> ProcessSpec {
    process.map_or_else(ProcessSpec::default, |p| ProcessSpec {
        index: p.index,
        count: p.count,
        primary: p.primary.unwrap_or(0),
    })
}

/// The item location: an absolute local directory or an object-store prefix.
fn open_item_location(
    location: &str,
    storage_options: Option<HashMap<String, String>>,
) -> Result<Location> {
    let opened = open_location(location, storage_options)?;
    if let Location::Local(dir) = &opened {
        if !dir.is_absolute() {
            return Err(coded(
                "ERR_INVALID_ARGUMENT",
                format!("Checkpoint path should be absolute. Got {}", dir.display()),
            ));
        }
    }
    Ok(opened)
}

/// Writes one PyTree item (or this process's part of it) at `location`: an absolute local
/// directory (existing) or an object-store URL (`s3://bucket/prefix`, `gs://`, `az://`,
/// `memory://`) with optional store configuration. Arrays go into an OCDBT per-process
/// database (merged into the item root when this is the only process) or plain zarr files,
/// then `_strings.json`, `_sharding`, `_METADATA` (primary process only) and
/// `array_metadatas/process_<i>`.
#[napi]
pub async fn save_item_plan(
    location: String,
    plan: ItemPlan,
    storage_options: Option<HashMap<String, String>>,
) -> Result<()> {
    let entries = plan
        .entries
        .into_iter()
        .map(|e| {
            let write_shape = e
                .write_shape
                .as_deref()
                .map(|shape| to_u64s(shape, "writeShape"))
                .transpose()?;
            Ok(TreeEntry {
                path: e
                    .keys
                    .into_iter()
                    .zip(e.key_types)
                    .map(|(key, t)| KeyEntry {
                        key,
                        key_type: if t == 1 {
                            KeyType::Sequence
                        } else {
                            KeyType::Dict
                        },
                    })
                    .collect(),
                value_type: e.value_type,
                skip_deserialize: e.skip_deserialize,
                write_shape,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let item_custom = tagged(&plan.item_custom_metadata, "item custom metadata")?;
    let mut arrays = Vec::with_capacity(plan.arrays.len());
    for a in &plan.arrays {
        let placement = match (&a.global_shape, &a.offset) {
            (None, None) => None,
            (Some(global), Some(offset)) => Some(GlobalPlacement {
                global_shape: to_u64s(global, &a.param)?,
                offset: to_u64s(offset, &a.param)?,
            }),
            _ => {
                return Err(coded(
                    "ERR_INVALID_ARGUMENT",
                    format!(
                    "{}: globalShape and offset place a block in a global array and go together",
                    a.param
                ),
                ))
            }
        };
        arrays.push((
            a.param.clone(),
            parse_dtype(&a.dtype)?,
            to_u64s(&a.shape, &a.param)?,
            a.chunk_byte_size.map(|v| v as u64),
            a.shard_axes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|x| x as usize)
                .collect::<Vec<_>>(),
            placement,
            a.sharding.clone(),
        ));
    }
    let buffers: Vec<Buffer> = plan.arrays.into_iter().map(|a| a.data).collect();
    let strings = plan
        .strings
        .into_iter()
        .map(|s| (s.param, s.value))
        .collect();
    let mut options = SaveOptions {
        use_ocdbt: plan.use_ocdbt,
        use_zarr3: plan.use_zarr3,
        use_compression: plan.use_compression,
        ocdbt_target_data_file_size: Some(
            plan.ocdbt_target_data_file_size
                .map_or_else(|| default_target_data_file_size(&location), |v| v as u64),
        ),
        concurrent_bytes: plan
            .concurrent_bytes
            .filter(|b| b.is_finite() && *b >= 1.0)
            .map_or(SaveOptions::default().concurrent_bytes, |b| b as u64),
        ..SaveOptions::default()
    };
    if let Some(t) = crate::transfer::transfer(plan.transfer)? {
        options.cancel = Some(t.cancel);
        options.progress = Some(t.progress);
    }
    let process = to_process(plan.process);
    napi::tokio::task::spawn_blocking(move || {
        let target = open_item_location(&location, storage_options)?;
        let item = ItemToSave {
            entries,
            arrays: arrays
                .into_iter()
                .zip(&buffers)
                .map(
                    |(
                        (param, dtype, shape, chunk_byte_size, shard_axes, placement, sharding),
                        data,
                    )| {
                        ArrayToSave {
                            param,
                            dtype,
                            shape,
                            data: data.as_ref(),
                            chunk_byte_size,
                            shard_axes,
                            placement,
                            sharding,
                        }
                    },
                )
                .collect(),
            strings,
            custom_metadata: item_custom,
        };
        match target {
            Location::Local(dir) => save_item(&dir, &item, &options, &process),
            Location::Remote(store) => {
                let store: Arc<dyn WritableStore> = store;
                save_item_to_store(store, &item, &options, &process)
            }
        }
        .map_err(save_error)
    })
    .await
    .map_err(join_error)?
}

/// Finalizes a multi-process save on the primary process, after every process wrote its part
/// (`saveItemPlan` with `process`): checks that each process committed its OCDBT database
/// (`ERR_MISSING_PROCESSES` otherwise) and merges them into the item's root database.
#[napi]
pub async fn finalize_item(
    location: String,
    options: FinalizeOptions,
    storage_options: Option<HashMap<String, String>>,
) -> Result<()> {
    let save_options = SaveOptions {
        use_ocdbt: options.use_ocdbt.unwrap_or(true),
        ocdbt_target_data_file_size: Some(
            options
                .ocdbt_target_data_file_size
                .map_or_else(|| default_target_data_file_size(&location), |v| v as u64),
        ),
        ..SaveOptions::default()
    };
    let count = options.process_count;
    napi::tokio::task::spawn_blocking(move || {
        match open_item_location(&location, storage_options)? {
            Location::Local(dir) => finalize_item_dir(&dir, &save_options, count),
            Location::Remote(store) => {
                let store: Arc<dyn WritableStore> = store;
                finalize_store(store, &save_options, count)
            }
        }
        .map_err(save_error)
    })
    .await
    .map_err(join_error)?
}
