//! Saving one PyTree item: every array as a zarr array (chunk shape chosen as Orbax does),
//! written into this process's OCDBT database (then merged into the item's root, as Orbax's
//! finalize does) or as plain files; string leaves into `_strings.json`; then `_METADATA`.
//! Chunks of all arrays are encoded and written in parallel.
//!
//! The item may live in any [`orbax_kvstore::WritableStore`] (see [`crate::store_save`]); a
//! local directory ([`save_item`]) goes through a `FileStore` whose syncs are deferred to one
//! batch at the end. Arrays may be blocks of global arrays saved by several processes
//! ([`crate::process`]).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use orbax_kvstore::{DeferredSync, FileStore, WritableStore};
use orbax_zarr::{ArrayMetadata, ChunkEncoder, DType};
use rayon::prelude::*;

use crate::chunking::{choose_chunk_shape, chunk_byte_budget};
use crate::process::{validate_placement, GlobalPlacement, ProcessSpec};
use crate::pyjson::{tensorstore_dumps, PyValue};
use crate::tree_metadata::TreeEntry;
use crate::{Error, Result};

/// Orbax's OCDBT target data file size on local file systems (2 GiB).
pub const DEFAULT_TARGET_DATA_FILE_SIZE: u64 = 1 << 31;

/// Orbax's OCDBT target data file size on Google Cloud Storage (400 MiB), which also caps the
/// chunks of arrays larger than that.
pub const GCS_TARGET_DATA_FILE_SIZE: u64 = 400 << 20;

/// The target data file size Orbax picks for `location` when none is given: 400 MiB for
/// `gs://` paths, 2 GiB elsewhere.
pub fn default_target_data_file_size(location: &str) -> u64 {
    if location.starts_with("gs://") {
        GCS_TARGET_DATA_FILE_SIZE
    } else {
        DEFAULT_TARGET_DATA_FILE_SIZE
    }
}

/// One array leaf to save.
#[derive(Debug, Clone)]
pub struct ArrayToSave<'a> {
    /// Param name (the path joined by `.`).
    pub param: String,
    /// Stored dtype.
    pub dtype: DType,
    /// Shape (`[]` for scalars).
    pub shape: Vec<u64>,
    /// The elements in host representation, C order.
    pub data: &'a [u8],
    /// `SaveArgs.chunk_byte_size`.
    pub chunk_byte_size: Option<u64>,
    /// `SaveArgs.shard_axes`.
    pub shard_axes: Vec<usize>,
    /// For a block of a global array (a jax shard): where it lies. `shape` and `data` are
    /// then the block (its write shape); the zarr metadata describes the global array and the
    /// chunk keys are in the global chunk grid. `None`: the whole array, which only the
    /// primary process writes in a multi-process save (replicated data: replica 0 writes).
    pub placement: Option<GlobalPlacement>,
    /// The `_sharding` document of a jax array (a JSON text in Python `json.dumps` form),
    /// written to `_sharding` by the primary process.
    pub sharding: Option<String>,
}

impl ArrayToSave<'_> {
    /// The shape of the whole array.
    pub fn global_shape(&self) -> &[u64] {
        self.placement
            .as_ref()
            .map_or(&self.shape, |p| &p.global_shape)
    }

    /// Whether the array is a jax array (Orbax records its write shape in
    /// `array_metadatas/`).
    pub fn is_jax_array(&self) -> bool {
        self.placement.is_some() || self.sharding.is_some()
    }
}

/// What an item holds.
#[derive(Debug, Clone)]
pub struct ItemToSave<'a> {
    /// Every leaf and empty node, in JAX flatten order (what `_METADATA` records).
    pub entries: Vec<TreeEntry>,
    /// The arrays (array and scalar leaves).
    pub arrays: Vec<ArrayToSave<'a>>,
    /// String leaves: param name → value.
    pub strings: Vec<(String, String)>,
    /// `custom_metadata` of `_METADATA`.
    pub custom_metadata: PyValue,
}

