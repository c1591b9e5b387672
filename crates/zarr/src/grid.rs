//! Keys, chunk-grid geometry and strided copies between C-order boxes.

use std::ops::Range;

use crate::metadata::{ArrayMetadata, ZarrFormat};

/// `<param>/<suffix>`; a param name may itself contain `/` and `.`.
fn join_key(param: &str, suffix: &str) -> String {
    if param.is_empty() {
        suffix.to_owned()
    } else {
        format!("{param}/{suffix}")
    }
}

/// Key of an array's metadata: `<param>/.zarray` (v2) or `<param>/zarr.json` (v3).
pub fn metadata_key(param: &str, format: ZarrFormat) -> String {
    join_key(param, format.metadata_file())
}

/// Key of the chunk (the shard, for sharded arrays) at grid position `indices`:
/// `<param>/1.2` (v2), `<param>/c/1/2` (v3); 0-d arrays `<param>/0` / `<param>/c`.
pub fn chunk_key(param: &str, meta: &ArrayMetadata, indices: &[u64]) -> String {
    join_key(param, &meta.chunk_key_encoding().suffix(indices))
}

/// Calls `f` with every index vector in the box `[lo, hi)`, in C order. A 0-d box (empty
/// `lo`) yields one empty index; a box with an empty dimension yields nothing.
pub(crate) fn for_each_index(lo: &[u64], hi: &[u64], mut f: impl FnMut(&[u64])) {
    if lo.iter().zip(hi).any(|(l, h)| l >= h) {
        return;
    }
    let mut idx = lo.to_vec();
    loop {
        f(&idx);
        let mut d = idx.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < hi[d] {
                break;
            }
            idx[d] = lo[d];
        }
    }
}

/// Element strides of a C-order array of `shape`.
pub(crate) fn strides(shape: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Intersection of the box `[start, start + len)` with `region`, per dimension; `None` if
/// empty.
pub(crate) fn intersect(
    start: &[u64],
    len: &[u64],
    region: &[Range<u64>],
) -> Option<(Vec<u64>, Vec<u64>)> {
    let mut lo = Vec::with_capacity(start.len());
    let mut n = Vec::with_capacity(start.len());
    for ((&s, &l), r) in start.iter().zip(len).zip(region) {
        let a = s.max(r.start);
        let b = (s + l).min(r.end);
        if a >= b {
            return None;
        }
        lo.push(a);
        n.push(b - a);
    }
    Some((lo, n))
}

/// Whether a box of `len` inside an array of `shape` occupies one contiguous byte range:
/// every dimension after the first one longer than 1 must be full.
pub(crate) fn is_contiguous(len: &[u64], shape: &[u64]) -> bool {
    match len.iter().position(|&l| l > 1) {
        None => true,
        Some(first) => len[first + 1..] == shape[first + 1..],
    }
}

/// A box inside a C-order array: the array's shape and the box's origin.
pub(crate) struct BoxIn<'a> {
    pub shape: &'a [u64],
    pub start: &'a [u64],
}

/// Number of trailing dimensions (from `k` on) copied as one run, and the run length in
/// elements: dimensions after `k` are full in both arrays.
fn contiguous_run(len: &[u64], a: &[u64], b: &[u64]) -> (usize, u64) {
    let rank = len.len();
    let mut k = rank - 1;
    let mut run = len[k];
    while k > 0 && len[k] == a[k] && len[k] == b[k] {
        k -= 1;
        run *= len[k];
    }
    (k, run)
}

