//! Media rules: how large an upload may be (by its declared length; the
//! pipeline also stops a stream that grows past it).

use sectorgate_action::Action;

use super::{Input, Judge};
use crate::Decision;

pub(super) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let Action::UploadMedia {
        content_length: Some(length),
        ..
    } = &input.classified.action
    else {
        return Ok(());
    };
    match &input.profile.media.max_upload_bytes {
        Some(max) if *length > max.limit => judge.deny(Decision::deny_by(
            &max.meta,
            413,
            "M_TOO_LARGE",
            format!("{}: {length} bytes, at most {}", max.meta.reason, max.limit),
        )),
        _ => Ok(()),
    }
}
