//! [`ObjectStoreKv`]: the key-value store traits of `orbax-kvstore` over an `object_store`
//! [`ObjectStore`], under a key prefix.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    UpdateVersion,
};
use orbax_kvstore::{AppendFile, ReadableStore, WritableStore};

use crate::append::MultipartAppend;
use crate::attempts::Attempts;
use crate::error::{classify, Error, Operation, Result};
use crate::options::{RetrySettings, StoreOptions};
use crate::runtime::IoRuntime;

/// The version of an object, as conditional writes compare it: its HTTP entity tag and, on
/// stores with object versioning, its version id. Keep both, as stores differ in which they
/// use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectVersion {
    /// The entity tag (`ETag`), when the store reports one.
    pub e_tag: Option<String>,
    /// The version id, on stores with versioning.
    pub version: Option<String>,
}

/// Size and version of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// Version, for conditional writes.
    pub version: ObjectVersion,
}

/// A key-value store over an object store (S3, GCS, Azure, a local directory, memory) under a
/// key prefix: key `a/b` is the object `<prefix>/a/b`.
///
/// Implements the synchronous [`ReadableStore`] and [`WritableStore`] traits by running each
/// operation on an [`IoRuntime`]; call them from ordinary threads (rayon workers, spawned
/// threads, `spawn_blocking`), never from async code (see [`crate::runtime`]).
///
/// - `read` is a GET (a ranged GET for a range), `list_prefix` a LIST, `delete` a DELETE.
/// - `write` and `write_atomic` are one PUT each: a PUT is atomic on object stores (readers
///   see the old or the new object, never a mixture), so both are atomic here.
/// - `create_appendable` streams a multipart upload: appends are buffered into parts of
///   [`StoreOptions::part_size`] bytes uploaded in the background (at most
///   [`StoreOptions::max_parts_in_flight`] at once); `finish` completes the upload, which
///   makes the object appear whole; `abort` (or dropping it) abandons it. A value that fits
///   in one part is written with a single PUT instead.
/// - Conditional writes for commit protocols: [`ObjectStoreKv::put_if_absent`] and
///   [`ObjectStoreKv::put_if_version`].
///
/// Transient failures (server errors, throttling, dropped connections, timeouts) are retried
/// with exponential backoff ([`RetrySettings`]); what remains is an [`Error`] naming the
/// object. The trait methods return it inside an [`orbax_kvstore::Error`] (see
/// [`Error::from_kvstore`]); the inherent methods return it directly.
#[derive(Clone)]
pub struct ObjectStoreKv {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The key prefix inside `store` (empty for the store's root).
    pub(crate) root: Path,
    /// The store's location for messages, without a trailing `/` (`s3://bucket/prefix`).
    base: String,
    pub(crate) runtime: IoRuntime,
    retry: RetrySettings,
    pub(crate) part_size: usize,
    pub(crate) max_parts_in_flight: usize,
}

impl fmt::Debug for ObjectStoreKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreKv")
            .field("location", &self.inner.base)
            .field("store", &self.inner.store.to_string())
            .finish()
    }
}

