//! Saving a PyTree item: the TS layer sends a flattened plan (entries, arrays, strings, options)
//! in one call; the core encodes and writes it off the JS thread.

use std::path::PathBuf;

use napi::bindgen_prelude::Buffer;
use napi::Result;
use napi_derive::napi;
use orbax_checkpoint::pyjson::PyValue;
use orbax_checkpoint::save::{
    plan_array_metadata, save_item, ArrayToSave, ItemToSave, SaveOptions,
};
use orbax_checkpoint::{KeyEntry, KeyType, TreeEntry};

use crate::errors::{coded, join_error, to_js};
use crate::item::parse_dtype;

/// One `_METADATA` entry.
#[napi(object)]
pub struct SaveEntry {
    pub keys: Vec<String>,
    /// 1 = sequence index, 2 = dict key.
    pub key_types: Vec<u32>,
    pub value_type: String,
    pub skip_deserialize: bool,
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

/// Writes one PyTree item into `dir` (absolute, existing): arrays (OCDBT per-process database
/// merged into the item root, or plain zarr directories), `_strings.json`, `_METADATA`.
#[napi]
pub async fn save_item_plan(dir: String, plan: ItemPlan) -> Result<()> {
    let entries = plan
        .entries
        .into_iter()
        .map(|e| TreeEntry {
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
            write_shape: None,
        })
        .collect();
    let item_custom = tagged(&plan.item_custom_metadata, "item custom metadata")?;
    let mut arrays = Vec::with_capacity(plan.arrays.len());
    for a in &plan.arrays {
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
        ));
    }
    let buffers: Vec<Buffer> = plan.arrays.into_iter().map(|a| a.data).collect();
    let strings = plan
        .strings
        .into_iter()
        .map(|s| (s.param, s.value))
        .collect();
    let options = SaveOptions {
        use_ocdbt: plan.use_ocdbt,
        use_zarr3: plan.use_zarr3,
        use_compression: plan.use_compression,
        ocdbt_target_data_file_size: plan.ocdbt_target_data_file_size.map(|v| v as u64),
        concurrent_bytes: plan
            .concurrent_bytes
            .filter(|b| b.is_finite() && *b >= 1.0)
            .map_or(SaveOptions::default().concurrent_bytes, |b| b as u64),
        ..SaveOptions::default()
    };
    let mut options = options;
    if let Some(t) = crate::transfer::transfer(plan.transfer)? {
        options.cancel = Some(t.cancel);
        options.progress = Some(t.progress);
    }
    let dir = PathBuf::from(dir);
    if !dir.is_absolute() {
        return Err(coded(
            "ERR_INVALID_ARGUMENT",
            format!("Checkpoint path should be absolute. Got {}", dir.display()),
        ));
    }
    napi::tokio::task::spawn_blocking(move || {
        let item = ItemToSave {
            entries,
            arrays: arrays
                .into_iter()
                .zip(&buffers)
                .map(
                    |((param, dtype, shape, chunk_byte_size, shard_axes), data)| ArrayToSave {
                        param,
                        dtype,
                        shape,
                        data: data.as_ref(),
                        chunk_byte_size,
                        shard_axes,
                    },
                )
                .collect(),
            strings,
            custom_metadata: item_custom,
        };
        for array in &item.arrays {
            plan_array_metadata(array, &options)?;
        }
        save_item(&dir, &item, &options)
    })
    .await
    .map_err(join_error)?
    .map_err(to_js)
}
