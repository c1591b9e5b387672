//! Coalesced reads of small values over object stores.
//!
//! An OCDBT data file holds the values written together back to back: a tree of thousands of
//! small arrays becomes thousands of small adjacent ranges. Read one ranged GET each, they cost a
//! round trip apiece; TensorStore coalesces such reads on remote stores for the same reason
//! (Orbax turns `experimental_read_coalescing_*` on for `gs://` and `s3://`). [`ReadAhead`]
//! serves small ranges from aligned windows of the file, each fetched once with one GET (the
//! readers asking for a window that is being fetched wait for it) and kept in a small LRU
//! cache; large ranges go to the store directly.

use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use bytes::Bytes;
use lru::LruCache;
use orbax_kvstore::{ReadableStore, Result};

/// Bytes fetched per window.
pub const WINDOW_BYTES: u64 = 4 << 20;
/// Ranges at most this long are served from windows; longer ones are read directly.
const SMALL_RANGE_BYTES: u64 = WINDOW_BYTES / 4;
/// Windows kept (64 MiB).
const CACHED_WINDOWS: usize = 16;

/// A window being fetched, fetched, or failed (then its readers read directly).
enum SlotState {
    Loading,
    Ready(Bytes),
    Failed,
}

struct Slot {
    state: Mutex<SlotState>,
    done: Condvar,
}

type WindowKey = (Vec<u8>, u64);

/// Marks a window failed and wakes its waiters unless forgotten (see [`ReadAhead::window`]).
struct FailOnDrop<'a>(&'a Slot);

impl Drop for FailOnDrop<'_> {
    fn drop(&mut self) {
        *self.0.state.lock().unwrap_or_else(PoisonError::into_inner) = SlotState::Failed;
        self.0.done.notify_all();
    }
}

/// A store whose small range reads are served from shared, aligned windows (see the module
/// documentation). Reads without a range, listings and descriptions pass through.
pub struct ReadAhead {
    inner: Arc<dyn ReadableStore>,
    windows: Mutex<LruCache<WindowKey, Arc<Slot>>>,
}

impl std::fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead")
            .field("inner", &self.inner)
            .finish()
    }
}

impl ReadAhead {
    /// Coalesces the small reads of `inner`.
    pub fn new(inner: Arc<dyn ReadableStore>) -> Self {
        ReadAhead {
            inner,
            windows: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHED_WINDOWS).expect("non-zero"),
            )),
        }
    }

    /// Wraps `store` when its reads wait on the network (`parallel_reads() > 0`).
    pub fn for_store(store: Arc<dyn ReadableStore>) -> Arc<dyn ReadableStore> {
        if store.parallel_reads() > 0 {
            Arc::new(ReadAhead::new(store))
        } else {
            store
        }
    }

    /// Window `index` of `key`: its bytes (shorter at the end of the value), or `None` when it
    /// could not be fetched (the caller then reads directly and reports the store's error).
    fn window(&self, key: &[u8], index: u64) -> Option<Bytes> {
        let (slot, fetch) = {
            let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
            let id = (key.to_vec(), index);
            match windows.get(&id) {
                Some(slot) => (Arc::clone(slot), false),
                None => {
                    let slot = Arc::new(Slot {
                        state: Mutex::new(SlotState::Loading),
                        done: Condvar::new(),
                    });
                    windows.put(id, Arc::clone(&slot));
                    (slot, true)
                }
            }
        };
        if fetch {
            // Waiters must never be left waiting: should the read panic, the guard marks the
            // window failed (they then read directly) as the stack unwinds.
            let guard = FailOnDrop(&slot);
            let start = index * WINDOW_BYTES;
            let state = match self.inner.read_clipped(key, start..start + WINDOW_BYTES) {
                Ok(Some(bytes)) => SlotState::Ready(bytes),
                _ => SlotState::Failed,
            };
            std::mem::forget(guard);
            let failed = matches!(state, SlotState::Failed);
            *slot.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
            slot.done.notify_all();
            if failed {
                self.windows
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop(&(key.to_vec(), index));
            }
        }
        let mut state = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &*state {
                SlotState::Loading => {
                    state = slot
                        .done
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                SlotState::Ready(bytes) => return Some(bytes.clone()),
                SlotState::Failed => return None,
            }
        }
    }

    /// `range` of `key` from its window, when the range is small and inside one window.
    fn windowed(&self, key: &[u8], range: &Range<u64>) -> Option<Bytes> {
        if range.start >= range.end || range.end - range.start > SMALL_RANGE_BYTES {
            return None;
        }
        let index = range.start / WINDOW_BYTES;
        let base = index * WINDOW_BYTES;
        if range.end > base + WINDOW_BYTES {
            return None;
        }
        let window = self.window(key, index)?;
        let (start, end) = ((range.start - base) as usize, (range.end - base) as usize);
        // A range past the end of the value: the direct read reports it.
        (end <= window.len()).then(|| window.slice(start..end))
    }
}

impl ReadableStore for ReadAhead {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>> {
        if let Some(bytes) = range.as_ref().and_then(|r| self.windowed(key, r)) {
            return Ok(Some(bytes));
        }
        self.inner.read(key, range)
    }

