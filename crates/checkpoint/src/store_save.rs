//! Saving an item into any [`WritableStore`] (a local directory, an object-store prefix,
//! memory), by one process or by several together, and finalizing a multi-process save.
//!
//! What each process writes (orbax-layout §3.3–3.7, §4.2):
//!
//! | | one process | process `i` of several |
//! |---|---|---|
//! | arrays (OCDBT) | `ocdbt.process_0/`, merged into `manifest.ocdbt` + `d/` | `ocdbt.process_<i>/`, not merged ([`finalize_item`] merges) |
//! | arrays (plain zarr) | every chunk and metadata file | its blocks' chunks; the metadata of every array it holds a block of |
//! | arrays without placement | written | written by the primary only |
//! | `array_metadatas/process_<i>` | if it wrote jax arrays | if it wrote jax arrays |
//! | `_METADATA`, `_strings.json`, `_sharding` | written | by the primary only |

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use orbax_kvstore::{DeferredSync, FileStore, WritableStore};

use crate::ocdbt_sink::{write_database, writer_options};
use crate::process::{
    array_metadatas_key, process_database_dir, render_array_metadatas, render_shardings,
    ArrayMetadataEntry, ProcessSpec,
};
use crate::save::{
    plan_arrays, render_strings, write_arrays, ArrayPlan, ItemToSave, SaveOptions, StoreSink,
};
use crate::sharding::SHARDING_FILE;
use crate::strings::STRINGS_FILE;
use crate::tree_metadata::{render_tree_metadata, METADATA_FILE};
use crate::{Error, Result};

/// Writes one item (or, in a multi-process save, this process's part of it) into `store`,
/// whose keys are the item's files; see the module documentation for who writes what.
/// Single-process OCDBT items are merged into the item's root database before returning.
///
/// Every write is durable when it returns (the store's contract); nothing commits the item
/// (no `commit_success.txt`, no rename): that is the caller's protocol.
pub fn save_item_to_store(
    store: Arc<dyn WritableStore>,
    item: &ItemToSave<'_>,
    opts: &SaveOptions,
    process: &ProcessSpec,
) -> Result<()> {
    write_item(store, item, opts, process)
}

/// [`save_item_to_store`], also used by the local save over a deferred-sync `FileStore`.
pub(crate) fn write_item(
    store: Arc<dyn WritableStore>,
    item: &ItemToSave<'_>,
    opts: &SaveOptions,
    process: &ProcessSpec,
) -> Result<()> {
    let plans = plan_arrays(&item.arrays, opts, process)?;
    let strings = if process.is_primary() && !item.strings.is_empty() {
        Some(render_strings(&item.strings)?)
    } else {
        None
    };
    if opts.use_ocdbt {
        // With several processes every one commits a database, even an empty one, so that
        // the primary can tell a finished process from a missing one.
        if !plans.is_empty() || process.is_multi_process() {
            write_database(&store, process, opts, |sink| {
                write_arrays(sink, &plans, opts)
            })?;
        }
        if !process.is_multi_process() && !plans.is_empty() {
            orbax_ocdbt::merge::merge_item_store(Arc::clone(&store), writer_options(opts))?;
        }
    } else if !plans.is_empty() {
        let sink = StoreSink {
            store: Arc::clone(&store),
            shared: process.is_multi_process(),
        };
        write_arrays(&sink, &plans, opts)?;
    }
    let jax_arrays = array_metadata_entries(&plans);
    if !jax_arrays.is_empty() {
        store.write(
            array_metadatas_key(process.index).as_bytes(),
            render_array_metadatas(&jax_arrays).as_bytes(),
        )?;
    }
    if !process.is_primary() {
        return Ok(());
    }
    if let Some(strings) = strings {
        store.write(STRINGS_FILE.as_bytes(), strings.as_bytes())?;
    }
    let shardings: Vec<(&str, &str)> = plans
        .iter()
        .filter(|plan| plan.writes_metadata)
        .filter_map(|plan| Some((plan.array.param.as_str(), plan.array.sharding.as_deref()?)))
        .collect();
    if !shardings.is_empty() {
        store.write(
            SHARDING_FILE.as_bytes(),
            render_shardings(shardings).as_bytes(),
        )?;
    }
    let metadata = render_tree_metadata(
        &item.entries,
        opts.use_ocdbt,
        opts.use_zarr3,
        &item.custom_metadata,
    );
    store.write(METADATA_FILE.as_bytes(), metadata.as_bytes())?;
    Ok(())
}

/// One `array_metadatas` entry per jax-array param this process wrote, in item order.
fn array_metadata_entries(plans: &[ArrayPlan<'_, '_>]) -> Vec<ArrayMetadataEntry> {
    plans
        .iter()
        .filter(|plan| plan.writes_metadata && plan.array.is_jax_array())
        .map(|plan| ArrayMetadataEntry {
            param: plan.array.param.clone(),
            write_shape: plan.array.shape.clone(),
            chunk_shape: plan.meta.chunk_shape().to_vec(),
        })
        .collect()
}

/// Finalizes a multi-process save on the primary process, once every process has written
/// its part: checks that each of the `process_count` processes committed its database
/// (`ocdbt.process_<i>/manifest.ocdbt`; otherwise [`Error::MissingProcesses`] and nothing is
/// merged), then merges them into the item's root database (`manifest.ocdbt` + `d/`), finding
/// them by listing the store. Nothing to do for `use_ocdbt=false` items.
pub fn finalize_item(
    store: Arc<dyn WritableStore>,
    opts: &SaveOptions,
    process_count: u32,
) -> Result<()> {
    if process_count == 0 {
        return Err(Error::InvalidArgument(
            "process count must be at least 1".to_owned(),
        ));
    }
    if !opts.use_ocdbt {
        return Ok(());
    }
    let mut missing = Vec::new();
    for index in 0..process_count {
        let manifest = format!("{}manifest.ocdbt", process_database_dir(index));
        if store.read(manifest.as_bytes(), Some(0..0))?.is_none() {
            missing.push(index);
        }
    }
    if !missing.is_empty() {
        return Err(Error::MissingProcesses {
            location: store.describe(b"").trim_end_matches('/').to_owned(),
            missing,
        });
    }
    if opts
        .cancel
        .as_ref()
        .is_some_and(|c| c.load(Ordering::Relaxed))
    {
        return Err(Error::Zarr(orbax_zarr::Error::Cancelled));
    }
    orbax_ocdbt::merge::merge_item_store(store, writer_options(opts))?;
    Ok(())
}

/// [`finalize_item`] of an item in a local directory: its new files are synced once, all
/// together, before returning.
pub fn finalize_item_dir(item_dir: &Path, opts: &SaveOptions, process_count: u32) -> Result<()> {
    let pending = Arc::new(DeferredSync::new());
    let store = Arc::new(FileStore::with_deferred_sync(
        item_dir,
        Arc::clone(&pending),
    ));
    finalize_item(store, opts, process_count)?;
    pending.add_dir(item_dir);
    Ok(pending.sync()?)
}
