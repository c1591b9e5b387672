//! Directory-like views of an [`ObjectStoreKv`], for the TS layer's `Storage` (step discovery,
//! checkpoint utilities): objects with their size and modification time, the first-level
//! children of a prefix, server-side copies. Object stores have no directories: a "directory"
//! is a key prefix ending at a `/` that at least one object starts with.

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::ObjectStoreExt;

use crate::error::{Error, Operation, Result};
use crate::store::ObjectStoreKv;

/// An object under a store's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its key, relative to the store's prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, in milliseconds since the Unix epoch.
    pub modified_ms: i64,
}

/// One first-level child of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    /// True when some key continues below it (`name/…`).
    pub is_directory: bool,
}

/// The distinct first components of `keys` (relative, `/`-separated), sorted by name. A name
/// that is both an object and a prefix of others (impossible on a file system) is one
/// directory entry.
pub fn children_of<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<Child> {
    let mut children: Vec<Child> = Vec::new();
    let mut all: Vec<(&str, bool)> = keys
        .into_iter()
        .filter(|key| !key.is_empty())
        .map(|key| match key.split_once('/') {
            Some((first, _)) => (first, true),
            None => (key, false),
        })
        .collect();
    all.sort();
    for (name, is_directory) in all {
        match children.last_mut() {
            Some(last) if last.name == name => last.is_directory |= is_directory,
            _ => children.push(Child {
                name: name.to_owned(),
                is_directory,
            }),
        }
    }
    children
}

fn modified_ms(meta: &object_store::ObjectMeta) -> i64 {
    meta.last_modified.timestamp_millis()
}

