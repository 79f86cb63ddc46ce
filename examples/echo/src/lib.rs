//! echo: the smallest wasmnn handler, which returns its input unchanged.
//!
//! The handler world's `handle` export arrives with wit-bindgen in the handler issue;
//! until then this is the body that export will call.
#![forbid(unsafe_code)]

/// Returns the input bytes unchanged.
///
/// # Errors
/// Never; the signature is the handler contract's `result<list<u8>, string>`.
pub fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
    Ok(input)
}
