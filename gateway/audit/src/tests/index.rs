//! The query index finds what a scan of the log finds, for every store and
//! however it was brought up (step by step, by two writers at once, or in
//! memory); pruned records leave no trace in its file; an index of another
//! log is refused, and a deleted one is built again.

use crate::tests::encoding::decision;
use crate::tests::fixture::{Fixture, all, open};
use crate::{Entry, Outcome, Peer, Query, QueryIndex, Verdict, prune};

const RULES: [&str; 3] = ["endpoint.allowed", "event.schema", "room.encryption"];

/// The `i`th request's records: a decision (five users, three rules, one
/// in four denied) and, for even `i`, its outcome.
fn request(i: i64) -> Vec<Entry> {
    let Entry::Decision(mut decided) = decision(&format!("d{i}"), i * 1000) else {
        unreachable!("a decision");
    };
    decided.peer = Peer::User {
        pseudonym: format!("k1:{:032x}", i % 5),
    };
    decided.rule = RULES[usize::try_from(i % 3).unwrap_or(0)].to_owned();
    decided.verdict = if i % 4 == 0 {
        Verdict::Deny
    } else {
        Verdict::Allow
    };
    decided.request_id = format!("req-{i}");
    let mut entries = vec![Entry::Decision(decided)];
    if i % 2 == 0 {
        entries.push(Entry::Outcome(Outcome {
            decision: format!("d{i}"),
            ts: i * 1000 + 500,
            status: 200,
            upstream_status: Some(200),
            bytes_in: 10,
            bytes_out: 20,
            duration_ms: 1,
        }));
    }
    entries
}

async fn append(fixture: &Fixture, from: i64, to: i64) {
    for i in from..to {
        for entry in request(i) {
            fixture.log.append(&entry).await.expect("durable");
        }
    }
}

