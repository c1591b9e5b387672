//! Writing an item's zarr keys into this process's OCDBT database, then merging it into the
//! item's root database, as Orbax's finalize does (ocdbt spec §10): `<item>/ocdbt.process_0/`
//! holds the values, `<item>/manifest.ocdbt` + `<item>/d/` the merged tree that references them.

use std::path::Path;
use std::sync::Arc;

use orbax_kvstore::{DeferredSync, FileStore};
use orbax_ocdbt::merge::merge_item_directory_into;
use orbax_ocdbt::{DatabaseWriter, WriterOptions};

use crate::save::{SaveOptions, Sink, DEFAULT_TARGET_DATA_FILE_SIZE};
use crate::Result;

/// The per-process database directory of process 0 (orbax-ts writes as a single process).
const PROCESS_DIR: &str = "ocdbt.process_0";

struct OcdbtSink(DatabaseWriter);

impl Sink for OcdbtSink {
    fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.0.put(key.as_bytes(), value)?)
    }
}

fn writer_options(opts: &SaveOptions) -> WriterOptions {
    WriterOptions {
        target_data_file_size: opts
            .ocdbt_target_data_file_size
            .unwrap_or(DEFAULT_TARGET_DATA_FILE_SIZE),
        ..WriterOptions::default()
    }
}

/// Writes through `write` into `<item_dir>/ocdbt.process_0/`, commits that database, and
/// merges it into `<item_dir>/manifest.ocdbt`. Every file is registered with `pending`
/// instead of being synced (the caller syncs them all at once before publishing the item).
pub(crate) fn write_and_merge(
    item_dir: &Path,
    opts: &SaveOptions,
    pending: &Arc<DeferredSync>,
    write: impl FnOnce(&dyn Sink) -> Result<()>,
) -> Result<()> {
    let store = Arc::new(FileStore::with_deferred_sync(
        item_dir.join(PROCESS_DIR),
        Arc::clone(pending),
    ));
    let sink = OcdbtSink(DatabaseWriter::new(store, writer_options(opts))?);
    if let Err(error) = write(&sink) {
        // The temporary directory stays behind as Orbax leaves it; only release the writer.
        let _ = sink.0.abort();
        return Err(error);
    }
    sink.0.commit()?;
    let root = Arc::new(FileStore::with_deferred_sync(item_dir, Arc::clone(pending)));
    merge_item_directory_into(item_dir, root, writer_options(opts))?;
    Ok(())
}
