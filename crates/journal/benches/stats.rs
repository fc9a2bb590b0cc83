//! The public statistics against a seeded journal: one million entries over 24 months, 3,000
//! structures, 7,800 aidants, 72,000 usagers, 52,000 mandates (the service's real proportions).
//! Measures what `/statistiques` runs (the monthly aggregates) against the same figures
//! computed from the journal itself.
//!
//! `cargo bench -p journal --bench stats` (SQLite); with `AC_BENCH_POSTGRES_URL` set (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`) the same on a PostgreSQL database created and
//! dropped for the run. `AC_BENCH_ENTRIES` changes the number of entries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use std::time::Instant;

fn entries() -> u64 {
    std::env::var("AC_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// The journal rows (hashes left empty: the statistics never read them), then the aggregates
/// exactly as `append` would have kept them.
fn seed_sql(postgres: bool, n: u64) -> String {
    let (series, at, month, mandat, hex) = if postgres {
        (
            format!("SELECT i FROM generate_series(0, {}) AS s(i)", n - 1),
            "TIMESTAMP '2024-12-01' + (i % 730) * INTERVAL '1 day' + (i % 86400) * INTERVAL '1 second'",
            "to_char(at, 'YYYY-MM')",
            "details::json->>'mandat'",
            "lpad(to_hex(i), 32, '0')",
        )
    } else {
        (
            format!(
                "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {}) SELECT i FROM s",
                n - 1
            ),
            "datetime('2024-12-01', '+' || (i % 730) || ' days', '+' || (i % 86400) || ' seconds')",
            "strftime('%Y-%m', at)",
            "json_extract(details, '$.mandat')",
            "printf('%032x', i)",
        )
    };
    format!(
        "INSERT INTO journal_heads (chain, seq, head_hash, checkpointed_seq)
           SELECT 'org' || i, 0, '', 0 FROM ({heads}) AS h;
         INSERT INTO journal (id, chain, seq, at, action, aidant_id, usager_id, organisation_id,
                              subject, details, prev_hash, hash)
           SELECT {hex}, 'org' || (i % 3000), i / 3000 + 1, {at},
                  CASE WHEN i % 20 < 12 THEN 'use_autorisation'
                       WHEN i % 20 < 17 THEN 'connect_aidant'
                       ELSE 'create_autorisation' END,
                  'aidant' || (i % 7800), 'usager' || (i % 72000), 'org' || (i % 3000), 'argent',
                  '{{\"mandat\":\"m' || (i % 52000) || '\"}}', '', ''
           FROM ({series}) AS n;
         INSERT INTO journal_monthly (chain, month, action, count)
           SELECT chain, {month}, action, COUNT(*) FROM journal GROUP BY 1, 2, 3;
         CREATE TABLE bench_first (month TEXT, kind TEXT, key TEXT, chain TEXT);
         INSERT INTO bench_first
           SELECT {month}, 'usager', usager_id, MIN(chain) FROM journal
           WHERE action IN ('use_autorisation', 'create_autorisation') GROUP BY 1, 2, 3;
         INSERT INTO bench_first
           SELECT {month}, 'aidant', aidant_id, MIN(chain) FROM journal
           WHERE action = 'connect_aidant' GROUP BY 1, 2, 3;
         INSERT INTO bench_first
           SELECT {month}, 'mandat', {mandat}, MIN(chain) FROM journal
           WHERE action = 'create_autorisation' GROUP BY 1, 2, 3;
         INSERT INTO journal_monthly_distinct (month, kind, key) SELECT month, kind, key FROM bench_first;
         INSERT INTO journal_monthly (chain, month, action, count)
           SELECT chain, month, 'distinct_' || kind, COUNT(*) FROM bench_first GROUP BY 1, 2, 3;
         DROP TABLE bench_first;
         ANALYZE;",
        heads = if postgres {
            "SELECT i FROM generate_series(0, 2999) AS s(i)".to_owned()
        } else {
            "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 2999) SELECT i FROM s".to_owned()
        },
    )
}

/// The same twelve months computed from the journal itself (what the page would cost without
/// the aggregates).
fn naive_sql(postgres: bool) -> String {
    let month = if postgres {
        "to_char(at, 'YYYY-MM')"
    } else {
        "strftime('%Y-%m', at)"
    };
    format!(
        "SELECT {month} AS m, action, COUNT(*), COUNT(DISTINCT usager_id), COUNT(DISTINCT aidant_id)
         FROM journal WHERE at >= '2025-12-01' GROUP BY 1, 2;"
    )
}

fn bench_backend(c: &mut Criterion, name: &str, conn: &mut store::PooledDb, postgres: bool) {
    let n = entries();
    let started = Instant::now();
    conn.batch_execute(&seed_sql(postgres, n)).unwrap();
    eprintln!(
        "{name}: seeded {n} journal entries and their aggregates in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let now = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
    let live = journal::stats::monthly(conn, now.into(), 12).unwrap();
    let started = Instant::now();
    let closed =
        store::write_transaction(conn, |tx| journal::stats::close_months(tx, now.into())).unwrap();
    eprintln!(
        "{name}: {closed} months summed by the upkeep in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let months = journal::stats::monthly(conn, now.into(), 12).unwrap();
    assert_eq!(months.len(), 12);
    assert_eq!(months, live, "closed months read the same figures");
    assert!(months.iter().all(|m| m.demarches > 0 && m.usagers > 0));
    let mut group = c.benchmark_group(format!("statistiques/{name}"));
    group.sample_size(20);
    group.bench_function("agregats_12_mois", |b| {
        b.iter(|| {
            let months = journal::stats::monthly(conn, now.into(), 12).unwrap();
            let total = journal::stats::demarches_total(conn).unwrap();
            (months, total)
        })
    });
    group.bench_function("depuis_le_journal_12_mois", |b| {
        b.iter(|| conn.batch_execute(&naive_sql(postgres)).unwrap())
    });
    group.finish();
}

/// One connection from a pool of one (write transactions are opened on pooled connections).
fn connect(url: &str) -> store::PooledDb {
    store::pool(url, 1, false, std::time::Duration::from_secs(30))
        .unwrap()
        .get()
        .unwrap()
}

fn statistics(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut conn = connect(&url);
    store::migrate(&mut conn).unwrap();
    bench_backend(c, "sqlite", &mut conn, false);

    if let Ok(admin) = std::env::var("AC_BENCH_POSTGRES_URL") {
        let name = "ac_bench_statistiques";
        let mut admin_conn = diesel::PgConnection::establish(&admin).unwrap();
        admin_conn
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin_conn
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(name);
        {
            let mut conn = connect(url.as_str());
            store::migrate(&mut conn).unwrap();
            bench_backend(c, "postgres", &mut conn, true);
        }
        admin_conn
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .unwrap();
    }
}

criterion_group!(benches, statistics);
criterion_main!(benches);
