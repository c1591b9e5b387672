//! Shared test support: the conformance suite every store must pass, the moto server and the
//! fault-injecting proxy.

#![allow(dead_code)]

pub mod moto;
pub mod proxy;

use orbax_kvstore::{ReadableStore, WritableStore};
use orbax_objstore::{Error, ObjectStoreKv};

/// What a store under test can do.
pub struct Expect {
    /// Conditional updates (`If-Match`); local directories have none.
    pub conditional_update: bool,
    /// The store's part size: appendable values are tested across several parts.
    pub part_size: usize,
    /// A key may also be the prefix of other keys followed by `/` (`a` and `a/b`): true on
    /// object stores, false in directories (`a` cannot be a file and a directory).
    pub key_can_be_a_directory: bool,
}

/// The objstore error inside a kvstore error.
pub fn objstore_error(error: &orbax_kvstore::Error) -> &Error {
    Error::from_kvstore(error).unwrap_or_else(|| panic!("not an objstore error: {error:?}"))
}

/// Deterministic, non-repeating-looking bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

/// Reads, ranges, listing, writes, atomic replacement, deletion, multipart appends,
/// conditional writes and key validation: what OCDBT, zarr and the commit protocol need.
/// `store` must be empty.
pub fn conformance(store: &ObjectStoreKv, expect: &Expect) {
    reads_and_ranges(store);
    lists_sorted_by_byte_prefix(store, expect.key_can_be_a_directory);
    replaces_and_deletes(store);
    appends_as_multipart(store, expect.part_size);
    conditional_writes(store, expect.conditional_update);
    rejects_invalid_keys(store);
    serves_threads_concurrently(store);
}

fn reads_and_ranges(store: &ObjectStoreKv) {
    assert!(store.read(b"r/absent", None).unwrap().is_none());
    assert!(store.read(b"r/absent", Some(0..1)).unwrap().is_none());
    assert!(store.read(b"r/absent", Some(0..0)).unwrap().is_none());
    store.write(b"r/v", b"hello").unwrap();
    assert_eq!(store.read(b"r/v", None).unwrap().unwrap(), &b"hello"[..]);
    assert_eq!(store.read(b"r/v", Some(1..3)).unwrap().unwrap(), &b"el"[..]);
    assert_eq!(
        store.read(b"r/v", Some(0..5)).unwrap().unwrap(),
        &b"hello"[..]
    );
    assert_eq!(store.read(b"r/v", Some(5..5)).unwrap().unwrap(), &b""[..]);
    // Clipped reads (read-ahead windows) get what exists of the range, in one request.
    assert_eq!(
        store.read_clipped(b"r/v", 1..3).unwrap().unwrap(),
        &b"el"[..]
    );
    assert_eq!(
        store.read_clipped(b"r/v", 2..100).unwrap().unwrap(),
        &b"llo"[..]
    );
    assert_eq!(
        store.read_clipped(b"r/v", 5..100).unwrap().unwrap(),
        &b""[..]
    );
    assert_eq!(
        store.read_clipped(b"r/v", 9..100).unwrap().unwrap(),
        &b""[..]
    );
    assert!(store.read_clipped(b"r/absent", 0..100).unwrap().is_none());
    assert_eq!(store.read(b"r/v", Some(2..2)).unwrap().unwrap(), &b""[..]);
    // The last one is inverted (start > end), as a corrupt index could ask.
    #[allow(clippy::reversed_empty_ranges)]
    let ranges = [4..6, 5..6, 7..9, 6..6, 3..2];
    for range in ranges {
        match store.read(b"r/v", Some(range.clone())) {
            Err(orbax_kvstore::Error::RangeOutOfBounds {
                path,
                start,
                end,
                size,
            }) => {
                assert_eq!((start, end, size), (range.start, range.end, 5), "{range:?}");
                assert_eq!(path, store.describe(b"r/v"));
            }
            other => panic!("{range:?}: {other:?}"),
        }
    }
    store.write(b"r/empty", b"").unwrap();
    assert_eq!(store.read(b"r/empty", None).unwrap().unwrap(), &b""[..]);
    assert_eq!(store.head(b"r/v").unwrap().unwrap().size, 5);
    assert!(store.head(b"r/absent").unwrap().is_none());
    assert!(store
        .describe(b"r/v")
        .starts_with(&format!("{}/", store.location())));
    assert!(store.describe(b"r/v").ends_with("/r/v"));
}