/// Copies the box of extent `len` from `src` to `dst` (elements of `elem` bytes).
pub(crate) fn copy_box(
    src: &[u8],
    from: BoxIn<'_>,
    dst: &mut [u8],
    to: BoxIn<'_>,
    len: &[u64],
    elem: usize,
) {
    if len.is_empty() {
        dst[..elem].copy_from_slice(&src[..elem]);
        return;
    }
    if len.contains(&0) {
        return;
    }
    let (k, run) = contiguous_run(len, from.shape, to.shape);
    let run_bytes = run as usize * elem;
    let (ss, ds) = (strides(from.shape), strides(to.shape));
    let base = |start: &[u64], strides: &[u64]| -> u64 {
        start[k..]
            .iter()
            .zip(&strides[k..])
            .map(|(a, b)| a * b)
            .sum()
    };
    let (src_base, dst_base) = (base(from.start, &ss), base(to.start, &ds));
    let zeros = vec![0u64; k];
    for_each_index(&zeros, &len[..k], |idx| {
        let mut s = src_base;
        let mut d = dst_base;
        for (dim, &i) in idx.iter().enumerate() {
            s += (from.start[dim] + i) * ss[dim];
            d += (to.start[dim] + i) * ds[dim];
        }
        let (s, d) = (s as usize * elem, d as usize * elem);
        dst[d..d + run_bytes].copy_from_slice(&src[s..s + run_bytes]);
    });
}

/// Fills the box of extent `len` in `dst` with copies of the element `value`.
pub(crate) fn fill_box(dst: &mut [u8], to: BoxIn<'_>, len: &[u64], value: &[u8]) {
    let elem = value.len();
    if len.is_empty() {
        dst[..elem].copy_from_slice(value);
        return;
    }
    if len.contains(&0) {
        return;
    }
    let (k, run) = contiguous_run(len, to.shape, to.shape);
    let run_bytes = run as usize * elem;
    let ds = strides(to.shape);
    let dst_base: u64 = to.start[k..].iter().zip(&ds[k..]).map(|(a, b)| a * b).sum();
    let zeros = vec![0u64; k];
    for_each_index(&zeros, &len[..k], |idx| {
        let mut d = dst_base;
        for (dim, &i) in idx.iter().enumerate() {
            d += (to.start[dim] + i) * ds[dim];
        }
        let d = d as usize * elem;
        fill_pattern(&mut dst[d..d + run_bytes], value);
    });
}