/// Storage choices of the PyTree handler.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    /// Arrays in OCDBT (default) or as plain zarr directories.
    pub use_ocdbt: bool,
    /// zarr v3 (`sharding_indexed` + zstd level 3) instead of v2 (zstd level 1).
    pub use_zarr3: bool,
    /// zstd on (default) or raw chunks.
    pub use_compression: bool,
    /// OCDBT target data file size (`None` = Orbax's 2 GiB; `Some(0)` = unlimited).
    pub ocdbt_target_data_file_size: Option<u64>,
    /// Upper bound of chunk bytes being encoded and written at once (Orbax's
    /// `save_concurrent_gb`); a single larger chunk still proceeds, alone.
    pub concurrent_bytes: u64,
    /// Checked between chunks; set it to abandon the save.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Counts the array bytes planned and written (chunks in host representation).
    pub progress: Option<Arc<orbax_zarr::Progress>>,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            use_ocdbt: true,
            use_zarr3: false,
            use_compression: true,
            ocdbt_target_data_file_size: None,
            concurrent_bytes: 96 << 30,
            cancel: None,
            progress: None,
        }
    }
}

/// Bytes in flight, bounded: workers wait until their chunk fits under the budget (a chunk
/// larger than the whole budget waits until nothing else is in flight).
struct ByteBudget {
    limit: u64,
    used: std::sync::Mutex<u64>,
    freed: std::sync::Condvar,
}

impl ByteBudget {
    fn new(limit: u64) -> Self {
        ByteBudget {
            limit: limit.max(1),
            used: std::sync::Mutex::new(0),
            freed: std::sync::Condvar::new(),
        }
    }

    fn acquire(&self, bytes: u64) -> BudgetGuard<'_> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + bytes > self.limit {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += bytes;
        BudgetGuard {
            budget: self,
            bytes,
        }
    }

    #[cfg(test)]
    fn in_flight(&self) -> u64 {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct BudgetGuard<'a> {
    budget: &'a ByteBudget,
    bytes: u64,
}

impl Drop for BudgetGuard<'_> {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= self.bytes;
        self.budget.freed.notify_all();
    }
}

/// Where encoded zarr keys go.
pub(crate) trait Sink: Sync {
    /// A chunk (written by exactly one process).
    fn put(&self, key: &str, value: &[u8]) -> Result<()>;

    /// An array's zarr metadata, which every process holding a block of the array writes,
    /// with identical bytes.
    fn put_metadata(&self, key: &str, value: &[u8]) -> Result<()> {
        self.put(key, value)
    }
}

/// Plain files in the item's store (`use_ocdbt=False`).
pub(crate) struct StoreSink {
    pub(crate) store: Arc<dyn WritableStore>,
    /// Several processes write the same metadata: replace it atomically, so that a reader
    /// never sees one process's write half done.
    pub(crate) shared: bool,
}

impl Sink for StoreSink {
    fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.store.write(key.as_bytes(), value)?)
    }

    fn put_metadata(&self, key: &str, value: &[u8]) -> Result<()> {
        if self.shared {
            Ok(self.store.write_atomic(key.as_bytes(), value)?)
        } else {
            self.put(key, value)
        }
    }
}

/// Writes `bytes` to `path` and registers it with `pending` (made durable by its `sync`).
fn write_file(path: &Path, bytes: &[u8], pending: &DeferredSync) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))?;
    pending.add_file(path);
    Ok(())
}

/// The zarr metadata Orbax would write for `array` (for a block of a global array: the
/// global array's, with the chunk shape Orbax derives from the block's write shape). Checks
/// the data size and the placement.
pub fn plan_array_metadata(array: &ArrayToSave<'_>, opts: &SaveOptions) -> Result<ArrayMetadata> {
    let elements: u64 = array.shape.iter().product();
    if elements == 0 {
        return Err(Error::InvalidArgument(format!(
            "{}: Cannot save arrays with zero size",
            array.param
        )));
    }
    if let Some(placement) = &array.placement {
        validate_placement(array, placement)?;
    }
    let expected = elements
        .checked_mul(array.dtype.host_size() as u64)
        .ok_or_else(|| Error::InvalidArgument(format!("{}: array too large", array.param)))?;
    if array.data.len() as u64 != expected {
        return Err(Error::InvalidArgument(format!(
            "{}: {} bytes of data for shape {:?} of {} ({expected} bytes)",
            array.param,
            array.data.len(),
            array.shape,
            array.dtype.name()
        )));
    }
    let target = opts.use_ocdbt.then(|| {
        opts.ocdbt_target_data_file_size
            .unwrap_or(DEFAULT_TARGET_DATA_FILE_SIZE)
    });
    let item_size = array.dtype.storage_size() as u64;
    let budget = chunk_byte_budget(&array.shape, item_size, array.chunk_byte_size, target);
    let chunks = choose_chunk_shape(
        array.global_shape(),
        &array.shape,
        item_size,
        budget,
        &array.shard_axes,
    )?;
    zarr_metadata(array.dtype, array.global_shape(), &chunks, opts)
}

