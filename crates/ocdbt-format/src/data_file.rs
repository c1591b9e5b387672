//! Data file ids, references into data files, and the prefix-compressed data file table that
//! every manifest and node carries (spec §4).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::codec::{common_prefix_len, put_varint, Reader};
use crate::error::{Error, Result};

/// Longest `base_path ‖ relative_path` (including any transitive base path).
pub const MAX_PATH_LENGTH: usize = 65535;

/// Largest `offset + length` of a reference.
pub const MAX_REFERENCE_END: u64 = i64::MAX as u64;

/// `offset` and `length` of a reference that points nowhere (the root of an empty tree).
pub const MISSING_OFFSET: u64 = u64::MAX;

/// A data file, named relative to the database root by `base_path ‖ relative_path`.
///
/// `base_path` matters beyond concatenation: a node read through a reference whose file has
/// base path `B` resolves its own table under `B` (spec §4.1).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DataFileId {
    /// Directory prefix, e.g. `ocdbt.process_0/`; usually empty.
    pub base_path: Vec<u8>,
    /// The file below it, e.g. `d/<32 hex>`.
    pub relative_path: Vec<u8>,
}

impl DataFileId {
    /// A file id from its two parts.
    pub fn new(base_path: impl Into<Vec<u8>>, relative_path: impl Into<Vec<u8>>) -> Self {
        DataFileId {
            base_path: base_path.into(),
            relative_path: relative_path.into(),
        }
    }

    /// The key of the file in the database root's store: `base_path ‖ relative_path`.
    pub fn full_path(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.base_path.len() + self.relative_path.len());
        p.extend_from_slice(&self.base_path);
        p.extend_from_slice(&self.relative_path);
        p
    }

    /// Length of [`DataFileId::full_path`].
    pub fn full_path_len(&self) -> usize {
        self.base_path.len() + self.relative_path.len()
    }

    /// The empty file id TensorStore puts in tables for missing references.
    pub fn is_empty(&self) -> bool {
        self.base_path.is_empty() && self.relative_path.is_empty()
    }
}

impl fmt::Debug for DataFileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DataFileId({:?}, {:?})",
            String::from_utf8_lossy(&self.base_path),
            String::from_utf8_lossy(&self.relative_path)
        )
    }
}

/// A byte range `[offset, offset + length)` of a data file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndirectDataReference {
    /// The file. Shared: every reference decoded from one table entry points to one id.
    pub file: Arc<DataFileId>,
    /// First byte.
    pub offset: u64,
    /// Number of bytes.
    pub length: u64,
}

impl IndirectDataReference {
    /// A reference from its parts.
    pub fn new(file: Arc<DataFileId>, offset: u64, length: u64) -> Self {
        IndirectDataReference {
            file,
            offset,
            length,
        }
    }

    /// `offset + length`, which decoders guarantee to be at most [`MAX_REFERENCE_END`].
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.length)
    }

    pub(crate) fn validate(&self, what: &str) -> Result<()> {
        match self.offset.checked_add(self.length) {
            Some(end) if end <= MAX_REFERENCE_END => Ok(()),
            _ => Err(Error::invalid(format!(
                "{what}: invalid offset/length pair ({}, {})",
                self.offset, self.length
            ))),
        }
    }
}

