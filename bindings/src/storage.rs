//! Storage primitives on object stores for the TS `ObjectStorage` (ts/storage/objectStorage.ts):
//! stat, one-level listing, whole-object reads and writes, conditional creation, tree removal
//! and copies. Local paths never come here (the TS layer uses node:fs for them).

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi::Result;
use napi_derive::napi;
use orbax_objstore::ObjectStoreKv;

use crate::errors::{coded, join_error};
use crate::location::{is_url, objstore_error, open_location, Location, StorageConfig};

/// A URL location opened for object operations: the store of its parent and its name there
/// (none for a bucket's root, which is only a prefix), and the store under it (`<loc>/…`).
pub(crate) struct RemoteLocation {
    pub url: String,
    pub parent: Option<(Arc<ObjectStoreKv>, String)>,
    pub tree: Arc<ObjectStoreKv>,
}

impl RemoteLocation {
    /// The parent store and the object name, or an error for a bucket's root.
    pub fn object(&self) -> Result<(&ObjectStoreKv, &str)> {
        match &self.parent {
            Some((store, name)) => Ok((store, name)),
            None => Err(coded(
                "ERR_INVALID_ARGUMENT",
                format!("{} is a bucket, not an object", self.url),
            )),
        }
    }
}

/// Opens an object-store URL (`s3://bucket/a/b`); `None` for local paths and `file://` URLs.
pub(crate) fn open_remote(
    location: &str,
    options: StorageConfig,
) -> Result<Option<RemoteLocation>> {
    if !is_url(location) {
        return Ok(None);
    }
    let url = location.trim_end_matches('/').to_owned();
    let (scheme, rest) = url.split_once("://").expect("is_url checked the separator");
    if scheme.eq_ignore_ascii_case("file") {
        return Ok(None);
    }
    let Some((parent_rest, name)) = rest.rsplit_once('/') else {
        let Location::Remote(tree) = open_location(&url, options)? else {
            return Ok(None);
        };
        return Ok(Some(RemoteLocation {
            url,
            parent: None,
            tree,
        }));
    };
    let Location::Remote(parent) = open_location(&format!("{scheme}://{parent_rest}"), options)?
    else {
        return Ok(None);
    };
    let tree = Arc::new(parent.child(name).map_err(objstore_error)?);
    Ok(Some(RemoteLocation {
        url: url.clone(),
        parent: Some((parent, name.to_owned())),
        tree,
    }))
}

