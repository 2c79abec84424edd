//! TLS listeners: a renewed certificate is served without a restart, a
//! listener answers only the API it serves, and HTTP/2 is offered by ALPN.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step fails the test"
)]

mod support;

use std::time::Duration;

use support::pki::TestPki;
use support::{Gateway, GatewayOptions, free_port, install_crypto_provider, wait_for};

/// A client that trusts only `ca`.
fn client(ca: &std::path::Path) -> reqwest::blocking::Client {
    install_crypto_provider();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).expect("CA")).expect("CA");
    reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[test]
fn a_renewed_certificate_is_served_and_each_listener_serves_its_api() {
    let (first, renewed) = (TestPki::new(), TestPki::new());
    let live = tempfile::tempdir().expect("dir");
    let (cert, key) = (live.path().join("cert.pem"), live.path().join("key.pem"));
    std::fs::copy(&first.cert, &cert).expect("cert");
    std::fs::copy(&first.key, &key).expect("key");
    let port = free_port();
    let mut options = GatewayOptions::for_stand_in("http://127.0.0.1:9", "base");
    options.extra = format!(
        "[[listeners]]\nbind = \"127.0.0.1:0\"\nserves = [\"client\"]\n\n\
         [[listeners]]\nbind = \"127.0.0.1:{port}\"\nserves = [\"federation\"]\n\
         tls = {{ certificate = \"{}\", key = \"{}\" }}\n",
        cert.display(),
        key.display()
    );
    let gateway = Gateway::start(options);
    let tls_url = format!("https://localhost:{port}/_matrix/key/v2/server");

    // Each listener answers its own API only: 404 for the other one.
    let status = |client: &reqwest::blocking::Client, url: &str| {
        client.get(url).send().map(|r| r.status().as_u16())
    };
    let on_tls = |path: &str| format!("https://localhost:{port}{path}");
    let first_client = client(&first.ca);
    assert_eq!(
        status(&first_client, &on_tls("/_matrix/client/versions")).ok(),
        Some(404)
    );
    let plain = support::http();
    let federation_on_client = format!("{}/_matrix/federation/v1/version", gateway.url);
    assert_eq!(status(&plain, &federation_on_client).ok(), Some(404));
    // The key endpoint is the federation API's: forwarded (502: no homeserver).
    assert_eq!(status(&first_client, &tls_url).ok(), Some(502));
    // Over TLS, HTTP/2 where the client offers it (ALPN), HTTP/1.1 where not.
    let version =
        |client: reqwest::blocking::Client| client.get(&tls_url).send().map(|r| r.version()).ok();
    assert_eq!(version(client(&first.ca)), Some(http::Version::HTTP_2));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&first.ca).expect("CA")).expect("CA");
    let http1 = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .http1_only()
        .build()
        .expect("HTTP/1.1 client");
    assert_eq!(version(http1), Some(http::Version::HTTP_11));

    // A client that trusts only the renewed certificate's CA fails first...
    let renewed_client = client(&renewed.ca);
    assert!(status(&renewed_client, &tls_url).is_err());
    // ...and succeeds once the files are replaced, without a restart.
    std::fs::copy(&renewed.key, &key).expect("key");
    std::fs::copy(&renewed.cert, &cert).expect("cert");
    let served = wait_for(Duration::from_secs(20), || {
        status(&renewed_client, &tls_url).ok()
    });
    assert_eq!(served, Some(502), "the renewed certificate was not served");
    // A new connection (not one kept alive from before) gets the new one.
    assert!(
        status(&client(&first.ca), &tls_url).is_err(),
        "the old certificate is still served"
    );
    let records = gateway.audit_records();
    assert!(
        records
            .iter()
            .any(|r| r.rule == "listener.api_not_served" && r.verdict == "deny"),
        "the refusals are not audited"
    );
}
