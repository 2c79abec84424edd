//! Each waiter is answered with the result of the operation it waited for:
//! an append with its commit's, a probe with its own. Faults are injected in
//! the real database: a trigger that refuses the log's commits (and not the
//! probe's write), and a lock held on the log's table.

use std::time::{Duration, Instant};

use crate::tests::encoding::decision;
use crate::tests::fixture::{Fixture, both, open_at, postgres_url};
use crate::{AuditError, Store, verify};

/// Makes every commit of `fixture`'s log fail in the database, while other
/// writes (the probe's) still succeed.
struct RefusedCommits<'a> {
    fixture: &'a Fixture,
    name: String,
    postgres: bool,
}

impl<'a> RefusedCommits<'a> {
    async fn inject(fixture: &'a Fixture) -> Self {
        let name = format!("refuse_{:016x}", rand::random::<u64>());
        let postgres = matches!(fixture.store, Store::Postgres(_));
        if postgres {
            fixture
                .tamper(&format!(
                    "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF NEW.origin = '{{origin}}' THEN RAISE EXCEPTION 'injected fault'; END IF; \
                     RETURN NEW; END $$"
                ))
                .await;
            fixture
                .tamper(&format!(
                    "CREATE TRIGGER {name} BEFORE INSERT ON audit_bundles \
                     FOR EACH ROW EXECUTE FUNCTION {name}()"
                ))
                .await;
        } else {
            fixture
                .tamper(&format!(
                    "CREATE TRIGGER {name} BEFORE INSERT ON audit_bundles \
                     WHEN NEW.origin = '{{origin}}' \
                     BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
                ))
                .await;
        }
        Self {
            fixture,
            name,
            postgres,
        }
    }

    async fn clear(self) {
        let name = &self.name;
        if self.postgres {
            self.fixture
                .tamper(&format!("DROP TRIGGER {name} ON audit_bundles"))
                .await;
            self.fixture
                .tamper(&format!("DROP FUNCTION {name}()"))
                .await;
        } else {
            self.fixture.tamper(&format!("DROP TRIGGER {name}")).await;
        }
    }
}

#[tokio::test]
async fn appends_whose_commit_fails_get_its_error_though_a_probe_in_their_batch_succeeds() {
    for fixture in both(1000).await {
        fixture
            .log
            .append(&decision("before", 1))
            .await
            .expect("durable");
        let fault = RefusedCommits::inject(&fixture).await;
        // On this single-threaded runtime the tasks queue their commands in
        // order before the writer runs again: one batch holds them all.
        let appends: Vec<_> = (0..8)
            .map(|i| {
                let log = fixture.log.clone();
                tokio::spawn(async move { log.append(&decision(&format!("refused{i}"), 2)).await })
            })
            .collect();
        let probe = {
            let log = fixture.log.clone();
            tokio::spawn(async move { log.probe(Duration::from_secs(30)).await })
        };
        let probed = probe.await.expect("task");
        assert!(probed.is_ok(), "the probe's own write fails: {probed:?}");
        for append in appends {
            let appended = append.await.expect("task");
            let error = appended.expect_err("a record the database refused is acknowledged");
            assert!(error.to_string().contains("injected fault"), "{error}");
        }
        fault.clear().await;
        fixture
            .log
            .append(&decision("after", 3))
            .await
            .expect("durable once the fault clears");
        let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("verify");
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 2, "only the records before and after");
    }
}

/// A database of its own on the PostgreSQL server, so that a lock held on
/// its tables stops no other test.
struct PrivateDatabase {
    admin: Store,
    name: String,
    url: String,
}

impl PrivateDatabase {
    async fn create() -> Self {
        let name = format!("sg_locked_{:016x}", rand::random::<u64>());
        let admin = Store::open(&postgres_url(), Duration::from_secs(5))
            .await
            .expect("the test server");
        admin
            .execute_for_tests(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let base = postgres_url();
        let server = base
            .rsplit_once('/')
            .map_or(base.as_str(), |(server, _)| server);
        let url = format!("{server}/{name}");
        Self { admin, name, url }
    }

    async fn drop(self) {
        self.admin
            .execute_for_tests(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .expect("drop database");
    }
}

#[tokio::test]
async fn a_probe_answers_in_time_and_says_why_while_a_lock_stops_the_log_on_postgres() {
    use sqlx::Connection;
    let database = PrivateDatabase::create().await;
    let url = database.url.clone();
    let fixture = open_at(&url, "postgres", 1000, Duration::from_secs(2)).await;
    fixture
        .log
        .append(&decision("before", 1))
        .await
        .expect("durable");
    let mut holder = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE audit_bundles IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .expect("lock");

    // Idle writer: the probe's own wait for the lock gives up.
    let started = Instant::now();
    let probed = fixture.log.probe(Duration::from_millis(1500)).await;
    let error = probed.expect_err("ready while the log is locked");
    assert!(started.elapsed() < Duration::from_secs(2), "{error}");
    assert!(error.to_string().contains("lock timeout"), "{error}");

    // Busy writer: requests wait behind a commit that waits for the lock.
    let waiting: Vec<_> = (0..4)
        .map(|i| {
            let log = fixture.log.clone();
            tokio::spawn(async move { log.append(&decision(&format!("held{i}"), 2)).await })
        })
        .collect();
    tokio::task::yield_now().await;
    let started = Instant::now();
    let probed = fixture.log.probe(Duration::from_millis(1500)).await;
    let error = probed.expect_err("ready while requests wait for a locked log");
    assert!(started.elapsed() < Duration::from_secs(2), "{error}");
    assert!(
        matches!(&*error, AuditError::Busy { waiting, writing_for: Some(_), .. } if *waiting == 4),
        "{error:?}"
    );
    assert!(error.to_string().contains("4 requests wait"), "{error}");

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("unlock");
    for append in waiting {
        // Each either waited out the lock or was given up: never both.
        let _ = append.await.expect("task");
    }
    fixture
        .log
        .probe(Duration::from_millis(1500))
        .await
        .expect("ready once the lock is gone");
    let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
        .await
        .expect("verify");
    assert!(report.ok, "{report:?}");
    fixture.log.close().await.expect("close");
    drop(fixture);
    database.drop().await;
}
