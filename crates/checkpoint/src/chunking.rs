//! Orbax's choice of zarr chunk shape for a saved array (orbax-layout §8): the write shape,
//! unless a byte budget (an explicit `chunk_byte_size`, or the OCDBT target data file size when
//! the array exceeds it) or `shard_axes` shrink it along divisors of each dimension.

use crate::{Error, Result};

/// The byte budget of one chunk (`calculate_chunk_byte_size`): `None` means no budget.
///
/// `target_data_file_size` is the OCDBT target (Orbax: 2 GiB locally; `Some(0)` = unlimited),
/// `None` when the checkpoint does not use OCDBT.
pub fn chunk_byte_budget(
    write_shape: &[u64],
    item_size: u64,
    chunk_byte_size: Option<u64>,
    target_data_file_size: Option<u64>,
) -> Option<u64> {
    match (target_data_file_size, chunk_byte_size) {
        (None, cbs) | (Some(0), cbs) => cbs,
        (Some(target), None) => {
            let bytes = write_shape
                .iter()
                .product::<u64>()
                .saturating_mul(item_size);
            (bytes > target).then_some(target)
        }
        (Some(target), Some(cbs)) => Some(cbs.min(target)),
    }
}

/// Orbax's `choose_chunk_shape`.
pub fn choose_chunk_shape(
    global_shape: &[u64],
    write_shape: &[u64],
    item_size: u64,
    budget: Option<u64>,
    shard_axes: &[usize],
) -> Result<Vec<u64>> {
    if global_shape.len() != write_shape.len() {
        return Err(Error::InvalidArgument(format!(
            "write shape {write_shape:?} does not match the rank of shape {global_shape:?}"
        )));
    }
    if let Some(&axis) = shard_axes.iter().find(|&&a| a >= write_shape.len()) {
        return Err(Error::InvalidArgument(format!(
            "shard axis {axis} is out of range for an array of {} dimensions",
            write_shape.len()
        )));
    }
    let write: Vec<u64> = write_shape.iter().map(|&d| d.max(1)).collect();
    if budget.is_none() && shard_axes.is_empty() {
        return Ok(write);
    }
    // Remaining divisors of each dimension in increasing order; the last one is the current size.
    let mut divisors: Vec<Vec<u64>> = write.iter().map(|&d| divisors_of(d)).collect();
    let mut sharded: Vec<bool> = global_shape
        .iter()
        .zip(&write)
        .map(|(&g, &w)| g.max(1) != w)
        .collect();
    for &axis in shard_axes {
        divisors[axis].truncate(1);
        sharded[axis] = true;
    }
    let current = |divisors: &Vec<Vec<u64>>| -> Vec<u64> {
        divisors
            .iter()
            .map(|d| *d.last().expect("1 divides everything"))
            .collect()
    };
    let Some(budget) = budget else {
        return Ok(current(&divisors));
    };
    if budget < item_size {
        return Err(Error::InvalidArgument(format!(
            "target_byte_size={budget} must be >= {item_size}"
        )));
    }
    let element_budget = budget / item_size;
    loop {
        let chunk = current(&divisors);
        if chunk.iter().product::<u64>() <= element_budget {
            return Ok(chunk);
        }
        let mut best: Option<usize> = None;
        for axis in 0..chunk.len() {
            if sharded[axis] && chunk[axis] > 1 && best.is_none_or(|b| chunk[axis] > chunk[b]) {
                best = Some(axis);
            }
        }
        match best {
            Some(axis) => {
                divisors[axis].pop();
            }
            None => sharded.iter_mut().for_each(|s| *s = true),
        }
    }
}

