//! Cancellation and progress of long transfers. A JS caller creates a transfer (a small
//! integer handle), passes it to a save or a read, may cancel it (the core checks between
//! chunks) and polls its progress; it releases it when the call settles. Polling keeps the
//! event loop free of callbacks from worker threads and never keeps the process alive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use napi::Result;
use napi_derive::napi;
use orbax_checkpoint::Progress;

use crate::errors::coded;

/// The core's view of one transfer.
#[derive(Clone, Default)]
pub struct Transfer {
    pub cancel: Arc<AtomicBool>,
    pub progress: Arc<Progress>,
}

fn registry() -> &'static Mutex<HashMap<u32, Transfer>> {
    static REGISTRY: OnceLock<Mutex<HashMap<u32, Transfer>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

fn next_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The transfer of a handle (for the bindings).
pub fn transfer(id: Option<u32>) -> Result<Option<Transfer>> {
    let Some(id) = id else { return Ok(None) };
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned()
        .map(Some)
        .ok_or_else(|| coded("ERR_INVALID_ARGUMENT", format!("unknown transfer {id}")))
}

/// Creates a transfer and returns its handle.
#[napi]
pub fn create_transfer() -> u32 {
    let id = next_id();
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, Transfer::default());
    id
}

/// Asks the transfer's work to stop at the next chunk boundary.
#[napi]
pub fn cancel_transfer(id: u32) {
    if let Some(t) = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
    {
        t.cancel.store(true, Ordering::Relaxed);
    }
}

/// `[bytesDone, bytesTotal]` so far.
#[napi]
pub fn transfer_progress(id: u32) -> Vec<f64> {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .map(|t| {
            let (done, total) = t.progress.snapshot();
            vec![done as f64, total as f64]
        })
        .unwrap_or_else(|| vec![0.0, 0.0])
}

/// Forgets a transfer (work still holding it is unaffected).
#[napi]
pub fn release_transfer(id: u32) {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
}
