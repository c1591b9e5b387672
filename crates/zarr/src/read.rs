//! Reading metadata and hyper-rectangular regions of arrays through a [`ReadableStore`].
//!
//! A read touches only the chunks that intersect the region. Chunks are read and decoded by
//! a bounded set of scoped worker threads, with the decoded bytes in flight capped by
//! [`ReadOptions::max_bytes_in_flight`]. When every decode unit maps onto one contiguous
//! piece of the output (chunk-aligned reads of row-major slabs, e.g. a whole array chunked
//! along its first axis), `out` is split into disjoint slices and each unit is decompressed
//! straight into its slice. Otherwise units are decoded into per-unit buffers and scattered
//! into `out`, which is split into row bands (the region rows one first-axis chunk index
//! covers), each behind its own lock, so chunks of different rows scatter concurrently.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use orbax_kvstore::ReadableStore;

use crate::codec::{self, Decoder, EMPTY_ENTRY};
use crate::dtype::disk_to_host_in_place;
use crate::error::{Error, Result};
use crate::grid::{
    chunk_key, copy_box, fill_box, fill_pattern, for_each_index, intersect, is_contiguous,
    metadata_key, strides, BoxIn,
};
use crate::metadata::{ArrayMetadata, IndexLocation, ZarrFormat};

/// What a read does when a chunk (or an inner chunk of a shard) is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingChunkPolicy {
    /// Fail with [`Error::MissingChunk`]. Orbax 0.12 writes every chunk
    /// (`_METADATA.store_array_data_equal_to_fill_value: true`), so a gap means damage.
    #[default]
    Error,
    /// Substitute the fill value (zeros for a zarr v2 `null` fill value), as older Orbax
    /// checkpoints without that flag require.
    FillValue,
}

impl MissingChunkPolicy {
    /// The policy implied by `_METADATA.store_array_data_equal_to_fill_value` (a missing
    /// flag counts as false).
    pub fn from_store_array_data_equal_to_fill_value(flag: bool) -> MissingChunkPolicy {
        if flag {
            MissingChunkPolicy::Error
        } else {
            MissingChunkPolicy::FillValue
        }
    }
}

/// Options of [`read_region`].
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Missing-chunk behaviour.
    pub missing_chunk: MissingChunkPolicy,
    /// Upper bound on decoded chunk bytes held by workers at once. A single chunk larger
    /// than this is still read, alone.
    pub max_bytes_in_flight: usize,
    /// Worker threads; 0 = the machine's available parallelism. Reads touching one chunk run
    /// on the calling thread.
    pub concurrency: usize,
    /// Checked before each chunk; when set, the read stops with [`Error::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// Counts the chunk bytes planned and decoded.
    pub progress: Option<Arc<crate::Progress>>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            missing_chunk: MissingChunkPolicy::Error,
            max_bytes_in_flight: 256 << 20,
            concurrency: 0,
            cancel: None,
            progress: None,
        }
    }
}

/// Reads and parses `<param>/.zarray` or `<param>/zarr.json`.
pub fn read_metadata(
    store: &dyn ReadableStore,
    param: &str,
    format: ZarrFormat,
) -> Result<ArrayMetadata> {
    let key = metadata_key(param, format);
    let file = store.describe(key.as_bytes());
    let bytes = store
        .read(key.as_bytes(), None)?
        .ok_or_else(|| Error::MissingMetadata { key: file.clone() })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| Error::InvalidMetadata {
        key: file.clone(),
        reason: format!("not UTF-8: {e}"),
    })?;
    ArrayMetadata::parse(text, format, &file)
}

/// Reads the whole array into a new buffer (host representation, C order).
pub fn read_array(
    store: &dyn ReadableStore,
    param: &str,
    meta: &ArrayMetadata,
    opts: &ReadOptions,
) -> Result<Vec<u8>> {
    let bytes = meta
        .num_elements()
        .checked_mul(meta.dtype().host_size() as u64)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "array of shape {:?} does not fit in memory",
                meta.shape()
            ))
        })?;
    let mut out = vec![0u8; bytes];
    read_region(store, param, meta, None, &mut out, opts)?;
    Ok(out)
}

/// Fills `out` with the elements of `region` (per-dimension half-open ranges; `None` = the
/// whole array) in host representation and C order. `out` must hold exactly
/// `prod(region lengths) * dtype.host_size()` bytes. Only chunks intersecting the region are
/// read; for sharded zarr v3 arrays only the needed inner chunks are decoded (and, with the
/// index at the start of the shard, only they are read).
pub fn read_region(
    store: &dyn ReadableStore,
    param: &str,
    meta: &ArrayMetadata,
    region: Option<&[Range<u64>]>,
    out: &mut [u8],
    opts: &ReadOptions,
) -> Result<()> {
    read_regions(
        store,
        vec![RegionRead {
            param,
            meta,
            region,
            out,
        }],
        opts,
    )
}

/// One region of one array to read by [`read_regions`], and where it goes.
#[derive(Debug)]
pub struct RegionRead<'a, 'o> {
    /// Param name of the array (its key prefix in the store).
    pub param: &'a str,
    /// Its metadata.
    pub meta: &'a ArrayMetadata,
    /// Per-dimension half-open ranges; `None` = the whole array.
    pub region: Option<&'a [Range<u64>]>,
    /// Receives the elements, as for [`read_region`].
    pub out: &'o mut [u8],
}