fn zarr_metadata(
    dtype: DType,
    shape: &[u64],
    chunks: &[u64],
    opts: &SaveOptions,
) -> Result<ArrayMetadata> {
    Ok(if opts.use_zarr3 {
        ArrayMetadata::new_v3(dtype, shape, chunks, opts.use_compression.then_some(3))?
    } else {
        ArrayMetadata::new_v2(dtype, shape, chunks, opts.use_compression.then_some(1))?
    })
}

/// How one array (or block) is written.
pub(crate) struct ArrayPlan<'p, 'a> {
    pub(crate) array: &'p ArrayToSave<'a>,
    /// The stored metadata (the global array's).
    pub(crate) meta: ArrayMetadata,
    /// Metadata of the block alone, with the same chunks and codecs: encodes its chunks.
    local: ArrayMetadata,
    /// The block's first chunk in the global chunk grid.
    chunk_origin: Vec<u64>,
    /// Whether this plan writes the metadata key (the first block of its param does).
    pub(crate) writes_metadata: bool,
}

/// Plans the arrays this process writes: every block with a placement, and (on the primary
/// process only) the arrays without one. Blocks of one param must agree on shape, dtype,
/// chunks and sharding and lie at distinct offsets; a single process must hold every block.
pub(crate) fn plan_arrays<'p, 'a>(
    arrays: &'p [ArrayToSave<'a>],
    opts: &SaveOptions,
    process: &ProcessSpec,
) -> Result<Vec<ArrayPlan<'p, 'a>>> {
    use std::collections::hash_map::{Entry, HashMap};
    process.validate()?;
    // Per param: its first plan's index, the offsets seen and the elements covered.
    let mut seen: HashMap<&str, (usize, Vec<&[u64]>, u64)> = HashMap::new();
    let mut plans: Vec<ArrayPlan<'p, 'a>> = Vec::with_capacity(arrays.len());
    for array in arrays {
        let meta = plan_array_metadata(array, opts)?;
        if array.placement.is_none() && !process.is_primary() {
            continue;
        }
        let elements: u64 = array.shape.iter().product();
        let offset: &[u64] = array.placement.as_ref().map_or(&[], |p| &p.offset);
        let writes_metadata = match seen.entry(array.param.as_str()) {
            Entry::Vacant(slot) => {
                slot.insert((plans.len(), vec![offset], elements));
                true
            }
            Entry::Occupied(mut slot) => {
                let first = &plans[slot.get().0];
                let duplicate = |why: &str| {
                    Err(Error::InvalidArgument(format!(
                        "{}: given more than once, {why}",
                        array.param
                    )))
                };
                if array.placement.is_none() || first.array.placement.is_none() {
                    return duplicate("but only blocks of a global array may repeat a param");
                }
                if array.shape != first.array.shape || meta.raw() != first.meta.raw() {
                    return duplicate(
                        "with blocks that disagree on the block shape, dtype or chunk layout",
                    );
                }
                if array.sharding != first.array.sharding {
                    return duplicate("with blocks that disagree on the sharding");
                }
                let (_, offsets, covered) = slot.get_mut();
                if offsets.contains(&offset) {
                    return duplicate(&format!("twice with the block at offset {offset:?}"));
                }
                offsets.push(offset);
                *covered += elements;
                false
            }
        };
        let local = if array.shape == meta.shape() {
            meta.clone()
        } else {
            zarr_metadata(array.dtype, &array.shape, meta.chunk_shape(), opts)?
        };
        let chunk_origin = match &array.placement {
            Some(p) => p
                .offset
                .iter()
                .zip(meta.chunk_shape())
                .map(|(o, c)| o / c)
                .collect(),
            None => vec![0; array.shape.len()],
        };
        plans.push(ArrayPlan {
            array,
            meta,
            local,
            chunk_origin,
            writes_metadata,
        });
    }
    if !process.is_multi_process() {
        for (param, (first, _, covered)) in &seen {
            let total: u64 = plans[*first].meta.shape().iter().product();
            if *covered != total {
                return Err(Error::InvalidArgument(format!(
                    "{param}: the blocks given cover {covered} of the {total} elements of the global array; a single-process save must hold all of them"
                )));
            }
        }
    }
    Ok(plans)
}

