#![allow(clippy::expect_used, reason = "tests")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;

use super::testing::{Curve, ListSigner};
use super::*;
use crate::JwsError;

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
    assert!(matches!(
        jws::verify(&tampered, &anchors(&signer), now),
        Err(JwsError::Signature)
    ));
    // Signed by a CA that is not the anchor.
    let stranger = ListSigner::new(Curve::Brainpool);
    let foreign = jws::verify(&jws, &anchors(&stranger), now).expect_err("foreign");
    assert!(matches!(foreign, JwsError::NoChain { .. }), "{foreign:?}");
    assert_eq!(
        foreign.to_string(),
        "the signer CN=VZD-FHIR-FList-Signer TEST does not chain to a trust anchor"
    );
    // Past the certificates' validity.
    let later = now + Duration::from_secs(60 * 24 * 3600);
    let expired = jws::verify(&jws, &anchors(&signer), later).expect_err("expired");
    assert!(
        matches!(expired, JwsError::NotValidNow { .. }),
        "{expired:?}"
    );
    // Not a JWS at all.
    assert!(matches!(
        jws::verify("a.b", &anchors(&signer), now),
        Err(JwsError::NotCompact)
    ));
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
    assert_eq!(list.refresh(&client, now).await.expect("a list"), 5);
    assert!(!list.is_stale(now));

    std::fs::write(&file, "not.a.list").expect("write");
    assert!(list.refresh(&client, now).await.is_err());
    std::fs::write(
        &file,
        signer.sign(&ListSigner::payload(4, &["old.example.org"])),
    )
    .expect("write");
    let older = list.refresh(&client, now).await.expect_err("older");
    assert!(
        matches!(
            older,
            ListError::Older {
                version: 4,
                current: 5
            }
        ),
        "{older:?}"
    );
    let status = list.status(now);
    assert_eq!(status.version, Some(5));
    assert_eq!(
        status.last_error.as_deref(),
        Some("the list's version 4 is older than the version 5 in force")
    );

    let later = now + Duration::from_secs(73 * 3600);
    assert!(list.is_stale(later));
    assert!(list.status(later).stale);
}

/// A directory stand-in: answers the list, or 204 when asked for a version
/// not older than the one it has; records the queries it was sent.
async fn directory(list: String, version: u64) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/FederationList/federationList.jws",
        listener.local_addr().expect("addr")
    );
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let mut head = vec![0; 4096];
            let n = stream.read(&mut head).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&head[..n]).into_owned();
            let target = head.split(' ').nth(1).unwrap_or("").to_owned();
            log.lock().expect("log").push(target.clone());
            let asked = target
                .split_once("version=")
                .and_then(|(_, v)| v.parse::<u64>().ok());
            let response = if asked.is_some_and(|asked| asked >= version) {
                "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned()
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{list}",
                    list.len()
                )
            };
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_list_from_a_url_is_asked_for_newer_versions_and_a_204_confirms_it() {
    let signer = ListSigner::new(Curve::Brainpool);
    let (url, seen) = directory(
        signer.sign(&ListSigner::payload(9, &["hs2.example.org"])),
        9,
    )
    .await;
    let list = SignedList::new(ListConfig {
        source: ListSource::Url {
            url,
            token_file: None,
        },
        anchors: anchors(&signer),
        refresh: Duration::from_secs(3600),
        max_age: Duration::from_secs(3600),
        cache_file: Some(signer.dir.join("cache.jws")),
    });
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(crate::tls::client_config(&[]).expect("tls"))
        .build()
        .expect("client");
    let start = SystemTime::now();
    assert_eq!(list.refresh(&client, start).await.expect("a list"), 9);
    // Two hours on, a 204 ("nothing newer") confirms version 9: not stale.
    let later = start + Duration::from_secs(7200);
    assert!(list.is_stale(later));
    assert_eq!(list.refresh(&client, later).await.expect("a list"), 9);
    assert!(!list.is_stale(later));
    let queries = seen.lock().expect("log").clone();
    assert!(!queries[0].contains("version="), "{queries:?}");
    assert!(queries[1].ends_with("version=9"), "{queries:?}");
    // The cached copy is put in force by a new gateway.
    let restarted = SignedList::new(list.config().clone());
    restarted.load_cache(later);
    assert_eq!(restarted.in_force().map(|l| l.payload.version), Some(9));
}
