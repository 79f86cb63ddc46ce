//! The one generic copy kernel behind every data-movement op: a [`Plan`] says where each
//! output element comes from, and [`move_elements`] fills the output for any dtype.

use half::f16;

use super::within_limit;
use crate::ops::OpError;
use crate::tensor::{DType, Tensor, TensorData, checked_numel};

/// Element types that are copied bit for bit, never looked at.
trait Element: Copy {
    /// The elements of `data`, if it holds this type.
    fn slice(data: &TensorData) -> Option<&[Self]>;
    /// Wraps elements of this type.
    fn wrap(values: Vec<Self>) -> TensorData;
}

macro_rules! element {
    ($($t:ty => $variant:ident),*) => {$(
        impl Element for $t {
            fn slice(data: &TensorData) -> Option<&[Self]> {
                match data {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(values: Vec<Self>) -> TensorData {
                TensorData::$variant(values)
            }
        }
    )*};
}

element!(f32 => F32, f16 => F16, i8 => I8, u8 => U8, i32 => I32, i64 => I64, bool => Bool);

/// Where each output element of a data-movement op comes from.
pub(super) trait Plan {
    /// Appends the output elements, in row-major order, read from `sources`.
    ///
    /// # Errors
    /// When the plan does not fit the sources (a bug upstream, reported, not panicked).
    fn fill<T: Copy>(&self, sources: &[&[T]], out: &mut Vec<T>) -> Result<(), OpError>;
}

/// Runs `plan` over `sources`, which must share one dtype, into a tensor of `shape`.
///
/// # Errors
/// When the dtypes differ, the output has more than [`super::MAX_ELEMENTS`] elements or cannot be
/// allocated, or the plan does not fit the sources.
pub(super) fn move_elements(plan: &impl Plan, sources: &[&Tensor], shape: Vec<usize>) -> Result<Tensor, OpError> {
    let total = within_limit(checked_numel(&shape), &format!("output shape {shape:?}"))?;
    let dtype = sources.first().map(|t| t.dtype()).ok_or_else(|| OpError::new("no input to copy from"))?;
    let data = match dtype {
        DType::F32 => typed::<f32>(plan, sources, total)?,
        DType::F16 => typed::<f16>(plan, sources, total)?,
        DType::I8 => typed::<i8>(plan, sources, total)?,
        DType::U8 => typed::<u8>(plan, sources, total)?,
        DType::I32 => typed::<i32>(plan, sources, total)?,
        DType::I64 => typed::<i64>(plan, sources, total)?,
        DType::Bool => typed::<bool>(plan, sources, total)?,
    };
    Ok(Tensor::new(shape, data)?)
}

fn typed<T: Element>(plan: &impl Plan, sources: &[&Tensor], total: usize) -> Result<TensorData, OpError> {
    let slices = sources
        .iter()
        .map(|t| T::slice(t.data()).ok_or_else(|| OpError::new(format!("input dtypes differ: {}", t.dtype()))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    out.try_reserve_exact(total).map_err(|_| OpError::new(format!("cannot allocate the output: {total} elements")))?;
    if total > 0 {
        plan.fill(&slices, &mut out)?;
    }
    Ok(T::wrap(out))
}

/// The single source of a one-input plan.
fn single<'a, T>(sources: &[&'a [T]]) -> Result<&'a [T], OpError> {
    match sources {
        [source] => Ok(source),
        _ => Err(OpError::new(format!("expected one source, got {}", sources.len()))),
    }
}

/// A contiguous run of a source.
pub(super) fn run<T>(source: &[T], start: usize, len: usize) -> Result<&[T], OpError> {
    start
        .checked_add(len)
        .and_then(|end| source.get(start..end))
        .ok_or_else(|| OpError::new(format!("copy is out of bounds: {start}+{len} of {}", source.len())))
}

/// A strided window on one source: the output element at multi-index `i` is
/// `source[offset + Σ i[k] · dims[k].1]`, with `dims[k].0` the size of output axis `k`.
/// Strides may be 0 (broadcast) or negative (reversed slices).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct View {
    /// Position of the first element.
    pub(super) offset: usize,
    /// Size and stride of each output axis, outermost first.
    pub(super) dims: Vec<(usize, isize)>,
}

