//! JSON files in Python's `json.dumps` style (JSON items, metrics, root metadata): the TS layer
//! sends and receives the tagged form that keeps Python's int/float distinction.

use std::collections::HashMap;
use std::path::PathBuf;

use napi::Result;
use napi_derive::napi;
use orbax_checkpoint::commit::write_file_durable;
use orbax_checkpoint::pyjson::python_dumps;
use orbax_checkpoint::pyjson_parse::{parse_python_json, to_tagged};

use crate::commit::open_remote_blocking;
use crate::errors::{coded, join_error, to_js};
use crate::location::objstore_error;
use crate::save::tagged;

/// Writes `json.dumps(value)` to `path` (durably; one PUT on object stores) from tagged JSON
/// text.
#[napi]
pub async fn write_python_json(
    path: String,
    value: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<()> {
    let value = tagged(&value, "JSON value")?;
    if let Some(remote) = open_remote_blocking(path.clone(), storage_options).await? {
        return napi::tokio::task::spawn_blocking(move || {
            let (store, name) = remote.object()?;
            store
                .put(name.as_bytes(), python_dumps(&value).as_bytes())
                .map(|_| ())
                .map_err(objstore_error)
        })
        .await
        .map_err(join_error)?;
    }
    napi::tokio::task::spawn_blocking(move || {
        write_file_durable(&PathBuf::from(path), python_dumps(&value).as_bytes())
    })
    .await
    .map_err(join_error)?
    .map_err(to_js)
}

/// `json.dumps(value)` of tagged JSON text.
#[napi]
pub fn render_python_json(value: String) -> Result<String> {
    Ok(python_dumps(&tagged(&value, "JSON value")?))
}

/// Reads `path` as Python's `json.loads` would and returns the tagged JSON text.
#[napi]
pub async fn read_python_json(
    path: String,
    storage_options: Option<HashMap<String, String>>,
) -> Result<String> {
    let remote = open_remote_blocking(path.clone(), storage_options).await?;
    let text = napi::tokio::task::spawn_blocking(move || {
        let not_found = || coded("ERR_NOT_FOUND", format!("File {path} not found."));
        let bytes = match remote {
            Some(remote) => {
                let (store, name) = remote.object()?;
                store
                    .get(name.as_bytes(), None)
                    .map_err(objstore_error)?
                    .ok_or_else(not_found)?
                    .to_vec()
            }
            None => std::fs::read(&path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    not_found()
                } else {
                    coded("ERR_IO", format!("I/O error on {path}: {e}"))
                }
            })?,
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| coded("ERR_METADATA", format!("malformed {path}: not UTF-8")))?;
        let value = parse_python_json(&text)
            .map_err(|e| coded("ERR_METADATA", format!("malformed {path}: {e}")))?;
        Ok::<_, napi::Error>(to_tagged(&value).to_string())
    })
    .await
    .map_err(join_error)??;
    Ok(text)
}
