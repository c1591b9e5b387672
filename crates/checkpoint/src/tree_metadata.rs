//! `_METADATA`: the PyTree metadata Orbax writes next to the arrays of an item
//! (orbax-layout §3.3). Paths are rebuilt from `key_metadata`; the tuple-repr keys are ignored.

use std::path::Path;

use serde_json::Value;

use crate::pyjson::{python_dumps, PyValue};
use crate::pyrepr::python_tuple_repr;
use crate::{Error, Result};

/// File name of the tree metadata inside an item directory.
pub const METADATA_FILE: &str = "_METADATA";

/// How a path component addresses its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// A list/tuple index (`key_type` 1).
    Sequence,
    /// A dict key or attribute (`key_type` 2).
    Dict,
}

/// One path component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key as a string (indices in decimal).
    pub key: String,
    /// Sequence index or dict key.
    pub key_type: KeyType,
}

/// One leaf (or empty node) of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeEntry {
    /// The path from the root.
    pub path: Vec<KeyEntry>,
    /// Orbax's `value_type`: `np.ndarray`, `jax.Array`, `scalar`, `string`, `placeholder`,
    /// or for empty nodes `Dict`, `List`, `Tuple`, `None`, `NamedTuple`.
    pub value_type: String,
    /// True for empty nodes and placeholders: nothing is stored for them.
    pub skip_deserialize: bool,
    /// Per-host write shape (jax.Array leaves only).
    pub write_shape: Option<Vec<u64>>,
}

impl TreeEntry {
    /// The param name: path components joined by `.` (the zarr array's key prefix).
    pub fn param_name(&self) -> String {
        let keys: Vec<&str> = self.path.iter().map(|k| k.key.as_str()).collect();
        keys.join(".")
    }

    /// Whether the leaf's value is stored as a zarr array.
    pub fn is_array(&self) -> bool {
        !self.skip_deserialize
            && matches!(
                self.value_type.as_str(),
                "np.ndarray" | "jax.Array" | "scalar"
            )
    }

    /// Whether the leaf's value lives in `_strings.json`.
    pub fn is_string(&self) -> bool {
        !self.skip_deserialize && self.value_type == "string"
    }
}

/// The parsed `_METADATA` file.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeMetadata {
    /// Entries in file order (JAX flatten order).
    pub entries: Vec<TreeEntry>,
    /// `use_ocdbt`; `None` when absent or null (then a `manifest.ocdbt` decides).
    pub use_ocdbt: Option<bool>,
    /// `use_zarr3` (absent = false).
    pub use_zarr3: bool,
    /// `store_array_data_equal_to_fill_value` (absent = false: missing chunks read as fill).
    pub store_array_data_equal_to_fill_value: bool,
    /// `custom_metadata` as JSON text (`null` when absent).
    pub custom_metadata_json: String,
    /// Whether the writer recorded rich types (`value_metadata_tree`); informational.
    pub has_rich_types: bool,
}

impl TreeMetadata {
    /// Reads `<item_dir>/_METADATA`.
    pub fn read(item_dir: &Path) -> Result<Self> {
        let path = item_dir.join(METADATA_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    message: format!(
                        "Metadata file (named {METADATA_FILE}) does not exist at {}.",
                        item_dir.display()
                    ),
                })
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        Self::parse(&text).map_err(|reason| Error::metadata(&path, reason))
    }

    /// Parses the bytes of a `_METADATA` file.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let root = root.as_object().ok_or("top level is not a JSON object")?;
        let tree = root
            .get("tree_metadata")
            .ok_or(
                "no \"tree_metadata\" (a checkpoint from an Orbax older than 0.5 is not supported)",
            )?
            .as_object()
            .ok_or("\"tree_metadata\" is not an object")?;
        let mut entries = Vec::with_capacity(tree.len());
        for (repr, entry) in tree {
            entries.push(parse_entry(entry).map_err(|e| format!("entry {repr}: {e}"))?);
        }
        let optional_bool = |name: &str| -> Result<Option<bool>, String> {
            match root.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(other) => Err(format!("\"{name}\" is not a boolean: {other}")),
            }
        };
        Ok(TreeMetadata {
            entries,
            use_ocdbt: optional_bool("use_ocdbt")?,
            use_zarr3: optional_bool("use_zarr3")?.unwrap_or(false),
            store_array_data_equal_to_fill_value: optional_bool(
                "store_array_data_equal_to_fill_value",
            )?
            .unwrap_or(false),
            custom_metadata_json: root
                .get("custom_metadata")
                .map(Value::to_string)
                .unwrap_or_else(|| "null".to_string()),
            has_rich_types: root.contains_key("value_metadata_tree"),
        })
    }
}

