//! Multi-process saves: which process this is, where its block of a global array lies, and the
//! sidecar files that describe jax arrays (`_sharding`, `array_metadatas/process_<i>`).
//!
//! In a multi-process save every process writes only the blocks it owns of each global array,
//! into its own OCDBT database `<item>/ocdbt.process_<i>/` (or as plain zarr files); chunk
//! keys are in the global chunk grid, so the databases' key sets are disjoint except for the
//! zarr metadata, which every holder writes identically. The primary process then merges the
//! databases ([`crate::store_save::finalize_item`]).

use base64::Engine;

use crate::pyjson::{python_dumps, tensorstore_dumps, PyValue};
use crate::save::ArrayToSave;
use crate::{Error, Result};

/// The directory of the per-process array metadata files.
pub const ARRAY_METADATAS_DIR: &str = "array_metadatas";

/// Which of the processes of a save this one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessSpec {
    /// This process (`jax.process_index()`).
    pub index: u32,
    /// How many processes save the item together.
    pub count: u32,
    /// The process that writes the item-wide files and merges (Orbax's primary host).
    pub primary: u32,
}

impl Default for ProcessSpec {
    /// A single-process save.
    fn default() -> Self {
        ProcessSpec {
            index: 0,
            count: 1,
            primary: 0,
        }
    }
}

impl ProcessSpec {
    /// Checks `index < count` and `primary < count`.
    pub fn validate(&self) -> Result<()> {
        if self.count == 0 {
            return Err(Error::InvalidArgument(
                "process count must be at least 1".to_owned(),
            ));
        }
        if self.index >= self.count {
            return Err(Error::InvalidArgument(format!(
                "process index {} is out of range for {} processes",
                self.index, self.count
            )));
        }
        if self.primary >= self.count {
            return Err(Error::InvalidArgument(format!(
                "primary process {} is out of range for {} processes",
                self.primary, self.count
            )));
        }
        Ok(())
    }

    /// True for the primary process.
    pub fn is_primary(&self) -> bool {
        self.index == self.primary
    }

    /// True when several processes save the item.
    pub fn is_multi_process(&self) -> bool {
        self.count > 1
    }

    /// The directory of this process's OCDBT database inside the item, with a trailing `/`.
    pub fn database_dir(&self) -> String {
        process_database_dir(self.index)
    }
}

/// `ocdbt.process_<index>/`.
pub fn process_database_dir(index: u32) -> String {
    format!("{}{index}/", orbax_ocdbt::merge::PROCESS_DIR_PREFIX)
}

/// Where this process's block of a global array lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalPlacement {
    /// The shape of the whole array (the zarr metadata's shape).
    pub global_shape: Vec<u64>,
    /// The index of the block's first element in the global array.
    pub offset: Vec<u64>,
}

/// Checks that `array`'s block (its `shape`) tiles its global array at `placement.offset`,
/// as a jax shard does: same rank, the block shape divides the global shape and the offset,
/// and the block lies inside the array.
pub(crate) fn validate_placement(
    array: &ArrayToSave<'_>,
    placement: &GlobalPlacement,
) -> Result<()> {
    let invalid = |what: String| Err(Error::InvalidArgument(format!("{}: {what}", array.param)));
    let (global, offset, block) = (&placement.global_shape, &placement.offset, &array.shape);
    if global.len() != block.len() || offset.len() != block.len() {
        return invalid(format!(
            "global shape {global:?}, offset {offset:?} and block shape {block:?} must have the same rank"
        ));
    }
    for axis in 0..block.len() {
        let (g, o, b) = (global[axis], offset[axis], block[axis]);
        if b == 0 {
            return invalid("Cannot save arrays with zero size".to_owned());
        }
        if g % b != 0 {
            return invalid(format!(
                "the block shape {block:?} does not divide the global shape {global:?} (axis {axis})"
            ));
        }
        if o % b != 0 {
            return invalid(format!(
                "the offset {offset:?} is not a multiple of the block shape {block:?} (axis {axis})"
            ));
        }
        if o.checked_add(b).is_none_or(|end| end > g) {
            return invalid(format!(
                "the block at offset {offset:?} of shape {block:?} extends past the global shape {global:?} (axis {axis})"
            ));
        }
    }
    Ok(())
}