/// Decodes a data file table. Every decoded entry's `base_path` is prefixed with
/// `transitive_path`, the base path of the reference through which the enclosing object was
/// reached (empty for manifests).
pub(crate) fn read_table(
    r: &mut Reader<'_>,
    transitive_path: &[u8],
) -> Result<Vec<Arc<DataFileId>>> {
    if transitive_path.len() > MAX_PATH_LENGTH {
        return Err(Error::invalid(format!(
            "transitive base path of {} bytes exceeds {MAX_PATH_LENGTH}",
            transitive_path.len()
        )));
    }
    let max_path_length = MAX_PATH_LENGTH - transitive_path.len();
    let n = r.varint64("data file table num_files")?;
    let n = r.count(n, "data file table num_files")?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut prefix_lengths = Vec::with_capacity(n);
    prefix_lengths.push(0u16);
    for _ in 1..n {
        prefix_lengths.push(r.varint16("data file path_prefix_length")?);
    }
    let suffix_lengths = r.column(n, "data file path_suffix_length", Reader::varint16)?;
    let base_lengths = r.column(n, "data file base_path_length", Reader::varint16)?;

    let mut files: Vec<Arc<DataFileId>> = Vec::with_capacity(n);
    let mut prev_path: Vec<u8> = Vec::new();
    let mut prev_base_len = 0usize;
    for i in 0..n {
        let prefix = usize::from(prefix_lengths[i]);
        let suffix = usize::from(suffix_lengths[i]);
        let base_len = usize::from(base_lengths[i]);
        if prefix > prev_path.len() {
            return Err(Error::invalid(format!(
                "data file table: path_prefix_length[{i}] = {prefix} > path_length[{}] = {}",
                i.saturating_sub(1),
                prev_path.len()
            )));
        }
        let path_len = prefix + suffix;
        if path_len > max_path_length {
            return Err(Error::invalid(format!(
                "data file table: path_length[{i}] = {path_len} exceeds {max_path_length}"
            )));
        }
        if base_len > path_len {
            return Err(Error::invalid(format!(
                "data file table: base_path_length[{i}] = {base_len} > path_length[{i}] = {path_len}"
            )));
        }
        if prefix > prev_base_len.min(base_len) && base_len != prev_base_len {
            return Err(Error::invalid(format!(
                "data file table: path_prefix_length[{i}] = {prefix} crosses the end of differing base paths ({prev_base_len} vs {base_len})"
            )));
        }
        let suffix_bytes = r.bytes(suffix, "data file path_suffix")?;
        let mut path = Vec::with_capacity(path_len);
        path.extend_from_slice(&prev_path[..prefix]);
        path.extend_from_slice(suffix_bytes);
        let mut base_path = Vec::with_capacity(transitive_path.len() + base_len);
        base_path.extend_from_slice(transitive_path);
        base_path.extend_from_slice(&path[..base_len]);
        files.push(Arc::new(DataFileId {
            base_path,
            relative_path: path[base_len..].to_vec(),
        }));
        prev_path = path;
        prev_base_len = base_len;
    }
    Ok(files)
}

/// Reads a table index and resolves it.
pub(crate) fn read_file_index(
    r: &mut Reader<'_>,
    table: &[Arc<DataFileId>],
    what: &'static str,
) -> Result<Arc<DataFileId>> {
    let i = r.varint64(what)?;
    usize::try_from(i)
        .ok()
        .and_then(|i| table.get(i))
        .cloned()
        .ok_or_else(|| {
            Error::invalid(format!(
                "{what}: data file id {i} is outside range [0, {})",
                table.len()
            ))
        })
}

/// The sorted, de-duplicated set of files an object references, as TensorStore's
/// `DataFileTableBuilder` builds it.
#[derive(Debug, Default, Clone)]
pub struct DataFileTableBuilder {
    files: BTreeSet<DataFileId>,
}

impl DataFileTableBuilder {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file (duplicates are merged).
    pub fn add(&mut self, file: &DataFileId) {
        if !self.files.contains(file) {
            self.files.insert(file.clone());
        }
    }

    /// Freezes the table: files sorted by `(base_path, relative_path)` bytewise.
    pub fn finish(self) -> DataFileTable {
        DataFileTable {
            files: self.files.into_iter().collect(),
        }
    }
}

/// A finished data file table: encodes itself and maps file ids to indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFileTable {
    files: Vec<DataFileId>,
}

impl DataFileTable {
    /// The files, in table order.
    pub fn files(&self) -> &[DataFileId] {
        &self.files
    }

    /// Index of `file`, which must have been added.
    pub fn index_of(&self, file: &DataFileId) -> Result<u64> {
        self.files
            .binary_search(file)
            .map(|i| i as u64)
            .map_err(|_| Error::InvalidInput {
                what: format!("{file:?} is not in the data file table"),
            })
    }