/// The bytes of a `_METADATA` file as Orbax 0.12.8 writes it (Python `json.dumps`, field order
/// of orbax-layout §3.3; `store_array_data_equal_to_fill_value` is always true).
pub fn render_tree_metadata(
    entries: &[TreeEntry],
    use_ocdbt: bool,
    use_zarr3: bool,
    custom_metadata: &PyValue,
) -> String {
    let tree = entries
        .iter()
        .map(|entry| {
            let keys: Vec<&str> = entry.path.iter().map(|k| k.key.as_str()).collect();
            let key_metadata = entry
                .path
                .iter()
                .map(|k| {
                    PyValue::dict([
                        ("key", PyValue::str(k.key.clone())),
                        (
                            "key_type",
                            PyValue::int(match k.key_type {
                                KeyType::Sequence => 1,
                                KeyType::Dict => 2,
                            }),
                        ),
                    ])
                })
                .collect();
            let mut value = vec![
                (
                    "value_type".to_string(),
                    PyValue::str(entry.value_type.clone()),
                ),
                (
                    "skip_deserialize".to_string(),
                    PyValue::Bool(entry.skip_deserialize),
                ),
            ];
            if let Some(shape) = &entry.write_shape {
                value.push((
                    "write_shape".to_string(),
                    PyValue::List(shape.iter().map(|&d| PyValue::int(d)).collect()),
                ));
            }
            (
                python_tuple_repr(&keys),
                PyValue::dict([
                    ("key_metadata", PyValue::List(key_metadata)),
                    ("value_metadata", PyValue::Dict(value)),
                ]),
            )
        })
        .collect::<Vec<_>>();
    python_dumps(&PyValue::dict([
        ("tree_metadata", PyValue::Dict(tree)),
        ("use_ocdbt", PyValue::Bool(use_ocdbt)),
        ("use_zarr3", PyValue::Bool(use_zarr3)),
        ("store_array_data_equal_to_fill_value", PyValue::Bool(true)),
        ("custom_metadata", custom_metadata.clone()),
    ]))
}

