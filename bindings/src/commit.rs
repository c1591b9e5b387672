//! The commit protocol, driven step by step by the TS checkpointers (orbax-layout §9.2):
//! temporary directory, `_CHECKPOINT_METADATA` (three writes), `commit_success.txt`, rename.

use std::path::PathBuf;

use napi::bindgen_prelude::BigInt;
use napi::Result;
use napi_derive::napi;
use orbax_checkpoint::commit::{self, write_file_durable};
use orbax_checkpoint::step_metadata::{render_step_metadata, CHECKPOINT_METADATA_FILE};
use orbax_checkpoint::ItemHandlers;

use crate::errors::{coded, join_error, to_js};
use crate::save::tagged;

/// The temporary directory of a save.
#[napi(object)]
pub struct TmpDirectory {
    pub path: String,
    /// When it was created (the `init_timestamp_nsecs` of a top-level save).
    pub init_timestamp_nsecs: BigInt,
}

/// What `_CHECKPOINT_METADATA` records.
#[napi(object)]
pub struct StepMetadataToWrite {
    /// A single handler typestr (a plain `Checkpointer(handler)` save).
    pub item_handler: Option<String>,
    /// Item names and typestrs (composite and manager saves); sorted by name when written.
    pub item_handler_names: Option<Vec<String>>,
    pub item_handler_types: Option<Vec<Option<String>>>,
    pub init_timestamp_nsecs: Option<BigInt>,
    pub commit_timestamp_nsecs: Option<BigInt>,
    /// Tagged JSON text of a dict.
    pub custom_metadata: String,
}

fn absolute(path: &str) -> Result<PathBuf> {
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(coded(
            "ERR_INVALID_ARGUMENT",
            format!("Checkpoint path should be absolute. Got {}", path.display()),
        ));
    }
    Ok(path)
}

fn bigint_to_i64(value: &BigInt, what: &str) -> Result<i64> {
    let (value, lossless) = value.get_i64();
    if !lossless {
        return Err(coded(
            "ERR_INVALID_ARGUMENT",
            format!("{what} does not fit in 64 bits"),
        ));
    }
    Ok(value)
}

/// Wall-clock nanoseconds since the Unix epoch (Python's `time.time_ns()`).
#[napi]
pub fn now_nanos() -> BigInt {
    BigInt::from(commit::now_nanos())
}

/// Prepares the directory a save writes into (`commit::create_save_dir`: the temporary
/// directory, or the final one in commit-file mode) and, with `write_step_metadata` (the top of
/// a save), writes the initial `_CHECKPOINT_METADATA` into it.
#[napi]
pub async fn create_tmp_directory(
    final_dir: String,
    force: bool,
    write_step_metadata: bool,
    in_place: Option<bool>,
) -> Result<TmpDirectory> {
    let final_dir = absolute(&final_dir)?;
    napi::tokio::task::spawn_blocking(move || {
        let init = commit::now_nanos();
        let dir = commit::create_save_dir(&final_dir, force, in_place.unwrap_or(false))?;
        if write_step_metadata {
            let empty = orbax_checkpoint::pyjson::PyValue::Dict(Vec::new());
            write_file_durable(
                &dir.join(CHECKPOINT_METADATA_FILE),
                render_step_metadata(None, Some(init), None, &empty).as_bytes(),
            )?;
        }
        Ok(TmpDirectory {
            path: dir.to_string_lossy().into_owned(),
            init_timestamp_nsecs: BigInt::from(init),
        })
    })
    .await
    .map_err(join_error)?
    .map_err(to_js)
}

/// Writes `<dir>/_CHECKPOINT_METADATA` exactly as Orbax does.
#[napi]
pub async fn write_step_metadata(dir: String, metadata: StepMetadataToWrite) -> Result<()> {
    let dir = absolute(&dir)?;
    let handlers = match (
        metadata.item_handler,
        metadata.item_handler_names,
        metadata.item_handler_types,
    ) {
        (Some(single), None, None) => Some(ItemHandlers::Single(single)),
        (None, Some(names), Some(types)) if names.len() == types.len() => Some(
            ItemHandlers::Composite(names.into_iter().zip(types).collect()),
        ),
        (None, None, None) => None,
        _ => {
            return Err(coded(
                "ERR_INVALID_ARGUMENT",
                "item handlers: give one typestr, or names and types of equal length",
            ))
        }
    };
    let init = metadata
        .init_timestamp_nsecs
        .as_ref()
        .map(|v| bigint_to_i64(v, "init_timestamp_nsecs"))
        .transpose()?;
    let commit = metadata
        .commit_timestamp_nsecs
        .as_ref()
        .map(|v| bigint_to_i64(v, "commit_timestamp_nsecs"))
        .transpose()?;
    let custom = tagged(&metadata.custom_metadata, "custom metadata")?;
    if !matches!(custom, orbax_checkpoint::pyjson::PyValue::Dict(_)) {
        return Err(coded(
            "ERR_INVALID_ARGUMENT",
            "custom metadata must be a dict",
        ));
    }
    napi::tokio::task::spawn_blocking(move || {
        let text = render_step_metadata(handlers.as_ref(), init, commit, &custom);
        write_file_durable(&dir.join(CHECKPOINT_METADATA_FILE), text.as_bytes())
    })
    .await
    .map_err(join_error)?
    .map_err(to_js)
}

/// Commits a save's directory (`commit::commit_dir`): the marker, then the rename unless it was
/// written in place.
#[napi]
pub async fn commit_directory(tmp: String, final_dir: String) -> Result<()> {
    let tmp = absolute(&tmp)?;
    let final_dir = absolute(&final_dir)?;
    napi::tokio::task::spawn_blocking(move || commit::commit_dir(&tmp, &final_dir))
        .await
        .map_err(join_error)?
        .map_err(to_js)
}
