//! Cheap checks on a JSON body before it is parsed: syntax and nesting depth.
//!
//! Depth is measured by scanning bytes (strings skipped), so a hostile body
//! cannot make a recursive parser run deep before it is refused.

use serde::de::IgnoredAny;

use crate::ClassifyError;

/// The nesting depth of a JSON text: the largest number of simultaneously
/// open arrays and objects. Bytes inside strings are ignored; the text is not
/// otherwise validated.
pub fn nesting_depth(body: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Checks that a non-empty body is JSON nested at most `max_depth` deep.
///
/// `max_depth` must stay below serde_json's own recursion guard (128).
///
/// An empty body passes: endpoints whose body fields are all optional accept
/// it as `{}`.
pub fn check_body(body: &[u8], max_depth: usize) -> Result<(), ClassifyError> {
    if body.is_empty() {
        return Ok(());
    }
    if nesting_depth(body) > max_depth {
        return Err(ClassifyError::TooDeep { limit: max_depth });
    }
    serde_json::from_slice::<IgnoredAny>(body)
        .map(|IgnoredAny| ())
        .map_err(|error| ClassifyError::NotJson(error.to_string()))
}