/// [`read_region`] for many regions (of one or many arrays) at once: their chunks are
/// decoded by one set of worker threads under one in-flight budget
/// ([`ReadOptions::max_bytes_in_flight`] bounds all of them together), so a tree of many
/// arrays costs no thread start per array, and the cores stay busy across array boundaries.
/// On failure the error of the earliest failed chunk (in request order) is returned.
pub fn read_regions(
    store: &dyn ReadableStore,
    reads: Vec<RegionRead<'_, '_>>,
    opts: &ReadOptions,
) -> Result<()> {
    let mut regions = Vec::with_capacity(reads.len());
    for read in &reads {
        let shape = read.meta.shape();
        let region: Vec<Range<u64>> = match read.region {
            Some(r) => r.to_vec(),
            None => shape.iter().map(|&n| 0..n).collect(),
        };
        if region.len() != shape.len()
            || region
                .iter()
                .zip(shape)
                .any(|(r, &n)| r.start > r.end || r.end > n)
        {
            return Err(Error::RegionOutOfBounds {
                region: format!("{region:?}"),
                shape: shape.to_vec(),
            });
        }
        let region_len: Vec<u64> = region.iter().map(|r| r.end - r.start).collect();
        let elem = read.meta.dtype().host_size();
        let expected = region_len
            .iter()
            .try_fold(elem as u64, |acc, &n| acc.checked_mul(n));
        if expected != Some(read.out.len() as u64) {
            return Err(Error::OutputSizeMismatch {
                expected: expected.unwrap_or(u64::MAX),
                actual: read.out.len() as u64,
            });
        }
        regions.push((region, region_len));
    }
    let plans: Vec<Plan<'_>> = reads
        .iter()
        .zip(&regions)
        .map(|(read, (region, region_len))| Plan::new(read.param, read.meta, region, region_len))
        .collect();
    let shared = Shared {
        store,
        opts,
        budget: Budget {
            limit: opts.max_bytes_in_flight.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        },
        stop: AtomicBool::new(false),
        first_error: Mutex::new(None),
    };
    let mut arrays = Vec::with_capacity(reads.len());
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for (a, (read, plan)) in reads.into_iter().zip(&plans).enumerate() {
        if read.out.is_empty() {
            arrays.push(Ctx {
                shared: &shared,
                meta: read.meta,
                plan,
                bands: Vec::new(),
            });
            continue;
        }
        let bands = if plan.all_direct {
            for (t, slices) in split_direct(plan, read.out).into_iter().enumerate() {
                jobs.push((a, t, Target::Direct(slices)));
            }
            Vec::new()
        } else {
            jobs.extend((0..plan.tasks.len()).map(|t| (a, t, Target::Shared)));
            split_bands(read.meta, plan, read.out)
        };
        arrays.push(Ctx {
            shared: &shared,
            meta: read.meta,
            plan,
            bands,
        });
    }
    if let Some(progress) = &opts.progress {
        progress.add_total(
            jobs.iter()
                .map(|(a, t, _)| plans[*a].tasks[*t].weight as u64)
                .sum(),
        );
    }
    let workers = match opts.concurrency {
        0 => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .max(store.parallel_reads()),
        n => n,
    }
    .min(jobs.len());
    let queue = Mutex::new(jobs.into_iter());
    if workers <= 1 {
        worker(&shared, &arrays, &queue);
    } else {
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| worker(&shared, &arrays, &queue));
            }
        });
    }
    drop(arrays);
    match shared
        .first_error
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
    {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// One independently decoded piece of an array: a chunk, or an inner chunk of a shard.
struct Unit {
    /// Linear index of the inner chunk within its shard (C order); 0 when not sharded.
    inner_index: usize,
    /// Index of the inner chunk in the shard's inner grid (for messages).
    inner_position: Vec<u64>,
    /// Array coordinates of the unit's origin.
    origin: Vec<u64>,
    /// Array coordinates and extent of the part of the unit inside the region.
    start: Vec<u64>,
    len: Vec<u64>,
    /// Byte offset in `out` when the unit decodes straight into one contiguous slice.
    direct: Option<usize>,
}

/// One stored value to read: a chunk or a shard, and the units needed from it.
struct Task {
    key: String,
    /// Row band of the output this task scatters into: its chunk index along the first
    /// axis, relative to the first chunk row the region touches (0 for 0-d arrays).
    band: usize,
    units: Vec<Unit>,
    /// Decoded bytes this task holds at most (for the in-flight budget).
    weight: usize,
}

struct Plan<'a> {
    region: &'a [Range<u64>],
    region_len: &'a [u64],
    unit_shape: Vec<u64>,
    unit_bytes: usize,
    /// Inner chunks per shard (1 when not sharded).
    inner_count: usize,
    tasks: Vec<Task>,
    all_direct: bool,
}

impl<'a> Plan<'a> {
    fn new(
        param: &str,
        meta: &ArrayMetadata,
        region: &'a [Range<u64>],
        region_len: &'a [u64],
    ) -> Plan<'a> {
        let elem = meta.dtype().host_size();
        let shape = meta.shape();
        let outer = meta.chunk_shape();
        let unit_shape = meta.inner_chunk_shape().to_vec();
        let unit_bytes = unit_shape.iter().product::<u64>() as usize * elem;
        let inner_grid: Vec<u64> = outer.iter().zip(&unit_shape).map(|(o, i)| o / i).collect();
        let inner_count = inner_grid.iter().product::<u64>() as usize;
        let out_strides = strides(region_len);
        let lo: Vec<u64> = region.iter().zip(outer).map(|(r, c)| r.start / c).collect();
        let hi: Vec<u64> = region
            .iter()
            .zip(outer)
            .map(|(r, c)| r.end.div_ceil(*c))
            .collect();
        let mut tasks = Vec::new();
        let mut all_direct = true;
        for_each_index(&lo, &hi, |c| {
            let shard_origin: Vec<u64> = c.iter().zip(outer).map(|(i, s)| i * s).collect();
            // Inner chunks of this shard that the region touches.
            let ilo: Vec<u64> = (0..c.len())
                .map(|d| (region[d].start.max(shard_origin[d]) - shard_origin[d]) / unit_shape[d])
                .collect();
            let ihi: Vec<u64> = (0..c.len())
                .map(|d| {
                    let end = region[d].end.min(shard_origin[d] + outer[d]);
                    (end - shard_origin[d]).div_ceil(unit_shape[d])
                })
                .collect();
            let mut units = Vec::new();
            for_each_index(&ilo, &ihi, |j| {
                let origin: Vec<u64> = (0..j.len())
                    .map(|d| shard_origin[d] + j[d] * unit_shape[d])
                    .collect();
                let Some((start, len)) = intersect(&origin, &unit_shape, region) else {
                    return;
                };
                let inner_index =
                    j.iter()
                        .zip(&inner_grid)
                        .fold(0u64, |acc, (&i, &g)| acc * g + i) as usize;
                // Direct: the whole unit (no edge padding) lands in one contiguous range.
                let whole = len == unit_shape
                    && origin
                        .iter()
                        .zip(&unit_shape)
                        .zip(shape)
                        .all(|((o, u), n)| o + u <= *n);
                let direct = (whole && is_contiguous(&len, region_len)).then(|| {
                    (0..len.len())
                        .map(|d| (start[d] - region[d].start) * out_strides[d])
                        .sum::<u64>() as usize
                        * elem
                });
                all_direct &= direct.is_some();
                units.push(Unit {
                    inner_index,
                    inner_position: j.to_vec(),
                    origin,
                    start,
                    len,
                    direct,
                });
            });
            if units.is_empty() {
                return;
            }
            let weight = units.len() * unit_bytes;
            tasks.push(Task {
                key: chunk_key(param, meta, c),
                band: c.first().map_or(0, |&c0| (c0 - lo[0]) as usize),
                units,
                weight,
            });
        });
        Plan {
            region,
            region_len,
            unit_shape,
            unit_bytes,
            inner_count,
            tasks,
            all_direct,
        }
    }
}

