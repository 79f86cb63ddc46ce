//! echo: the smallest wasmnn handler, which returns its input unchanged.
//!
//! It loads no model; it shows the whole of what a handler crate needs: a type that
//! implements [`wasmnn_guest::Handler`] and one [`wasmnn_guest::export_handler!`].
#![forbid(unsafe_code)]

use wasmnn_guest::Handler;

/// The handler: returns the input bytes unchanged.
struct Echo;

impl Handler for Echo {
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
        Ok(input)
    }
}

wasmnn_guest::export_handler!(Echo);
