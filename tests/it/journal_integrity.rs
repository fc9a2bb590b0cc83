//! The journal as an auditor checks it: `journal verify` (through the same function the CLI
//! prints) finds an edited entry, a removed entry, a chain cut back at its end even when its
//! head row was rewound too (thanks to the signed daily checkpoints), and a forged checkpoint.
//! The running service writes the day's checkpoint by itself.

use ac_tests::{on_both_backends, Backend, TestService};
use aidants_connect::admin::{self, AidantInput, OrganisationInput};
use chrono::Duration;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use ring::rand::SystemRandom;
use store::schema::{journal, journal_checkpoints, journal_heads};

fn keys(service: &TestService) -> provider::KeySet {
    provider::KeySet::load_or_generate(&service.config.keys_dir).unwrap()
}

/// The national team's actions: one organisation and two aidants (three entries).
fn national_activity(service: &TestService) {
    let mut conn = service.conn();
    let now = service.clock_now();
    let rng = SystemRandom::new();
    admin::create_organisation(
        &mut conn,
        &rng,
        now,
        &OrganisationInput {
            name: "France Services de Brest".into(),
            siret: "12345678900011".into(),
            address: "2 rue de Siam".into(),
            zipcode: "29200".into(),
            city: "Brest".into(),
            kind: "France Services".into(),
        },
    )
    .unwrap();
    for (email, first) in [
        ("lea.martin@fs-brest.fr", "Léa"),
        ("noe.simon@fs-brest.fr", "Noé"),
    ] {
        admin::create_aidant(
            &mut conn,
            &rng,
            now,
            &AidantInput {
                email: email.into(),
                first_name: first.into(),
                last_name: "Martin".into(),
                profession: String::new(),
                phone: String::new(),
                siret: "12345678900011".into(),
                referent: false,
            },
        )
        .unwrap();
    }
}

fn chain_len(conn: &mut store::DbConnection, chain: &str) -> i64 {
    ::journal::chain_entries(conn, chain).unwrap().len() as i64
}

/// Turns the append-only triggers off, as someone with the database owner's rights could.
pub(crate) fn disable_triggers(conn: &mut store::DbConnection, backend: Backend) {
    conn.batch_execute(match backend {
        Backend::Sqlite => {
            "DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;
             DROP TRIGGER journal_checkpoints_no_update; DROP TRIGGER journal_checkpoints_no_delete;"
        }
        Backend::Postgres => {
            "ALTER TABLE journal DISABLE TRIGGER USER;
             ALTER TABLE journal_checkpoints DISABLE TRIGGER USER;"
        }
    })
    .unwrap();
}

/// Day 1: every chain with entries is recorded, and a second round the same day writes
/// nothing; day 2: only the chain that moved (A). The journal then verifies whole.
fn two_days_of_checkpoints(service: &TestService, keys: &provider::KeySet) {
    let first = service.upkeep().checkpoint.expect("the day's checkpoint");
    assert_eq!(first.heads, 4, "national, organisations A, B and Brest");
    assert_eq!(service.upkeep().checkpoint, None);
    service.clock.advance(Duration::days(1));
    mandate_activity(service);
    let second = service.upkeep().checkpoint.unwrap();
    assert_eq!(second.heads, 1, "only organisation A moved");

    let (report, intact) = admin::verify_journal(&mut service.conn(), keys).unwrap();
    assert!(intact, "{report}");
    assert!(
        report.contains("4 chaîne(s) vérifiée(s), 0 rompue(s)."),
        "{report}"
    );
    assert!(
        report.contains("2 point(s) de contrôle signé(s) vérifié(s), 5 tête(s) de chaîne contrôlée(s), 0 anomalie(s)."),
        "{report}"
    );
}

/// What the database owner could do with the triggers off: (1) edit an entry of the national
/// chain in place, (2) remove an entry from the middle of B's chain, (3) remove A's last two
/// entries and rewind its head to match, so that A's chain alone looks whole.
fn tamper_with_three_chains(conn: &mut store::PooledDb, f: &ac_tests::Fixtures, a_len: i64) {
    diesel::update(
        journal::table
            .filter(journal::chain.eq(::journal::NATIONAL_CHAIN))
            .filter(journal::seq.eq(1)),
    )
    .set(journal::subject.eq("falsifie"))
    .execute(conn)
    .unwrap();
    diesel::delete(
        journal::table
            .filter(journal::chain.eq(&f.org_b))
            .filter(journal::seq.eq(2)),
    )
    .execute(conn)
    .unwrap();
    diesel::delete(
        journal::table
            .filter(journal::chain.eq(&f.org_a))
            .filter(journal::seq.gt(a_len - 2)),
    )
    .execute(conn)
    .unwrap();
    let new_end: String = journal::table
        .filter(journal::chain.eq(&f.org_a))
        .filter(journal::seq.eq(a_len - 2))
        .select(journal::hash)
        .first(conn)
        .unwrap();
    diesel::update(journal_heads::table.find(&f.org_a))
        .set((
            journal_heads::seq.eq(a_len - 2),
            journal_heads::head_hash.eq(&new_end),
        ))
        .execute(conn)
        .unwrap();
    assert_eq!(
        ::journal::verify_chain(conn, f.org_a.as_str()).unwrap(),
        None
    );
}