impl View {
    /// The same walk with size-1 axes dropped and axes merged wherever the outer one
    /// steps exactly over the inner one, so the innermost axis is as long as possible.
    fn merged(&self) -> Vec<(usize, isize)> {
        let mut out: Vec<(usize, isize)> = Vec::with_capacity(self.dims.len());
        for &(size, stride) in self.dims.iter().filter(|&&(size, _)| size != 1) {
            match out.last_mut() {
                Some(last) if isize::try_from(size).is_ok_and(|s| Some(last.1) == stride.checked_mul(s)) => {
                    *last = (last.0.saturating_mul(size), stride);
                }
                _ => out.push((size, stride)),
            }
        }
        out
    }

    /// Checks that every position the (non-empty) walk reaches lies in `0..len`.
    fn check_bounds(&self, dims: &[(usize, isize)], len: usize) -> Result<(), OpError> {
        let (mut lo, mut hi) = (self.offset as i128, self.offset as i128);
        for &(size, stride) in dims {
            let reach = (size as i128 - 1) * stride as i128;
            if reach < 0 {
                lo += reach;
            } else {
                hi += reach;
            }
        }
        if lo < 0 || hi >= len as i128 {
            return Err(OpError::new(format!("view is out of bounds: {self:?} of {len} elements")));
        }
        Ok(())
    }
}

impl Plan for View {
    fn fill<T: Copy>(&self, sources: &[&[T]], out: &mut Vec<T>) -> Result<(), OpError> {
        let source = single(sources)?;
        let dims = self.merged();
        if dims.iter().any(|&(size, _)| size == 0) {
            return Ok(());
        }
        self.check_bounds(&dims, source.len())?;
        let (outer, (len, stride)) = match dims.split_last() {
            Some((&inner, outer)) => (outer, inner),
            None => (&[][..], (1, 1)),
        };
        let mut index = vec![0usize; outer.len()];
        let mut pos = self.offset;
        loop {
            copy_strided(source, pos, len, stride, out);
            if !advance(outer, &mut index, &mut pos) {
                return Ok(());
            }
        }
    }
}

/// Steps an odometer over `dims` (size, stride), moving `pos` along; false once it wraps.
fn advance(dims: &[(usize, isize)], index: &mut [usize], pos: &mut usize) -> bool {
    for (d, &(size, stride)) in dims.iter().enumerate().rev() {
        index[d] += 1;
        if index[d] < size {
            *pos = pos.wrapping_add_signed(stride);
            return true;
        }
        *pos = pos.wrapping_add_signed(stride.wrapping_mul((size - 1) as isize).wrapping_neg());
        index[d] = 0;
    }
    false
}

/// Appends `len` elements of `source` from `start`, `stride` apart. The caller has
/// checked that every position lies in the source, so indexing cannot fail.
fn copy_strided<T: Copy>(source: &[T], start: usize, len: usize, stride: isize, out: &mut Vec<T>) {
    match stride {
        1 => out.extend_from_slice(&source[start..start + len]),
        0 => out.extend(std::iter::repeat_n(source[start], len)),
        _ if stride > 0 => out.extend(source[start..].iter().step_by(stride.unsigned_abs()).take(len).copied()),
        _ => out.extend((0..len).map(|k| source[start - k * stride.unsigned_abs()])),
    }
}

/// Output made of equal-length contiguous runs of one source.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Runs {
    /// Elements per run.
    pub(super) len: usize,
    /// Where each run starts in the source, in output order.
    pub(super) starts: Vec<usize>,
}

impl Plan for Runs {
    fn fill<T: Copy>(&self, sources: &[&[T]], out: &mut Vec<T>) -> Result<(), OpError> {
        let source = single(sources)?;
        for &start in &self.starts {
            out.extend_from_slice(run(source, start, self.len)?);
        }
        Ok(())
    }
}

/// Row-major strides of a shape, as `isize`. They saturate only for shapes with no
/// elements, whose strides are never used.
pub(super) fn signed_strides(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![1isize; shape.len()];
    for i in (1..shape.len()).rev() {
        strides[i - 1] = strides[i].saturating_mul(isize::try_from(shape[i]).unwrap_or(isize::MAX));
    }
    strides
}