/// Fills `dst` with repetitions of `value`.
pub(crate) fn fill_pattern(dst: &mut [u8], value: &[u8]) {
    if value.iter().all(|&b| b == value[0]) {
        dst.fill(value[0]);
    } else {
        dst.chunks_exact_mut(value.len())
            .for_each(|c| c.copy_from_slice(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn keys() {
        let v2 = ArrayMetadata::new_v2(DType::Float32, &[4, 4], &[2, 2], Some(1)).unwrap();
        let v3 = ArrayMetadata::new_v3(DType::Float32, &[4, 4], &[2, 2], Some(3)).unwrap();
        assert_eq!(metadata_key("a.b", ZarrFormat::V2), "a.b/.zarray");
        assert_eq!(metadata_key("x/y", ZarrFormat::V3), "x/y/zarr.json");
        assert_eq!(chunk_key("a.b", &v2, &[1, 0]), "a.b/1.0");
        assert_eq!(chunk_key("x/y", &v3, &[1, 0]), "x/y/c/1/0");
        let s2 = ArrayMetadata::new_v2(DType::Int64, &[], &[], None).unwrap();
        let s3 = ArrayMetadata::new_v3(DType::Int64, &[], &[], None).unwrap();
        assert_eq!(chunk_key("step", &s2, &[]), "step/0");
        assert_eq!(chunk_key("step", &s3, &[]), "step/c");
    }

    #[test]
    fn index_iteration_is_c_order() {
        let mut seen = Vec::new();
        for_each_index(&[1, 0], &[3, 2], |i| seen.push(i.to_vec()));
        assert_eq!(seen, [[1, 0], [1, 1], [2, 0], [2, 1]]);
        let mut n = 0;
        for_each_index(&[], &[], |i| {
            assert!(i.is_empty());
            n += 1
        });
        assert_eq!(n, 1);
        for_each_index(&[0, 2], &[3, 2], |_| panic!("empty box"));
    }

    #[test]
    fn intersections_and_contiguity() {
        let region = [2..7, 0..4];
        assert_eq!(
            intersect(&[0, 0], &[4, 4], &region),
            Some((vec![2, 0], vec![2, 4]))
        );
        assert_eq!(
            intersect(&[6, 2], &[4, 4], &region),
            Some((vec![6, 2], vec![1, 2]))
        );
        assert_eq!(intersect(&[8, 0], &[4, 4], &region), None);
        assert!(is_contiguous(&[2, 4], &[5, 4]));
        assert!(is_contiguous(&[1, 1, 3], &[5, 4, 6]));
        assert!(!is_contiguous(&[1, 2, 3], &[5, 4, 6]));
        assert!(is_contiguous(&[1, 1, 6], &[5, 4, 6]));
        assert!(is_contiguous(&[1, 3, 6], &[5, 4, 6]));
        assert!(!is_contiguous(&[2, 3, 6], &[5, 4, 6]));
        assert!(is_contiguous(&[], &[]));
    }

    /// Reference copy, element by element.
    fn naive_copy(
        src: &[u8],
        from: BoxIn<'_>,
        dst: &mut [u8],
        to: BoxIn<'_>,
        len: &[u64],
        elem: usize,
    ) {
        let (ss, ds) = (strides(from.shape), strides(to.shape));
        let zeros = vec![0; len.len()];
        for_each_index(&zeros, len, |i| {
            let s: u64 = (0..i.len()).map(|d| (from.start[d] + i[d]) * ss[d]).sum();
            let d: u64 = (0..i.len()).map(|d| (to.start[d] + i[d]) * ds[d]).sum();
            let (s, d) = (s as usize * elem, d as usize * elem);
            dst[d..d + elem].copy_from_slice(&src[s..s + elem]);
        });
    }

    #[test]
    fn copy_box_matches_a_naive_copy() {
        let src_shape = [4u64, 5, 6];
        let src: Vec<u8> = (0..4 * 5 * 6 * 2).map(|i| i as u8).collect();
        // (source start, extent, destination shape, destination start)
        type Case = ([u64; 3], [u64; 3], [u64; 3], [u64; 3]);
        let cases: &[Case] = &[
            ([0, 0, 0], [4, 5, 6], [4, 5, 6], [0, 0, 0]),
            ([1, 0, 0], [2, 5, 6], [3, 5, 6], [1, 0, 0]),
            ([1, 2, 3], [2, 2, 2], [3, 3, 3], [0, 1, 1]),
            ([0, 1, 0], [4, 3, 6], [5, 3, 6], [1, 0, 0]),
            ([3, 4, 5], [1, 1, 1], [1, 1, 1], [0, 0, 0]),
        ];
        for (from, len, dst_shape, to) in cases {
            let n: u64 = dst_shape.iter().product();
            let mut fast = vec![0xaa; n as usize * 2];
            let mut slow = fast.clone();
            let f = || BoxIn {
                shape: &src_shape,
                start: from,
            };
            copy_box(
                &src,
                f(),
                &mut fast,
                BoxIn {
                    shape: dst_shape,
                    start: to,
                },
                len,
                2,
            );
            naive_copy(
                &src,
                f(),
                &mut slow,
                BoxIn {
                    shape: dst_shape,
                    start: to,
                },
                len,
                2,
            );
            assert_eq!(fast, slow, "{from:?} {len:?} {dst_shape:?} {to:?}");
        }
    }

    #[test]
    fn fill_box_fills_only_the_box() {
        let mut dst = vec![0u8; 3 * 4 * 2];
        fill_box(
            &mut dst,
            BoxIn {
                shape: &[3, 4],
                start: &[1, 1],
            },
            &[2, 2],
            &[1, 2],
        );
        let expected: Vec<u8> = (0..12)
            .flat_map(|i| {
                let (r, c) = (i / 4, i % 4);
                if r >= 1 && (1..3).contains(&c) {
                    [1, 2]
                } else {
                    [0, 0]
                }
            })
            .collect();
        assert_eq!(dst, expected);
        let mut scalar = vec![0u8; 4];
        fill_box(
            &mut scalar,
            BoxIn {
                shape: &[],
                start: &[],
            },
            &[],
            &[9, 8, 7, 6],
        );
        assert_eq!(scalar, [9, 8, 7, 6]);
    }
}
