//! Cheap checks on a JSON body before it is parsed: syntax and nesting depth.
//!
//! Depth is measured by scanning bytes (strings skipped), so a hostile body
//! cannot make a recursive parser run deep before it is refused. Strings,
//! most of an event's bytes, are skipped with `memchr` (vector
//! instructions) to their next quote or backslash rather than byte by byte.

use serde::de::IgnoredAny;

use crate::ClassifyError;

/// The nesting depth of a JSON text: the largest number of simultaneously
/// open arrays and objects. Bytes inside strings are ignored; the text is not
/// otherwise validated.
pub fn nesting_depth(body: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut at = 0;
    while let Some(&byte) = body.get(at) {
        at += 1;
        match byte {
            b'"' => at = string_end(body, at),
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

/// Just past the closing quote of the string whose content begins at
/// `at` (a backslash escapes the byte after it); the body's end if the
/// string does not close.
fn string_end(body: &[u8], mut at: usize) -> usize {
    while let Some(rest) = body.get(at..) {
        let Some(found) = memchr::memchr2(b'"', b'\\', rest) else {
            break;
        };
        let special = at + found;
        if body.get(special) == Some(&b'"') {
            return special + 1;
        }
        at = special + 2;
    }
    body.len()
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