    fn read_into(
        &self,
        key: &[u8],
        range: Option<Range<u64>>,
        buf: &mut Vec<u8>,
    ) -> Result<Option<usize>> {
        if let Some(bytes) = range.as_ref().and_then(|r| self.windowed(key, r)) {
            if buf.len() < bytes.len() {
                buf.resize(bytes.len(), 0);
            }
            buf[..bytes.len()].copy_from_slice(&bytes);
            return Ok(Some(bytes.len()));
        }
        self.inner.read_into(key, range, buf)
    }

    fn read_clipped(&self, key: &[u8], range: Range<u64>) -> Result<Option<Bytes>> {
        self.inner.read_clipped(key, range)
    }

    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.inner.list_prefix(prefix)
    }

    fn describe(&self, key: &[u8]) -> String {
        self.inner.describe(key)
    }

    fn parallel_reads(&self) -> usize {
        self.inner.parallel_reads()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbax_kvstore::MemoryStore;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A remote-like store that counts the reads reaching it.
    #[derive(Debug)]
    struct Counting {
        inner: MemoryStore,
        reads: AtomicUsize,
    }

    impl ReadableStore for Counting {
        fn read(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.read(key, range)
        }
        fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
            self.inner.list_prefix(prefix)
        }
        fn describe(&self, key: &[u8]) -> String {
            self.inner.describe(key)
        }
        fn parallel_reads(&self) -> usize {
            16
        }
    }

    fn store(len: usize) -> (Arc<Counting>, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut inner = MemoryStore::new("mem");
        inner.insert("d/file", data.clone());
        (
            Arc::new(Counting {
                inner,
                reads: AtomicUsize::new(0),
            }),
            data,
        )
    }

    #[test]
    fn small_adjacent_ranges_share_one_read_per_window() {
        let (counting, data) = store(10 << 20);
        let reader = ReadAhead::for_store(counting.clone());
        // 1,000 values of 9 KiB back to back, read from 8 threads at once.
        let ranges: Vec<Range<u64>> = (0..1000u64).map(|i| i * 9216..(i + 1) * 9216).collect();
        std::thread::scope(|s| {
            for part in ranges.chunks(125) {
                let reader = &reader;
                let data = &data;
                s.spawn(move || {
                    let mut buf = Vec::new();
                    for r in part {
                        let n = reader
                            .read_into(b"d/file", Some(r.clone()), &mut buf)
                            .unwrap()
                            .unwrap();
                        assert_eq!(&buf[..n], &data[r.start as usize..r.end as usize]);
                    }
                });
            }
        });
        // 9 MB of values: 3 windows, and a few ranges straddling a window edge read directly.
        let reads = counting.reads.load(Ordering::SeqCst);
        assert!(reads <= 3 + 3, "{reads} reads");
    }

    #[test]
    fn the_last_window_is_clipped_and_errors_stay_the_stores() {
        let (counting, data) = store((4 << 20) + 100);
        let reader = ReadAhead::new(counting.clone());
        let tail = (4 << 20) + 10..(4 << 20) + 100;
        assert_eq!(
            &reader.read(b"d/file", Some(tail.clone())).unwrap().unwrap()[..],
            &data[tail.start as usize..tail.end as usize]
        );
        let past = (4 << 20) + 90..(4 << 20) + 200;
        let err = reader.read(b"d/file", Some(past)).unwrap_err();
        assert!(matches!(
            err,
            orbax_kvstore::Error::RangeOutOfBounds { size, .. } if size == (4 << 20) + 100
        ));
        assert_eq!(reader.read(b"d/missing", Some(0..10)).unwrap(), None);
        // Large ranges go straight to the store.
        let before = counting.reads.load(Ordering::SeqCst);
        reader.read(b"d/file", Some(0..(2 << 20))).unwrap().unwrap();
        assert_eq!(counting.reads.load(Ordering::SeqCst), before + 1);
    }

    /// A remote-like store whose window reads panic.
    #[derive(Debug)]
    struct PanicsOnWindows(MemoryStore);

    impl ReadableStore for PanicsOnWindows {
        fn read(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>> {
            self.0.read(key, range)
        }
        fn read_clipped(&self, _key: &[u8], _range: Range<u64>) -> Result<Option<Bytes>> {
            panic!("window read failed hard");
        }
        fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
            self.0.list_prefix(prefix)
        }
        fn describe(&self, key: &[u8]) -> String {
            self.0.describe(key)
        }
        fn parallel_reads(&self) -> usize {
            16
        }
    }

    #[test]
    fn a_panicking_window_read_leaves_no_reader_waiting() {
        let mut inner = MemoryStore::new("mem");
        inner.insert("f", vec![5u8; 1000]);
        let reader = ReadAhead::new(Arc::new(PanicsOnWindows(inner)));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reader.read(b"f", Some(0..10))
        }));
        assert!(panicked.is_err());
        // The window is marked failed: later readers read directly instead of waiting.
        assert_eq!(
            &reader.read(b"f", Some(10..20)).unwrap().unwrap()[..],
            &[5u8; 10]
        );
    }

    #[test]
    fn local_stores_are_not_wrapped() {
        let local: Arc<dyn ReadableStore> = Arc::new(MemoryStore::new("m"));
        assert_eq!(ReadAhead::for_store(local).parallel_reads(), 0);
    }
}