/// Where a task's decoded units go.
enum Target<'o> {
    /// One disjoint output slice per unit (in unit order).
    Direct(Vec<&'o mut [u8]>),
    /// The task's row band of the output, locked per scatter.
    Shared,
}

/// The rows of the output that one chunk row of the grid covers, in pieces of a few rows,
/// each behind its own lock: the chunks of one chunk row scatter into the same rows, and with
/// one lock per band their copies (and the page faults of fresh output memory) would take
/// turns.
struct Band<'o> {
    /// First region row (relative to the region start) in the band.
    first_row: u64,
    /// Shape of the band: `[rows, region_len[1..]...]` (empty for 0-d arrays).
    shape: Vec<u64>,
    pieces: Vec<Piece<'o>>,
}

/// Consecutive rows of a band.
struct Piece<'o> {
    /// First row, relative to the band.
    first_row: u64,
    rows: u64,
    out: Mutex<&'o mut [u8]>,
}

/// Output bytes per band piece.
const PIECE_BYTES: usize = 256 << 10;

impl Band<'_> {
    /// Calls `f` with each piece the band-relative box `(start, len)` meets, locked, and the
    /// part of the box inside it: `(piece out, piece shape, start in the piece, len, offset of
    /// the part along the first axis from the box start)`. `rotate` picks the piece to begin
    /// with, so that concurrent scatters into one band start in different places.
    fn for_each_piece(
        &self,
        start: &[u64],
        len: &[u64],
        rotate: usize,
        mut f: impl FnMut(&mut [u8], &[u64], &[u64], &[u64], u64),
    ) {
        if start.is_empty() {
            let mut out = self.pieces[0].out.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut out, &[], &[], &[], 0);
            return;
        }
        let (lo, hi) = (start[0], start[0] + len[0]);
        let met: Vec<&Piece<'_>> = self
            .pieces
            .iter()
            .filter(|p| p.first_row < hi && p.first_row + p.rows > lo)
            .collect();
        let n = met.len();
        for piece in (0..n).map(|i| met[(i + rotate) % n.max(1)]) {
            let a = lo.max(piece.first_row);
            let b = hi.min(piece.first_row + piece.rows);
            let mut shape = self.shape.clone();
            shape[0] = piece.rows;
            let mut at = start.to_vec();
            at[0] = a - piece.first_row;
            let mut part = len.to_vec();
            part[0] = b - a;
            let mut out = piece.out.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut out, &shape, &at, &part, a - lo);
        }
    }
}

/// Where one unit goes: its own slice (direct mode) or its task's band.
enum Dest<'s, 'b, 'o> {
    Slice(&'s mut [u8]),
    Band(&'b Band<'o>),
}

/// Counting semaphore over bytes.
struct Budget {
    limit: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

impl Budget {
    fn acquire(&self, n: usize) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        // An oversized request proceeds once nothing else is in flight.
        while *used > 0 && *used + n > self.limit {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += n;
    }

    fn release(&self, n: usize) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= n;
        self.freed.notify_all();
    }
}

/// What every chunk of a [`read_regions`] call shares.
struct Shared<'a> {
    store: &'a dyn ReadableStore,
    opts: &'a ReadOptions,
    budget: Budget,
    stop: AtomicBool,
    /// The first failure, keyed by (array, task) position.
    first_error: Mutex<Option<((usize, usize), Error)>>,
}

/// One array of a [`read_regions`] call.
struct Ctx<'a, 'o> {
    shared: &'a Shared<'a>,
    meta: &'a ArrayMetadata,
    plan: &'a Plan<'a>,
    /// Output bands (empty in direct mode).
    bands: Vec<Band<'o>>,
}

/// (array, task, destination) of one chunk to read.
type Job<'o> = (usize, usize, Target<'o>);

/// Splits `out` into one slice per unit (all units direct), grouped by task in unit order.
fn split_direct<'o>(plan: &Plan<'_>, out: &'o mut [u8]) -> Vec<Vec<&'o mut [u8]>> {
    let mut order: Vec<(usize, usize, usize)> = Vec::new(); // (offset, task, unit)
    for (t, task) in plan.tasks.iter().enumerate() {
        for (u, unit) in task.units.iter().enumerate() {
            order.push((unit.direct.expect("all units are direct"), t, u));
        }
    }
    order.sort_unstable();
    let mut slots: Vec<Vec<Option<&'o mut [u8]>>> = plan
        .tasks
        .iter()
        .map(|t| t.units.iter().map(|_| None).collect())
        .collect();
    let mut rest: &'o mut [u8] = out;
    let mut consumed = 0usize;
    for (offset, t, u) in order {
        // The units tile the region, so `offset == consumed`; tolerate gaps regardless.
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(offset - consumed);
        let (mine, tail) = tail.split_at_mut(plan.unit_bytes);
        slots[t][u] = Some(mine);
        rest = tail;
        consumed = offset + plan.unit_bytes;
    }
    slots
        .into_iter()
        .map(|task| {
            task.into_iter()
                .map(|s| s.expect("every unit has a slice"))
                .collect()
        })
        .collect()
}

/// Splits `out` into one contiguous band per chunk row the region touches, each in pieces of
/// about [`PIECE_BYTES`].
fn split_bands<'o>(meta: &ArrayMetadata, plan: &Plan<'_>, out: &'o mut [u8]) -> Vec<Band<'o>> {
    let Some(rows) = plan.region.first() else {
        return vec![Band {
            first_row: 0,
            shape: Vec::new(),
            pieces: vec![Piece {
                first_row: 0,
                rows: 1,
                out: Mutex::new(out),
            }],
        }];
    };
    let cs = meta.chunk_shape()[0];
    let row_bytes =
        plan.region_len[1..].iter().product::<u64>() as usize * meta.dtype().host_size();
    let piece_rows = (PIECE_BYTES / row_bytes.max(1)).max(1) as u64;
    let mut bands = Vec::new();
    let mut rest: &'o mut [u8] = out;
    let mut row = rows.start;
    while row < rows.end {
        let end = ((row / cs + 1) * cs).min(rows.end);
        let mut shape = plan.region_len.to_vec();
        shape[0] = end - row;
        let mut pieces = Vec::new();
        let mut first = 0;
        while first < end - row {
            let n = piece_rows.min(end - row - first);
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(n as usize * row_bytes);
            pieces.push(Piece {
                first_row: first,
                rows: n,
                out: Mutex::new(mine),
            });
            rest = tail;
            first += n;
        }
        bands.push(Band {
            first_row: row - rows.start,
            shape,
            pieces,
        });
        row = end;
    }
    bands
}

