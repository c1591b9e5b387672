//! `_sharding`: per-param JSON descriptions of jax shardings (orbax-layout §3.4). orbax-ts never
//! places data by them; they are reported as metadata. Keys are padded URL-safe base64 of the
//! param name, values JSON documents stored as strings.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use serde_json::Value;

use crate::{Error, Result};

/// File name of the sharding descriptions of an item.
pub const SHARDING_FILE: &str = "_sharding";

/// Param name → the sharding JSON document (as text).
pub fn read_shardings(item_dir: &Path) -> Result<HashMap<String, String>> {
    let path = item_dir.join(SHARDING_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    parse_shardings(&bytes, &path)
}

/// Parses the bytes of a `_sharding` file (`path` names it in errors).
pub fn parse_shardings(bytes: &[u8], path: &Path) -> Result<HashMap<String, String>> {
    let root: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::metadata(path, format!("not JSON: {e}")))?;
    let map = root
        .as_object()
        .ok_or_else(|| Error::metadata(path, "top level is not a JSON object"))?;
    let mut out = HashMap::with_capacity(map.len());
    for (key, value) in map {
        let name = base64::engine::general_purpose::URL_SAFE
            .decode(key)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Error::metadata(path, format!("key {key:?} is not base64 of a param name"))
            })?;
        let doc = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.insert(name, doc);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_layout_example() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(SHARDING_FILE),
            r#"{"cGFyYW1zLmI=":"{\"sharding_type\": \"SingleDeviceSharding\", \"device_str\": \"cpu:0\"}"}"#,
        )
        .unwrap();
        let shardings = read_shardings(dir.path()).unwrap();
        assert_eq!(
            shardings["params.b"],
            r#"{"sharding_type": "SingleDeviceSharding", "device_str": "cpu:0"}"#
        );
        assert!(read_shardings(&dir.path().join("nope")).unwrap().is_empty());
    }
}
