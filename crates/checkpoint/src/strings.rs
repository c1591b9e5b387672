//! `_strings.json`: string leaves, stored by TensorStore's json driver as JSON-pointer writes at
//! `/<param name>` (orbax-layout §3.6), so a `/` in a param name nests objects.

use std::path::Path;

use serde_json::Value;

use crate::{Error, Result};

/// File name of the string leaves of an item.
pub const STRINGS_FILE: &str = "_strings.json";

/// The string leaves of one item.
#[derive(Debug, Clone, Default)]
pub struct StringLeaves {
    root: Value,
}

impl StringLeaves {
    /// Reads `<item_dir>/_strings.json`; `None` when the item has no string leaves.
    pub fn read(item_dir: &Path) -> Result<Option<Self>> {
        let path = item_dir.join(STRINGS_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        Self::parse(&bytes, &path).map(Some)
    }

    /// Parses the bytes of a `_strings.json` file (`path` names it in errors).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let root: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::metadata(path, format!("not JSON: {e}")))?;
        if !root.is_object() {
            return Err(Error::metadata(path, "top level is not a JSON object"));
        }
        Ok(StringLeaves { root })
    }

    /// The string stored for `param`, following the JSON pointer `/<param>`.
    pub fn get(&self, param: &str) -> Option<&str> {
        let mut node = &self.root;
        for token in param.split('/') {
            node = node.as_object()?.get(token)?;
        }
        node.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_nested_pointers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(STRINGS_FILE),
            r#"{"name":"run1","nested.sl":{"ash":"slash-key string"},"u":"héllo ✓"}"#,
        )
        .unwrap();
        let strings = StringLeaves::read(dir.path()).unwrap().unwrap();
        assert_eq!(strings.get("name"), Some("run1"));
        assert_eq!(strings.get("nested.sl/ash"), Some("slash-key string"));
        assert_eq!(strings.get("u"), Some("héllo ✓"));
        assert_eq!(strings.get("nested.sl"), None);
        assert_eq!(strings.get("absent"), None);
    }

    #[test]
    fn absent_file_is_none_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(StringLeaves::read(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join(STRINGS_FILE), b"[").unwrap();
        assert_eq!(
            StringLeaves::read(dir.path()).unwrap_err().code(),
            "ERR_METADATA"
        );
    }
}