/// Padded URL-safe base64 of a param name: its key in `_sharding`.
pub fn sharding_key(param: &str) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(param.as_bytes())
}

/// `_sharding` (orbax-layout §3.4): TensorStore JSON, one entry per param with a sharding,
/// key = [`sharding_key`], value = the sharding document as a string.
pub fn render_shardings<'a>(shardings: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let entries = shardings
        .into_iter()
        .map(|(param, doc)| (sharding_key(param), PyValue::str(doc)))
        .collect();
    tensorstore_dumps(&PyValue::Dict(entries))
}

/// One entry of `array_metadatas/process_<i>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayMetadataEntry {
    /// Param name.
    pub param: String,
    /// The shape this process wrote (its block).
    pub write_shape: Vec<u64>,
    /// The zarr chunk shape.
    pub chunk_shape: Vec<u64>,
}

/// `array_metadatas/process_<i>` (orbax-layout §3.5), Python `json.dumps`.
pub fn render_array_metadatas(entries: &[ArrayMetadataEntry]) -> String {
    let ints = |v: &[u64]| PyValue::List(v.iter().map(|&d| PyValue::int(d)).collect());
    let list = entries
        .iter()
        .map(|e| {
            PyValue::dict([(
                "array_metadata",
                PyValue::dict([
                    ("param_name", PyValue::str(e.param.as_str())),
                    ("write_shape", ints(&e.write_shape)),
                    ("chunk_shape", ints(&e.chunk_shape)),
                    ("ext_metadata", PyValue::None),
                ]),
            )])
        })
        .collect();
    python_dumps(&PyValue::dict([("array_metadatas", PyValue::List(list))]))
}

/// The key of process `index`'s array metadata file.
pub fn array_metadatas_key(index: u32) -> String {
    format!("{ARRAY_METADATAS_DIR}/process_{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_render_exactly_like_orbax() {
        assert_eq!(sharding_key("params.b"), "cGFyYW1zLmI=");
        assert_eq!(sharding_key("x"), "eA==");
        assert_eq!(sharding_key("checkpoint"), "Y2hlY2twb2ludA==");
        assert_eq!(
            render_shardings([(
                "params.b",
                r#"{"sharding_type": "SingleDeviceSharding", "device_str": "cpu:0"}"#
            )]),
            r#"{"cGFyYW1zLmI=":"{\"sharding_type\": \"SingleDeviceSharding\", \"device_str\": \"cpu:0\"}"}"#
        );
        // Keys sorted by their base64 text.
        assert_eq!(
            render_shardings([("x", "b"), ("a", "c")]),
            r#"{"YQ==":"c","eA==":"b"}"#
        );
        assert_eq!(
            render_array_metadatas(&[ArrayMetadataEntry {
                param: "params.b".into(),
                write_shape: vec![3],
                chunk_shape: vec![3],
            }]),
            r#"{"array_metadatas": [{"array_metadata": {"param_name": "params.b", "write_shape": [3], "chunk_shape": [3], "ext_metadata": null}}]}"#
        );
        assert_eq!(array_metadatas_key(3), "array_metadatas/process_3");
        assert_eq!(process_database_dir(12), "ocdbt.process_12/");
    }

    #[test]
    fn process_specs_are_checked() {
        ProcessSpec::default().validate().unwrap();
        assert!(ProcessSpec::default().is_primary());
        let spec = ProcessSpec {
            index: 3,
            count: 4,
            primary: 0,
        };
        spec.validate().unwrap();
        assert!(!spec.is_primary() && spec.is_multi_process());
        assert_eq!(spec.database_dir(), "ocdbt.process_3/");
        for (index, count, primary, message) in [
            (4, 4, 0, "process index 4 is out of range for 4 processes"),
            (0, 4, 4, "primary process 4 is out of range for 4 processes"),
            (0, 0, 0, "process count must be at least 1"),
        ] {
            let e = ProcessSpec {
                index,
                count,
                primary,
            }
            .validate()
            .unwrap_err();
            assert_eq!(e.to_string(), message);
            assert_eq!(e.code(), "ERR_INVALID_ARGUMENT");
        }
    }
}