fn lists_sorted_by_byte_prefix(store: &ObjectStoreKv, key_can_be_a_directory: bool) {
    for key in ["l/a/2", "l/a/10", "l/a/1", "l/ab", "l/b/x"] {
        store.write(key.as_bytes(), key.as_bytes()).unwrap();
    }
    let list = |prefix: &str| -> Vec<String> {
        store
            .list_prefix(prefix.as_bytes())
            .unwrap()
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect()
    };
    assert_eq!(list("l/a/"), ["l/a/1", "l/a/10", "l/a/2"]);
    assert_eq!(list("l/a/1"), ["l/a/1", "l/a/10"]);
    assert_eq!(list("l/a"), ["l/a/1", "l/a/10", "l/a/2", "l/ab"]);
    assert_eq!(list("l/"), ["l/a/1", "l/a/10", "l/a/2", "l/ab", "l/b/x"]);
    if key_can_be_a_directory {
        // An object whose name is also a "directory" of others is listed by its own name.
        store.write(b"l/a", b"").unwrap();
        assert_eq!(list("l/a"), ["l/a", "l/a/1", "l/a/10", "l/a/2", "l/ab"]);
        assert_eq!(list("l/a/"), ["l/a/1", "l/a/10", "l/a/2"]);
    }
    assert_eq!(list("l/zz"), Vec::<String>::new());
    assert_eq!(list("nothing/here/"), Vec::<String>::new());
    let all = list("");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    assert!(all.contains(&"l/b/x".to_owned()) && all.contains(&"r/v".to_owned()));
}

fn replaces_and_deletes(store: &ObjectStoreKv) {
    store.write_atomic(b"m/manifest", b"one").unwrap();
    store.write_atomic(b"m/manifest", b"two, longer").unwrap();
    assert_eq!(
        store.read(b"m/manifest", None).unwrap().unwrap(),
        &b"two, longer"[..]
    );
    store.write(b"m/manifest", b"3").unwrap();
    assert_eq!(store.read(b"m/manifest", None).unwrap().unwrap(), &b"3"[..]);
    store.delete(b"m/manifest").unwrap();
    store.delete(b"m/manifest").unwrap();
    assert!(store.read(b"m/manifest", None).unwrap().is_none());
    assert!(store.list_prefix(b"m/").unwrap().is_empty());
}

fn appends_as_multipart(store: &ObjectStoreKv, part_size: usize) {
    // Several parts and a short last one, appended in uneven pieces.
    let data = pattern(2 * part_size + 12_345, 7);
    let mut file = store.create_appendable(b"d/big").unwrap();
    assert!(file.is_empty());
    let mut offset = 0;
    for (i, piece) in [1usize, part_size - 1, 3, part_size + 17, 100_000]
        .into_iter()
        .cycle()
        .enumerate()
    {
        if offset == data.len() || i > 100 {
            break;
        }
        let end = (offset + piece).min(data.len());
        file.append(&data[offset..end]).unwrap();
        offset = end;
        assert_eq!(file.len(), offset as u64);
    }
    assert_eq!(offset, data.len());
    // Invisible until finished.
    assert!(store.read(b"d/big", None).unwrap().is_none());
    file.finish().unwrap();
    let read = store.read(b"d/big", None).unwrap().unwrap();
    assert_eq!(read.len(), data.len());
    assert!(read == data, "multipart value differs");
    let mid = part_size as u64 - 10..part_size as u64 + 10;
    assert_eq!(
        store.read(b"d/big", Some(mid.clone())).unwrap().unwrap(),
        &data[mid.start as usize..mid.end as usize]
    );

    // Smaller than a part: one PUT.
    let mut small = store.create_appendable(b"d/small").unwrap();
    small.append(b"abc").unwrap();
    small.append(b"").unwrap();
    small.append(b"def").unwrap();
    small.finish().unwrap();
    assert_eq!(
        store.read(b"d/small", None).unwrap().unwrap(),
        &b"abcdef"[..]
    );
    let empty = store.create_appendable(b"d/empty").unwrap();
    empty.finish().unwrap();
    assert_eq!(store.read(b"d/empty", None).unwrap().unwrap(), &b""[..]);

    // Aborted after parts were sent, and dropped unfinished: nothing appears.
    let mut aborted = store.create_appendable(b"d/aborted").unwrap();
    aborted.append(&data[..part_size + 1]).unwrap();
    aborted.abort().unwrap();
    let mut dropped = store.create_appendable(b"d/dropped").unwrap();
    dropped.append(&data[..part_size + 1]).unwrap();
    drop(dropped);
    assert!(store.read(b"d/aborted", None).unwrap().is_none());
    assert!(store.read(b"d/dropped", None).unwrap().is_none());
    assert_eq!(
        store.list_prefix(b"d/").unwrap(),
        [&b"d/big"[..], b"d/empty", b"d/small"]
    );
}