impl ObjectStoreKv {
    /// A store over `store` under the key prefix `prefix` (`""` for its root, otherwise
    /// slash-separated segments), named `location` in messages (e.g. `s3://bucket/prefix`).
    /// Of `options`, the retry settings (for this crate's own operation-level retries; HTTP
    /// retries are configured on the `object_store` builder), part sizes and runtime apply.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        location: impl Into<String>,
        options: &StoreOptions,
    ) -> Result<Self> {
        let location = location.into();
        let root = Path::parse(prefix).map_err(|e| Error::InvalidUrl {
            url: location.clone(),
            reason: format!("invalid key prefix {prefix:?}: {e}"),
        })?;
        let runtime = match &options.runtime {
            Some(runtime) => runtime.clone(),
            None => IoRuntime::shared().map_err(|e| Error::Runtime {
                operation: Operation::Open,
                object: location.clone(),
                message: e.to_string(),
            })?,
        };
        if options.part_size == 0 || options.max_parts_in_flight == 0 {
            return Err(Error::InvalidOption {
                url: location,
                key: "part_size".into(),
                reason: "part_size and max_parts_in_flight must be at least 1".into(),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                root,
                base: location.trim_end_matches('/').to_owned(),
                runtime,
                retry: options.retry.clone(),
                part_size: options.part_size,
                max_parts_in_flight: options.max_parts_in_flight,
            }),
        })
    }

    /// The store's location, e.g. `s3://bucket/prefix`.
    pub fn location(&self) -> &str {
        &self.inner.base
    }

    /// The underlying `object_store` store.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    /// A store for the keys under `sub/` of this one (same object store and settings).
    pub fn child(&self, sub: &str) -> Result<Self> {
        let inner = &self.inner;
        let path = inner.path_of(sub.as_bytes())?;
        Ok(Self {
            inner: Arc::new(Inner {
                store: inner.store.clone(),
                root: path,
                base: inner.describe(sub.as_bytes()),
                runtime: inner.runtime.clone(),
                retry: inner.retry.clone(),
                part_size: inner.part_size,
                max_parts_in_flight: inner.max_parts_in_flight,
            }),
        })
    }

    /// The value of `key` (or `range` of it), `None` when absent.
    pub fn get(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>> {
        self.inner.get(key, range)
    }

    /// The value of `key` and its version (for [`ObjectStoreKv::put_if_version`]), `None`
    /// when absent. Value and version come from the same response, so they match.
    pub fn get_versioned(&self, key: &[u8]) -> Result<Option<(Bytes, ObjectVersion)>> {
        let inner = &self.inner;
        let path = inner.path_of(key)?;
        let object = inner.describe(key);
        let result = inner.run(Operation::Read, &object, true, || async {
            let result = inner.store.get_opts(&path, GetOptions::default()).await?;
            let version = ObjectVersion {
                e_tag: result.meta.e_tag.clone(),
                version: result.meta.version.clone(),
            };
            Ok((result.bytes().await?, version))
        });
        absent_as_none(result)
    }

    /// Size and version of `key`, `None` when absent.
    pub fn head(&self, key: &[u8]) -> Result<Option<ObjectInfo>> {
        self.inner.head(key)
    }

    /// All keys starting with `prefix` (bytewise, not only at `/` boundaries), sorted.
    pub fn list(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.inner.list(prefix)
    }

    /// Sets `key` to `value` with one PUT (atomic: readers see the old or the new value).
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<ObjectVersion> {
        self.inner.put(key, value, PutMode::Overwrite)
    }

    /// Creates `key` with `value` only if it does not exist, atomically (`If-None-Match: *`
    /// on S3, a generation precondition on GCS): of concurrent writers exactly one succeeds,
    /// the others get [`Error::AlreadyExists`]. A commit marker written this way cannot
    /// overwrite another writer's.
    ///
    /// Local directories support it; S3-compatible stores need conditional puts (AWS S3 has
    /// them; others may need the `aws_conditional_put` option).
    pub fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<ObjectVersion> {
        self.inner.put(key, value, PutMode::Create)
    }

    /// Replaces `key` with `value` only if it is still at version `expected` (as returned by
    /// [`ObjectStoreKv::get_versioned`], [`ObjectStoreKv::head`] or a previous write),
    /// atomically (`If-Match` on S3): a compare-and-swap, e.g. of an OCDBT manifest. Fails
    /// with [`Error::PreconditionFailed`] when the object changed or was deleted meanwhile;
    /// [`Error::Unsupported`] on stores without it (local directories).
    pub fn put_if_version(
        &self,
        key: &[u8],
        value: &[u8],
        expected: &ObjectVersion,
    ) -> Result<ObjectVersion> {
        let mode = PutMode::Update(UpdateVersion {
            e_tag: expected.e_tag.clone(),
            version: expected.version.clone(),
        });
        match self.inner.put(key, value, mode) {
            // The object is not at the expected version: it is at none.
            Err(Error::NotFound { object }) => Err(Error::PreconditionFailed { object }),
            other => other,
        }
    }

    /// Removes `key`; removing an absent key succeeds.
    pub fn remove(&self, key: &[u8]) -> Result<()> {
        self.inner.remove(key)
    }

    /// The object's location, e.g. `s3://bucket/prefix/key`.
    pub fn describe_key(&self, key: &[u8]) -> String {
        self.inner.describe(key)
    }
}

