//! A thread-safe LRU cache of decoded nodes, bounded by an estimate of their memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lru::LruCache;
use orbax_ocdbt_format::{BtreeNode, DataFileId, VersionTreeNode};
use parking_lot::Mutex;

/// Which kind of node a cache entry holds. Part of the key so that a byte range can never be
/// served as the wrong kind of node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum NodeKind {
    Btree,
    Version,
}

/// Identity of an encoded node: the file (base path and relative path, because the base path
/// changes how the node's own data file table decodes) and the byte range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct NodeKey {
    pub kind: NodeKind,
    pub file: Arc<DataFileId>,
    pub offset: u64,
    pub length: u64,
}

#[derive(Debug, Clone)]
pub(crate) enum CachedNode {
    Btree(Arc<BtreeNode>),
    Version(Arc<VersionTreeNode>),
}

#[derive(Debug)]
struct State {
    lru: LruCache<NodeKey, (CachedNode, usize)>,
    bytes: usize,
}

/// Counters of a [`crate::Database`]'s node cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Nodes currently cached.
    pub entries: usize,
    /// Estimated bytes they occupy.
    pub bytes: usize,
    /// Lookups served from the cache.
    pub hits: u64,
    /// Lookups that had to read and decode the node.
    pub misses: u64,
}

#[derive(Debug)]
pub(crate) struct NodeCache {
    capacity: usize,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl NodeCache {
    pub(crate) fn new(capacity: usize) -> Self {
        NodeCache {
            capacity,
            state: Mutex::new(State {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, key: &NodeKey) -> Option<CachedNode> {
        let found = self.state.lock().lru.get(key).map(|(node, _)| node.clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub(crate) fn insert(&self, key: NodeKey, node: CachedNode, size: usize) {
        // A node larger than the whole cache would only evict everything else.
        if size > self.capacity {
            return;
        }
        let mut state = self.state.lock();
        if let Some((_, old)) = state.lru.put(key, (node, size)) {
            state.bytes -= old;
        }
        state.bytes += size;
        while state.bytes > self.capacity {
            match state.lru.pop_lru() {
                Some((_, (_, evicted))) => state.bytes -= evicted,
                None => break,
            }
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let state = self.state.lock();
        CacheStats {
            entries: state.lru.len(),
            bytes: state.bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbax_ocdbt_format::{BtreeNodeEntries, LeafEntry, LeafValue};

    fn key(offset: u64) -> NodeKey {
        NodeKey {
            kind: NodeKind::Btree,
            file: Arc::new(DataFileId::new("", "d/x")),
            offset,
            length: 10,
        }
    }

    fn node() -> CachedNode {
        CachedNode::Btree(Arc::new(BtreeNode {
            height: 0,
            entries: BtreeNodeEntries::Leaf(vec![LeafEntry {
                key: b"k".to_vec(),
                value: LeafValue::Inline(Default::default()),
            }]),
        }))
    }

    #[test]
    fn evicts_least_recently_used_beyond_capacity() {
        let cache = NodeCache::new(250);
        cache.insert(key(0), node(), 100);
        cache.insert(key(1), node(), 100);
        assert!(cache.get(&key(0)).is_some()); // key(1) is now least recently used
        cache.insert(key(2), node(), 100);
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(0)).is_some());
        assert!(cache.get(&key(2)).is_some());
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes), (2, 200));
        assert_eq!((stats.hits, stats.misses), (3, 1));
        // Same range as another kind of node is a different entry.
        let mut version = key(0);
        version.kind = NodeKind::Version;
        assert!(cache.get(&version).is_none());
    }

    #[test]
    fn oversized_nodes_and_zero_capacity_cache_nothing() {
        let cache = NodeCache::new(0);
        cache.insert(key(0), node(), 1);
        assert!(cache.get(&key(0)).is_none());
        let cache = NodeCache::new(50);
        cache.insert(key(0), node(), 51);
        assert_eq!(cache.stats().entries, 0);
    }
}
