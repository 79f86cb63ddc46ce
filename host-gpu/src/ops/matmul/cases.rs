//! Conformance cases of the matmul family (see [`crate::conformance`]).

use crate::conformance::{Arg, Case, Values, values};
use crate::ir::{GraphError, Op};

const FAMILY: &str = "matmul";

/// `a × b` with `a` and `b` drawn from `seed` as `how` says.
fn product(name: &str, a: &[usize], b: &[usize], seed: u64, how: Values) -> Result<Case, GraphError> {
    let args = vec![Arg::Input(values(a, seed, how)), Arg::Input(values(b, seed + 1, how))];
    Case::single(FAMILY, name, Op::MatMul, args)
}

/// Square and odd sizes, a long reduction, sizes that are not multiples of 64, batch
/// stacks with and without broadcasting, rank-1 operands, special values, products and
/// sums in the subnormal range (flushed), an empty reduction, the same for the tiled
/// kernel (both sides at least 32), and an output large enough to need a 2-D grid of
/// workgroups.
pub(crate) fn cases() -> Result<Vec<Case>, GraphError> {
    let plain = Values::Uniform(2.0);
    let specials = Values::WithSpecials(3.0);
    // Products up to 4e-38, straddling the smallest normal (1.2e-38): some are subnormal
    // and must be flushed before they are summed.
    let tiny = Values::Uniform(2.0e-19);
    Ok(vec![
        product("square_8", &[8, 8], &[8, 8], 1, plain)?.canary(),
        product("odd_7x13x5", &[7, 13], &[13, 5], 2, plain)?,
        product("odd_7x13x5_specials", &[7, 13], &[13, 5], 3, specials)?.canary(),
        product("long_k_3x1031x9", &[3, 1031], &[1031, 9], 4, plain)?,
        product("long_k_specials", &[2, 1024], &[1024, 3], 5, Values::WithSpecials(1.0))?,
        product("not_64_65x67x70", &[65, 67], &[67, 70], 6, plain)?,
        product("tiny_subnormal_products", &[9, 17], &[17, 11], 7, tiny)?.canary(),
        product("batched_a", &[2, 3, 5, 7], &[7, 4], 8, plain)?,
        product("batched_both", &[2, 3, 5, 7], &[2, 3, 7, 4], 9, plain)?,
        product("batched_b", &[5, 7], &[3, 7, 4], 10, plain)?,
        product("broadcast_batch", &[2, 1, 4, 6], &[3, 6, 5], 11, plain)?,
        product("broadcast_batch_specials", &[2, 1, 4, 6], &[3, 6, 5], 12, specials)?,
        product("vector_matrix", &[13], &[13, 5], 13, plain)?,
        product("matrix_vector", &[7, 13], &[13], 14, plain)?,
        product("vector_vector", &[13], &[13], 15, specials)?,
        product("vector_batched", &[6], &[2, 6, 5], 16, plain)?,
        product("batched_vector", &[2, 3, 6], &[6], 17, plain)?,
        product("empty_k", &[3, 0], &[0, 4], 18, plain)?,
        // Tiled: blocks cut by the matrix edges, slices of k cut by its end.
        product("tiled_64x64x64", &[64, 64], &[64, 64], 19, plain)?.canary(),
        product("tiled_odd_33x45x47", &[33, 45], &[45, 47], 20, plain)?,
        product("tiled_long_k_40x1031x36", &[40, 1031], &[1031, 36], 21, plain)?,
        product("tiled_k_1_32x1x33", &[32, 1], &[1, 33], 22, plain)?,
        product("tiled_specials", &[33, 50], &[50, 34], 23, specials)?,
        product("tiled_tiny", &[35, 37], &[37, 39], 24, tiny)?,
        product("tiled_batched", &[2, 3, 40, 37], &[37, 33], 25, plain)?,
        product("tiled_broadcast_batch", &[2, 1, 33, 20], &[3, 20, 35], 26, plain)?,
        product("tiled_short_k_batched", &[2, 3, 37, 6], &[6, 70], 27, plain)?,
        // More than 65,535 workgroups of outputs: a 2-D grid.
        product("grid_2d_3x1x1400000", &[3, 1], &[1, 1_400_000], 28, plain)?,
    ])
}
