//! One PyTree item directory (the directory holding `_METADATA`): its leaves, where their arrays
//! live (the item's merged OCDBT root, or plain zarr directories), and reads of whole arrays or
//! slices of them, in the stored dtype or cast to another.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use orbax_kvstore::{FileStore, MemoryStore, ReadableStore};
use orbax_ocdbt::Database;
use orbax_zarr::{ArrayMetadata, DType, ZarrFormat};
use rayon::prelude::*;

use crate::tree_metadata::METADATA_FILE;

use crate::strings::StringLeaves;
use crate::tree_metadata::{TreeEntry, TreeMetadata};
use crate::{Error, Result};

/// File name of an OCDBT database's manifest.
const OCDBT_MANIFEST: &str = "manifest.ocdbt";

/// Everything known about one leaf without reading its data.
#[derive(Debug, Clone)]
pub struct LeafInfo {
    /// The `_METADATA` entry.
    pub entry: TreeEntry,
    /// Param name (path joined by `.`).
    pub param: String,
    /// zarr metadata, for array and scalar leaves.
    pub array: Option<ArrayMetadata>,
    /// The value, for string leaves.
    pub string_value: Option<String>,
    /// The `_sharding` document (JSON text), for jax.Array leaves.
    pub sharding: Option<String>,
}

/// One array to read.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// Param name of the leaf.
    pub param: String,
    /// A hyper-rectangle `[start, end)` per dimension; `None` = the whole array.
    pub region: Option<Vec<Range<u64>>>,
    /// Cast to this dtype; `None` = the stored dtype.
    pub dtype: Option<DType>,
}

/// Limits and controls of a restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Upper bound of bytes being decoded at once (Orbax's `restore_concurrent_gb`).
    pub concurrent_bytes: u64,
    /// Checked between chunks; set it to stop a restore early.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Counts the chunk bytes planned and decoded.
    pub progress: Option<Arc<orbax_zarr::Progress>>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            concurrent_bytes: 1 << 30,
            cancel: None,
            progress: None,
        }
    }
}

/// An opened item directory.
#[derive(Debug)]
pub struct ItemReader {
    dir: PathBuf,
    tree: TreeMetadata,
    store: Arc<dyn ReadableStore>,
    leaves: Vec<LeafInfo>,
    by_param: HashMap<String, usize>,
}

