//! Fuzzes classification: any method, path, query and body must classify
//! or be refused, never panic.

#![no_main]

use http::{HeaderMap, Method, Uri};
use libfuzzer_sys::fuzz_target;
use sectorgate_action::{Catalog, Request, classify};

const METHODS: [Method; 6] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

fuzz_target!(|data: &[u8]| {
    // Layout: one byte picks the method, then the URI up to the first NUL,
    // then the body.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(pick) % METHODS.len()];
    let (uri, body) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(uri) = Uri::try_from(uri) else {
        return;
    };
    let headers = HeaderMap::new();
    let request = Request {
        method,
        uri: &uri,
        headers: &headers,
        body,
    };
    let _ = classify(Catalog::global(), &request, 64);
});
