//! The service's hot operations, one by one: ID-token signing (ES256, RS256), TOTP code
//! computation, then on SQLite and PostgreSQL an OTP verification (seed decrypted, single use
//! recorded), the coverage check of a mandate and a journal append (each in its transaction).
//!
//! `cargo bench -p ac-tests --bench core` (SQLite); with `AC_TEST_POSTGRES_URL` set, PostgreSQL too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use ac_tests::{seed_fixtures, start_time, Backend, TestDb, SEED_A};
use chrono::Duration;
use criterion::{criterion_group, criterion_main, Criterion};
use ring::rand::SystemRandom;
use serde_json::json;

fn signing(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let keys = provider::KeySet::load_or_generate(dir.path()).unwrap();
    let provider = provider::Provider::new(
        "https://fi.aidantsconnect.beta.gouv.fr",
        Vec::new(),
        keys,
        provider::Lifetimes::default(),
    );
    let now = start_time().timestamp();
    let claims = json!({
        "iss": "https://fi.aidantsconnect.beta.gouv.fr",
        "sub": "5f1c0e4b9a2d7c3e8f6a1b0d4c9e2f7a5b3d8c1e6f0a9b4d2c7e5f3a8b1d6c0e",
        "aud": "franceconnect",
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "nonce": "n-0S6_WzA2Mj",
        "acr": "eidas1",
    });
    let mut group = c.benchmark_group("id_token");
    for (name, alg) in [
        ("es256", provider::SigningAlg::Es256),
        ("rs256", provider::SigningAlg::Rs256),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| provider::sign_jwt(&provider, alg, "", &claims, Some("JWT")).unwrap())
        });
    }
    group.finish();
    let seed = hex::decode(SEED_A).unwrap();
    let at = start_time();
    c.bench_function("totp/code", |b| {
        b.iter(|| authenticator::card_code_at(&seed, at))
    });
}

fn storage(c: &mut Criterion, backend: Backend, name: &str) {
    let db = TestDb::new(backend);
    let pool = store::pool(&db.url, 2, false, std::time::Duration::from_secs(2)).unwrap();
    let mut conn = pool.get().unwrap();
    store::migrate(&mut conn).unwrap();
    let cipher = authenticator::SeedCipher::new(&[7u8; 32]).unwrap();
    let mut now = start_time();
    let f = seed_fixtures(&mut conn, &cipher, now);
    let card = authenticator::cards_of_aidant(&mut conn, &f.aidant_a)
        .unwrap()
        .remove(0);
    let seed = hex::decode(SEED_A).unwrap();
    let backoff = authenticator::SessionPolicy::default().card;
    let rng = SystemRandom::new();
    let mut group = c.benchmark_group(format!("stockage/{name}"));
    group.bench_function("totp_verification", |b| {
        b.iter(|| {
            // A new 30-second step each time: every code is accepted once.
            now += Duration::seconds(30);
            let code = authenticator::card_code_at(&seed, now);
            store::write_transaction(&mut conn, |tx| {
                authenticator::verify_code(tx, &cipher, &card, &code, now, &backoff)
            })
            .unwrap()
            .unwrap()
        })
    });
    group.bench_function("coverage_check", |b| {
        b.iter(|| {
            mandate::check_coverage(
                &mut conn,
                &f.org_a,
                &f.usager_all.id,
                mandate::Demarche::Argent,
                start_time(),
            )
            .unwrap()
            .unwrap()
        })
    });
    group.bench_function("journal_append", |b| {
        b.iter(|| {
            store::write_transaction(&mut conn, |tx| {
                journal::append(
                    tx,
                    &rng,
                    start_time(),
                    journal::NewEntry {
                        chain: f.org_a.as_str(),
                        action: journal::Action::UseAutorisation,
                        aidant_id: Some(&f.aidant_a),
                        usager_id: Some(&f.usager_all.id),
                        organisation_id: Some(&f.org_a),
                        subject: "argent",
                        details: json!({ "client_id": "franceconnect" }),
                    },
                )
            })
            .unwrap()
        })
    });
    group.finish();
}

fn backends(c: &mut Criterion) {
    storage(c, Backend::Sqlite, "sqlite");
    if std::env::var("AC_TEST_POSTGRES_URL").is_ok() {
        storage(c, Backend::Postgres, "postgres");
    }
}

criterion_group!(benches, signing, backends);
criterion_main!(benches);
