//! Where a checkpoint path points: a local directory, or a prefix in an object store named by a
//! URL (`s3://bucket/prefix`, `gs://`, `az://`, `memory://`). Every native function that takes a
//! path goes through [`open_location`], so that local paths keep the fast file-system paths and
//! URLs reach orbax-objstore. Opened stores are cached per bucket and options: one HTTP client
//! (and its connection pool) serves every call of a save.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use orbax_objstore::{ObjectStoreKv, StoreOptions};

use crate::errors::coded;

/// Store configuration passed from JS (`storageOptions`): object_store keys and values.
pub type StorageConfig = Option<HashMap<String, String>>;

/// An opened checkpoint location.
#[derive(Debug, Clone)]
pub enum Location {
    /// A local directory or file path (`file://` URLs included).
    Local(PathBuf),
    /// A key prefix in an object store; the store's keys are relative to it.
    Remote(Arc<ObjectStoreKv>),
}

/// True for `scheme://…` strings (a Windows drive letter `C:\` is not one).
pub fn is_url(location: &str) -> bool {
    location.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
    })
}

fn bucket_cache() -> &'static Mutex<HashMap<String, Arc<ObjectStoreKv>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<ObjectStoreKv>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Opens `location`. Plain paths and `file://` URLs are local; other URLs open (or reuse) the
/// store of their bucket with `storage` as configuration, narrowed to the URL's path.
pub fn open_location(location: &str, storage: StorageConfig) -> napi::Result<Location> {
    if !is_url(location) {
        if location.is_empty() {
            return Err(coded(
                "ERR_INVALID_ARGUMENT",
                "A checkpoint path is a non-empty string",
            ));
        }
        return Ok(Location::Local(PathBuf::from(location)));
    }
    let (scheme, rest) = location
        .split_once("://")
        .expect("is_url checked the separator");
    if scheme.eq_ignore_ascii_case("file") {
        return Ok(Location::Local(PathBuf::from(rest)));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    let mut config: Vec<(String, String)> = storage.unwrap_or_default().into_iter().collect();
    config.sort();
    let key = format!("{scheme}://{bucket}\u{0}{config:?}");
    let root = {
        let cache = bucket_cache()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache.get(&key).cloned()
    };
    let root = match root {
        Some(root) => root,
        None => {
            let url = format!("{scheme}://{bucket}");
            let options = StoreOptions::from_entries(&url, config).map_err(objstore_error)?;
            let opened = orbax_objstore::open_url(&url, &options).map_err(objstore_error)?;
            bucket_cache()
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_insert(opened)
                .clone()
        }
    };
    if prefix.is_empty() {
        return Ok(Location::Remote(root));
    }
    Ok(Location::Remote(Arc::new(
        root.child(prefix).map_err(objstore_error)?,
    )))
}

/// A typed JS error (`code` = `ERR_STORE_*`) from an object-store error.
pub fn objstore_error(e: orbax_objstore::Error) -> napi::Error {
    coded(e.code(), &e)
}

/// A JS error from a kvstore error, keeping the object-store code when there is one.
pub fn store_error(e: &orbax_kvstore::Error) -> napi::Error {
    match orbax_objstore::Error::from_kvstore(e) {
        Some(typed) => coded(typed.code(), typed),
        None => coded("ERR_IO", e),
    }
}
