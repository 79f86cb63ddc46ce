//! .npy reading and writing of tensors (stub, being written).
