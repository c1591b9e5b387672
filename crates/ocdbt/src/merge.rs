//! Merging per-process databases into an item's root database, as Orbax's finalize does
//! (`merge_ocdbt_per_process_files`, spec §10.2).
//!
//! Every process of a multi-process save writes its own database in
//! `<item>/ocdbt.process_<i>/`; the primary process then writes `<item>/manifest.ocdbt` and a
//! `<item>/d/<hex>` data file holding a **new** B+tree over the union of all keys. Inline values
//! are copied into its leaves; out-of-line values are not copied but referenced in the process
//! databases' data files through `base_path = "ocdbt.process_<i>/"` (offset and length
//! unchanged). The root therefore depends on the process directories' data files, not on
//! their manifests or B+tree nodes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use orbax_kvstore::{FileStore, PrefixStore, WritableStore};
use orbax_ocdbt_format::{DataFileId, IndirectDataReference, LeafValue};

use crate::writer::{CommitSummary, DatabaseWriter, WriterOptions};
use crate::{Database, Error, Result};

/// Prefix of the per-process database directories Orbax globs (`ocdbt.process_*`).
pub const PROCESS_DIR_PREFIX: &str = "ocdbt.process_";

/// Writes a new database at the root of `root` whose keys are the union of the latest
/// generation of every source, like Orbax's finalize.
///
/// Each source is `(dir, database)`: the database's directory relative to `root`
/// (e.g. `"ocdbt.process_0/"`; a missing trailing `/` is added) and the database opened on
/// it. Inline values are copied; out-of-line values are referenced with the file id
/// `dir ‖ base_path`, `relative_path` and the same byte range, so nothing large is read or
/// copied. A key present in two sources is an [`Error::DuplicateKey`]. The new tree's nodes go
/// to the root's own `d/<hex>` file; the manifest holds generation 1 and `options.config`
/// (by default Orbax's, with a new uuid).
///
/// A key present in two sources is an [`Error::DuplicateKey`] (two processes claiming the
/// same chunk, or disagreeing on an array's layout), except when both values are inline and
/// byte-identical: every process holding a block of an array writes the same zarr metadata
/// into its own database, and the root keeps one copy.
pub fn merge_databases(
    root: Arc<dyn orbax_kvstore::WritableStore>,
    options: WriterOptions,
    sources: &[(&str, Database)],
) -> Result<CommitSummary> {
    let writer = DatabaseWriter::new(root, options)?;
    // Inline values already merged, to recognize identical copies from other sources (only
    // needed with several sources; the writer keeps its own copy of each).
    let mut inline_seen: HashMap<Vec<u8>, Bytes> = HashMap::new();
    let several = sources.len() > 1;
    for (dir, db) in sources {
        let dir = normalize_dir(dir)?;
        // Every leaf of a source shares a few file ids; rebase each one once.
        let mut rebased: HashMap<DataFileId, Arc<DataFileId>> = HashMap::new();
        db.latest().for_each_value(b"", None, |key, value| {
            let result = match value {
                LeafValue::Inline(bytes) if several => match inline_seen.get(key) {
                    Some(seen) if seen == bytes => Ok(()),
                    Some(_) => Err(Error::DuplicateKey {
                        key: key.escape_ascii().to_string(),
                        path: "the merged root (another process database holds a different value)"
                            .to_owned(),
                    }),
                    None => writer.put(key, bytes).map(|()| {
                        inline_seen.insert(key.to_vec(), bytes.clone());
                    }),
                },
                LeafValue::Inline(bytes) => writer.put(key, bytes),
                LeafValue::OutOfLine(r) => {
                    let file = rebased
                        .entry((*r.file).clone())
                        .or_insert_with(|| {
                            let mut base_path = dir.as_bytes().to_vec();
                            base_path.extend_from_slice(&r.file.base_path);
                            Arc::new(DataFileId::new(base_path, r.file.relative_path.clone()))
                        })
                        .clone();
                    writer.put_reference(key, IndirectDataReference::new(file, r.offset, r.length))
                }
            };
            result.map_err(|e| match e {
                Error::DuplicateKey { key, path } => Error::DuplicateKey {
                    key,
                    path: format!("{path} (merging {dir}, which holds the key again)"),
                },
                other => other,
            })
        })?;
    }
    writer.commit()
}