/// `Ok(None)` for an absent object.
fn absent_as_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Inner {
    pub(crate) fn describe(&self, key: &[u8]) -> String {
        format!("{}/{}", self.base, String::from_utf8_lossy(key))
    }

    fn invalid_key(&self, key: &[u8], reason: &'static str) -> Error {
        Error::InvalidKey {
            store: self.base.clone(),
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        }
    }

    /// The object of `key`.
    pub(crate) fn path_of(&self, key: &[u8]) -> Result<Path> {
        let text = std::str::from_utf8(key).map_err(|_| self.invalid_key(key, "not UTF-8"))?;
        if text.is_empty() {
            return Err(self.invalid_key(key, "empty key"));
        }
        if text.starts_with('/') || text.ends_with('/') {
            return Err(self.invalid_key(key, "a key may not start or end with '/'"));
        }
        let full = if self.root.as_ref().is_empty() {
            text.to_owned()
        } else {
            format!("{}/{text}", self.root.as_ref())
        };
        Path::parse(full).map_err(|_| {
            self.invalid_key(
                key,
                "not a valid object name (empty, '.' or '..' segments, or control characters)",
            )
        })
    }

    /// The key of an object listed under the root.
    pub(crate) fn key_of(&self, location: &Path) -> Option<Vec<u8>> {
        let root = self.root.as_ref();
        let location = location.as_ref();
        let key = if root.is_empty() {
            location
        } else {
            location.strip_prefix(root)?.strip_prefix('/')?
        };
        Some(key.as_bytes().to_vec())
    }

    /// Runs `attempt` (one try of an operation) on the runtime, tracking its HTTP requests,
    /// and classifies its failure. `object_store` has already retried each HTTP request
    /// according to the store's retry configuration; an idempotent operation is tried again
    /// here (up to `operation_retries` times) only when it failed transiently at a request
    /// that was *not* retried below (e.g. a connection dropped while streaming a response
    /// body), so that retries do not multiply.
    pub(crate) fn run<T, F, Fut>(
        &self,
        operation: Operation,
        object: &str,
        idempotent: bool,
        attempt: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        self.runtime.block_on(async {
            let mut retries = 0;
            loop {
                let attempts = Attempts::default();
                let error = match attempts.track(attempt()).await {
                    Ok(value) => return Ok(value),
                    Err(e) => classify(operation, object, e, &attempts),
                };
                let retry_here = idempotent
                    && error.is_transient()
                    && attempts.count() <= 1
                    && retries < self.retry.operation_retries;
                if !retry_here {
                    return Err(match error {
                        Error::Transient {
                            operation,
                            object,
                            attempts,
                            last,
                            message,
                        } => Error::Transient {
                            operation,
                            object,
                            attempts: attempts + retries,
                            last,
                            message,
                        },
                        other => other,
                    });
                }
                retries += 1;
                tokio::time::sleep(self.retry.backoff(retries)).await;
            }
        })
    }

    fn get(&self, key: &[u8], range: Option<Range<u64>>) -> Result<Option<Bytes>> {
        let path = self.path_of(key)?;
        let object = self.describe(key);
        let Some(range) = range else {
            return absent_as_none(self.run(Operation::Read, &object, true, || async {
                self.store
                    .get_opts(&path, GetOptions::default())
                    .await?
                    .bytes()
                    .await
            }));
        };
        let out_of_bounds = |size| Error::RangeOutOfBounds {
            object: object.clone(),
            start: range.start,
            end: range.end,
            size,
        };
        if range.start >= range.end {
            // Object stores refuse empty and inverted ranges: check against the size.
            let Some(info) = self.head(key)? else {
                return Ok(None);
            };
            if range.start > range.end || range.end > info.size {
                return Err(out_of_bounds(info.size));
            }
            return Ok(Some(Bytes::new()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let result = self.run(Operation::Read, &object, true, || async {
            let result = self.store.get_opts(&path, options.clone()).await?;
            let (served, size) = (result.range.clone(), result.meta.size);
            Ok((result.bytes().await?, served, size))
        });
        match result {
            Ok((bytes, served, _)) if served == range => Ok(Some(bytes)),
            // The store clipped the range at the end of the object.
            Ok((_, _, size)) => Err(out_of_bounds(size)),
            Err(Error::NotFound { .. }) => Ok(None),
            // A range starting at or past the end is refused (HTTP 416 and the like) with
            // store-specific, otherwise unclassified errors: tell it by the object's size.
            Err(error @ Error::Store { .. }) => match self.head(key)? {
                None => Ok(None),
                Some(info) if range.end > info.size => Err(out_of_bounds(info.size)),
                Some(_) => Err(error),
            },
            Err(error) => Err(error),
        }
    }

    /// `range` of `key` as the store serves it, clipped at the end of the object (one request).
    fn get_clipped(&self, key: &[u8], range: Range<u64>) -> Result<Option<Bytes>> {
        if range.start >= range.end {
            return Ok(self.head(key)?.map(|_| Bytes::new()));
        }
        let path = self.path_of(key)?;
        let object = self.describe(key);
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let result = self.run(Operation::Read, &object, true, || async {
            self.store
                .get_opts(&path, options.clone())
                .await?
                .bytes()
                .await
        });
        match result {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Error::NotFound { .. }) => Ok(None),
            // A range starting at or past the end: nothing of it exists.
            Err(error @ Error::Store { .. }) => match self.head(key)? {
                None => Ok(None),
                Some(info) if range.start >= info.size => Ok(Some(Bytes::new())),
                Some(_) => Err(error),
            },
            Err(error) => Err(error),
        }
    }

    fn head(&self, key: &[u8]) -> Result<Option<ObjectInfo>> {
        let path = self.path_of(key)?;
        let object = self.describe(key);
        absent_as_none(self.run(Operation::Head, &object, true, || async {
            let meta = self.store.head(&path).await?;
            Ok(ObjectInfo {
                size: meta.size,
                version: ObjectVersion {
                    e_tag: meta.e_tag,
                    version: meta.version,
                },
            })
        }))
    }

    fn list(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let object = self.describe(prefix);
        let Ok(text) = std::str::from_utf8(prefix) else {
            // Keys are UTF-8: none starts with invalid UTF-8 (a prefix cut inside a character
            // is not valid UTF-8 either, so compare bytes below instead of failing here).
            return self.list_under(&self.root, &object, prefix);
        };
        // Object stores list by `/`-separated segments: list the directory the prefix ends
        // in, then keep the keys that start with the whole prefix.
        let dir = text.rfind('/').map_or("", |i| &text[..i]);
        let list_root = if dir.is_empty() {
            self.root.clone()
        } else {
            match self.path_of(dir.as_bytes()) {
                Ok(path) => path,
                // No object can be under an invalid directory name.
                Err(_) => return Ok(Vec::new()),
            }
        };
        self.list_under(&list_root, &object, prefix)
    }

    /// Every object under `list_root` (the whole store when it is empty), recursively; a
    /// missing directory of a local store holds none. `object` names the listing in errors.
    pub(crate) fn list_metas(
        &self,
        list_root: &Path,
        object: &str,
    ) -> Result<Vec<object_store::ObjectMeta>> {
        let list_root = (!list_root.as_ref().is_empty()).then_some(list_root);
        let listed = self.run(Operation::List, object, true, || async {
            self.store
                .list(list_root)
                .try_collect::<Vec<object_store::ObjectMeta>>()
                .await
        });
        match listed {
            Err(Error::NotFound { .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    fn list_under(&self, list_root: &Path, object: &str, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let metas = self.list_metas(list_root, object)?;
        let mut keys: Vec<Vec<u8>> = metas
            .iter()
            .filter_map(|meta| self.key_of(&meta.location))
            .filter(|key| key.starts_with(prefix))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    fn put(&self, key: &[u8], value: &[u8], mode: PutMode) -> Result<ObjectVersion> {
        let path = self.path_of(key)?;
        let object = self.describe(key);
        let payload = PutPayload::from(Bytes::copy_from_slice(value));
        let (operation, idempotent) = match mode {
            PutMode::Overwrite => (Operation::Write, true),
            // Trying a conditional write again after a lost response could refuse the
            // writer's own success: only the HTTP layer's retries apply.
            PutMode::Create | PutMode::Update(_) => (Operation::ConditionalWrite, false),
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        self.run(operation, &object, idempotent, || async {
            let result = self
                .store
                .put_opts(&path, payload.clone(), options.clone())
                .await?;
            Ok(ObjectVersion {
                e_tag: result.e_tag,
                version: result.version,
            })
        })
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        let path = self.path_of(key)?;
        let object = self.describe(key);
        match self.run(Operation::Delete, &object, true, || {
            self.store.delete(&path)
        }) {
            Err(Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }
}

impl RetrySettings {
    /// The pause before operation-level retry `n` (1-based): exponential, capped.
    fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

impl ReadableStore for ObjectStoreKv {
    fn read(&self, key: &[u8], range: Option<Range<u64>>) -> orbax_kvstore::Result<Option<Bytes>> {
        Ok(self.inner.get(key, range)?)
    }

    fn list_prefix(&self, prefix: &[u8]) -> orbax_kvstore::Result<Vec<Vec<u8>>> {
        Ok(self.inner.list(prefix)?)
    }

    fn describe(&self, key: &[u8]) -> String {
        self.inner.describe(key)
    }

    /// Requests mostly wait on the network: keep many in flight.
    fn parallel_reads(&self) -> usize {
        PARALLEL_READS
    }

    fn read_clipped(&self, key: &[u8], range: Range<u64>) -> orbax_kvstore::Result<Option<Bytes>> {
        Ok(self.inner.get_clipped(key, range)?)
    }
}

/// Ranged GETs a reader keeps in flight against an object store.
pub const PARALLEL_READS: usize = 16;

impl WritableStore for ObjectStoreKv {
    fn write(&self, key: &[u8], value: &[u8]) -> orbax_kvstore::Result<()> {
        self.inner.put(key, value, PutMode::Overwrite)?;
        Ok(())
    }

    fn write_atomic(&self, key: &[u8], value: &[u8]) -> orbax_kvstore::Result<()> {
        // One PUT is atomic on object stores (and on `object_store`'s local directories,
        // which write a temporary file and rename it).
        self.inner.put(key, value, PutMode::Overwrite)?;
        Ok(())
    }

    fn create_appendable(&self, key: &[u8]) -> orbax_kvstore::Result<Box<dyn AppendFile>> {
        let path = self.inner.path_of(key)?;
        Ok(Box::new(MultipartAppend::new(
            self.inner.clone(),
            path,
            self.inner.describe(key),
        )))
    }

    fn delete(&self, key: &[u8]) -> orbax_kvstore::Result<()> {
        Ok(self.inner.remove(key)?)
    }

    fn write_if_absent(&self, key: &[u8], value: &[u8]) -> orbax_kvstore::Result<bool> {
        match self.inner.put(key, value, PutMode::Create) {
            Ok(_) => Ok(true),
            Err(Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
