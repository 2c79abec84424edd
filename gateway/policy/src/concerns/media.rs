//! Media rules: how large an upload may be (by its declared length; the
//! pipeline also stops a stream that grows past it). The `media:` section,
//! its resolution and its check.

use sectorgate_action::Action;
use serde::Deserialize;

use crate::Decision;
use crate::decide::{Input, Judge};
use crate::profile::{Limit, LimitFile, Link, Resolver, nearest};

/// `media:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MediaFile {
    /// Largest upload, by its declared length.
    #[serde(default)]
    pub(crate) max_upload_bytes: Option<LimitFile>,
}

/// Rules on media.
#[derive(Clone, Debug, Default)]
pub struct MediaRules {
    /// Largest upload.
    pub max_upload_bytes: Option<Limit>,
}

/// Resolves `media`: the upload limit.
pub(crate) fn resolve(resolver: &Resolver<'_>, chain: &[Link]) -> MediaRules {
    MediaRules {
        max_upload_bytes: nearest(chain, |f| f.media.max_upload_bytes.as_ref()).map(
            |(limit, _)| resolver.limit(limit, "this upload is larger than the profile allows"),
        ),
    }
}

/// Checks an upload's declared length.
pub(crate) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
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
