//! Fuzzes the body checks: the depth scan and the JSON check never panic,
//! and a body within the depth limit is never refused as too deep.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sectorgate_action::ClassifyError;
use sectorgate_action::json::{check_body, nesting_depth};

fuzz_target!(|data: &[u8]| {
    let depth = nesting_depth(data);
    let result = check_body(data, 64);
    if depth <= 64 {
        assert!(!matches!(result, Err(ClassifyError::TooDeep { .. })));
    }
});
