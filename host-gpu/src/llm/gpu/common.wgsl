// Shared by the llama kernels (host-gpu/src/llm/gpu): every one is compiled as the numerics
// prelude + the executor's common helpers + this file + its own source.
//
// Bindings (group 1), the executor's convention plus the step counters as first input:
//   binding 0: params (array<u32>): params[0] = invocations per row, params[1] = the index
//              in `step` of the number of rows; the kernel's own parameters from params[2];
//   binding 1: step (array<u32>), the counters of the step, written by the host before each
//              submission: step[0] = T (tokens of the step), step[1] = start (position of the
//              first token), step[2] = 1, step[3] = T - 1 (the last row), step[4] = 0;
//   bindings 2..=n: the inputs, binding n + 1: the output (read_write).
// So params and bind groups are built once per session and only `step` changes between
// steps: a dispatch covers params[0] * step[params[1]] invocations (rows: the step's tokens,
// or one).

// The number of invocations this dispatch needs.
fn llm_count() -> u32 {
    return params[0] * step[params[1]];
}