impl ObjectStoreKv {
    /// Every object under `dir/` (the whole store for `""`), keys relative to the store's
    /// prefix, sorted.
    pub fn list_objects(&self, dir: &str) -> Result<Vec<ListedObject>> {
        let inner = &self.inner;
        let list_root = if dir.is_empty() {
            inner.root.clone()
        } else {
            match inner.path_of(dir.as_bytes()) {
                Ok(path) => path,
                // No object can be under an invalid directory name.
                Err(_) => return Ok(Vec::new()),
            }
        };
        let metas = inner.list_metas(&list_root, &inner.describe(dir.as_bytes()))?;
        let mut objects: Vec<ListedObject> = metas
            .iter()
            .filter_map(|meta| {
                let key = String::from_utf8(inner.key_of(&meta.location)?).ok()?;
                Some(ListedObject {
                    key,
                    size: meta.size,
                    modified_ms: modified_ms(meta),
                })
            })
            .collect();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    /// The first-level children of the store's prefix (one delimited LIST, not a walk of the
    /// whole tree), sorted by name.
    pub fn list_children(&self) -> Result<Vec<Child>> {
        let inner = &self.inner;
        let object = format!("{}/", inner.describe(b"").trim_end_matches('/'));
        let listed = inner.run(Operation::List, &object, true, || {
            inner.store.list_with_delimiter(inner.root_path())
        });
        let listed = match listed {
            Ok(listed) => listed,
            Err(Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut keys: Vec<String> = Vec::new();
        for meta in &listed.objects {
            if let Some(key) = inner.key_of(&meta.location) {
                keys.push(String::from_utf8_lossy(&key).into_owned());
            }
        }
        for prefix in &listed.common_prefixes {
            if let Some(key) = inner.key_of(prefix) {
                keys.push(format!("{}/", String::from_utf8_lossy(&key)));
            }
        }
        Ok(children_of(keys.iter().map(String::as_str)))
    }

    /// Removes every object under the store's prefix (batched deletes where the store has
    /// them, e.g. S3's DeleteObjects).
    pub fn remove_all(&self) -> Result<()> {
        let inner = &self.inner;
        let objects = self.list_objects("")?;
        if objects.is_empty() {
            return Ok(());
        }
        let mut paths = Vec::with_capacity(objects.len());
        for object in &objects {
            paths.push(inner.path_of(object.key.as_bytes())?);
        }
        let object = format!("{}/", inner.describe(b"").trim_end_matches('/'));
        let removed = inner.run(Operation::Delete, &object, true, || {
            let stream = futures::stream::iter(paths.clone().into_iter().map(Ok)).boxed();
            inner.store.delete_stream(stream).try_collect::<Vec<Path>>()
        });
        match removed {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The object `key` with its size and modification time, `None` when absent.
    pub fn stat_object(&self, key: &str) -> Result<Option<ListedObject>> {
        let inner = &self.inner;
        let path = inner.path_of(key.as_bytes())?;
        let object = inner.describe(key.as_bytes());
        match inner.run(Operation::Head, &object, true, || inner.store.head(&path)) {
            Ok(meta) => Ok(Some(ListedObject {
                key: key.to_owned(),
                size: meta.size,
                modified_ms: modified_ms(&meta),
            })),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Copies the object `from` to `to` of `destination` (server-side when both are in the
    /// same object store; otherwise through this process).
    pub fn copy_object(&self, from: &str, destination: &ObjectStoreKv, to: &str) -> Result<()> {
        let inner = &self.inner;
        let source = inner.path_of(from.as_bytes())?;
        if std::sync::Arc::ptr_eq(&inner.store, &destination.inner.store) {
            let target = destination.inner.path_of(to.as_bytes())?;
            let object = destination.inner.describe(to.as_bytes());
            return inner.run(Operation::Write, &object, true, || {
                inner.store.copy(&source, &target)
            });
        }
        let value = self
            .get(from.as_bytes(), None)?
            .ok_or_else(|| Error::NotFound {
                object: inner.describe(from.as_bytes()),
            })?;
        destination.put(to.as_bytes(), &value).map(|_| ())
    }
}

impl crate::store::Inner {
    /// The store's own prefix, `None` for a bucket's root.
    fn root_path(&self) -> Option<&Path> {
        (!self.root.as_ref().is_empty()).then_some(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(name: &str, is_directory: bool) -> Child {
        Child {
            name: name.into(),
            is_directory,
        }
    }

    #[test]
    fn children_are_the_distinct_first_components() {
        let keys = ["b/x", "a", "b/y/z", "c/d", "c", "", "a0"];
        assert_eq!(
            children_of(keys),
            vec![
                child("a", false),
                child("a0", false),
                child("b", true),
                child("c", true)
            ]
        );
        assert!(children_of([]).is_empty());
    }

    #[test]
    fn lists_stats_and_copies_objects_of_a_memory_store() {
        let root = crate::open_url("memory://tree-test", &crate::StoreOptions::default()).unwrap();
        let dir = root.child("run").unwrap();
        dir.put(b"1/a", b"xy").unwrap();
        dir.put(b"1/sub/b", b"z").unwrap();
        dir.put(b"2", b"").unwrap();
        let keys: Vec<String> = dir
            .list_objects("")
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["1/a", "1/sub/b", "2"]);
        assert_eq!(
            dir.list_children().unwrap(),
            [child("1", true), child("2", false)]
        );
        assert_eq!(
            dir.child("1").unwrap().list_children().unwrap(),
            [child("a", false), child("sub", true)]
        );
        assert!(dir.child("9").unwrap().list_children().unwrap().is_empty());
        let under: Vec<(String, u64)> = dir
            .list_objects("1")
            .unwrap()
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect();
        assert_eq!(under, [("1/a".to_owned(), 2), ("1/sub/b".to_owned(), 1)]);
        assert!(dir.list_objects("3").unwrap().is_empty());
        let stat = dir.stat_object("1/a").unwrap().unwrap();
        assert_eq!(stat.size, 2);
        assert!(stat.modified_ms > 0);
        assert!(dir.stat_object("1").unwrap().is_none());
        dir.copy_object("1/a", &root, "copy/a").unwrap();
        assert_eq!(&root.get(b"copy/a", None).unwrap().unwrap()[..], b"xy");
        let other =
            crate::open_url("memory://tree-test-other", &crate::StoreOptions::default()).unwrap();
        dir.copy_object("1/sub/b", &other, "b").unwrap();
        assert_eq!(&other.get(b"b", None).unwrap().unwrap()[..], b"z");
        dir.remove_all().unwrap();
        assert!(dir.list_objects("").unwrap().is_empty());
        assert_eq!(
            root.list_objects("").unwrap().len(),
            1,
            "only copy/a is left"
        );
        assert!(crate::drop_memory_store("tree-test"));
        assert!(crate::drop_memory_store("tree-test-other"));
    }
}
