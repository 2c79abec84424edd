//! The cost federation adds to a transaction: verifying its `X-Matrix`
//! signature (canonical JSON of the whole body, Ed25519) and checking each
//! of its PDUs and an EDU (classify, which parses it with ruma, and
//! decide), for transactions of 1, 10, 25 and 50 PDUs (criterion group
//! `transaction`, ids `verify_x_matrix/N` and `classify_and_decide/N`).

#![allow(clippy::expect_used, reason = "benchmark setup")]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, Uri};
use ruma::api::federation::authentication::{XMatrix, XMatrixSigningInput};
use ruma::serde::Base64;
use ruma::signatures::{Ed25519KeyPair, PublicKeySet};
use ruma::{OwnedServerName, ServerName};
use sectorgate_action::{Catalog, Request, classify};
use sectorgate_federation::{Federation, KeyStore, Resolver};
use sectorgate_policy::federation::{Allowlist, ServerPattern};
use sectorgate_policy::{Context, Decision, Peer, Profile, decide};
use serde_json::json;

/// A PDU as Synapse sends one: a ~300-byte message with hashes and a signature.
fn pdu(i: usize) -> serde_json::Value {
    json!({
        "auth_events": ["$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"],
        "content": {"msgtype": "m.text", "body": format!("message {i} {}", "x".repeat(200))},
        "depth": 100 + i,
        "hashes": {"sha256": "2O0U0yoOlPvzU0yM8KaGaVJgpo0y8jNf3uGS7P6Nhrs"},
        "origin_server_ts": 1_767_225_600_000_u64 + i as u64,
        "prev_events": ["$CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"],
        "room_id": "!room:hs1.example.org",
        "sender": "@bob:hs2.example.org",
        "type": "m.room.message",
        "signatures": {"hs2.example.org": {"ed25519:a": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}},
    })
}

/// The transaction's path.
const PATH: &str = "/_matrix/federation/v1/send/txn1";
/// The transactions measured, by their number of PDUs.
const PDUS: [usize; 4] = [1, 10, 25, 50];

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), "a".to_owned()).expect("key");
    let local: OwnedServerName = "hs1.example.org".try_into().expect("name");
    let origin: &ServerName = "hs2.example.org".try_into().expect("name");
    let federation = runtime.block_on(async { federation(local.clone(), origin, &key) });
    let profile = Profile::bundled("base").expect("profile");
    let uri: Uri = PATH.parse().expect("uri");
    let headers = json_headers();
    let snapshot = federation.allowlist();
    let context = context(&federation, &snapshot, origin);

    let mut group = c.benchmark_group("transaction");
    for pdus in PDUS {
        let body = transaction_body(origin, pdus);
        let x_matrix = sign(&body, origin, &local, &key);
        let borrowed = http::Request::builder()
            .method(Method::PUT)
            .uri(PATH)
            .body(&body[..])
            .expect("request");
        let check = || classify_and_decide(&uri, &headers, &body, &profile, &context);
        assert!(check().is_allowed(), "the transaction passes");
        group.bench_function(BenchmarkId::new("verify_x_matrix", pdus), |b| {
            b.iter(|| {
                runtime
                    .block_on(federation.authenticate(black_box(&x_matrix), &borrowed, 0))
                    .expect("verifies")
            });
        });
        group.bench_function(BenchmarkId::new("classify_and_decide", pdus), |b| {
            b.iter(|| black_box(check()));
        });
    }
    group.finish();
}

/// A transaction from `origin`: `pdus` PDUs and a typing EDU.
fn transaction_body(origin: &ServerName, pdus: usize) -> Vec<u8> {
    let pdus: Vec<_> = (0..pdus).map(pdu).collect();
    let edu = json!({"edu_type": "m.typing", "content": {"room_id": "!room:hs1.example.org", "user_id": "@bob:hs2.example.org", "typing": true}});
    json!({"origin": origin, "origin_server_ts": 1_767_225_600_000_u64, "pdus": pdus, "edus": [edu]})
        .to_string()
        .into_bytes()
}

/// The `X-Matrix` header `origin` sends `body` to `local` with, signed
/// with `key`.
fn sign(body: &[u8], origin: &ServerName, local: &ServerName, key: &Ed25519KeyPair) -> XMatrix {
    let request = http::Request::builder()
        .method(Method::PUT)
        .uri(PATH)
        .body(body.to_vec())
        .expect("request");
    XMatrix::sign_http_request(
        &request,
        XMatrixSigningInput::new(origin.to_owned(), local.to_owned(), key),
    )
    .expect("sign")
}

/// Federation for `local`, whose allowlist names `origin` and which knows
/// `origin`'s key already (no key is fetched).
fn federation(local: OwnedServerName, origin: &ServerName, key: &Ed25519KeyPair) -> Federation {
    let pinned = BTreeMap::from([(
        origin.to_owned(),
        PublicKeySet::from([(
            "ed25519:a".to_owned(),
            Base64::new(key.public_key().to_vec()),
        )]),
    )]);
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(sectorgate_federation::tls::client_config(&[]).expect("tls"))
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let allowlist = Allowlist::new(
        vec![ServerPattern::parse("hs2.example.org").expect("entry")],
        "bench",
    );
    Federation::new(
        local,
        allowlist,
        None,
        KeyStore::new(pinned, client.clone(), Resolver::new(BTreeMap::new())),
        client,
    )
}

/// The headers of a JSON body.
fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

/// A request from localhost, verified as from `origin`, at a fixed time.
fn context<'a>(
    federation: &'a Federation,
    snapshot: &'a Allowlist,
    origin: &'a ServerName,
) -> Context<'a> {
    Context {
        federation: Some(federation.facts(snapshot, Some(origin))),
        ..Context::bare(
            Peer {
                addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
            1_767_225_600_000,
        )
    }
}

/// The transaction `body` classified (ruma parses each PDU) and decided.
fn classify_and_decide(
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    profile: &Profile,
    context: &Context<'_>,
) -> Decision {
    let classified = classify(
        Catalog::global(),
        &Request {
            method: &Method::PUT,
            uri,
            headers,
            body,
        },
        64,
    )
    .expect("classified");
    decide(&classified, profile, context)
}

criterion_group!(benches, bench);
criterion_main!(benches);