fn worker<'o>(
    shared: &Shared<'_>,
    arrays: &[Ctx<'_, 'o>],
    queue: &Mutex<std::vec::IntoIter<Job<'o>>>,
) {
    let mut decoder = Decoder::new();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let Some((a, t, target)) = queue.lock().unwrap_or_else(|e| e.into_inner()).next() else {
            return;
        };
        let result = if shared
            .opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            Err(Error::Cancelled)
        } else {
            let ctx = &arrays[a];
            let task = &ctx.plan.tasks[t];
            shared.budget.acquire(task.weight);
            let r = run_task(ctx, task, target, &mut decoder);
            shared.budget.release(task.weight);
            if let (Ok(()), Some(progress)) = (&r, &shared.opts.progress) {
                progress.add_done(task.weight as u64);
            }
            r
        };
        if let Err(e) = result {
            // Keep the error of the earliest chunk among those that failed, so results
            // depend as little as possible on scheduling.
            let mut first = shared.first_error.lock().unwrap_or_else(|e| e.into_inner());
            if first.as_ref().is_none_or(|(ft, _)| (a, t) < *ft) {
                *first = Some(((a, t), e));
            }
            shared.stop.store(true, Ordering::Relaxed);
            return;
        }
    }
}

/// Reused buffers per thread — one for stored bytes, one for a decoded chunk that is only
/// partly inside the region — so that chunks are read and decoded into memory that is
/// already mapped, instead of fresh allocations that each page-fault (and get zeroed) again.
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> R) -> R {
    /// A buffer grown past this (a huge chunk) is released after use.
    const KEEP_BYTES: usize = 64 << 20;
    type Buffers = (Vec<u8>, Vec<u8>);
    thread_local! {
        static SCRATCH: std::cell::RefCell<Buffers> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
    }
    SCRATCH.with(|cell| {
        // A nested use (not expected) gets its own buffers rather than a panic.
        let Ok(mut buffers) = cell.try_borrow_mut() else {
            return f(&mut Vec::new(), &mut Vec::new());
        };
        let (stored, decoded) = &mut *buffers;
        let result = f(stored, decoded);
        for buffer in [stored, decoded] {
            if buffer.capacity() > KEEP_BYTES {
                *buffer = Vec::new();
            }
        }
        result
    })
}

/// For a large unit only partly inside the region, the length of the decoded prefix that
/// holds every element the region needs — when decoding just that prefix is possible (no
/// checksum over the whole chunk) and saves at least a quarter of the work. (A slice of rows
/// out of a big chunk needs only the chunk's first rows.)
fn needed_prefix(ctx: &Ctx<'_, '_>, unit: &Unit) -> Option<usize> {
    /// Below this, reading the whole chunk costs less than a second read would.
    const MIN_UNIT_BYTES: usize = 1 << 20;
    let plan = ctx.plan;
    if plan.unit_bytes < MIN_UNIT_BYTES || !Decoder::can_decode_prefix(ctx.meta.codecs()) {
        return None;
    }
    let unit_strides = strides(&plan.unit_shape);
    let last: u64 = (0..unit.len.len())
        .map(|d| (unit.start[d] - unit.origin[d] + unit.len[d] - 1) * unit_strides[d])
        .sum();
    let end = (last as usize + 1) * ctx.meta.dtype().host_size();
    (end * 4 <= plan.unit_bytes * 3).then_some(end)
}

/// Reads and decodes only the first `end` bytes of an unsharded chunk (see [`needed_prefix`])
/// and scatters the unit's in-region part into its band. The stored bytes are fetched as a
/// prefix sized for weights that hardly compress; if that is not enough, the whole value.
#[allow(clippy::too_many_arguments)]
fn place_prefix(
    ctx: &Ctx<'_, '_>,
    unit: &Unit,
    key: &[u8],
    band: &Band<'_>,
    end: usize,
    stored: &mut Vec<u8>,
    decoded: &mut Vec<u8>,
    decoder: &mut Decoder,
    describe: &dyn Fn() -> String,
) -> Result<()> {
    let store = ctx.shared.store;
    if decoded.len() < end {
        decoded.resize(end, 0);
    }
    let codecs = ctx.meta.codecs();
    // Weights hardly compress: the stored prefix is about as long as the decoded one.
    let mut fetch = Some(0..end as u64 + end as u64 / 8 + (64 << 10));
    loop {
        let n = match store.read_into(key, fetch.clone(), stored) {
            Ok(Some(n)) => n,
            Ok(None) => {
                return place_unit(
                    ctx,
                    unit,
                    None,
                    Dest::Band(band),
                    decoder,
                    describe,
                    decoded,
                )
            }
            // The value is shorter than the guess: read all of it.
            Err(orbax_kvstore::Error::RangeOutOfBounds { .. }) if fetch.is_some() => {
                fetch = None;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if decoder.decode_prefix(codecs, &stored[..n], &mut decoded[..end], describe)? {
            break;
        }
        if fetch.is_none() {
            return Err(Error::CorruptChunk {
                key: describe(),
                reason: format!(
                    "decompresses to fewer than the expected {} bytes",
                    ctx.plan.unit_bytes
                ),
            });
        }
        fetch = None;
    }
    disk_to_host_in_place(ctx.meta.dtype(), codecs.endian, &mut decoded[..end]);
    scatter(ctx, unit, band, decoded);
    Ok(())
}

fn run_task<'o>(
    ctx: &Ctx<'_, 'o>,
    task: &Task,
    target: Target<'o>,
    decoder: &mut Decoder,
) -> Result<()> {
    let key = task.key.as_bytes();
    let describe = || ctx.shared.store.describe(key);
    let band = ctx.bands.get(task.band);
    let mut slices = match target {
        Target::Direct(slices) => Some(slices.into_iter()),
        Target::Shared => None,
    };
    // The destination of the next unit, in unit order.
    let mut next_dest = || match slices.as_mut() {
        Some(it) => Dest::Slice(it.next().expect("one slice per unit")),
        None => Dest::Band(band.expect("shared tasks have a band")),
    };
    let Some(sharding) = ctx.meta.sharding() else {
        let unit = &task.units[0];
        let dest = next_dest();
        return with_scratch(|stored, decoded| {
            if let (Dest::Band(band), Some(end)) = (&dest, needed_prefix(ctx, unit)) {
                return place_prefix(
                    ctx, unit, key, band, end, stored, decoded, decoder, &describe,
                );
            }
            let found = ctx.shared.store.read_into(key, None, stored)?;
            place_unit(
                ctx,
                unit,
                found.map(|n| &stored[..n]),
                dest,
                decoder,
                &describe,
                decoded,
            )
        });
    };
    with_scratch(|_, decoded| {
        let n = ctx.plan.inner_count;
        let index_len = codec::index_size(sharding, n);
        // `ReadableStore` has no size query, so an index at the end (TensorStore's layout) is
        // found by reading the whole shard; Orbax shards hold one inner chunk, so nothing extra
        // is read. An index at the start is read by itself and inner chunks by byte range.
        let partial = sharding.index_location == IndexLocation::Start && n > 1;
        let whole = if partial {
            None
        } else {
            match ctx.shared.store.read(key, None)? {
                Some(b) => Some(b),
                None => {
                    return place_missing_shard(
                        ctx,
                        task,
                        &mut next_dest,
                        decoder,
                        &describe,
                        decoded,
                    )
                }
            }
        };
        let too_short = |size: u64| Error::CorruptChunk {
            key: describe(),
            reason: format!("shard has {size} bytes, fewer than its {index_len}-byte index"),
        };
        let index_bytes = match &whole {
            Some(b) => {
                if b.len() < index_len {
                    return Err(too_short(b.len() as u64));
                }
                match sharding.index_location {
                    IndexLocation::Start => b.slice(..index_len),
                    IndexLocation::End => b.slice(b.len() - index_len..),
                }
            }
            None => match ctx.shared.store.read(key, Some(0..index_len as u64)) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    return place_missing_shard(
                        ctx,
                        task,
                        &mut next_dest,
                        decoder,
                        &describe,
                        decoded,
                    )
                }
                Err(orbax_kvstore::Error::RangeOutOfBounds { size, .. }) => {
                    return Err(too_short(size))
                }
                Err(e) => return Err(e.into()),
            },
        };
        let entries = codec::decode_index(sharding, &index_bytes, n, &describe)?;
        for unit in &task.units {
            let inner_key = || format!("{} (inner chunk {:?})", describe(), unit.inner_position);
            let entry = entries[unit.inner_index];
            if entry == EMPTY_ENTRY {
                place_unit(ctx, unit, None, next_dest(), decoder, &inner_key, decoded)?;
                continue;
            }
            let bytes = match &whole {
                Some(shard) => shard.slice_ref(codec::slice_entry(shard, entry, &describe())?),
                None => read_entry(ctx, key, entry, &describe, &inner_key)?,
            };
            place_unit(
                ctx,
                unit,
                Some(&bytes),
                next_dest(),
                decoder,
                &inner_key,
                decoded,
            )?;
        }
        Ok(())
    })
}

