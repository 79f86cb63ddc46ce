//! Numpy-style broadcasting: output shapes, for facts and for concrete tensors, and the
//! per-input strides that let a kernel walk broadcast inputs without materializing them.

use super::OpError;
use crate::ir::Dim;

/// The broadcast of two concrete shapes.
///
/// # Errors
/// When a pair of dims differs and neither is 1.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, OpError> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = dim_from_end(a, rank, i).unwrap_or(1);
        let db = dim_from_end(b, rank, i).unwrap_or(1);
        out.push(match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(OpError::new(format!("shapes {a:?} and {b:?} do not broadcast")));
            }
        });
    }
    Ok(out)
}

fn dim_from_end<T: Clone>(shape: &[T], rank: usize, i: usize) -> Option<T> {
    let offset = rank - shape.len();
    i.checked_sub(offset).map(|j| shape[j].clone())
}

/// The broadcast of two inferred shapes; unknown or symbolic pairs stay symbolic when
/// they can only be one value, else become [`Dim::Unknown`].
///
/// # Errors
/// When two fixed dims differ and neither is 1.
pub(crate) fn broadcast_dims(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, OpError> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = dim_from_end(a, rank, i).unwrap_or(Dim::Fixed(1));
        let db = dim_from_end(b, rank, i).unwrap_or(Dim::Fixed(1));
        out.push(match (da, db) {
            (x, y) if x == y && x != Dim::Unknown => x,
            (Dim::Fixed(1), y) => y,
            (x, Dim::Fixed(1)) => x,
            (Dim::Fixed(x), Dim::Fixed(y)) => {
                return Err(OpError::new(format!("dims {x} and {y} do not broadcast")));
            }
            (Dim::Fixed(x), _) | (_, Dim::Fixed(x)) => Dim::Fixed(x),
            _ => Dim::Unknown,
        });
    }
    Ok(out)
}

/// Row-major strides of a shape.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// Strides for reading `input` as if it had shape `out` (0 along broadcast dims).
/// `input` must broadcast to `out`.
pub(crate) fn broadcast_strides(input: &[usize], out: &[usize]) -> Vec<usize> {
    let own = strides(input);
    let offset = out.len() - input.len();
    (0..out.len())
        .map(|i| match i.checked_sub(offset) {
            Some(j) if input[j] != 1 => own[j],
            _ => 0,
        })
        .collect()
}

/// Calls `f(out_index, offsets)` for every element of `out` in row-major order, where
/// `offsets[k]` is the element of input `k` (with the given broadcast strides) that
/// lines up with it.
pub(crate) fn for_each_offset<const N: usize>(
    out: &[usize],
    strides: [&[usize]; N],
    mut f: impl FnMut(usize, [usize; N]),
) {
    let total: usize = out.iter().product();
    if total == 0 {
        return;
    }
    let rank = out.len();
    let mut index = vec![0usize; rank];
    let mut offsets = [0usize; N];
    for linear in 0..total {
        f(linear, offsets);
        for d in (0..rank).rev() {
            index[d] += 1;
            for (k, s) in strides.iter().enumerate() {
                offsets[k] += s[d];
            }
            if index[d] < out[d] {
                break;
            }
            for (k, s) in strides.iter().enumerate() {
                offsets[k] -= s[d] * out[d];
            }
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_like_numpy() {
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]).unwrap(), vec![2, 4, 3]);
        assert_eq!(broadcast_shapes(&[], &[5]).unwrap(), vec![5]);
        assert!(broadcast_shapes(&[2, 3], &[4, 3]).is_err());
    }

    #[test]
    fn symbolic_dims_survive() {
        let s = Dim::Symbol("seq".into());
        let out = broadcast_dims(&[Dim::Fixed(1), s.clone()], &[Dim::Fixed(4), Dim::Fixed(1)]).unwrap();
        assert_eq!(out, vec![Dim::Fixed(4), s]);
    }

    #[test]
    fn offsets_follow_broadcast() {
        let out = [2, 3];
        let a = broadcast_strides(&[2, 3], &out);
        let b = broadcast_strides(&[3], &out);
        let mut seen = Vec::new();
        for_each_offset(&out, [&a, &b], |i, [oa, ob]| seen.push((i, oa, ob)));
        assert_eq!(seen, vec![(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 0), (4, 4, 1), (5, 5, 2)]);
    }
}
