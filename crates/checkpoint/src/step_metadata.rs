//! `_CHECKPOINT_METADATA`: the step metadata Orbax writes at the top of every save
//! (orbax-layout §3.2), read with Orbax's tolerance: a missing or unparseable file gives
//! defaults, missing keys give defaults, unknown keys fold into `custom_metadata`.

use std::path::Path;

use orbax_kvstore::ReadableStore;
use serde_json::{Map, Value};

use crate::pyjson::{python_dumps, PyValue};
use crate::{Error, Result};

/// File name of the step metadata.
pub const CHECKPOINT_METADATA_FILE: &str = "_CHECKPOINT_METADATA";

/// `item_handlers`: which Python handler class wrote the item(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemHandlers {
    /// One handler (a plain `Checkpointer(handler)` save).
    Single(String),
    /// Item name → handler typestr (composite saves and every manager save), in file order.
    Composite(Vec<(String, Option<String>)>),
}

/// The parsed `_CHECKPOINT_METADATA`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepMetadataFile {
    /// `item_handlers`, `None` when null or absent.
    pub item_handlers: Option<ItemHandlers>,
    /// `metrics` as JSON text (`{}` by default).
    pub metrics_json: String,
    /// `performance_metrics`: name → float.
    pub performance_metrics: Vec<(String, f64)>,
    /// `init_timestamp_nsecs`.
    pub init_timestamp_nsecs: Option<i64>,
    /// `commit_timestamp_nsecs`.
    pub commit_timestamp_nsecs: Option<i64>,
    /// `custom_metadata` as JSON text (`{}` by default), unknown top-level keys folded in.
    pub custom_metadata_json: String,
}

const KNOWN_KEYS: [&str; 6] = [
    "item_handlers",
    "metrics",
    "performance_metrics",
    "init_timestamp_nsecs",
    "commit_timestamp_nsecs",
    "custom_metadata",
];

impl StepMetadataFile {
    /// Defaults, as Orbax uses them for a missing file.
    pub fn empty() -> Self {
        StepMetadataFile {
            metrics_json: "{}".into(),
            custom_metadata_json: "{}".into(),
            ..Default::default()
        }
    }

    /// Reads `<dir>/_CHECKPOINT_METADATA`; a missing or unparseable file gives defaults, like
    /// Orbax. Type errors inside a parseable file are reported.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(CHECKPOINT_METADATA_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_bytes(&path.display().to_string(), Some(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::empty()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Reads `_CHECKPOINT_METADATA` of the step directory `store` (an object-store prefix),
    /// with the tolerance of [`StepMetadataFile::read`].
    pub fn read_store<S: ReadableStore + ?Sized>(store: &S) -> Result<Self> {
        let bytes = store.read(CHECKPOINT_METADATA_FILE.as_bytes(), None)?;
        Self::from_bytes(
            &store.describe(CHECKPOINT_METADATA_FILE.as_bytes()),
            bytes.as_deref(),
        )
    }