/// Reads one inner chunk of a shard by byte range.
fn read_entry(
    ctx: &Ctx<'_, '_>,
    key: &[u8],
    (offset, nbytes): (u64, u64),
    describe: &dyn Fn() -> String,
    inner_key: &dyn Fn() -> String,
) -> Result<bytes::Bytes> {
    let past_end = |size: String| Error::CorruptChunk {
        key: inner_key(),
        reason: format!(
            "shard index entry {offset}+{nbytes} runs past the end of the shard ({size} bytes)"
        ),
    };
    let end = offset
        .checked_add(nbytes)
        .ok_or_else(|| past_end("?".into()))?;
    match ctx.shared.store.read(key, Some(offset..end)) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(Error::CorruptChunk {
            key: describe(),
            reason: "the shard disappeared while it was read".into(),
        }),
        Err(orbax_kvstore::Error::RangeOutOfBounds { size, .. }) => Err(past_end(size.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Applies the missing-chunk policy to every unit of an absent shard.
fn place_missing_shard<'s, 'b, 'o>(
    ctx: &Ctx<'_, '_>,
    task: &Task,
    next_dest: &mut dyn FnMut() -> Dest<'s, 'b, 'o>,
    decoder: &mut Decoder,
    describe: &dyn Fn() -> String,
    decoded: &mut Vec<u8>,
) -> Result<()> {
    for unit in &task.units {
        place_unit(ctx, unit, None, next_dest(), decoder, describe, decoded)?;
    }
    Ok(())
}

/// Where a unit's in-region part starts within its band.
fn band_start(ctx: &Ctx<'_, '_>, unit: &Unit, band: &Band<'_>) -> Vec<u64> {
    unit.start
        .iter()
        .zip(ctx.plan.region)
        .enumerate()
        .map(|(d, (s, r))| s - r.start - if d == 0 { band.first_row } else { 0 })
        .collect()
}

/// Which band piece a unit's scatter begins with: its chunk position along the last axis,
/// so that the chunks of one chunk row start in different pieces.
fn rotation(ctx: &Ctx<'_, '_>, unit: &Unit) -> usize {
    match (unit.origin.last(), ctx.plan.unit_shape.last()) {
        (Some(&o), Some(&u)) if u > 0 => (o / u) as usize,
        _ => 0,
    }
}

/// Copies the in-region part of a decoded unit (`src`, laid out in the unit's shape; only
/// the bytes up to its last in-region element are read) into its band.
fn scatter(ctx: &Ctx<'_, '_>, unit: &Unit, band: &Band<'_>, src: &[u8]) {
    let plan = ctx.plan;
    let src_start: Vec<u64> = unit
        .start
        .iter()
        .zip(&unit.origin)
        .map(|(s, o)| s - o)
        .collect();
    let dst_start = band_start(ctx, unit, band);
    let elem = ctx.meta.dtype().host_size();
    band.for_each_piece(
        &dst_start,
        &unit.len,
        rotation(ctx, unit),
        |out, shape, at, part, skipped| {
            let mut from = src_start.clone();
            if let Some(first) = from.first_mut() {
                *first += skipped;
            }
            copy_box(
                src,
                BoxIn {
                    shape: &plan.unit_shape,
                    start: &from,
                },
                out,
                BoxIn { shape, start: at },
                part,
                elem,
            );
        },
    );
}

/// Decodes one unit (`stored` = `None` when absent) into its place in the output.
fn place_unit(
    ctx: &Ctx<'_, '_>,
    unit: &Unit,
    stored: Option<&[u8]>,
    dest: Dest<'_, '_, '_>,
    decoder: &mut Decoder,
    key: &dyn Fn() -> String,
    decoded: &mut Vec<u8>,
) -> Result<()> {
    let meta = ctx.meta;
    let plan = ctx.plan;
    let codecs = meta.codecs();
    let Some(stored) = stored else {
        if ctx.shared.opts.missing_chunk == MissingChunkPolicy::Error {
            return Err(Error::MissingChunk { key: key() });
        }
        let fill = meta.fill_value().host_bytes();
        match dest {
            Dest::Slice(slice) => fill_pattern(slice, fill),
            Dest::Band(band) => {
                let start = band_start(ctx, unit, band);
                band.for_each_piece(&start, &unit.len, 0, |out, shape, at, part, _| {
                    fill_box(out, BoxIn { shape, start: at }, part, fill);
                });
            }
        }
        return Ok(());
    };
    match dest {
        Dest::Slice(slice) => {
            decoder.decode_into(codecs, stored, slice, key)?;
            disk_to_host_in_place(meta.dtype(), codecs.endian, slice);
        }
        Dest::Band(band) => {
            if decoded.len() < plan.unit_bytes {
                decoded.resize(plan.unit_bytes, 0);
            }
            let buf = &mut decoded[..plan.unit_bytes];
            decoder.decode_into(codecs, stored, buf, key)?;
            disk_to_host_in_place(meta.dtype(), codecs.endian, buf);
            scatter(ctx, unit, band, buf);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{encode_chunk, extract_chunk};
    use crate::dtype::DType;
    use orbax_kvstore::MemoryStore;

    /// Writes `array` (host form) as `param` with `meta` into a memory store.
    fn store_array(meta: &ArrayMetadata, param: &str, array: &[u8]) -> MemoryStore {
        let mut store = MemoryStore::new("mem");
        store.insert(
            metadata_key(param, meta.format()).into_bytes(),
            meta.raw().as_bytes().to_vec(),
        );
        let grid = meta.chunk_grid_shape();
        let zeros = vec![0; grid.len()];
        for_each_index(&zeros, &grid, |c| {
            let chunk = extract_chunk(meta, array, c).unwrap();
            store.insert(
                chunk_key(param, meta, c).into_bytes(),
                encode_chunk(meta, &chunk).unwrap(),
            );
        });
        store
    }

    /// Reference slice of a C-order array.
    fn slice(array: &[u8], shape: &[u64], region: &[Range<u64>], elem: usize) -> Vec<u8> {
        let len: Vec<u64> = region.iter().map(|r| r.end - r.start).collect();
        let mut out = vec![0u8; len.iter().product::<u64>() as usize * elem];
        let start: Vec<u64> = region.iter().map(|r| r.start).collect();
        let origin = vec![0; len.len()];
        copy_box(
            array,
            BoxIn {
                shape,
                start: &start,
            },
            &mut out,
            BoxIn {
                shape: &len,
                start: &origin,
            },
            &len,
            elem,
        );
        out
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n as u32)
            .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
            .collect()
    }

    fn layouts(shape: &[u64], chunks: &[u64]) -> Vec<ArrayMetadata> {
        vec![
            ArrayMetadata::new_v2(DType::Float32, shape, chunks, Some(1)).unwrap(),
            ArrayMetadata::new_v2(DType::Float32, shape, chunks, None).unwrap(),
            ArrayMetadata::new_v3(DType::Float32, shape, chunks, Some(3)).unwrap(),
        ]
    }

    #[test]
    fn whole_and_partial_reads_with_edge_chunks() {
        let shape = [7u64, 5, 3];
        let array = sample(7 * 5 * 3);
        for chunks in [[2u64, 2, 3], [7, 5, 3], [3, 5, 3], [1, 1, 1], [4, 4, 4]] {
            for meta in layouts(&shape, &chunks) {
                let store = store_array(&meta, "p.q", &array);
                for concurrency in [1, 3] {
                    let opts = ReadOptions {
                        concurrency,
                        ..Default::default()
                    };
                    assert_eq!(read_array(&store, "p.q", &meta, &opts).unwrap(), array);
                    for region in [
                        vec![0..7, 0..5, 0..3],
                        vec![1..6, 2..5, 1..2],
                        vec![6..7, 4..5, 2..3],
                        vec![2..4, 0..5, 0..3],
                        vec![3..3, 0..5, 0..3],
                    ] {
                        let want = slice(&array, &shape, &region, 4);
                        let mut got = vec![0u8; want.len()];
                        read_region(&store, "p.q", &meta, Some(&region), &mut got, &opts).unwrap();
                        assert_eq!(got, want, "{chunks:?} {region:?} {}", meta.raw());
                    }
                }
            }
        }
    }

    #[test]
    fn big_endian_plain_v3_and_slash_separated_v2() {
        let v3 = r#"{"chunk_grid":{"configuration":{"chunk_shape":[2,3]},"name":"regular"},"chunk_key_encoding":{"name":"v2"},"codecs":[{"configuration":{"endian":"big"},"name":"bytes"},{"configuration":{"checksum":true,"level":5},"name":"zstd"},{"name":"crc32c"}],"data_type":"int16","fill_value":-1,"node_type":"array","shape":[5,4],"zarr_format":3}"#;
        let v2 = r#"{"chunks":[2,3],"compressor":null,"dimension_separator":"/","dtype":">i2","fill_value":null,"filters":null,"order":"C","shape":[5,4],"zarr_format":2}"#;
        let array: Vec<u8> = (0..20i16)
            .flat_map(|v| (v * 300 - 7).to_le_bytes())
            .collect();
        for (text, format, key) in [(v3, ZarrFormat::V3, "x/1.0"), (v2, ZarrFormat::V2, "x/1/0")] {
            let meta = ArrayMetadata::parse(text, format, "t").unwrap();
            let store = store_array(&meta, "x", &array);
            assert!(store.read(key.as_bytes(), None).unwrap().is_some(), "{key}");
            let opts = ReadOptions::default();
            assert_eq!(read_array(&store, "x", &meta, &opts).unwrap(), array);
            let region = [1..5, 2..4];
            let want = slice(&array, &[5, 4], &region, 2);
            let mut got = vec![0u8; want.len()];
            read_region(&store, "x", &meta, Some(&region), &mut got, &opts).unwrap();
            assert_eq!(got, want);
        }
        // The uncompressed v2 chunk really is big endian on disk.
        let meta = ArrayMetadata::parse(v2, ZarrFormat::V2, "t").unwrap();
        let store = store_array(&meta, "x", &array);
        let chunk = store.read(b"x/0/0", None).unwrap().unwrap();
        assert_eq!(&chunk[..2], &(-7i16).to_be_bytes());
    }

    #[test]
    fn sub_byte_and_bool_host_forms() {
        let meta = ArrayMetadata::new_v2(DType::Int4, &[4], &[3], Some(1)).unwrap();
        let array = [0xf8u8, 0x07, 0xff, 0x00];
        let store = store_array(&meta, "i4", &array);
        assert!(!store.read(b"i4/1", None).unwrap().unwrap().is_empty());
        assert_eq!(
            read_array(&store, "i4", &meta, &ReadOptions::default()).unwrap(),
            array
        );
        // A raw bool chunk holding 2 reads as true (1).
        let meta = ArrayMetadata::new_v2(DType::Bool, &[3], &[3], None).unwrap();
        let mut store = store_array(&meta, "b", &[1, 0, 1]);
        store.insert(&b"b/0"[..], &[2u8, 0, 1][..]);
        assert_eq!(
            read_array(&store, "b", &meta, &ReadOptions::default()).unwrap(),
            [1, 0, 1]
        );
    }

    #[test]
    fn zero_d_arrays() {
        for meta in [
            ArrayMetadata::new_v2(DType::Int64, &[], &[], Some(1)).unwrap(),
            ArrayMetadata::new_v3(DType::Int64, &[], &[], Some(3)).unwrap(),
        ] {
            let store = store_array(&meta, "step", &7i64.to_le_bytes());
            let got = read_array(&store, "step", &meta, &ReadOptions::default()).unwrap();
            assert_eq!(got, 7i64.to_le_bytes());
        }
    }

    #[test]
    fn direct_mode_splits_rows_and_multi_inner_shards() {
        // Chunks along the first axis only: every unit is a contiguous slab of `out`.
        let shape = [12u64, 4];
        let array = sample(48);
        let meta = ArrayMetadata::new_v2(DType::Float32, &shape, &[3, 4], Some(1)).unwrap();
        let store = store_array(&meta, "a", &array);
        let region = [0..12, 0..4];
        let plan = Plan::new("a", &meta, &region, &[12, 4]);
        assert!(plan.all_direct);
        assert_eq!(plan.tasks.len(), 4);
        let opts = ReadOptions {
            concurrency: 4,
            ..Default::default()
        };
        assert_eq!(read_array(&store, "a", &meta, &opts).unwrap(), array);
        // A column slice is not direct.
        let region = [0..12, 1..3];
        assert!(!Plan::new("a", &meta, &region, &[12, 2]).all_direct);
        // Sharded with four inner chunks per shard, index at the start: partial reads.
        let text = r#"{"chunk_grid":{"configuration":{"chunk_shape":[4,4]},"name":"regular"},"chunk_key_encoding":{"name":"default"},"codecs":[{"configuration":{"chunk_shape":[2,2],"codecs":[{"configuration":{"endian":"little"},"name":"bytes"},{"configuration":{"checksum":false,"level":3},"name":"zstd"}],"index_codecs":[{"configuration":{"endian":"little"},"name":"bytes"},{"name":"crc32c"}],"index_location":"start"},"name":"sharding_indexed"}],"data_type":"float32","fill_value":0.0,"node_type":"array","shape":[6,4],"zarr_format":3}"#;
        let meta = ArrayMetadata::parse(text, ZarrFormat::V3, "t").unwrap();
        let array = sample(24);
        let store = store_array(&meta, "s", &array);
        assert_eq!(read_array(&store, "s", &meta, &opts).unwrap(), array);
        for region in [[1..5, 1..3], [4..6, 0..4], [0..2, 2..4]] {
            let want = slice(&array, &[6, 4], &region, 4);
            let mut got = vec![0u8; want.len()];
            read_region(&store, "s", &meta, Some(&region), &mut got, &opts).unwrap();
            assert_eq!(got, want, "{region:?}");
        }
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one-dimensional regions
    fn argument_errors() {
        let meta = ArrayMetadata::new_v2(DType::Float32, &[4], &[2], None).unwrap();
        let store = store_array(&meta, "a", &sample(4));
        let opts = ReadOptions::default();
        let mut out = vec![0u8; 8];
        let e = read_region(&store, "a", &meta, Some(&[3..5]), &mut out, &opts).unwrap_err();
        assert!(matches!(e, Error::RegionOutOfBounds { .. }), "{e}");
        let e = read_region(&store, "a", &meta, Some(&[0..1, 0..1]), &mut out, &opts).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_ARGUMENT");
        #[allow(clippy::reversed_empty_ranges)]
        let e = read_region(&store, "a", &meta, Some(&[3..1]), &mut out, &opts).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_ARGUMENT");
        let e = read_region(&store, "a", &meta, Some(&[0..3]), &mut out, &opts).unwrap_err();
        assert!(matches!(
            e,
            Error::OutputSizeMismatch {
                expected: 12,
                actual: 8
            }
        ));
    }

    #[test]
    fn missing_chunks_follow_the_policy() {
        let meta = ArrayMetadata::new_v3(DType::Float32, &[4], &[2], Some(3)).unwrap();
        let mut store = store_array(&meta, "a", &sample(4));
        store.remove(b"a/c/1");
        let e = read_array(&store, "a", &meta, &ReadOptions::default()).unwrap_err();
        assert!(
            matches!(&e, Error::MissingChunk { key } if key == "mem/a/c/1"),
            "{e}"
        );
        let opts = ReadOptions {
            missing_chunk: MissingChunkPolicy::FillValue,
            ..Default::default()
        };
        let got = read_array(&store, "a", &meta, &opts).unwrap();
        assert_eq!(&got[..8], &sample(4)[..8]);
        assert_eq!(&got[8..], &[0; 8]);
        assert_eq!(
            MissingChunkPolicy::from_store_array_data_equal_to_fill_value(false),
            MissingChunkPolicy::FillValue
        );
    }

    #[test]
    fn cancellation_stops_the_read() {
        let meta = ArrayMetadata::new_v2(DType::Float32, &[8], &[2], None).unwrap();
        let store = store_array(&meta, "a", &sample(8));
        let flag = Arc::new(AtomicBool::new(true));
        let opts = ReadOptions {
            cancel: Some(flag.clone()),
            ..Default::default()
        };
        let e = read_array(&store, "a", &meta, &opts).unwrap_err();
        assert_eq!(e.code(), "ERR_CANCELLED");
        flag.store(false, Ordering::Relaxed);
        assert_eq!(read_array(&store, "a", &meta, &opts).unwrap(), sample(8));
    }

    #[test]
    fn tiny_budget_still_completes() {
        let meta = ArrayMetadata::new_v2(DType::Float32, &[64, 3], &[4, 2], Some(1)).unwrap();
        let array = sample(64 * 3);
        let store = store_array(&meta, "a", &array);
        let opts = ReadOptions {
            max_bytes_in_flight: 1,
            concurrency: 4,
            ..Default::default()
        };
        assert_eq!(read_array(&store, "a", &meta, &opts).unwrap(), array);
    }

    #[test]
    fn read_metadata_reports_missing_and_invalid() {
        let meta = ArrayMetadata::new_v2(DType::Float32, &[4], &[2], None).unwrap();
        let mut store = store_array(&meta, "a", &sample(4));
        assert_eq!(read_metadata(&store, "a", ZarrFormat::V2).unwrap(), meta);
        let e = read_metadata(&store, "a", ZarrFormat::V3).unwrap_err();
        assert!(matches!(&e, Error::MissingMetadata { key } if key == "mem/a/zarr.json"));
        assert_eq!(e.code(), "ERR_ZARR_METADATA");
        store.insert(&b"b/.zarray"[..], &b"\xff\xfe"[..]);
        let e = read_metadata(&store, "b", ZarrFormat::V2).unwrap_err();
        assert!(e.to_string().contains("mem/b/.zarray"), "{e}");
    }

    #[test]
    fn slices_of_large_chunks_decode_only_the_prefix_they_need() {
        // 1 MiB chunks of noisy values (they barely compress), of zeros (they compress to
        // almost nothing: the prefix guess overshoots the stored value) and uncompressed.
        let shape = [1024u64, 512];
        let noisy: Vec<u8> = (0..1024 * 512u32)
            .flat_map(|i| (i.wrapping_mul(2_654_435_761) as f32).to_le_bytes())
            .collect();
        let zeros = vec![0u8; 1024 * 512 * 4];
        for (array, level) in [(&noisy, Some(1)), (&zeros, Some(1)), (&noisy, None)] {
            let meta = ArrayMetadata::new_v2(DType::Float32, &shape, &[512, 512], level).unwrap();
            let store = store_array(&meta, "w", array);
            for region in [
                [10..20, 0..512],   // a prefix of chunk 0
                [600..601, 7..9],   // a prefix of chunk 1
                [500..520, 0..512], // the end of chunk 0 (whole) and a prefix of chunk 1
                [0..1024, 100..101],
            ] {
                let want = slice(array, &shape, &region, 4);
                let mut got = vec![0u8; want.len()];
                read_region(
                    &store,
                    "w",
                    &meta,
                    Some(&region),
                    &mut got,
                    &Default::default(),
                )
                .unwrap();
                assert_eq!(got, want, "{region:?} {level:?}");
            }
        }
        // A truncated chunk is reported, not padded.
        let meta = ArrayMetadata::new_v2(DType::Float32, &shape, &[512, 512], Some(1)).unwrap();
        let mut store = store_array(&meta, "w", &noisy);
        let stored = store.read(b"w/0.0", None).unwrap().unwrap();
        store.insert(&b"w/0.0"[..], stored.slice(..1000));
        let mut got = vec![0u8; 10 * 512 * 4];
        let e = read_region(
            &store,
            "w",
            &meta,
            Some(&[10..20, 0..512]),
            &mut got,
            &Default::default(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "ERR_ZARR_CORRUPT_CHUNK", "{e}");
    }

    #[test]
    fn many_regions_share_one_pool_and_report_the_first_error() {
        let array = sample(6 * 4);
        let meta = ArrayMetadata::new_v2(DType::Float32, &[6, 4], &[2, 4], Some(1)).unwrap();
        let mut store = store_array(&meta, "a", &array);
        let other = store_array(&meta, "b", &array);
        for key in other.list_prefix(b"").unwrap() {
            store.insert(key.clone(), other.read(&key, None).unwrap().unwrap());
        }
        let mut whole = vec![0u8; array.len()];
        let mut part = vec![0u8; 2 * 2 * 4];
        let region = [1..3, 1..3];
        read_regions(
            &store,
            vec![
                RegionRead {
                    param: "a",
                    meta: &meta,
                    region: None,
                    out: &mut whole,
                },
                RegionRead {
                    param: "b",
                    meta: &meta,
                    region: Some(&region),
                    out: &mut part,
                },
            ],
            &ReadOptions {
                max_bytes_in_flight: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(whole, array);
        assert_eq!(part, slice(&array, &[6, 4], &region, 4));
        // Chunks missing from both arrays: the first array's error wins.
        store.remove(b"a/2.0");
        store.remove(b"b/0.0");
        let e = read_regions(
            &store,
            vec![
                RegionRead {
                    param: "a",
                    meta: &meta,
                    region: None,
                    out: &mut whole,
                },
                RegionRead {
                    param: "b",
                    meta: &meta,
                    region: None,
                    out: &mut vec![0u8; array.len()],
                },
            ],
            &ReadOptions {
                concurrency: 1,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("a/2.0"), "{e}");
        // A bad request is refused before anything is read.
        let e = read_regions(
            &store,
            vec![RegionRead {
                param: "a",
                meta: &meta,
                region: None,
                out: &mut [0u8; 3],
            }],
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::OutputSizeMismatch { .. }));
    }

    #[test]
    fn wide_rows_scatter_through_band_pieces() {
        // Rows of 70,000 bytes: bands split into pieces of 3 rows, column tiles meet them all.
        let shape = [11u64, 70_000];
        let array: Vec<u8> = (0..11 * 70_000u32).map(|i| (i % 251) as u8).collect();
        let meta = ArrayMetadata::new_v2(DType::UInt8, &shape, &[5, 7_000], Some(1)).unwrap();
        let mut store = store_array(&meta, "w", &array);
        for region in [
            [0..11, 0..70_000],
            [2..9, 6_999..7_001],
            [4..11, 100..69_000],
        ] {
            let want = slice(&array, &shape, &region, 1);
            for concurrency in [1, 2, 4] {
                let mut got = vec![0u8; want.len()];
                let opts = ReadOptions {
                    concurrency,
                    ..Default::default()
                };
                read_region(&store, "w", &meta, Some(&region), &mut got, &opts).unwrap();
                assert_eq!(got, want, "{region:?}");
            }
        }
        // A missing chunk is filled through the pieces too.
        store.remove(b"w/1.3");
        let mut got = vec![7u8; array.len()];
        let opts = ReadOptions {
            missing_chunk: MissingChunkPolicy::FillValue,
            ..Default::default()
        };
        read_region(&store, "w", &meta, None, &mut got, &opts).unwrap();
        let mut want = array.clone();
        for r in 5..10 {
            want[r * 70_000 + 21_000..r * 70_000 + 28_000].fill(0);
        }
        assert_eq!(got, want);
    }
}
