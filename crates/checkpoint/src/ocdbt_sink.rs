//! Writing an item's zarr keys into this process's OCDBT database, then merging it into the
//! item's root database, as Orbax's finalize does.

use std::path::Path;

use crate::save::SaveOptions;
use crate::{Error, Result};

/// Writes through `write` into `<item_dir>/ocdbt.process_0/`, commits it, and merges it into
/// `<item_dir>/manifest.ocdbt`.
pub(crate) fn write_and_merge(
    _item_dir: &Path,
    _opts: &SaveOptions,
    _write: impl FnOnce(&dyn crate::save::Sink) -> Result<()>,
) -> Result<()> {
    Err(Error::InvalidArgument(
        "saving into OCDBT (use_ocdbt=True, the default) is not available in this build yet; save with useOcdbt: false".into(),
    ))
}