    /// Interprets the file's bytes (`None`: no file), named `file` in messages.
    fn from_bytes(file: &str, bytes: Option<&[u8]>) -> Result<Self> {
        let Some(bytes) = bytes else {
            return Ok(Self::empty());
        };
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Self::from_map(map).map_err(|reason| Error::Metadata {
                file: file.to_owned(),
                reason,
            }),
            _ => Ok(Self::empty()),
        }
    }

    /// Interprets a parsed document.
    pub fn from_map(mut map: Map<String, Value>) -> Result<Self, String> {
        let mut custom = match map.remove("custom_metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => return Err(format!("custom_metadata is not a dict: {other}")),
        };
        let unknown: Vec<String> = map
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            if !custom.is_empty() {
                return Err(format!(
                    "Provided metadata contains unknown key {}",
                    unknown.join(", ")
                ));
            }
            for key in unknown {
                if let Some(value) = map.remove(&key) {
                    custom.insert(key, value);
                }
            }
        }
        let item_handlers = match map.remove("item_handlers") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(ItemHandlers::Single(s)),
            Some(Value::Object(m)) => Some(ItemHandlers::Composite(
                m.into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k, Some(s))),
                        Value::Null => Ok((k, None)),
                        other => Err(format!("item_handlers[{k:?}] is not a string: {other}")),
                    })
                    .collect::<Result<_, _>>()?,
            )),
            Some(other) => return Err(format!("item_handlers is not a str or dict: {other}")),
        };
        let timestamp = |v: Option<Value>, name: &str| match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(other) => Err(format!("{name} is not an int: {other}")),
        };
        let init_timestamp_nsecs =
            timestamp(map.remove("init_timestamp_nsecs"), "init_timestamp_nsecs")?;
        let commit_timestamp_nsecs = timestamp(
            map.remove("commit_timestamp_nsecs"),
            "commit_timestamp_nsecs",
        )?;
        let metrics_json = match map.remove("metrics") {
            None | Some(Value::Null) => "{}".to_string(),
            Some(v @ Value::Object(_)) => v.to_string(),
            Some(other) => return Err(format!("metrics is not a dict: {other}")),
        };
        let performance_metrics = match map.remove("performance_metrics") {
            Some(Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_f64().map(|f| (k, f)))
                .collect(),
            _ => Vec::new(),
        };
        Ok(StepMetadataFile {
            item_handlers,
            metrics_json,
            performance_metrics,
            init_timestamp_nsecs,
            commit_timestamp_nsecs,
            custom_metadata_json: Value::Object(custom).to_string(),
        })
    }
}