/// Opens `location`, which must be an object-store URL.
fn remote(location: &str, options: StorageConfig) -> Result<RemoteLocation> {
    open_remote(location, options)?.ok_or_else(|| {
        coded(
            "ERR_INVALID_ARGUMENT",
            format!("{location} is not an object-store URL (local paths use the file system)"),
        )
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    napi::tokio::task::spawn_blocking(work)
        .await
        .map_err(join_error)?
}

/// What is at a location.
#[napi(object)]
pub struct StorageStat {
    pub exists: bool,
    /// An object with exactly this name.
    pub is_file: bool,
    /// Some object under `<location>/`.
    pub is_directory: bool,
    /// The object's size.
    pub size: Option<f64>,
    /// The object's modification time, or the newest under the directory (ms since the epoch).
    pub modified_ms: Option<f64>,
}

/// Whether an object and/or a "directory" (a non-empty prefix) exists at `location`.
#[napi]
pub async fn storage_stat(
    location: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<StorageStat> {
    blocking(move || {
        let at = remote(&location, storage_options)?;
        let file = match &at.parent {
            Some((store, name)) => store.stat_object(name).map_err(objstore_error)?,
            None => None,
        };
        let under = at.tree.list_objects("").map_err(objstore_error)?;
        let newest = under.iter().map(|o| o.modified_ms).max();
        let modified = file.as_ref().map(|f| f.modified_ms).or(newest);
        Ok(StorageStat {
            exists: file.is_some() || !under.is_empty(),
            is_file: file.is_some(),
            is_directory: !under.is_empty(),
            size: file.as_ref().map(|f| f.size as f64),
            modified_ms: modified.map(|ms| ms as f64),
        })
    })
    .await
}

/// One entry of a listing.
#[napi(object)]
pub struct StorageListEntry {
    pub name: String,
    pub is_directory: bool,
}

/// The first-level children of `location`, sorted by name (`[]` when nothing is under it).
#[napi]
pub async fn storage_list(
    location: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<Vec<StorageListEntry>> {
    blocking(move || {
        let at = remote(&location, storage_options)?;
        let children = at.tree.list_children().map_err(objstore_error)?;
        Ok(children
            .into_iter()
            .map(|c| StorageListEntry {
                name: c.name,
                is_directory: c.is_directory,
            })
            .collect())
    })
    .await
}

/// The object's bytes, `null` when absent.
#[napi]
pub async fn storage_read(
    location: String,
    range: Option<ByteRange>,
    storage_options: Option<HashMap<String, String>>,
) -> Result<Option<Buffer>> {
    let range = match range {
        None => None,
        Some(r) if r.start >= 0.0 && r.end >= r.start && r.end <= 2f64.powi(53) => {
            Some(r.start as u64..r.end as u64)
        }
        Some(r) => {
            return Err(coded(
                "ERR_INVALID_ARGUMENT",
                format!("invalid byte range {}..{}", r.start, r.end),
            ))
        }
    };
    let bytes = blocking(move || {
        let at = remote(&location, storage_options)?;
        let (store, name) = at.object()?;
        store.get(name.as_bytes(), range).map_err(objstore_error)
    })
    .await?;
    // A uniquely owned response body becomes the Vec without a copy.
    Ok(bytes.map(|b| Buffer::from(Vec::from(b))))
}

/// Bytes `[start, end)` of an object.
#[napi(object)]
pub struct ByteRange {
    pub start: f64,
    pub end: f64,
}

/// Writes the whole object (one PUT), replacing any previous one.
#[napi]
pub async fn storage_write(
    location: String,
    data: Buffer,
    storage_options: Option<HashMap<String, String>>,
) -> Result<()> {
    blocking(move || {
        let at = remote(&location, storage_options)?;
        let (store, name) = at.object()?;
        store.put(name.as_bytes(), &data).map_err(objstore_error)?;
        Ok(())
    })
    .await
}

/// Creates the object only if it does not exist (a conditional PUT); false when it existed.
#[napi]
pub async fn storage_write_if_absent(
    location: String,
    data: Buffer,
    storage_options: Option<HashMap<String, String>>,
) -> Result<bool> {
    blocking(move || {
        let at = remote(&location, storage_options)?;
        let (store, name) = at.object()?;
        match store.put_if_absent(name.as_bytes(), &data) {
            Ok(_) => Ok(true),
            Err(orbax_objstore::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(objstore_error(e)),
        }
    })
    .await
}

/// Removes the object and every object under `<location>/`; nothing there is no error.
#[napi]
pub async fn storage_remove(
    location: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<()> {
    blocking(move || {
        let at = remote(&location, storage_options)?;
        remove_tree(&at)
    })
    .await
}

/// Removes the object at `at` and everything under it.
pub(crate) fn remove_tree(at: &RemoteLocation) -> Result<()> {
    at.tree.remove_all().map_err(objstore_error)?;
    if let Some((store, name)) = &at.parent {
        store.remove(name.as_bytes()).map_err(objstore_error)?;
    }
    Ok(())
}

/// Copies an object, or every object under `<source>/`, to `destination` (server-side within
/// one store).
#[napi]
pub async fn storage_copy(
    source: String,
    destination: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<()> {
    blocking(move || {
        let from = remote(&source, storage_options.clone())?;
        let to = remote(&destination, storage_options)?;
        if let (Some((from_store, from_name)), Ok((to_store, to_name))) =
            (&from.parent, to.object())
        {
            if from_store
                .stat_object(from_name)
                .map_err(objstore_error)?
                .is_some()
            {
                from_store
                    .copy_object(from_name, to_store, to_name)
                    .map_err(objstore_error)?;
            }
        }
        for object in from.tree.list_objects("").map_err(objstore_error)? {
            from.tree
                .copy_object(&object.key, &to.tree, &object.key)
                .map_err(objstore_error)?;
        }
        Ok(())
    })
    .await
}
