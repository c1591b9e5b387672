//! Opening a store from a checkpoint URL or path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::ObjectStore;
use url::Url;

use crate::attempts::CountingConnector;
use crate::error::{Error, Result};
use crate::options::{StoreOptions, MIN_PART_SIZE};
use crate::store::ObjectStoreKv;

/// The schemes [`open_url`] understands, for messages.
const SUPPORTED: &str = "s3://bucket/prefix, gs://bucket/prefix, az://container/prefix \
     (or azure://, abfs://, abfss://), file:///absolute/path, a plain path, memory://name";

/// Opens the store a checkpoint URL or path names, with the URL's path as the key prefix:
///
/// | location | store |
/// |---|---|
/// | `s3://bucket/prefix` (`s3a://`) | Amazon S3 or an S3-compatible endpoint (`aws_endpoint`) |
/// | `gs://bucket/prefix` | Google Cloud Storage |
/// | `az://container/prefix` (`azure://`, `abfs://`, `abfss://`) | Azure Blob Storage |
/// | `file:///abs/path`, `/abs/path`, `rel/path` | a local directory (relative to the current directory) |
/// | `memory://name/prefix` | an in-memory store shared by every `open_url` of `name` in this process |
///
/// Cloud stores read credentials, region and endpoint from the environment (`AWS_*`,
/// `GOOGLE_*`, `AZURE_*`, as `object_store`'s `from_env` builders) unless
/// `options.use_env` is false, then apply `options.config`; their HTTP requests are retried
/// per `options.retry`. Local directories are written with fsync (`object_store`'s
/// `LocalFileSystem` with `with_fsync(true)`).
///
/// # Errors
/// [`Error::InvalidUrl`] for an unsupported or malformed location, [`Error::InvalidOption`]
/// for a configuration key the store does not know or a configuration it refuses (e.g. a
/// missing Azure account), [`Error::Runtime`] if the I/O runtime cannot start. No request is
/// made: a wrong credential or bucket shows at the first operation.
pub fn open_url(location: &str, options: &StoreOptions) -> Result<Arc<ObjectStoreKv>> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: location.to_owned(),
        reason,
    };
    if !location.contains("://") {
        if location.is_empty() {
            return Err(invalid("empty location".into()));
        }
        return open_local(location, PathBuf::from(location), options);
    }
    let url = Url::parse(location).map_err(|e| invalid(format!("{e}; expected {SUPPORTED}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "a storage URL has no query or fragment; pass options instead".into(),
        ));
    }
    match url.scheme() {
        "file" => {
            if url
                .host_str()
                .is_some_and(|h| !h.is_empty() && h != "localhost")
            {
                return Err(invalid("file URLs name no host: use file:///path".into()));
            }
            let path = url
                .to_file_path()
                .map_err(|()| invalid("not an absolute file path".into()))?;
            open_local(location, path, options)
        }
        "memory" => {
            let name = url.host_str().unwrap_or_default().to_owned();
            let store = memory_store(&name);
            let prefix = url_prefix(&url).map_err(invalid)?;
            let base = format!("memory://{name}");
            let base = join_location(&base, &prefix);
            Ok(Arc::new(ObjectStoreKv::new(store, &prefix, base, options)?))
        }
        scheme @ ("s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss") => {
            if url.host_str().unwrap_or_default().is_empty() {
                return Err(invalid(format!("{scheme}:// needs a bucket or container")));
            }
            if matches!(scheme, "s3" | "s3a" | "gs") && options.part_size < MIN_PART_SIZE {
                return Err(Error::InvalidOption {
                    url: location.to_owned(),
                    key: "part_size".into(),
                    reason: format!(
                        "{} bytes is below the {MIN_PART_SIZE} bytes this store requires",
                        options.part_size
                    ),
                });
            }
            let store = cloud_store(location, &url, options)?;
            let prefix = url_prefix(&url).map_err(invalid)?;
            let base = format!("{scheme}://{}", url.host_str().unwrap_or_default());
            let base = join_location(&base, &prefix);
            Ok(Arc::new(ObjectStoreKv::new(store, &prefix, base, options)?))
        }
        other => Err(invalid(format!(
            "unsupported scheme {other:?}; expected {SUPPORTED}"
        ))),
    }
}

fn join_location(base: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{prefix}")
    }
}

/// The key prefix a URL's path names (percent-decoded, without the surrounding slashes).
fn url_prefix(url: &Url) -> std::result::Result<String, String> {
    Path::from_url_path(url.path())
        .map(|p| p.as_ref().to_owned())
        .map_err(|e| format!("invalid path: {e}"))
}

fn open_local(location: &str, path: PathBuf, options: &StoreOptions) -> Result<Arc<ObjectStoreKv>> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: location.to_owned(),
        reason,
    };
    let absolute = std::path::absolute(&path).map_err(|e| invalid(e.to_string()))?;
    let prefix = Path::from_absolute_path(&absolute).map_err(|e| invalid(e.to_string()))?;
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new().with_fsync(true));
    let base = absolute.display().to_string();
    Ok(Arc::new(ObjectStoreKv::new(
        store,
        prefix.as_ref(),
        base,
        options,
    )?))
}

fn memory_registry() -> &'static Mutex<HashMap<String, Arc<InMemory>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// The process-wide in-memory store named `name`; an empty name is a fresh private store.
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    if name.is_empty() {
        return Arc::new(InMemory::new());
    }
    memory_registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(name.to_owned())
        .or_insert_with(|| Arc::new(InMemory::new()))
        .clone()
}

/// Forgets the in-memory store of `memory://name` URLs: stores already opened keep their
/// contents, the next [`open_url`] of `name` starts empty. Returns whether it existed.
pub fn drop_memory_store(name: &str) -> bool {
    memory_registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(name)
        .is_some()
}

/// Builds the S3, GCS or Azure store of `url`: environment, then `options.config`, our retry
/// settings and the request-counting HTTP connector.
fn cloud_store(location: &str, url: &Url, options: &StoreOptions) -> Result<Arc<dyn ObjectStore>> {
    let bad_key = |key: &str, store: &str| Error::InvalidOption {
        url: location.to_owned(),
        key: key.to_owned(),
        reason: format!("not a configuration key of {store}"),
    };
    let refused = |e: object_store::Error| Error::InvalidOption {
        url: location.to_owned(),
        key: String::new(),
        reason: e.to_string(),
    };
    let retry = options.retry.to_object_store();
    let bucket_url = url.as_str();
    // The three builders share their method names but no trait: one expansion per store.
    macro_rules! build {
        ($builder:ty, $key:ty, $name:literal) => {{
            let mut builder = if options.use_env {
                <$builder>::from_env()
            } else {
                <$builder>::new()
            };
            builder = builder.with_url(bucket_url);
            for (key, value) in &options.config {
                let parsed: $key = key
                    .to_ascii_lowercase()
                    .parse()
                    .map_err(|_| bad_key(key, $name))?;
                builder = builder.with_config(parsed, value);
            }
            Arc::new(
                builder
                    .with_retry(retry)
                    .with_http_connector(CountingConnector)
                    .build()
                    .map_err(refused)?,
            )
        }};
    }
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => build!(AmazonS3Builder, AmazonS3ConfigKey, "Amazon S3"),
        "gs" => build!(
            GoogleCloudStorageBuilder,
            GoogleConfigKey,
            "Google Cloud Storage"
        ),
        _ => build!(MicrosoftAzureBuilder, AzureConfigKey, "Azure Blob Storage"),
    };
    Ok(store)
}