/// Merges every per-process database of an Orbax item directory into the item's root
/// database: opens each `<item_dir>/ocdbt.process_*` directory (in name order; one without
/// a `manifest.ocdbt` is an empty database and contributes nothing) and calls
/// [`merge_databases`] with the root at `item_dir`.
pub fn merge_item_directory(
    item_dir: impl AsRef<Path>,
    options: WriterOptions,
) -> Result<CommitSummary> {
    let item_dir = item_dir.as_ref();
    merge_item_directory_into(item_dir, Arc::new(FileStore::new(item_dir)), options)
}

/// [`merge_item_directory`] writing the root database through `root`, a store over
/// `item_dir` (e.g. one whose syncs are deferred to the end of a checkpoint save).
pub fn merge_item_directory_into(
    item_dir: &Path,
    root: Arc<dyn orbax_kvstore::WritableStore>,
    options: WriterOptions,
) -> Result<CommitSummary> {
    let io = |e: std::io::Error| {
        Error::Store(orbax_kvstore::Error::Io {
            path: item_dir.display().to_string(),
            source: e,
        })
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(item_dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with(PROCESS_DIR_PREFIX) && entry.file_type().map_err(io)?.is_dir() {
            names.push(name);
        }
    }
    names.sort();
    let mut sources = Vec::with_capacity(names.len());
    for name in &names {
        match Database::open(Arc::new(FileStore::new(item_dir.join(name)))) {
            Ok(db) => sources.push((format!("{name}/"), db)),
            Err(Error::NoManifest { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let sources: Vec<(&str, Database)> = sources
        .iter()
        .map(|(dir, db)| (dir.as_str(), db.clone()))
        .collect();
    merge_databases(root, options, &sources)
}

/// The per-process database directories of an item whose keys `root` holds: every
/// `ocdbt.process_*` directory (one path segment) that has a `manifest.ocdbt`, sorted by name.
/// Found by listing the store, so it works on object stores as well as directories.
pub fn process_databases_in(root: &dyn WritableStore) -> Result<Vec<String>> {
    let keys = root.list_prefix(PROCESS_DIR_PREFIX.as_bytes())?;
    let mut names: Vec<String> = keys
        .iter()
        .filter_map(|key| {
            let key = std::str::from_utf8(key).ok()?;
            let dir = key.strip_suffix("/manifest.ocdbt")?;
            (!dir.contains('/')).then(|| dir.to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Merges every per-process database of the item whose keys `root` holds (a directory, an
/// object-store prefix, memory) into the item's root database at the root of `root`, like
/// [`merge_item_directory`]: the databases are found by listing `ocdbt.process_*` keys
/// ([`process_databases_in`]) and read through views of `root` under their directory.
pub fn merge_item_store(
    root: Arc<dyn WritableStore>,
    options: WriterOptions,
) -> Result<CommitSummary> {
    let names = process_databases_in(root.as_ref())?;
    let mut sources = Vec::with_capacity(names.len());
    for name in &names {
        let dir = format!("{name}/");
        let view = PrefixStore::new(Arc::clone(&root), dir.as_bytes());
        sources.push((dir, Database::open(Arc::new(view))?));
    }
    let sources: Vec<(&str, Database)> = sources
        .iter()
        .map(|(dir, db)| (dir.as_str(), db.clone()))
        .collect();
    merge_databases(root, options, &sources)
}

/// Checks a source directory (relative, inside the root, UTF-8) and ends it with `/`.
fn normalize_dir(dir: &str) -> Result<String> {
    let invalid = |reason: &str| Error::InvalidArgument {
        what: format!("merge source directory {dir:?} {reason}"),
    };
    if dir.is_empty() || dir == "/" {
        return Err(invalid("is empty: a source must live in a subdirectory"));
    }
    if dir.starts_with('/') || dir.contains('\\') {
        return Err(invalid("must be a relative path with '/' separators"));
    }
    if dir
        .trim_end_matches('/')
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(invalid("must not contain empty, '.' or '..' components"));
    }
    Ok(if dir.ends_with('/') {
        dir.to_owned()
    } else {
        format!("{dir}/")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_directories_are_normalized_and_checked() {
        assert_eq!(
            normalize_dir("ocdbt.process_0").unwrap(),
            "ocdbt.process_0/"
        );
        assert_eq!(normalize_dir("a/b/").unwrap(), "a/b/");
        for bad in ["", "/", "/abs/", "../up/", "a//b/", "a/./b", "a\\b"] {
            let e = normalize_dir(bad).unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_ARGUMENT", "{bad:?}");
        }
    }
}