/// The operator's report names each tampering: the edited entry, the broken link, and A's
/// truncation that only the checkpoint reveals.
fn assert_tampering_reported(report: &str, f: &ac_tests::Fixtures, a_len: i64) {
    assert!(
        report.contains(
            "ROMPUE    national — équipe nationale : entrée n° 1 altérée : son contenu ne correspond plus à son empreinte"
        ),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "ROMPUE    {} — Mairie de Test B (SIRET 22222222200022) : lien rompu à l'entrée n° 3",
            f.org_b
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "intacte   {} — CCAS de Test A (SIRET 11111111100011) : {} entrée(s)",
            f.org_a,
            a_len - 2
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "ANOMALIE  {} — CCAS de Test A (SIRET 11111111100011) : chaîne tronquée : l'entrée n° {a_len}, enregistrée par le point de contrôle du 2026-03-11, a disparu",
            f.org_a
        )),
        "{report}"
    );
    assert!(
        report.contains("4 chaîne(s) vérifiée(s), 2 rompue(s)."),
        "{report}"
    );
}

/// One byte of the day-1 checkpoint's signature changed.
fn forge_checkpoint_signature(conn: &mut store::PooledDb, day: &str) {
    let token: String = journal_checkpoints::table
        .find(day)
        .select(journal_checkpoints::token)
        .first(conn)
        .unwrap();
    let mut forged = token.into_bytes();
    let i = forged.len() - 20;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    diesel::update(journal_checkpoints::table.find(day))
        .set(journal_checkpoints::token.eq(String::from_utf8(forged).unwrap()))
        .execute(conn)
        .unwrap();
}

async fn tampering_is_reported(backend: Backend) {
    let service = TestService::start_configured(backend, &|c| c.journal.upkeep_minutes = 0);
    let f = service.fixtures.clone();
    let keys = keys(&service);
    national_activity(&service);
    two_days_of_checkpoints(&service, &keys);
    let mut conn = service.conn();
    let national_len = chain_len(&mut conn, ::journal::NATIONAL_CHAIN);
    let a_len = chain_len(&mut conn, f.org_a.as_str());
    let b_len = chain_len(&mut conn, f.org_b.as_str());
    assert_eq!(national_len, 1, "create_organisation");
    assert!(a_len >= 4 && b_len >= 3, "{a_len} {b_len}");

    // Checkpoints cannot be changed or removed either…
    assert!(diesel::update(journal_checkpoints::table)
        .set(journal_checkpoints::token.eq("x"))
        .execute(&mut conn)
        .is_err());
    assert!(diesel::delete(journal_checkpoints::table)
        .execute(&mut conn)
        .is_err());
    // …unless the triggers are turned off, as the database owner could.
    disable_triggers(&mut conn, backend);
    tamper_with_three_chains(&mut conn, &f, a_len);
    let (report, intact) = admin::verify_journal(&mut conn, &keys).unwrap();
    assert!(!intact, "{report}");
    assert_tampering_reported(&report, &f, a_len);

    forge_checkpoint_signature(&mut conn, "2026-03-10");
    let (report, _) = admin::verify_journal(&mut conn, &keys).unwrap();
    assert!(
        report.contains("ANOMALIE  point de contrôle du 2026-03-10 : signature invalide"),
        "{report}"
    );
    assert!(
        report.contains("ANOMALIE  point de contrôle du 2026-03-11 : il ne suit pas le précédent"),
        "{report}"
    );
}

/// Organisation A revokes one autorisation (one more entry on its chain).
fn mandate_activity(service: &TestService) {
    let usager = service.fixtures.usager_all.id.clone();
    service.revoke_in_org_a(&usager, mandate::Demarche::Argent);
}

async fn the_service_writes_the_day_checkpoint(backend: Backend) {
    let service = TestService::start(backend);
    let mut conn = service.conn();
    let mut written = 0;
    for _ in 0..100 {
        written = journal_checkpoints::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap();
        if written > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(written, 1);
    let report = ::journal::verify_checkpoints(&mut conn, &keys(&service)).unwrap();
    assert_eq!(report.checkpoints, 1);
    assert_eq!(report.heads, 2, "organisations A and B");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // Its key is the one the service publishes.
    let jwks: serde_json::Value = reqwest::get(format!("{}/jwks", service.issuer()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: String = journal_checkpoints::table
        .select(journal_checkpoints::token)
        .first(&mut conn)
        .unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&base64_url(token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == header["kid"]));
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

on_both_backends!(tampering_is_reported, the_service_writes_the_day_checkpoint);