fn divisors_of(n: u64) -> Vec<u64> {
    let mut small = Vec::new();
    let mut large = Vec::new();
    let mut i = 1;
    while i * i <= n {
        if n.is_multiple_of(i) {
            small.push(i);
            if i * i != n {
                large.push(n / i);
            }
        }
        i += 1;
    }
    small.extend(large.into_iter().rev());
    small
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_GIB: u64 = 1 << 31;

    fn host(
        shape: &[u64],
        item: u64,
        cbs: Option<u64>,
        target: Option<u64>,
        axes: &[usize],
    ) -> Vec<u64> {
        let budget = chunk_byte_budget(shape, item, cbs, target);
        choose_chunk_shape(shape, shape, item, budget, axes).unwrap()
    }

    #[test]
    fn reproduces_orbax_observed_choices() {
        // orbax-layout §8.3, "Observed results".
        assert_eq!(host(&[7, 13], 4, None, Some(TWO_GIB), &[]), [7, 13]);
        assert_eq!(host(&[64, 48], 4, Some(1024), Some(TWO_GIB), &[]), [16, 16]);
        assert_eq!(
            host(&[100, 30], 4, Some(1000), Some(TWO_GIB), &[]),
            [10, 15]
        );
        assert_eq!(host(&[97, 5], 8, Some(100), Some(TWO_GIB), &[]), [1, 5]);
        assert_eq!(
            host(&[4, 6, 10], 2, Some(64), Some(TWO_GIB), &[]),
            [4, 3, 2]
        );
        assert_eq!(host(&[64, 48], 4, None, Some(TWO_GIB), &[0]), [1, 48]);
        assert_eq!(host(&[64, 48], 4, Some(2048), Some(TWO_GIB), &[1]), [64, 1]);
        assert_eq!(host(&[64, 48], 4, None, Some(4096), &[]), [32, 24]);
        assert_eq!(host(&[64, 48], 4, None, Some(1000), &[]), [8, 16]);
    }

    #[test]
    fn sharded_write_shapes_shrink_sharded_dims_first() {
        let budget = chunk_byte_budget(&[8, 48], 4, Some(1024), Some(TWO_GIB));
        assert_eq!(
            choose_chunk_shape(&[64, 48], &[8, 48], 4, budget, &[]).unwrap(),
            [4, 48]
        );
        let budget = chunk_byte_budget(&[16, 24], 4, Some(512), Some(TWO_GIB));
        assert_eq!(
            choose_chunk_shape(&[64, 48], &[16, 24], 4, budget, &[]).unwrap(),
            [8, 12]
        );
        assert_eq!(
            choose_chunk_shape(&[64, 48], &[16, 24], 4, None, &[]).unwrap(),
            [16, 24]
        );
    }

    #[test]
    fn budgets_follow_calculate_chunk_byte_size() {
        assert_eq!(chunk_byte_budget(&[10], 4, None, Some(TWO_GIB)), None);
        assert_eq!(chunk_byte_budget(&[10], 4, None, Some(39)), Some(39));
        assert_eq!(chunk_byte_budget(&[10], 4, Some(8), Some(0)), Some(8));
        assert_eq!(chunk_byte_budget(&[10], 4, Some(80), Some(16)), Some(16));
        assert_eq!(chunk_byte_budget(&[10], 4, Some(80), None), Some(80));
        assert_eq!(chunk_byte_budget(&[10], 4, None, None), None);
    }

    #[test]
    fn zero_d_and_errors() {
        assert_eq!(host(&[], 8, None, Some(TWO_GIB), &[]), Vec::<u64>::new());
        assert_eq!(host(&[], 8, Some(8), Some(TWO_GIB), &[]), Vec::<u64>::new());
        let err = choose_chunk_shape(&[4], &[4], 8, Some(4), &[]).unwrap_err();
        assert_eq!(err.to_string(), "target_byte_size=4 must be >= 8");
        assert!(choose_chunk_shape(&[4], &[4], 8, None, &[1]).is_err());
        assert_eq!(divisors_of(12), [1, 2, 3, 4, 6, 12]);
        assert_eq!(divisors_of(1), [1]);
    }
}