fn parse_entry(entry: &Value) -> Result<TreeEntry, String> {
    let keys = entry
        .get("key_metadata")
        .and_then(Value::as_array)
        .ok_or("no \"key_metadata\" list")?;
    let mut path = Vec::with_capacity(keys.len());
    for key in keys {
        let name = match key.get("key") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("a key_metadata entry has no string \"key\"".into()),
        };
        let key_type = match key.get("key_type").and_then(Value::as_u64) {
            Some(1) => KeyType::Sequence,
            Some(2) => KeyType::Dict,
            other => return Err(format!("unknown key_type {other:?} for key {name:?}")),
        };
        path.push(KeyEntry {
            key: name,
            key_type,
        });
    }
    let value = entry
        .get("value_metadata")
        .and_then(Value::as_object)
        .ok_or("no \"value_metadata\" object")?;
    let value_type = value
        .get("value_type")
        .and_then(Value::as_str)
        .ok_or("no string \"value_type\"")?
        .to_string();
    let skip_deserialize = value
        .get("skip_deserialize")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let write_shape = match value.get("write_shape") {
        None | Some(Value::Null) => None,
        Some(Value::Array(dims)) => Some(
            dims.iter()
                .map(|d| {
                    d.as_u64()
                        .ok_or_else(|| format!("bad write_shape dimension {d}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(other) => return Err(format!("bad write_shape {other}")),
    };
    Ok(TreeEntry {
        path,
        value_type,
        skip_deserialize,
        write_shape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The exact document of orbax-layout §3.3 (tree with strings, lists and empty nodes).
    const LAYOUT_EXAMPLE: &str = r#"{"tree_metadata": {"('empty',)": {"key_metadata": [{"key": "empty", "key_type": 2}], "value_metadata": {"value_type": "Dict", "skip_deserialize": true}}, "('hist', '0')": {"key_metadata": [{"key": "hist", "key_type": 2}, {"key": "0", "key_type": 1}], "value_metadata": {"value_type": "scalar", "skip_deserialize": false}}, "('hist', '1')": {"key_metadata": [{"key": "hist", "key_type": 2}, {"key": "1", "key_type": 1}], "value_metadata": {"value_type": "np.ndarray", "skip_deserialize": false}}, "('name',)": {"key_metadata": [{"key": "name", "key_type": 2}], "value_metadata": {"value_type": "string", "skip_deserialize": false}}, "('opt',)": {"key_metadata": [{"key": "opt", "key_type": 2}], "value_metadata": {"value_type": "None", "skip_deserialize": true}}}, "use_ocdbt": true, "use_zarr3": false, "store_array_data_equal_to_fill_value": true, "custom_metadata": null}"#;

    #[test]
    fn parses_the_layout_example_in_file_order() {
        let meta = TreeMetadata::parse(LAYOUT_EXAMPLE.as_bytes()).unwrap();
        let params: Vec<String> = meta.entries.iter().map(TreeEntry::param_name).collect();
        assert_eq!(params, ["empty", "hist.0", "hist.1", "name", "opt"]);
        assert_eq!(meta.entries[1].path[1].key_type, KeyType::Sequence);
        assert_eq!(meta.entries[1].value_type, "scalar");
        assert!(meta.entries[0].skip_deserialize && !meta.entries[0].is_array());
        assert!(meta.entries[2].is_array());
        assert!(meta.entries[3].is_string());
        assert_eq!(meta.use_ocdbt, Some(true));
        assert!(!meta.use_zarr3);
        assert!(meta.store_array_data_equal_to_fill_value);
        assert_eq!(meta.custom_metadata_json, "null");
    }

    #[test]
    fn renders_the_layout_example_byte_for_byte() {
        let meta = TreeMetadata::parse(LAYOUT_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(
            render_tree_metadata(&meta.entries, true, false, &PyValue::None),
            LAYOUT_EXAMPLE
        );
        let with_jax = r#"{"tree_metadata": {"('params', 'b')": {"key_metadata": [{"key": "params", "key_type": 2}, {"key": "b", "key_type": 2}], "value_metadata": {"value_type": "jax.Array", "skip_deserialize": false, "write_shape": [3]}}, "('params', 'w')": {"key_metadata": [{"key": "params", "key_type": 2}, {"key": "w", "key_type": 2}], "value_metadata": {"value_type": "np.ndarray", "skip_deserialize": false}}, "('step',)": {"key_metadata": [{"key": "step", "key_type": 2}], "value_metadata": {"value_type": "scalar", "skip_deserialize": false}}}, "use_ocdbt": true, "use_zarr3": false, "store_array_data_equal_to_fill_value": true, "custom_metadata": null}"#;
        let meta = TreeMetadata::parse(with_jax.as_bytes()).unwrap();
        assert_eq!(
            render_tree_metadata(&meta.entries, true, false, &PyValue::None),
            with_jax
        );
    }

    #[test]
    fn renders_every_fixture_metadata_file_byte_for_byte() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/orbax-0.12.8");
        let mut checked = 0;
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == METADATA_FILE) {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let meta = TreeMetadata::parse(text.as_bytes()).unwrap();
                    if meta.has_rich_types || meta.custom_metadata_json != "null" {
                        continue;
                    }
                    let rendered = render_tree_metadata(
                        &meta.entries,
                        meta.use_ocdbt.unwrap(),
                        meta.use_zarr3,
                        &PyValue::None,
                    );
                    assert_eq!(rendered, text, "{}", path.display());
                    checked += 1;
                }
            }
        }
        assert!(checked >= 15, "{checked}");
    }

    #[test]
    fn reads_write_shape_and_defaults() {
        let doc = r#"{"tree_metadata": {"('b',)": {"key_metadata": [{"key": "b", "key_type": 2}], "value_metadata": {"value_type": "jax.Array", "skip_deserialize": false, "write_shape": [3, 2]}}}, "custom_metadata": {"a": 1}}"#;
        let meta = TreeMetadata::parse(doc.as_bytes()).unwrap();
        assert_eq!(meta.entries[0].write_shape, Some(vec![3, 2]));
        assert_eq!(meta.use_ocdbt, None);
        assert!(!meta.store_array_data_equal_to_fill_value);
        assert_eq!(meta.custom_metadata_json, r#"{"a":1}"#);
    }

    #[test]
    fn rejects_malformed_documents_with_reasons() {
        for (doc, needle) in [
            ("[1]", "not a JSON object"),
            ("{", "not JSON"),
            ("{}", "tree_metadata"),
            (
                r#"{"tree_metadata": {"x": {"key_metadata": [{"key": "a", "key_type": 7}], "value_metadata": {"value_type": "scalar"}}}}"#,
                "key_type",
            ),
            (
                r#"{"tree_metadata": {"x": {"key_metadata": []}}}"#,
                "value_metadata",
            ),
            (r#"{"tree_metadata": {}, "use_zarr3": "yes"}"#, "use_zarr3"),
        ] {
            let err = TreeMetadata::parse(doc.as_bytes()).unwrap_err();
            assert!(err.contains(needle), "{doc}: {err}");
        }
    }

    #[test]
    fn missing_file_is_not_found_with_orbax_wording() {
        let dir = tempfile::tempdir().unwrap();
        let err = TreeMetadata::read(dir.path()).unwrap_err();
        assert_eq!(err.code(), "ERR_NOT_FOUND");
        assert_eq!(
            err.to_string(),
            format!(
                "Metadata file (named _METADATA) does not exist at {}.",
                dir.path().display()
            )
        );
    }
}
