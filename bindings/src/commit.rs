//! The commit protocol, driven step by step by the TS checkpointers (orbax-layout §9.2):
//! temporary directory, `_CHECKPOINT_METADATA` (three writes), `commit_success.txt`, rename.

use std::collections::HashMap;
use std::path::PathBuf;

use napi::bindgen_prelude::BigInt;
use napi::Result;
use napi_derive::napi;
use orbax_checkpoint::commit::{self, write_file_durable};
use orbax_checkpoint::step_metadata::{render_step_metadata, CHECKPOINT_METADATA_FILE};
use orbax_checkpoint::ItemHandlers;

use crate::errors::{coded, join_error, to_js};
use crate::location::{objstore_error, store_error};
use crate::save::tagged;
use crate::storage::{open_remote, RemoteLocation};

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

/// A core error, keeping the object-store code (`ERR_STORE_*`) of a failed store operation.
pub(crate) fn core_error(e: orbax_checkpoint::Error) -> napi::Error {
    match e {
        orbax_checkpoint::Error::Store(inner) => store_error(&inner),
        other => to_js(other),
    }
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
    storage_options: Option<HashMap<String, String>>,
) -> Result<TmpDirectory> {
    let in_place = in_place.unwrap_or(false);
    if let Some(remote) = open_remote_blocking(final_dir.clone(), storage_options).await? {
        if !in_place {
            return Err(coded(
                "ERR_INVALID_ARGUMENT",
                format!(
                    "{} is on an object store, which has no atomic rename: saves there are \
                     written in place and committed with commit_success.txt (in_place)",
                    remote.url
                ),
            ));
        }
        return napi::tokio::task::spawn_blocking(move || {
            let init = commit::now_nanos();
            let tree = &remote.tree;
            commit::prepare_store_save(&**tree, &remote.url, force, || {
                tree.remove_all()
                    .map_err(|e| orbax_checkpoint::Error::Store(e.into()))
            })
            .map_err(core_error)?;
            if write_step_metadata {
                let empty = orbax_checkpoint::pyjson::PyValue::Dict(Vec::new());
                let text = render_step_metadata(None, Some(init), None, &empty);
                tree.put(CHECKPOINT_METADATA_FILE.as_bytes(), text.as_bytes())
                    .map_err(objstore_error)?;
            }
            Ok(TmpDirectory {
                path: remote.url,
                init_timestamp_nsecs: BigInt::from(init),
            })
        })
        .await
        .map_err(join_error)?;
    }
    let final_dir = absolute(&final_dir)?;
    napi::tokio::task::spawn_blocking(move || {
        let init = commit::now_nanos();
        let dir = commit::create_save_dir(&final_dir, force, in_place)?;
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

/// Opens `location` when it is an object-store URL (opening may build an HTTP client: off the
/// JS thread).
pub(crate) async fn open_remote_blocking(
    location: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<Option<RemoteLocation>> {
    if !crate::location::is_url(&location) {
        return Ok(None);
    }
    napi::tokio::task::spawn_blocking(move || open_remote(&location, storage_options))
        .await
        .map_err(join_error)?
}

/// Writes `<dir>/_CHECKPOINT_METADATA` exactly as Orbax does.
#[napi]
pub async fn write_step_metadata(
    dir: String,
    metadata: StepMetadataToWrite,
    storage_options: Option<HashMap<String, String>>,
) -> Result<()> {
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
    let text = render_step_metadata(handlers.as_ref(), init, commit, &custom);
    if let Some(remote) = open_remote_blocking(dir.clone(), storage_options).await? {
        return napi::tokio::task::spawn_blocking(move || {
            remote
                .tree
                .put(CHECKPOINT_METADATA_FILE.as_bytes(), text.as_bytes())
                .map(|_| ())
                .map_err(objstore_error)
        })
        .await
        .map_err(join_error)?;
    }
    let dir = absolute(&dir)?;
    napi::tokio::task::spawn_blocking(move || {
        write_file_durable(&dir.join(CHECKPOINT_METADATA_FILE), text.as_bytes())
    })
    .await
    .map_err(join_error)?
    .map_err(to_js)
}

/// Commits a save's directory (`commit::commit_dir`): the marker, then the rename unless it was
/// written in place. On object stores (always in place) the marker is created only if absent:
/// when another writer committed first, `ERR_ALREADY_COMMITTED`.
#[napi]
pub async fn commit_directory(
    tmp: String,
    final_dir: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<()> {
    if let Some(remote) = open_remote_blocking(final_dir.clone(), storage_options).await? {
        if tmp.trim_end_matches('/') != remote.url {
            return Err(coded(
                "ERR_INVALID_ARGUMENT",
                format!(
                    "{} is on an object store: it commits in place, not from {tmp}",
                    remote.url
                ),
            ));
        }
        return napi::tokio::task::spawn_blocking(move || {
            let tree = &remote.tree;
            let created = commit::commit_store(tree.as_ref(), &remote.url).map_err(core_error)?;
            if !created {
                return Err(coded(
                    "ERR_ALREADY_COMMITTED",
                    format!(
                        "Checkpoint at {} was already committed by another writer.",
                        remote.url
                    ),
                ));
            }
            Ok(())
        })
        .await
        .map_err(join_error)?;
    }
    let tmp = absolute(&tmp)?;
    let final_dir = absolute(&final_dir)?;
    napi::tokio::task::spawn_blocking(move || commit::commit_dir(&tmp, &final_dir))
        .await
        .map_err(join_error)?
        .map_err(to_js)
}
