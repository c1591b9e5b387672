//! JSON files in Python's `json.dumps` style (JSON items, metrics, root metadata): the TS layer
//! sends and receives the tagged form that keeps Python's int/float distinction.

use std::path::PathBuf;

use napi::Result;
use napi_derive::napi;
use orbax_checkpoint::commit::write_file_durable;
use orbax_checkpoint::pyjson::python_dumps;
use orbax_checkpoint::pyjson_parse::{parse_python_json, to_tagged};

use crate::errors::{coded, join_error, to_js};
use crate::save::tagged;

/// Writes `json.dumps(value)` to `path` (durably) from tagged JSON text.
#[napi]
pub async fn write_python_json(path: String, value: String) -> Result<()> {
    let value = tagged(&value, "JSON value")?;
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
pub async fn read_python_json(path: String) -> Result<String> {
    let text = napi::tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                coded("ERR_NOT_FOUND", format!("File {path} not found."))
            } else {
                coded("ERR_IO", format!("I/O error on {path}: {e}"))
            }
        })?;
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
