//! The pure core's cost per request: classify (ruma parse included) and
//! decide, for a message send and a `/versions` call.

#![allow(clippy::expect_used, reason = "benchmark setup")]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, Uri};
use sectorgate_action::{Catalog, Request, classify};
use sectorgate_policy::{Peer, Profile, decide};

fn bench(c: &mut Criterion) {
    let catalog = Catalog::global();
    let profile = Profile::bundled("healthcare").expect("profile");
    let peer = Peer {
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer benchtoken"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let body = format!(r#"{{"msgtype":"m.text","body":"{}"}}"#, "x".repeat(660));
    let send: Uri = "/_matrix/client/v3/rooms/!bench:localhost/send/m.room.message/txn1"
        .parse()
        .expect("uri");
    let versions: Uri = "/_matrix/client/versions".parse().expect("uri");

    c.bench_function("classify+decide PUT send (700 B)", |b| {
        b.iter(|| {
            let request = Request {
                method: &Method::PUT,
                uri: &send,
                headers: &headers,
                body: body.as_bytes(),
            };
            let classified = classify(catalog, black_box(&request), 64).expect("classify");
            black_box(decide(&classified, &profile, &peer))
        })
    });
    c.bench_function("classify+decide GET /versions", |b| {
        b.iter(|| {
            let request = Request {
                method: &Method::GET,
                uri: &versions,
                headers: &headers,
                body: &[],
            };
            let classified = classify(catalog, black_box(&request), 64).expect("classify");
            black_box(decide(&classified, &profile, &peer))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