    /// Appends the encoded table.
    ///
    /// The shared prefix with the previous entry covers the common part of the base paths,
    /// and extends into the relative paths only when the base paths are identical (the rule
    /// the reader enforces).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        put_varint(out, self.files.len() as u64);
        let mut prefixes = Vec::with_capacity(self.files.len());
        for (i, f) in self.files.iter().enumerate() {
            if f.full_path_len() > MAX_PATH_LENGTH {
                return Err(Error::InvalidInput {
                    what: format!("data file path of {} bytes is too long", f.full_path_len()),
                });
            }
            let prefix = match i.checked_sub(1).map(|j| &self.files[j]) {
                None => 0,
                Some(prev) => {
                    let common = common_prefix_len(&prev.base_path, &f.base_path);
                    if prev.base_path == f.base_path {
                        common + common_prefix_len(&prev.relative_path, &f.relative_path)
                    } else {
                        common
                    }
                }
            };
            prefixes.push(prefix);
        }
        for &p in prefixes.iter().skip(1) {
            put_varint(out, p as u64);
        }
        for (f, &p) in self.files.iter().zip(&prefixes) {
            put_varint(out, (f.full_path_len() - p) as u64);
        }
        for f in &self.files {
            put_varint(out, f.base_path.len() as u64);
        }
        for (f, &p) in self.files.iter().zip(&prefixes) {
            let base_skip = p.min(f.base_path.len());
            out.extend_from_slice(&f.base_path[base_skip..]);
            out.extend_from_slice(&f.relative_path[p - base_skip..]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_of(ids: &[(&str, &str)]) -> DataFileTable {
        let mut b = DataFileTableBuilder::new();
        for (base, rel) in ids {
            b.add(&DataFileId::new(*base, *rel));
        }
        b.finish()
    }

    fn decode(bytes: &[u8], transitive: &[u8]) -> Result<Vec<Arc<DataFileId>>> {
        let mut r = Reader::new(bytes);
        let t = read_table(&mut r, transitive)?;
        r.expect_end("table")?;
        Ok(t)
    }

    #[test]
    fn empty_table_is_one_zero_byte() {
        let mut out = Vec::new();
        table_of(&[]).encode(&mut out).unwrap();
        assert_eq!(out, [0]);
        assert!(decode(&out, b"").unwrap().is_empty());
    }

    #[test]
    fn tables_sort_share_prefixes_and_round_trip() {
        let t = table_of(&[
            ("ocdbt.process_1/", "d/bbbb"),
            ("", "d/0123"),
            ("ocdbt.process_0/", "d/aaaa"),
            ("ocdbt.process_0/", "d/aabb"),
            ("", "d/0123"),
        ]);
        assert_eq!(t.files().len(), 4);
        assert_eq!(t.files()[0], DataFileId::new("", "d/0123"));
        let mut out = Vec::new();
        t.encode(&mut out).unwrap();
        // num_files, prefixes [0 (different base), 20 = 16 + "d/aa", 14 = "ocdbt.process_"]
        assert_eq!(&out[..4], &[4, 0, 20, 14]);
        let decoded = decode(&out, b"").unwrap();
        let plain: Vec<DataFileId> = decoded.iter().map(|f| (**f).clone()).collect();
        assert_eq!(plain, t.files());
        assert_eq!(
            t.index_of(&DataFileId::new("ocdbt.process_1/", "d/bbbb"))
                .unwrap(),
            3
        );
    }

    #[test]
    fn transitive_path_prefixes_base_paths() {
        let mut out = Vec::new();
        table_of(&[("", "d/x"), ("p/", "d/y")])
            .encode(&mut out)
            .unwrap();
        let decoded = decode(&out, b"sub/").unwrap();
        assert_eq!(*decoded[0], DataFileId::new("sub/", "d/x"));
        assert_eq!(*decoded[1], DataFileId::new("sub/p/", "d/y"));
    }

    #[test]
    fn reader_checks_are_enforced() {
        // path_prefix_length[1] = 5 > length of path[0] = 3
        let bad_prefix = [2, 5, 3, 1, 0, 0, b'a', b'b', b'c', b'x'];
        assert!(matches!(
            decode(&bad_prefix, b""),
            Err(Error::Invalid { .. })
        ));
        // base_path_length 4 > path length 3
        let bad_base = [1, 3, 4, b'a', b'b', b'c'];
        assert!(matches!(decode(&bad_base, b""), Err(Error::Invalid { .. })));
        // prefix 2 crosses differing base paths of lengths 2 and 1
        let crossing = [2, 2, 2, 1, 2, 1, b'a', b'b', b'c'];
        assert!(matches!(decode(&crossing, b""), Err(Error::Invalid { .. })));
        // path too long once the transitive path is added
        let mut long = vec![1];
        long.extend_from_slice(&[0xff, 0xff, 0x03]); // 65535
        long.push(0);
        long.extend(std::iter::repeat_n(b'x', 65535));
        assert!(decode(&long, b"").is_ok());
        assert!(matches!(decode(&long, b"a/"), Err(Error::Invalid { .. })));
        // a count larger than the bytes present
        let hostile = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            decode(&hostile, b""),
            Err(Error::Truncated { .. })
        ));
    }
}
