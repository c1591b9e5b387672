//! The tokio runtime that drives object-store I/O for synchronous callers.
//!
//! The store traits of `orbax-kvstore` are synchronous: OCDBT and zarr call them from rayon
//! worker threads. `object_store` is async and its HTTP client needs a tokio runtime for its
//! connections, timers and retries' sleeps. Each synchronous call therefore enters a
//! multi-thread runtime with [`Handle::block_on`]: the calling thread polls the operation's
//! future itself while the runtime's worker threads drive the sockets and timers (and run the
//! tasks the HTTP client spawns for its connections).
//!
//! This is sound because the caller is not a task of any runtime: it blocks only itself, and
//! everything the future waits for is driven by the runtime's own workers, which never wait
//! for a caller. It must not be called from async code (a task of this or of any other
//! runtime, including the one of napi-rs' `async fn`s): `block_on` there panics, by tokio's
//! design, rather than risk a deadlock. From async code, run the synchronous work on a
//! blocking thread (`tokio::task::spawn_blocking`, napi's `AsyncTask`, or rayon).

use std::future::Future;
use std::sync::{Arc, OnceLock};

use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};

/// Worker threads of the shared runtime: they only drive sockets and timers (the callers poll
/// their own operations), so two are plenty even for many concurrent callers.
const SHARED_WORKER_THREADS: usize = 2;

/// Where object-store operations run. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IoRuntime {
    handle: Handle,
    /// Keeps a dedicated runtime alive as long as a store uses it.
    _owned: Option<Arc<Runtime>>,
}

static SHARED: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

impl IoRuntime {
    /// The process-wide runtime (two worker threads named `orbax-objstore-io`), started on
    /// first use and kept for the life of the process.
    pub fn shared() -> std::io::Result<Self> {
        let runtime =
            SHARED.get_or_init(|| build_runtime(SHARED_WORKER_THREADS).map_err(|e| e.to_string()));
        match runtime {
            Ok(runtime) => Ok(Self {
                handle: runtime.handle().clone(),
                _owned: None,
            }),
            Err(message) => Err(std::io::Error::other(message.clone())),
        }
    }

    /// A runtime of its own with `worker_threads` threads, stopped when the last store using
    /// it is dropped (which, as for any tokio runtime, must then not happen in async code).
    pub fn dedicated(worker_threads: usize) -> std::io::Result<Self> {
        let runtime = Arc::new(build_runtime(worker_threads.max(1))?);
        Ok(Self {
            handle: runtime.handle().clone(),
            _owned: Some(runtime),
        })
    }

    /// An existing multi-thread runtime (a current-thread runtime is refused: nothing would
    /// drive its I/O while the callers block).
    pub fn from_handle(handle: Handle) -> std::io::Result<Self> {
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the object-store runtime must be a multi-thread tokio runtime, not {:?}",
                    handle.runtime_flavor()
                ),
            ));
        }
        Ok(Self {
            handle,
            _owned: None,
        })
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `future` to completion from a synchronous thread (see the module documentation).
    ///
    /// # Panics
    /// When called from async code (a runtime's task), as tokio refuses to block there.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }
}

fn build_runtime(worker_threads: usize) -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .thread_name("orbax-objstore-io")
        .enable_all()
        .build()
}
