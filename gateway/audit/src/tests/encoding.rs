//! Golden tests: the record encoding and the pseudonyms are fixed byte for
//! byte, since the log's hashes are over them.

use std::time::Duration;

use crate::{
    Decision, Direction, Entry, Outcome, Peer, ProfileRef, Pseudonymiser, RecordError, Verdict,
};

pub(super) fn decision(id: &str, ts: i64) -> Entry {
    Entry::Decision(Decision {
        id: id.to_owned(),
        ts,
        profile: ProfileRef {
            id: "healthcare-tim-pro".to_owned(),
            revision: "healthcare-tim-pro@1".to_owned(),
            digest: None,
        },
        direction: Direction::Inbound,
        endpoint: Some("client.send_message_event".to_owned()),
        action: "send_message_event".to_owned(),
        rule: "endpoint.allowed".to_owned(),
        verdict: Verdict::Allow,
        peer: Peer::User {
            pseudonym: "2026-11-01:00112233445566778899aabbccddeeff".to_owned(),
        },
        request_id: "req-1".to_owned(),
        trace_id: None,
        destination: None,
        by_gateway: None,
    })
}

/// A successful outcome of decision `id`.
pub(super) fn outcome(id: &str) -> Entry {
    Entry::Outcome(Outcome {
        decision: id.to_owned(),
        ts: 1_000,
        status: 200,
        upstream_status: Some(200),
        bytes_in: 0,
        bytes_out: 2,
        duration_ms: 1,
    })
}

#[test]
fn a_decision_encodes_to_its_golden_bytes() {
    let golden = concat!(
        r#"{"v":1,"type":"decision","id":"d1","ts":1764288000000,"#,
        r#""profile":{"id":"healthcare-tim-pro","revision":"healthcare-tim-pro@1"},"#,
        r#""direction":"inbound","endpoint":"client.send_message_event","#,
        r#""action":"send_message_event","rule":"endpoint.allowed","verdict":"allow","#,
        r#""peer":{"kind":"user","pseudonym":"2026-11-01:00112233445566778899aabbccddeeff"},"#,
        r#""request_id":"req-1","trace_id":null}"#
    );
    let entry = decision("d1", 1_764_288_000_000);
    assert_eq!(String::from_utf8(entry.encode()).expect("utf-8"), golden);
    assert_eq!(Entry::decode(golden.as_bytes()), Ok(entry));
}

