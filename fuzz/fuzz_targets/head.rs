//! Fuzzes the request edge: the framing tracker over bytes that arrive in
//! arbitrary pieces, the head checks over arbitrary targets, and the
//! `Authorization` header read as X-Matrix or an access token. None
//! panics; the tracker never passes more than it was given, never takes
//! back what it passed, and reaches the same verdict however the bytes
//! are split.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sectorgate_action::{access_token, check_head, x_matrix};
use sectorgate_proxy::framing::{Flaw, Scan, Tracker};

/// Feeds `bytes` in pieces whose sizes cycle through `splits`; returns how
/// many passed and the refusal, if any.
fn feed(bytes: &[u8], splits: &[u8]) -> (usize, Option<Flaw>) {
    let mut tracker = Tracker::new(512);
    let (mut passed, mut end) = (0, 0);
    for size in splits.iter().cycle() {
        if end == bytes.len() {
            break;
        }
        end = (end + usize::from(*size).max(1)).min(bytes.len());
        match tracker.scan(&bytes[passed..end]) {
            Scan::Pass(n) => {
                assert!(n <= end - passed);
                passed += n;
            }
            Scan::Refuse(n, reason) => {
                assert!(n <= end - passed);
                return (passed + n, Some(reason));
            }
        }
    }
    (passed, None)
}

fuzz_target!(|data: &[u8]| {
    let (splits, bytes) = data.split_at(data.len().min(4));
    let whole = feed(bytes, &[u8::MAX]);
    if !splits.is_empty() {
        // A refusal is found wherever the bytes were cut, at the same place.
        let (passed, refused) = feed(bytes, splits);
        assert_eq!(refused, whole.1);
        if refused.is_some() {
            assert_eq!(passed, whole.0);
        }
    }
    if let Ok(value) = http::HeaderValue::from_bytes(bytes) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value);
        let _ = x_matrix(&headers);
        let _ = access_token(&headers, None);
    }
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(uri) = text.parse::<http::Uri>()
    {
        let lookup = sectorgate_action::Catalog::global().lookup(&http::Method::GET, uri.path());
        let _ = check_head(
            &http::Method::GET,
            &uri,
            http::Version::HTTP_11,
            &http::HeaderMap::new(),
            &lookup,
        );
    }
});
