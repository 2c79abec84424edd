#![allow(clippy::expect_used, reason = "tests")]

use std::time::{Duration, SystemTime};

use base64::Engine;

use super::testing::{Curve, ListSigner};
use super::*;

fn anchors(signer: &ListSigner) -> Vec<Certificate> {
    jws::read_anchors(&std::fs::read(&signer.ca).expect("ca")).expect("anchors")
}

#[test]
fn brainpool_and_p256_lists_verify_and_parse() {
    for curve in [Curve::Brainpool, Curve::P256] {
        let signer = ListSigner::new(curve);
        let jws = signer.sign(&ListSigner::payload(
            7,
            &["hs2.example.org", "kasse.example.org"],
        ));
        let verified = jws::verify(&jws, &anchors(&signer), SystemTime::now()).expect("verifies");
        let payload = Payload::parse(&verified.payload).expect("payload");
        assert_eq!(payload.version, 7, "{curve:?}");
        assert_eq!(payload.domains[1].domain, "kasse.example.org");
        assert!(payload.domains[1].is_insurance);
        assert!(verified.signer.contains("VZD-FHIR-FList-Signer"));
    }
}

#[test]
fn broken_foreign_and_expired_lists_are_refused() {
    let signer = ListSigner::new(Curve::Brainpool);
    let jws = signer.sign(&ListSigner::payload(1, &["hs2.example.org"]));
    let now = SystemTime::now();
    // A changed payload no longer matches the signature.
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(ListSigner::payload(1, &["evil.example"]).to_string());
    let tampered = parts.join(".");
    assert!(jws::verify(&tampered, &anchors(&signer), now).is_err());
    // Signed by a CA that is not the anchor.
    let stranger = ListSigner::new(Curve::Brainpool);
    assert!(jws::verify(&jws, &anchors(&stranger), now).is_err());
    // Past the certificates' validity.
    let later = now + Duration::from_secs(60 * 24 * 3600);
    assert!(jws::verify(&jws, &anchors(&signer), later).is_err());
    // Not a JWS at all.
    assert!(jws::verify("a.b", &anchors(&signer), now).is_err());
}

#[tokio::test]
async fn a_bad_list_keeps_the_old_one_and_an_old_one_goes_stale() {
    let signer = ListSigner::new(Curve::Brainpool);
    let file = signer.dir.join("list.jws");
    let list = SignedList::new(ListConfig {
        source: ListSource::File(file.clone()),
        anchors: anchors(&signer),
        refresh: Duration::from_secs(3600),
        max_age: Duration::from_secs(72 * 3600),
        cache_file: None,
    });
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(crate::tls::client_config(&[]).expect("tls"))
        .build()
        .expect("client");
    let now = SystemTime::now();
    assert!(list.is_stale(now), "no list yet: stale");

    std::fs::write(
        &file,
        signer.sign(&ListSigner::payload(5, &["hs2.example.org"])),
    )
    .expect("write");
    assert_eq!(list.refresh(&client, now).await, Ok(5));
    assert!(!list.is_stale(now));

    std::fs::write(&file, "not.a.list").expect("write");
    assert!(list.refresh(&client, now).await.is_err());
    std::fs::write(
        &file,
        signer.sign(&ListSigner::payload(4, &["old.example.org"])),
    )
    .expect("write");
    let older = list.refresh(&client, now).await;
    assert!(older.is_err_and(|e| e.contains("older")));
    let status = list.status(now);
    assert_eq!(status.version, Some(5));
    assert!(status.last_error.is_some());

    let later = now + Duration::from_secs(73 * 3600);
    assert!(list.is_stale(later));
    assert!(list.status(later).stale);
}