#[test]
fn each_verdict_encodes_to_its_golden_bytes() {
    let head = concat!(
        r#"{"v":1,"type":"decision","id":"d1","ts":1764288000000,"#,
        r#""profile":{"id":"healthcare-tim-pro","revision":"healthcare-tim-pro@1"},"#,
        r#""direction":"inbound","endpoint":"client.send_message_event","#,
        r#""action":"send_message_event","rule":"endpoint.allowed","#,
    );
    let tail = concat!(
        r#""peer":{"kind":"user","pseudonym":"2026-11-01:00112233445566778899aabbccddeeff"},"#,
        r#""request_id":"req-1","trace_id":null}"#
    );
    for (verdict, golden) in [
        (Verdict::Allow, r#""verdict":"allow","#),
        (Verdict::Deny, r#""verdict":"deny","#),
        (Verdict::Shadow, r#""verdict":"shadow","#),
    ] {
        let mut entry = decision("d1", 1_764_288_000_000);
        if let Entry::Decision(decision) = &mut entry {
            decision.verdict = verdict;
        }
        let golden = format!("{head}{golden}{tail}");
        assert_eq!(String::from_utf8(entry.encode()).expect("utf-8"), golden);
        assert_eq!(
            String::from_utf8(entry.encode_with_serde()).expect("utf-8"),
            golden
        );
        assert_eq!(Entry::decode(golden.as_bytes()), Ok(entry));
    }
}

#[test]
fn an_unknown_verdict_is_not_a_record() {
    let canonical = String::from_utf8(decision("d1", 1).encode()).expect("utf-8");
    for unknown in [
        r#""verdict":"maybe""#,
        r#""verdict":"Allow""#,
        r#""verdict":null"#,
    ] {
        let stored = canonical.replace(r#""verdict":"allow""#, unknown);
        let error = Entry::decode(stored.as_bytes()).expect_err(unknown);
        assert!(matches!(error, RecordError::Malformed(_)), "{error:?}");
        assert!(error.to_string().starts_with("not a record: "), "{error}");
    }
    let stored = canonical.replace(r#""verdict":"allow""#, r#""verdict":"maybe""#);
    let error = Entry::decode(stored.as_bytes()).expect_err("unknown");
    assert!(error.to_string().contains("`maybe`"), "{error}");
}

#[test]
fn an_outcome_and_each_peer_kind_encode_to_their_golden_bytes() {
    let outcome = Entry::Outcome(Outcome {
        decision: "d1".to_owned(),
        ts: 5,
        status: 413,
        upstream_status: None,
        bytes_in: 1024,
        bytes_out: 80,
        duration_ms: 12,
    });
    assert_eq!(
        String::from_utf8(outcome.encode()).expect("utf-8"),
        r#"{"v":1,"type":"outcome","decision":"d1","ts":5,"status":413,"upstream_status":null,"bytes_in":1024,"bytes_out":80,"duration_ms":12}"#
    );
    let peers = [
        (
            Peer::Server {
                name: Some("hs.example".to_owned()),
                pseudonym: None,
            },
            r#"{"kind":"server","name":"hs.example"}"#,
        ),
        (
            Peer::Server {
                name: None,
                pseudonym: Some("k:ab".to_owned()),
            },
            r#"{"kind":"server","pseudonym":"k:ab"}"#,
        ),
        (
            Peer::Token {
                pseudonym: "k:cd".to_owned(),
            },
            r#"{"kind":"token","pseudonym":"k:cd"}"#,
        ),
        (
            Peer::Appservice {
                id: "bridge".to_owned(),
            },
            r#"{"kind":"appservice","id":"bridge"}"#,
        ),
        (Peer::Anonymous, r#"{"kind":"anonymous"}"#),
    ];
    for (peer, golden) in peers {
        assert_eq!(serde_json::to_string(&peer).expect("json"), golden);
    }
}

#[test]
fn anything_but_the_canonical_bytes_is_refused() {
    let canonical = String::from_utf8(decision("d1", 1).encode()).expect("utf-8");
    let respaced = canonical.replace(",\"ts\"", ", \"ts\"");
    let reordered = canonical.replace(r#"{"v":1,"type":"decision""#, r#"{"type":"decision","v":1"#);
    let future = canonical.replace(r#""v":1"#, r#""v":2"#);
    let extra = canonical.replace(r#""trace_id":null"#, r#""trace_id":null,"room":"x""#);
    for bad in [respaced, reordered, future, extra] {
        assert!(Entry::decode(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn pseudonyms_are_golden_keyed_per_period_and_domain_separated() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("2026-11-03.key"), "01".repeat(32)).expect("key");
    let keys = Pseudonymiser::open(dir.path(), Duration::from_secs(30 * 86_400)).expect("open");
    // 2026-11-28 lies in the 30-day period that began on 2026-11-03.
    let at = 1_795_824_000_000;
    let user = keys
        .pseudonym("user", "@alice:hs.example", at)
        .expect("pseudonym");
    assert_eq!(user, "2026-11-03:2d071d3ea38ce8afad91005506fe6047");
    assert_eq!(
        keys.pseudonym("user", "@alice:hs.example", at + 1)
            .expect("again"),
        user
    );
    assert_ne!(
        keys.pseudonym("server", "@alice:hs.example", at)
            .expect("domain"),
        user
    );
    // The next period has a new, random key: the same user is not linkable.
    let later = keys
        .pseudonym("user", "@alice:hs.example", at + 31 * 86_400_000)
        .expect("next period");
    assert!(later.starts_with("2026-12-03:"), "{later}");
    assert_ne!(later[11..], user[11..]);
    assert!(!user.contains("alice"));
    // Deleting an expired key: its period's pseudonyms can no longer be made again.
    let expired = keys.expired(at + 31 * 86_400_000).expect("expired");
    assert_eq!(expired, ["2026-11-03"]);
    keys.delete("2026-11-03").expect("delete");
    assert_ne!(
        keys.pseudonym("user", "@alice:hs.example", at)
            .expect("new key"),
        user
    );
}

/// A string of characters JSON treats differently: quotes, backslashes,
/// control characters, line separators, non-ASCII and astral ones.
fn awkward(rng: &mut impl rand::Rng) -> String {
    const PICKS: &[char] = &[
        'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{7f}', 'é',
        '\u{2028}', '\u{2029}', '\u{feff}', '😀',
    ];
    let length = rng.random_range(0..12);
    (0..length)
        .map(|_| PICKS[rng.random_range(0..PICKS.len())])
        .collect()
}

#[test]
fn the_encoder_writes_exactly_what_serde_writes() {
    let mut rng = rand::rng();
    for round in 0..2_000_u32 {
        let mut text = || awkward(&mut rng);
        let peer = match round % 6 {
            0 => Peer::User { pseudonym: text() },
            1 => Peer::Token { pseudonym: text() },
            2 => Peer::Server {
                name: Some(text()),
                pseudonym: None,
            },
            3 => Peer::Server {
                name: (round % 4 == 3).then(&mut text),
                pseudonym: Some(text()),
            },
            4 => Peer::Appservice { id: text() },
            _ => Peer::Anonymous,
        };
        let decision = Entry::Decision(Decision {
            id: text(),
            ts: i64::from(round) * 7_919 - 5_000,
            profile: ProfileRef {
                id: text(),
                revision: text(),
                digest: (round % 2 == 1).then(&mut text),
            },
            direction: if round % 2 == 0 {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            endpoint: (round % 3 != 0).then(&mut text),
            action: text(),
            rule: text(),
            verdict: match round % 3 {
                0 => Verdict::Allow,
                1 => Verdict::Deny,
                _ => Verdict::Shadow,
            },
            peer,
            request_id: text(),
            trace_id: (round % 5 == 0).then(&mut text),
            destination: (round % 4 == 1).then(|| Peer::Server {
                name: Some(text()),
                pseudonym: None,
            }),
            by_gateway: (round % 6 == 2).then(&mut text),
        });
        let outcome = Entry::Outcome(Outcome {
            decision: text(),
            ts: if round == 0 {
                i64::MIN
            } else {
                i64::MAX - i64::from(round)
            },
            status: u16::try_from(round).unwrap_or(u16::MAX),
            upstream_status: (round % 2 == 1).then_some(u16::MAX),
            bytes_in: u64::MAX - u64::from(round),
            bytes_out: u64::from(round),
            duration_ms: u64::from(round) << 40,
        });
        for entry in [decision, outcome] {
            let bytes = entry.encode();
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&entry.encode_with_serde())
            );
            assert_eq!(Entry::decode(&bytes), Ok(entry));
        }
    }
}
