//! The sqlx migrations of each backend, embedded in the binary.

use std::borrow::Cow;

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "audit records",
        include_str!("../../migrations/sqlite/0001_audit_records.sql"),
    ),
    (
        2,
        "shadow verdict",
        include_str!("../../migrations/sqlite/0002_shadow_verdict.sql"),
    ),
    (
        3,
        "merkle log",
        include_str!("../../migrations/sqlite/0003_merkle_log.sql"),
    ),
];

const POSTGRES: &[(i64, &str, &str)] = &[(
    1,
    "merkle log",
    include_str!("../../migrations/postgres/0001_merkle_log.sql"),
)];

/// SQLite's migrations (the first two are the spine's simple store).
pub(super) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

/// PostgreSQL's migrations.
pub(super) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

fn migrator(migrations: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect(),
    )
}
