//! Writing an item's zarr keys into this process's OCDBT database `<item>/ocdbt.process_<i>/`
//! (ocdbt spec §10.1), through a view of the item's store under that directory. The merge
//! into the item's root database (§10.2) is [`orbax_ocdbt::merge::merge_item_store`].

use std::sync::Arc;

use orbax_kvstore::{PrefixStore, WritableStore};
use orbax_ocdbt::{DatabaseWriter, WriterOptions};

use crate::process::ProcessSpec;
use crate::save::{SaveOptions, Sink, DEFAULT_TARGET_DATA_FILE_SIZE};
use crate::Result;

struct OcdbtSink(DatabaseWriter);

impl Sink for OcdbtSink {
    fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.0.put(key.as_bytes(), value)?)
    }
}

/// Orbax's OCDBT write options for an item saved with `opts`.
pub(crate) fn writer_options(opts: &SaveOptions) -> WriterOptions {
    WriterOptions {
        target_data_file_size: opts
            .ocdbt_target_data_file_size
            .unwrap_or(DEFAULT_TARGET_DATA_FILE_SIZE),
        ..WriterOptions::default()
    }
}

/// Writes through `write` into `process`'s database under the item store `root` and commits
/// it. Large values stream into the database's data files through the store's appendable
/// values (multipart uploads on object stores). On failure the database's data files are
/// removed and nothing is committed.
pub(crate) fn write_database(
    root: &Arc<dyn WritableStore>,
    process: &ProcessSpec,
    opts: &SaveOptions,
    write: impl FnOnce(&dyn Sink) -> Result<()>,
) -> Result<()> {
    let store = Arc::new(PrefixStore::new(Arc::clone(root), process.database_dir()));
    let sink = OcdbtSink(DatabaseWriter::new(store, writer_options(opts))?);
    if let Err(error) = write(&sink) {
        let _ = sink.0.abort();
        return Err(error);
    }
    sink.0.commit()?;
    Ok(())
}