/// The answer read off the log itself: every record that matches, an
/// outcome by its decision's fields.
async fn scan(fixture: &Fixture, query: &Query) -> Vec<u64> {
    let leaves = fixture
        .store
        .leaves(&fixture.origin, 0, u32::MAX)
        .await
        .expect("leaves");
    let mut decisions = std::collections::HashMap::new();
    let mut found = Vec::new();
    for leaf in leaves {
        let Some(bytes) = leaf.record else { continue };
        let entry = Entry::decode_leaf(&bytes).expect("a record");
        let (decided, kind) = match &entry {
            Entry::Decision(decided) => {
                decisions.insert(decided.id.clone(), decided.clone());
                (Some(decided.clone()), "decision")
            }
            Entry::Outcome(outcome) => (decisions.get(&outcome.decision).cloned(), "outcome"),
        };
        let field = |pick: &dyn Fn(&crate::Decision) -> String, wanted: &Option<String>| {
            wanted
                .as_ref()
                .is_none_or(|wanted| decided.as_ref().is_some_and(|d| pick(d) == *wanted))
        };
        let matches = query.since_ms.is_none_or(|since| entry.ts() >= since)
            && query.until_ms.is_none_or(|until| entry.ts() < until)
            && query.kind.as_deref().is_none_or(|wanted| wanted == kind)
            && field(&|d| d.peer.id().unwrap_or_default().to_owned(), &query.peer)
            && field(&|d| d.rule.clone(), &query.rule)
            && field(&|d| d.verdict.as_str().to_owned(), &query.verdict)
            && field(&|d| d.request_id.clone(), &query.request_id)
            && field(&|d| d.action.clone(), &query.action)
            && field(&|d| d.id.clone(), &query.decision);
        if matches {
            found.push(leaf.seq);
        }
    }
    if let Some(limit) = query.limit {
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    found
}

fn questions() -> Vec<Query> {
    let user = |n: u32| Some(format!("k1:{n:032x}"));
    vec![
        Query::default(),
        Query {
            peer: user(3),
            ..Query::default()
        },
        Query {
            rule: Some("event.schema".to_owned()),
            verdict: Some("deny".to_owned()),
            ..Query::default()
        },
        Query {
            peer: user(1),
            since_ms: Some(40_000),
            until_ms: Some(90_000),
            ..Query::default()
        },
        Query {
            request_id: Some("req-12".to_owned()),
            ..Query::default()
        },
        Query {
            decision: Some("d7".to_owned()),
            ..Query::default()
        },
        Query {
            kind: Some("outcome".to_owned()),
            verdict: Some("deny".to_owned()),
            limit: Some(5),
            ..Query::default()
        },
        Query {
            peer: Some("nobody".to_owned()),
            ..Query::default()
        },
    ]
}

async fn same_answers(fixture: &Fixture, index: &QueryIndex) {
    for query in questions() {
        let expected = scan(fixture, &query).await;
        assert_eq!(
            index.find(&query).await.expect("find"),
            expected,
            "{query:?}"
        );
    }
}

#[tokio::test]
async fn the_index_finds_what_a_scan_of_the_log_finds() {
    for fixture in all(50).await {
        let file = fixture.dir.path().join("index.db");
        let index = QueryIndex::open(&file).await.expect("index");
        append(&fixture, 0, 60).await;
        let first = index
            .catch_up(&fixture.store, &fixture.origin)
            .await
            .expect("catch up");
        assert_eq!((first.size, first.added), (90, 90), "{}", fixture.origin);
        same_answers(&fixture, &index).await;
        // Step by step: only what is new is added.
        append(&fixture, 60, 120).await;
        let second = index
            .catch_up(&fixture.store, &fixture.origin)
            .await
            .expect("catch up");
        assert_eq!((second.size, second.added), (180, 90));
        same_answers(&fixture, &index).await;
        // Built at once, in memory: the same.
        let memory = QueryIndex::in_memory().await.expect("memory");
        memory
            .catch_up(&fixture.store, &fixture.origin)
            .await
            .expect("catch up");
        same_answers(&fixture, &memory).await;
        assert!(
            !index.find(&questions()[1]).await.expect("find").is_empty(),
            "a user's records are found"
        );
    }
}

#[tokio::test]
async fn two_writers_of_one_index_file_build_it_once() {
    let fixture = open("journal", 100).await;
    append(&fixture, 0, 400).await;
    let file = fixture.dir.path().join("index.db");
    let (a, b) = (
        QueryIndex::open(&file).await.expect("a"),
        QueryIndex::open(&file).await.expect("b"),
    );
    let (one, other) = tokio::join!(
        a.catch_up(&fixture.store, &fixture.origin),
        b.catch_up(&fixture.store, &fixture.origin)
    );
    let (one, other) = (one.expect("a"), other.expect("b"));
    assert_eq!(one.added + other.added, 600, "{one:?} {other:?}");
    same_answers(&fixture, &a).await;
}

#[tokio::test]
async fn pruned_records_leave_no_trace_in_the_index_file() {
    let fixture = open("journal", 10).await;
    // From request 40 on, each request's user is seen only there.
    append(&fixture, 0, 40).await;
    for i in 40..60 {
        let mut entries = request(i);
        if let Entry::Decision(decided) = &mut entries[0] {
            decided.peer = Peer::User {
                pseudonym: format!("k1:late{i:028}"),
            };
        }
        for entry in entries {
            fixture.log.append(&entry).await.expect("durable");
        }
    }
    let file = fixture.dir.path().join("index.db");
    let index = QueryIndex::open(&file).await.expect("index");
    index
        .catch_up(&fixture.store, &fixture.origin)
        .await
        .expect("catch up");
    let contains = |needle: &str| {
        let bytes = std::fs::read(&file).expect("read the index");
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    assert!(
        contains("req-13") && contains("k1:late"),
        "the index holds them"
    );

    // Everything made before request 40, pruned from the log.
    let pruned = prune(&fixture.store, &fixture.origin, 40_000, 99, None)
        .await
        .expect("prune");
    assert!(pruned.below >= 50, "{pruned:?}");
    let caught = index
        .catch_up(&fixture.store, &fixture.origin)
        .await
        .expect("catch up");
    assert!(caught.forgotten >= 50, "{caught:?}");
    let left = index.find(&Query::default()).await.expect("find");
    assert!(left.iter().all(|&seq| seq >= pruned.below), "{left:?}");
    same_answers(&fixture, &index).await;
    drop(index);
    // Nothing of requests 10–29 (45 records, all pruned) is left in the
    // file's bytes; no id kept starts with theirs.
    let text = String::from_utf8_lossy(&std::fs::read(&file).expect("read")).into_owned();
    for i in 10..30 {
        assert!(
            !text.contains(&format!("req-{i}")),
            "req-{i} is left in the file"
        );
    }
    assert!(text.contains("k1:late"), "the records kept are still there");
}

#[tokio::test]
async fn an_index_of_another_log_is_refused_and_a_deleted_one_is_built_again() {
    let (one, other) = (open("sqlite", 100).await, open("journal", 100).await);
    append(&one, 0, 10).await;
    append(&other, 0, 20).await;
    let file = one.dir.path().join("index.db");
    let index = QueryIndex::open(&file).await.expect("index");
    index
        .catch_up(&one.store, &one.origin)
        .await
        .expect("catch up");
    let refused = index
        .catch_up(&other.store, &other.origin)
        .await
        .expect_err("another log");
    assert!(refused.to_string().contains("not of"), "{refused}");
    drop(index);
    std::fs::remove_file(&file).expect("delete");
    let index = QueryIndex::open(&file).await.expect("again");
    let built = index
        .catch_up(&other.store, &other.origin)
        .await
        .expect("built again");
    assert_eq!(built.added, 30);
    same_answers(&other, &index).await;
}