/// The bytes of a `_CHECKPOINT_METADATA` file as Orbax writes it (Python `json.dumps`, field
/// order of orbax-layout §3.2; `metrics` and `performance_metrics` are always `{}` in 0.12.x).
pub fn render_step_metadata(
    item_handlers: Option<&ItemHandlers>,
    init_timestamp_nsecs: Option<i64>,
    commit_timestamp_nsecs: Option<i64>,
    custom_metadata: &PyValue,
) -> String {
    let handlers = match item_handlers {
        None => PyValue::None,
        Some(ItemHandlers::Single(s)) => PyValue::str(s.clone()),
        Some(ItemHandlers::Composite(items)) => {
            // Orbax sorts composite and manager item handlers by item name.
            let mut sorted: Vec<&(String, Option<String>)> = items.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            PyValue::Dict(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v.clone().map_or(PyValue::None, PyValue::Str)))
                    .collect(),
            )
        }
    };
    let timestamp = |t: Option<i64>| t.map_or(PyValue::None, PyValue::int);
    python_dumps(&PyValue::dict([
        ("item_handlers", handlers),
        ("metrics", PyValue::Dict(Vec::new())),
        ("performance_metrics", PyValue::Dict(Vec::new())),
        ("init_timestamp_nsecs", timestamp(init_timestamp_nsecs)),
        ("commit_timestamp_nsecs", timestamp(commit_timestamp_nsecs)),
        ("custom_metadata", custom_metadata.clone()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(doc: &str) -> Result<StepMetadataFile, String> {
        match serde_json::from_str::<Value>(doc).unwrap() {
            Value::Object(m) => StepMetadataFile::from_map(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn parses_the_standard_checkpointer_example() {
        let doc = r#"{"item_handlers": "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler", "metrics": {}, "performance_metrics": {}, "init_timestamp_nsecs": 1795462999511455725, "commit_timestamp_nsecs": 1795462999586195201, "custom_metadata": {}}"#;
        let meta = parse(doc).unwrap();
        assert_eq!(
            meta.item_handlers,
            Some(ItemHandlers::Single(
                "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler".into()
            ))
        );
        assert_eq!(meta.init_timestamp_nsecs, Some(1795462999511455725));
        assert_eq!(meta.commit_timestamp_nsecs, Some(1795462999586195201));
        assert_eq!(meta.custom_metadata_json, "{}");
        assert_eq!(meta.metrics_json, "{}");
    }

    #[test]
    fn renders_orbax_files_byte_for_byte() {
        let single = r#"{"item_handlers": "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler", "metrics": {}, "performance_metrics": {}, "init_timestamp_nsecs": 1795462999511455725, "commit_timestamp_nsecs": 1795462999586195201, "custom_metadata": {}}"#;
        let handlers = ItemHandlers::Single(
            "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler"
                .into(),
        );
        assert_eq!(
            render_step_metadata(
                Some(&handlers),
                Some(1795462999511455725),
                Some(1795462999586195201),
                &PyValue::Dict(vec![])
            ),
            single
        );
        let composite = r#"{"item_handlers": {"cfg": "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler", "metrics": "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler", "state": "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler"}, "metrics": {}, "performance_metrics": {}, "init_timestamp_nsecs": 1795463153686577102, "commit_timestamp_nsecs": 1795463153750247257, "custom_metadata": {"k": "v"}}"#;
        let json = "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler";
        let handlers = ItemHandlers::Composite(vec![
            ("state".into(), Some("orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler".into())),
            ("metrics".into(), Some(json.into())),
            ("cfg".into(), Some(json.into())),
        ]);
        let custom = PyValue::dict([("k", PyValue::str("v"))]);
        assert_eq!(
            render_step_metadata(
                Some(&handlers),
                Some(1795463153686577102),
                Some(1795463153750247257),
                &custom
            ),
            composite
        );
        assert_eq!(
            render_step_metadata(None, Some(5), None, &PyValue::Dict(vec![])),
            r#"{"item_handlers": null, "metrics": {}, "performance_metrics": {}, "init_timestamp_nsecs": 5, "commit_timestamp_nsecs": null, "custom_metadata": {}}"#
        );
    }

    #[test]
    fn composite_handlers_keep_file_order_and_nulls() {
        let meta =
            parse(r#"{"item_handlers": {"b": "x.B", "a": null}, "commit_timestamp_nsecs": null}"#)
                .unwrap();
        assert_eq!(
            meta.item_handlers,
            Some(ItemHandlers::Composite(vec![
                ("b".into(), Some("x.B".into())),
                ("a".into(), None)
            ]))
        );
        assert_eq!(meta.commit_timestamp_nsecs, None);
    }

    #[test]
    fn unknown_keys_fold_into_custom_metadata_unless_it_is_set() {
        let meta = parse(r#"{"extra": 5, "custom_metadata": {}}"#).unwrap();
        assert_eq!(meta.custom_metadata_json, r#"{"extra":5}"#);
        let err = parse(r#"{"extra": 5, "custom_metadata": {"k": 1}}"#).unwrap_err();
        assert_eq!(err, "Provided metadata contains unknown key extra");
    }

    #[test]
    fn type_errors_are_reported() {
        assert!(parse(r#"{"init_timestamp_nsecs": "soon"}"#)
            .unwrap_err()
            .contains("init_timestamp_nsecs"));
        assert!(parse(r#"{"item_handlers": 3}"#)
            .unwrap_err()
            .contains("item_handlers"));
        assert!(parse(r#"{"custom_metadata": []}"#)
            .unwrap_err()
            .contains("custom_metadata"));
    }

    #[test]
    fn missing_or_garbage_files_give_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            StepMetadataFile::read(dir.path()).unwrap(),
            StepMetadataFile::empty()
        );
        std::fs::write(dir.path().join(CHECKPOINT_METADATA_FILE), b"{not json").unwrap();
        assert_eq!(
            StepMetadataFile::read(dir.path()).unwrap(),
            StepMetadataFile::empty()
        );
    }

    #[test]
    fn reads_step_metadata_from_a_store_with_the_same_tolerance() {
        let mut store = orbax_kvstore::MemoryStore::new("mem://5");
        assert_eq!(
            StepMetadataFile::read_store(&store).unwrap(),
            StepMetadataFile::empty()
        );
        store.insert(
            CHECKPOINT_METADATA_FILE.as_bytes().to_vec(),
            render_step_metadata(None, Some(7), Some(9), &PyValue::Dict(Vec::new())),
        );
        let read = StepMetadataFile::read_store(&store).unwrap();
        assert_eq!(
            (read.init_timestamp_nsecs, read.commit_timestamp_nsecs),
            (Some(7), Some(9))
        );
        store.insert(
            CHECKPOINT_METADATA_FILE.as_bytes().to_vec(),
            &b"{\"init_timestamp_nsecs\": \"x\"}"[..],
        );
        let err = StepMetadataFile::read_store(&store).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("malformed mem://5/_CHECKPOINT_METADATA"),
            "{err}"
        );
    }
}
