//! `legacy_media_served`: the first test user uploads a small file
//! (`POST /_matrix/media/v3/upload`); the suite then downloads it without
//! credentials through the deprecated, unauthenticated
//! `GET /_matrix/media/v3/download/{serverName}/{mediaId}`, and compares
//! the bytes.

use http::HeaderMap;
use rand::distr::{Alphanumeric, SampleString};
use ruma::api::client::media::create_content;

use super::super::client::Answer;
use super::super::judge::RULE_FIELD;
use super::{Bench, Probed, refused};
use crate::report::Exchange;

/// Uploads a file and downloads it through the legacy endpoint.
pub(super) fn probe(bench: &Bench<'_>, trail: &mut Vec<Exchange>) -> Probed {
    let Some(account) = bench.accounts.first() else {
        return Probed::Broken("no test user".to_owned());
    };
    let content = format!(
        "sectorgate conformance probe {}",
        Alphanumeric.sample_string(&mut rand::rng(), 16)
    )
    .into_bytes();
    let mut upload = create_content::v3::Request::new(content.clone());
    upload.content_type = Some("text/plain".to_owned());
    upload.filename = Some("probe.txt".to_owned());
    let uri = match bench.client.send(trail, upload, Some(&account.token)) {
        Ok(uploaded) => uploaded.content_uri,
        Err(failure) => {
            // Refusing an upload is not what the setting is about.
            return match refused("upload a file", failure, Answer::describe) {
                Probed::Unmet(why) => Probed::Broken(format!("cannot upload a file: {why}")),
                other => other,
            };
        }
    };
    let Ok((server_name, media_id)) = uri.parts() else {
        return Probed::Broken(format!("the upload gave {uri}, which is not an mxc URI"));
    };
    let url = format!(
        "{}/_matrix/media/v3/download/{}/{}",
        bench.client.base, server_name, media_id
    );
    let (status, bytes) =
        match bench
            .client
            .exchange(trail, "GET", &url, &HeaderMap::new(), Vec::new())
        {
            Ok(answer) => answer,
            Err(why) => return Probed::Broken(why),
        };
    let answer = Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or_default(),
    };
    if let Some(rule) = answer.body.get(RULE_FIELD).and_then(|r| r.as_str()) {
        return Probed::Refused(format!(
            "the gateway refused the unauthenticated download by its rule {rule}: {}",
            answer.describe()
        ));
    }
    match (status, bytes == content) {
        (200, true) => Probed::Met(format!(
            "media uploaded now ({uri}) is served by the unauthenticated \
             /_matrix/media/v3/download"
        )),
        (200, false) => Probed::Unmet(format!(
            "the unauthenticated /_matrix/media/v3/download served other bytes than were \
             uploaded ({uri})"
        )),
        _ => Probed::Unmet(format!(
            "media uploaded now ({uri}) is not served by the unauthenticated \
             /_matrix/media/v3/download: {}",
            answer.describe()
        )),
    }
}