impl ItemReader {
    /// Opens `dir`: reads `_METADATA`, `_strings.json`, `_sharding` and every array's zarr
    /// metadata (small values, inline in the OCDBT leaves); reads no chunk data.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::NotFound {
                message: format!("Checkpoint at {} not found.", dir.display()),
            });
        }
        Self::open_store(
            Arc::new(FileStore::immutable(dir)),
            &dir.display().to_string(),
        )
    }

    /// Opens the item whose files are the keys of `root` (a local directory, an object-store
    /// prefix, ...); `location` names it in messages (a path or a URL).
    pub fn open_store(root: Arc<dyn ReadableStore>, location: &str) -> Result<Self> {
        let dir = PathBuf::from(location);
        let file = |name: &str| dir.join(name);
        let tree_bytes =
            root.read(METADATA_FILE.as_bytes(), None)?
                .ok_or_else(|| Error::NotFound {
                    message: format!(
                        "Metadata file (named {METADATA_FILE}) does not exist at {location}."
                    ),
                })?;
        let tree = TreeMetadata::parse(&tree_bytes)
            .map_err(|reason| Error::metadata(&file(METADATA_FILE), reason))?;
        let has_manifest = root.read(OCDBT_MANIFEST.as_bytes(), Some(0..0))?.is_some();
        let use_ocdbt = tree.use_ocdbt.unwrap_or(has_manifest);
        let has_arrays = tree.entries.iter().any(TreeEntry::is_array);
        let store: Arc<dyn ReadableStore> = if !has_arrays {
            Arc::new(MemoryStore::new(location.to_string()))
        } else if use_ocdbt {
            if !has_manifest {
                return Err(Error::NotACheckpoint {
                    path: location.to_string(),
                    reason: format!(
                        "_METADATA says use_ocdbt but there is no merged {OCDBT_MANIFEST} (an unfinished save?)"
                    ),
                });
            }
            Arc::new(Database::open(root.clone())?)
        } else {
            root.clone()
        };
        let strings = if tree.entries.iter().any(TreeEntry::is_string) {
            match root.read(crate::strings::STRINGS_FILE.as_bytes(), None)? {
                Some(bytes) => Some(StringLeaves::parse(
                    &bytes,
                    &file(crate::strings::STRINGS_FILE),
                )?),
                None => None,
            }
        } else {
            None
        };
        let mut shardings = match root.read(crate::sharding::SHARDING_FILE.as_bytes(), None)? {
            Some(bytes) => {
                crate::sharding::parse_shardings(&bytes, &file(crate::sharding::SHARDING_FILE))?
            }
            None => HashMap::new(),
        };
        let format = if tree.use_zarr3 {
            ZarrFormat::V3
        } else {
            ZarrFormat::V2
        };
        let leaves = tree
            .entries
            .par_iter()
            .map(|entry| -> Result<LeafInfo> {
                let param = entry.param_name();
                let array = if entry.is_array() {
                    Some(orbax_zarr::read_metadata(store.as_ref(), &param, format)?)
                } else {
                    None
                };
                let string_value = if entry.is_string() {
                    let value = strings
                        .as_ref()
                        .and_then(|s| s.get(&param))
                        .ok_or_else(|| Error::KeyNotFound {
                            message: format!(
                                "string leaf {param:?} is missing from {}",
                                dir.join(crate::strings::STRINGS_FILE).display()
                            ),
                        })?;
                    Some(value.to_string())
                } else {
                    None
                };
                Ok(LeafInfo {
                    entry: entry.clone(),
                    param,
                    array,
                    string_value,
                    sharding: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut leaves = leaves;
        for leaf in &mut leaves {
            leaf.sharding = shardings.remove(&leaf.param);
        }
        let by_param = leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| (leaf.param.clone(), i))
            .collect();
        Ok(ItemReader {
            dir: dir.to_path_buf(),
            tree,
            store,
            leaves,
            by_param,
        })
    }

    /// The item directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `_METADATA`.
    pub fn tree(&self) -> &TreeMetadata {
        &self.tree
    }

    /// Every entry of the tree, in `_METADATA` order.
    pub fn leaves(&self) -> &[LeafInfo] {
        &self.leaves
    }

    /// The store the arrays are read from (an OCDBT database or the directory itself).
    pub fn store(&self) -> &Arc<dyn ReadableStore> {
        &self.store
    }

    fn array_of(&self, param: &str) -> Result<&ArrayMetadata> {
        self.by_param
            .get(param)
            .and_then(|&i| self.leaves[i].array.as_ref())
            .ok_or_else(|| Error::KeyNotFound {
                message: format!(
                    "{param:?} is not an array leaf of the checkpoint at {}",
                    self.dir.display()
                ),
            })
    }

    /// Bytes that `request` produces (host representation of the output dtype).
    pub fn output_len(&self, request: &ReadRequest) -> Result<usize> {
        let meta = self.array_of(&request.param)?;
        let elements = region_elements(meta, request.region.as_deref(), &request.param)?;
        let dtype = request.dtype.unwrap_or(meta.dtype());
        usize::try_from(elements)
            .ok()
            .and_then(|n| n.checked_mul(dtype.host_size()))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{}: the requested region is too large",
                    request.param
                ))
            })
    }

    /// Reads one array (or a slice of it) into a new buffer.
    pub fn read(&self, request: &ReadRequest, options: &RestoreOptions) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.output_len(request)?];
        self.read_into(request, &mut out, options)?;
        Ok(out)
    }

    /// Reads one array (or a slice of it) into `out`, which must have exactly
    /// [`output_len`](Self::output_len) bytes.
    pub fn read_into(
        &self,
        request: &ReadRequest,
        out: &mut [u8],
        options: &RestoreOptions,
    ) -> Result<()> {
        let meta = self.array_of(&request.param)?;
        let expected = self.output_len(request)?;
        if out.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{}: the destination holds {} bytes but the read produces {expected}",
                request.param,
                out.len()
            )));
        }
        let zarr_options = self.zarr_options(options);
        let region = request.region.as_deref();
        match request.dtype {
            Some(dtype) if dtype != meta.dtype() => {
                let elements = expected / dtype.host_size();
                let mut stored = vec![0u8; elements * meta.dtype().host_size()];
                orbax_zarr::read_region(
                    self.store.as_ref(),
                    &request.param,
                    meta,
                    region,
                    &mut stored,
                    &zarr_options,
                )?;
                orbax_zarr::cast(meta.dtype(), &stored, dtype, out)?;
            }
            _ => orbax_zarr::read_region(
                self.store.as_ref(),
                &request.param,
                meta,
                region,
                out,
                &zarr_options,
            )?,
        }
        Ok(())
    }

    /// Reads many arrays (or slices) at once: the chunks of all of them are decoded by one
    /// set of worker threads straight into the result buffers, with the bytes being decoded
    /// kept under `options.concurrent_bytes` (a single larger chunk is still read, alone).
    /// Requests that cast go through a buffer in the stored dtype, a batch of at most
    /// `concurrent_bytes` of them at a time.
    pub fn read_many(
        &self,
        requests: &[ReadRequest],
        options: &RestoreOptions,
    ) -> Result<Vec<Vec<u8>>> {
        let metas = requests
            .iter()
            .map(|r| self.array_of(&r.param))
            .collect::<Result<Vec<_>>>()?;
        let sizes = requests
            .iter()
            .map(|r| self.output_len(r))
            .collect::<Result<Vec<_>>>()?;
        // Allocated (and, for recycled memory, zeroed) on all cores, not one by one.
        let mut results: Vec<Vec<u8>> = sizes.par_iter().map(|&n| vec![0u8; n]).collect();
        let zarr_options = self.zarr_options(options);
        let casts = |i: usize| requests[i].dtype.is_some_and(|d| d != metas[i].dtype());
        let reads: Vec<orbax_zarr::RegionRead<'_, '_>> = requests
            .iter()
            .zip(&metas)
            .zip(results.iter_mut())
            .enumerate()
            .filter(|(i, _)| !casts(*i))
            .map(|(_, ((request, meta), out))| orbax_zarr::RegionRead {
                param: &request.param,
                meta,
                region: request.region.as_deref(),
                out,
            })
            .collect();
        orbax_zarr::read_regions(self.store.as_ref(), reads, &zarr_options)?;
        let cast_indices: Vec<usize> = (0..requests.len()).filter(|&i| casts(i)).collect();
        let mut start = 0;
        while start < cast_indices.len() {
            let mut batch = Vec::new();
            let mut batch_bytes = 0u64;
            while let Some(&i) = cast_indices.get(start + batch.len()) {
                let bytes = (sizes[i] / requests[i].dtype.map_or(1, |d| d.host_size())
                    * metas[i].dtype().host_size()) as u64;
                if !batch.is_empty() && batch_bytes + bytes > options.concurrent_bytes {
                    break;
                }
                batch_bytes += bytes;
                batch.push((i, vec![0u8; bytes as usize]));
            }
            start += batch.len();
            let reads = batch
                .iter_mut()
                .map(|(i, stored)| orbax_zarr::RegionRead {
                    param: &requests[*i].param,
                    meta: metas[*i],
                    region: requests[*i].region.as_deref(),
                    out: stored,
                })
                .collect();
            orbax_zarr::read_regions(self.store.as_ref(), reads, &zarr_options)?;
            for (i, stored) in batch {
                let to = requests[i].dtype.expect("a cast request has a dtype");
                orbax_zarr::cast(metas[i].dtype(), &stored, to, &mut results[i])?;
            }
        }
        Ok(results)
    }

    fn zarr_options(&self, options: &RestoreOptions) -> orbax_zarr::ReadOptions {
        orbax_zarr::ReadOptions {
            missing_chunk:
                orbax_zarr::MissingChunkPolicy::from_store_array_data_equal_to_fill_value(
                    self.tree.store_array_data_equal_to_fill_value,
                ),
            max_bytes_in_flight: usize::try_from(options.concurrent_bytes).unwrap_or(usize::MAX),
            cancel: options.cancel.clone(),
            progress: options.progress.clone(),
            ..Default::default()
        }
    }
}

fn region_elements(
    meta: &ArrayMetadata,
    region: Option<&[Range<u64>]>,
    param: &str,
) -> Result<u64> {
    let Some(region) = region else {
        return Ok(meta.shape().iter().product());
    };
    if region.len() != meta.shape().len() {
        return Err(Error::InvalidArgument(format!(
            "{param}: a region of {} dimensions for an array of {} dimensions",
            region.len(),
            meta.shape().len()
        )));
    }
    let mut elements = 1u64;
    for (axis, (range, &dim)) in region.iter().zip(meta.shape()).enumerate() {
        if range.start > range.end || range.end > dim {
            return Err(Error::InvalidArgument(format!(
                "{param}: region {}..{} of axis {axis} is outside the shape {:?}",
                range.start,
                range.end,
                meta.shape()
            )));
        }
        elements *= range.end - range.start;
    }
    Ok(elements)
}