fn conditional_writes(store: &ObjectStoreKv, conditional_update: bool) {
    let created = store.put_if_absent(b"c/commit", b"first").unwrap();
    let refused = store.put_if_absent(b"c/commit", b"second").unwrap_err();
    assert!(
        matches!(&refused, Error::AlreadyExists { object } if *object == store.describe(b"c/commit")),
        "{refused:?}"
    );
    assert_eq!(refused.code(), "ERR_STORE_ALREADY_EXISTS");
    assert_eq!(
        store.read(b"c/commit", None).unwrap().unwrap(),
        &b"first"[..]
    );

    // The generic trait's form: `false` instead of an error when the key exists.
    assert!(!WritableStore::write_if_absent(store, b"c/commit", b"third").unwrap());
    assert!(WritableStore::write_if_absent(store, b"c/marker", b"m").unwrap());
    assert!(!WritableStore::write_if_absent(store, b"c/marker", b"n").unwrap());
    assert_eq!(store.read(b"c/marker", None).unwrap().unwrap(), &b"m"[..]);

    let (value, version) = store.get_versioned(b"c/commit").unwrap().unwrap();
    assert_eq!(value, &b"first"[..]);
    assert!(store.get_versioned(b"c/absent").unwrap().is_none());
    if !conditional_update {
        let err = store
            .put_if_version(b"c/commit", b"x", &version)
            .unwrap_err();
        assert_eq!(err.code(), "ERR_STORE_UNSUPPORTED", "{err:?}");
        return;
    }
    assert!(created.e_tag.is_some());
    assert_eq!(store.head(b"c/commit").unwrap().unwrap().version, version);
    let swapped = store
        .put_if_version(b"c/commit", b"swapped", &version)
        .unwrap();
    assert_ne!(swapped, version);
    // The old version no longer matches: a concurrent writer loses.
    let stale = store
        .put_if_version(b"c/commit", b"stale", &version)
        .unwrap_err();
    assert!(
        matches!(&stale, Error::PreconditionFailed { object } if *object == store.describe(b"c/commit")),
        "{stale:?}"
    );
    assert_eq!(stale.code(), "ERR_STORE_PRECONDITION_FAILED");
    assert_eq!(
        store.read(b"c/commit", None).unwrap().unwrap(),
        &b"swapped"[..]
    );
    store.delete(b"c/commit").unwrap();
    let gone = store
        .put_if_version(b"c/commit", b"x", &swapped)
        .unwrap_err();
    assert_eq!(gone.code(), "ERR_STORE_PRECONDITION_FAILED", "{gone:?}");
    assert!(store.read(b"c/commit", None).unwrap().is_none());
    store.delete(b"c/marker").unwrap();
}

fn rejects_invalid_keys(store: &ObjectStoreKv) {
    for key in [
        &b""[..],
        b"../x",
        b"a/../b",
        b"/abs",
        b"a//b",
        b"a/",
        b"./a",
        b"\xff",
        b"a\nb",
    ] {
        for result in [
            store.read(key, None).map(|_| ()),
            store.write(key, b"x"),
            store.delete(key),
            store.create_appendable(key).map(|_| ()),
        ] {
            assert!(
                matches!(result, Err(orbax_kvstore::Error::InvalidKey { .. })),
                "{key:?}: {result:?}"
            );
        }
        assert_eq!(
            store.put_if_absent(key, b"x").unwrap_err().code(),
            "ERR_STORE_INVALID_KEY"
        );
    }
}

/// Several threads (as rayon workers would) use the store at once.
fn serves_threads_concurrently(store: &ObjectStoreKv) {
    std::thread::scope(|s| {
        for t in 0..4u8 {
            s.spawn(move || {
                for i in 0..8u8 {
                    let key = format!("t/{t}/{i}");
                    store.write(key.as_bytes(), &[t, i]).unwrap();
                    assert_eq!(
                        store.read(key.as_bytes(), None).unwrap().unwrap(),
                        &[t, i][..]
                    );
                }
            });
        }
    });
    assert_eq!(store.list_prefix(b"t/").unwrap().len(), 32);
}
