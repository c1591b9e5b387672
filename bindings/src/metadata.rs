//! Step metadata (`_CHECKPOINT_METADATA`) and dtype conversions.

use std::collections::HashMap;
use std::path::PathBuf;

use napi::bindgen_prelude::{BigInt, Buffer};
use napi::Result;
use napi_derive::napi;
use orbax_checkpoint::{ItemHandlers, StepMetadataFile};

use crate::commit::{core_error, open_remote_blocking};
use crate::errors::{coded, join_error, to_js};
use crate::item::parse_dtype;

/// `_CHECKPOINT_METADATA` as Orbax reads it (defaults for a missing file).
#[napi(object)]
pub struct StepMetadataInfo {
    /// A single handler typestr, when the save was a plain `Checkpointer(handler)`.
    pub item_handler: Option<String>,
    /// Item names and typestrs (composite and manager saves), in file order.
    pub item_handler_names: Option<Vec<String>>,
    pub item_handler_types: Option<Vec<Option<String>>>,
    pub metrics_json: String,
    pub performance_metrics_json: String,
    pub init_timestamp_nsecs: Option<BigInt>,
    pub commit_timestamp_nsecs: Option<BigInt>,
    pub custom_metadata_json: String,
}

/// Reads `<dir>/_CHECKPOINT_METADATA`.
#[napi]
pub async fn read_step_metadata(
    dir: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<StepMetadataInfo> {
    let remote = open_remote_blocking(dir.clone(), storage_options).await?;
    let file = napi::tokio::task::spawn_blocking(move || match remote {
        Some(remote) => StepMetadataFile::read_store(&*remote.tree).map_err(core_error),
        None => StepMetadataFile::read(&PathBuf::from(dir)).map_err(to_js),
    })
    .await
    .map_err(join_error)??;
    let (item_handler, names, types) = match file.item_handlers {
        None => (None, None, None),
        Some(ItemHandlers::Single(s)) => (Some(s), None, None),
        Some(ItemHandlers::Composite(items)) => {
            let (names, types): (Vec<_>, Vec<_>) = items.into_iter().unzip();
            (None, Some(names), Some(types))
        }
    };
    let performance = serde_json::Value::Object(
        file.performance_metrics
            .into_iter()
            .filter_map(|(k, v)| {
                serde_json::Number::from_f64(v).map(|n| (k, serde_json::Value::Number(n)))
            })
            .collect(),
    );
    Ok(StepMetadataInfo {
        item_handler,
        item_handler_names: names,
        item_handler_types: types,
        metrics_json: file.metrics_json,
        performance_metrics_json: performance.to_string(),
        init_timestamp_nsecs: file.init_timestamp_nsecs.map(BigInt::from),
        commit_timestamp_nsecs: file.commit_timestamp_nsecs.map(BigInt::from),
        custom_metadata_json: file.custom_metadata_json,
    })
}

/// Converts `data` (host representation of `from`) to the host representation of `to`, with
/// numpy `astype` semantics.
#[napi]
pub fn cast_dtype(data: &[u8], from: String, to: String) -> Result<Buffer> {
    let from = parse_dtype(&from)?;
    let to = parse_dtype(&to)?;
    if !data.len().is_multiple_of(from.host_size()) {
        return Err(coded(
            "ERR_INVALID_ARGUMENT",
            format!(
                "{} bytes is not a whole number of {} elements",
                data.len(),
                from.name()
            ),
        ));
    }
    let mut out = vec![0u8; data.len() / from.host_size() * to.host_size()];
    orbax_checkpoint::cast(from, data, to, &mut out).map_err(to_js)?;
    Ok(Buffer::from(out))
}