fn grid_indices(grid: &[u64]) -> Vec<Vec<u64>> {
    let total: u64 = grid.iter().product();
    let mut out = Vec::with_capacity(total as usize);
    let mut index = vec![0u64; grid.len()];
    for _ in 0..total {
        out.push(index.clone());
        for axis in (0..grid.len()).rev() {
            index[axis] += 1;
            if index[axis] < grid[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// Chunks at least this large may be compressed by several zstd threads at once.
const MULTITHREADED_CHUNK_BYTES: usize = 8 << 20;

pub(crate) fn write_arrays(
    sink: &dyn Sink,
    plans: &[ArrayPlan<'_, '_>],
    opts: &SaveOptions,
) -> Result<()> {
    let tasks: Vec<(usize, Vec<u64>)> = plans
        .iter()
        .enumerate()
        .flat_map(|(i, plan)| {
            grid_indices(&plan.local.chunk_grid_shape())
                .into_iter()
                .map(move |idx| (i, idx))
        })
        .collect();
    plans
        .par_iter()
        .filter(|plan| plan.writes_metadata)
        .try_for_each(|plan| {
            sink.put_metadata(
                &orbax_zarr::metadata_key(&plan.array.param, plan.meta.format()),
                plan.meta.raw().as_bytes(),
            )
        })?;
    // A chunk holding more than a thread's share of the whole save would leave the other
    // cores idle while one thread compresses it: zstd splits such a chunk across all of them.
    let threads = rayon::current_num_threads();
    let total: usize = plans.iter().map(|p| p.array.data.len()).sum();
    let zstd_workers = |chunk_bytes: usize| -> u32 {
        if threads > 1
            && chunk_bytes >= MULTITHREADED_CHUNK_BYTES
            && chunk_bytes.saturating_mul(threads) > total
        {
            u32::try_from(threads).unwrap_or(u32::MAX)
        } else {
            0
        }
    };
    if let Some(progress) = &opts.progress {
        progress.add_total(
            tasks
                .iter()
                .map(|(i, _)| plans[*i].local.chunk_host_bytes() as u64)
                .sum(),
        );
    }
    let budget = ByteBudget::new(opts.concurrent_bytes);
    tasks
        .par_iter()
        .try_for_each_init(ChunkEncoder::new, |encoder, (i, indices)| {
            if opts
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
            {
                return Err(Error::Zarr(orbax_zarr::Error::Cancelled));
            }
            let plan = &plans[*i];
            let chunk_bytes = plan.local.chunk_host_bytes();
            // At most a staged copy of the chunk plus its encoded form (about as large).
            let _held = budget.acquire(2 * chunk_bytes as u64);
            encoder.set_workers(zstd_workers(chunk_bytes));
            let encoded = encoder.encode_array_chunk(&plan.local, plan.array.data, indices)?;
            let global: Vec<u64> = indices
                .iter()
                .zip(&plan.chunk_origin)
                .map(|(i, o)| i + o)
                .collect();
            sink.put(
                &orbax_zarr::chunk_key(&plan.array.param, &plan.meta, &global),
                encoded,
            )?;
            if let Some(progress) = &opts.progress {
                progress.add_done(chunk_bytes as u64);
            }
            Ok(())
        })
}

/// `_strings.json`: TensorStore's json driver applies one JSON-pointer write per string leaf at
/// `/<param>`, so a `/` in a param name nests objects.
pub fn render_strings(strings: &[(String, String)]) -> Result<String> {
    fn insert(
        node: &mut Vec<(String, PyValue)>,
        tokens: &[&str],
        value: &str,
        param: &str,
    ) -> Result<()> {
        let (first, rest) = tokens.split_first().expect("split always yields a token");
        if rest.is_empty() {
            node.retain(|(k, _)| k != first);
            node.push((first.to_string(), PyValue::str(value)));
            return Ok(());
        }
        let position = node.iter().position(|(k, _)| k == first);
        let index = match position {
            Some(i) => i,
            None => {
                node.push((first.to_string(), PyValue::Dict(Vec::new())));
                node.len() - 1
            }
        };
        match &mut node[index].1 {
            PyValue::Dict(child) => insert(child, rest, value, param),
            _ => Err(Error::InvalidArgument(format!(
                "string leaf {param:?} nests under another string leaf in _strings.json"
            ))),
        }
    }
    let mut root = Vec::new();
    for (param, value) in strings {
        if param.contains('~') {
            return Err(Error::InvalidArgument(format!(
                "string leaf {param:?}: a '~' in its path is not a valid JSON pointer for _strings.json (Orbax fails too)"
            )));
        }
        let tokens: Vec<&str> = param.split('/').collect();
        insert(&mut root, &tokens, value, param)?;
    }
    Ok(tensorstore_dumps(&PyValue::Dict(root)))
}

/// Writes the arrays and sidecar files of one item into `item_dir` (which must exist), and
/// makes them durable before returning; what is written follows
/// [`crate::store_save::save_item_to_store`] (a single process: `ocdbt.process_0/` merged
/// into the item root).
///
/// Nothing is fsynced while writing; every file and directory the item creates is synced
/// once at the end, all together (see `commit.rs` for the durability model).
pub fn save_item(
    item_dir: &Path,
    item: &ItemToSave<'_>,
    opts: &SaveOptions,
    process: &ProcessSpec,
) -> Result<()> {
    let pending = Arc::new(DeferredSync::new());
    write_item(item_dir, item, opts, process, &pending)?;
    Ok(pending.sync()?)
}

fn write_item(
    item_dir: &Path,
    item: &ItemToSave<'_>,
    opts: &SaveOptions,
    process: &ProcessSpec,
    pending: &Arc<DeferredSync>,
) -> Result<()> {
    let store = Arc::new(FileStore::with_deferred_sync(item_dir, Arc::clone(pending)));
    crate::store_save::write_item(store, item, opts, process)?;
    pending.add_dir(item_dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_render_like_tensorstore() {
        let strings = vec![
            ("name".to_string(), "run1".to_string()),
            ("nested.sl/ash".to_string(), "slash-key string".to_string()),
            ("Z".to_string(), "y".to_string()),
            ("u".to_string(), "héllo \"q\"\n".to_string()),
        ];
        assert_eq!(
            render_strings(&strings).unwrap(),
            "{\"Z\":\"y\",\"name\":\"run1\",\"nested.sl\":{\"ash\":\"slash-key string\"},\"u\":\"héllo \\\"q\\\"\\n\"}"
        );
        assert!(render_strings(&[("a~b".to_string(), "x".to_string())]).is_err());
    }

    #[test]
    fn the_byte_budget_bounds_what_is_in_flight() {
        let budget = ByteBudget::new(100);
        let peak = std::sync::atomic::AtomicU64::new(0);
        (0..64u64).into_par_iter().for_each(|i| {
            let _held = budget.acquire(30 + i % 3 * 10);
            peak.fetch_max(budget.in_flight(), Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(1));
        });
        assert!(peak.load(Ordering::SeqCst) <= 100);
        assert_eq!(budget.in_flight(), 0);
        // A request larger than the budget still runs, alone.
        let _big = budget.acquire(500);
        assert_eq!(budget.in_flight(), 500);
    }

    #[test]
    fn gcs_paths_get_orbax_400_mib_data_files() {
        assert_eq!(
            default_target_data_file_size("gs://bucket/run/5"),
            400 << 20
        );
        assert_eq!(default_target_data_file_size("s3://bucket/run/5"), 1 << 31);
        assert_eq!(default_target_data_file_size("/local/run/5"), 1 << 31);
        // An array larger than 400 MiB is chunked to fit a GCS data file, as Orbax does.
        let shape = [16384u64, 16384];
        let budget = chunk_byte_budget(&shape, 4, None, Some(GCS_TARGET_DATA_FILE_SIZE));
        assert_eq!(budget, Some(400 << 20));
        let chunks = choose_chunk_shape(&shape, &shape, 4, budget, &[]).unwrap();
        assert!(
            chunks.iter().product::<u64>() * 4 <= 400 << 20,
            "{chunks:?}"
        );
    }

    #[test]
    fn grid_indices_run_in_c_order() {
        assert_eq!(grid_indices(&[2, 3]).len(), 6);
        assert_eq!(grid_indices(&[2, 3])[4], vec![1, 1]);
        assert_eq!(grid_indices(&[]), vec![Vec::<u64>::new()]);
    }
}

/// Everything a `Checkpointer.save` of one PyTree item needs.
#[derive(Debug, Clone)]
pub struct CheckpointToSave<'a> {
    /// The item (it is the checkpoint directory itself, as for `StandardCheckpointer`).
    pub item: ItemToSave<'a>,
    /// Storage options.
    pub options: SaveOptions,
    /// Replace an existing checkpoint at the destination.
    pub force: bool,
    /// `custom_metadata` of `_CHECKPOINT_METADATA` (a dict).
    pub custom_metadata: PyValue,
    /// The Python handler class recorded in `item_handlers`, so that Python Orbax can restore
    /// the checkpoint without arguments.
    pub handler_typestr: String,
}

/// Saves a checkpoint atomically, in Orbax's order (orbax-layout §9.2): temporary directory,
/// `_CHECKPOINT_METADATA` (init timestamp), the item's data and sidecars, `_CHECKPOINT_METADATA`
/// with handlers and custom metadata, then with the commit timestamp, `commit_success.txt`,
/// rename. A failure leaves the previous state untouched and the temporary directory behind.
pub fn save_checkpoint(final_dir: &Path, save: &CheckpointToSave<'_>) -> Result<()> {
    use crate::commit::{create_tmp_dir, now_nanos, rename_into_place, write_commit_marker};
    use crate::step_metadata::{render_step_metadata, ItemHandlers, CHECKPOINT_METADATA_FILE};

    if !final_dir.is_absolute() {
        return Err(Error::InvalidArgument(format!(
            "Checkpoint path should be absolute. Got {}",
            final_dir.display()
        )));
    }
    // Refuse bad input before touching the destination or creating the temporary directory.
    plan_arrays(&save.item.arrays, &save.options, &ProcessSpec::default())?;
    if !save.item.strings.is_empty() {
        render_strings(&save.item.strings)?;
    }
    let init = now_nanos();
    let tmp = create_tmp_dir(final_dir, save.force)?;
    // Every file below is written without fsync and synced in one batch before the commit
    // marker; `_CHECKPOINT_METADATA` is rewritten in Orbax's order, only its last form matters.
    let pending = Arc::new(DeferredSync::new());
    let metadata_path = tmp.join(CHECKPOINT_METADATA_FILE);
    let empty = PyValue::Dict(Vec::new());
    write_file(
        &metadata_path,
        render_step_metadata(None, Some(init), None, &empty).as_bytes(),
        &pending,
    )?;
    write_item(
        &tmp,
        &save.item,
        &save.options,
        &ProcessSpec::default(),
        &pending,
    )?;
    let handlers = ItemHandlers::Single(save.handler_typestr.clone());
    write_file(
        &metadata_path,
        render_step_metadata(Some(&handlers), Some(init), None, &save.custom_metadata).as_bytes(),
        &pending,
    )?;
    let commit = now_nanos().max(init);
    write_file(
        &metadata_path,
        render_step_metadata(
            Some(&handlers),
            Some(init),
            Some(commit),
            &save.custom_metadata,
        )
        .as_bytes(),
        &pending,
    )?;
    pending.sync()?;
    write_commit_marker(&tmp, final_dir)?;
    rename_into_place(&tmp, final_dir)
}
