//! Hello world for `wasmtime serve`: answers every request with a fixed body.

use std::io::Write as _;

use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Hello;

wasip2::http::proxy::export!(Hello);

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let response = OutgoingResponse::new(Fields::new());
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(response_out, Ok(response));
        let Ok(mut stream) = body.write() else { return };
        let written = stream.write_all(b"hello, wasmnn").and_then(|()| std::io::Write::flush(&mut stream));
        drop(stream);
        if written.is_ok() {
            let _ = OutgoingBody::finish(body, None);
        }
    }
}
