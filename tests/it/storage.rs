//! Storage behaviour on both backends: single use of OTP codes under concurrency, the
//! coverage check, the journal chain, migrations.

use ac_tests::{on_both_backends, Backend, TestService, SEED_A};
use chrono::Duration;
use mandate::Demarche;
use ring::rand::SystemRandom;
use std::sync::Arc;

async fn concurrent_submissions_of_one_code_succeed_once(backend: Backend) {
    let service = Arc::new(TestService::start(backend));
    let code = service.next_code(SEED_A);
    let now = service.clock_now();
    let card: authenticator::OtpCard = {
        use diesel::prelude::*;
        use store::schema::otp_cards;
        let mut conn = service.conn();
        otp_cards::table
            .filter(otp_cards::aidant_id.eq(&service.fixtures.aidant_a))
            .select(authenticator::OtpCard::as_select())
            .first(&mut conn)
            .unwrap()
    };
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (service, card, code, barrier) =
                (service.clone(), card.clone(), code.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = service.conn();
                barrier.wait();
                store::write_transaction(&mut conn, |tx| {
                    authenticator::verify_code(
                        tx,
                        &service.cipher,
                        &card,
                        &code,
                        now,
                        &authenticator::SessionPolicy::default().card,
                    )
                })
                .unwrap()
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .filter(|o| o.is_err())
        .all(|o| *o == Err(authenticator::OtpRefusal::Replayed)));
}

async fn coverage_follows_revocation_and_expiry(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let now = service.clock_now();
    let mut conn = service.conn();
    let covered = mandate::check_coverage(
        &mut conn,
        &f.org_a,
        &f.usager_argent.id,
        Demarche::Argent,
        now,
    )
    .unwrap();
    assert!(covered.is_some());
    assert!(mandate::check_coverage(
        &mut conn,
        &f.org_b,
        &f.usager_argent.id,
        Demarche::Argent,
        now
    )
    .unwrap()
    .is_none());
    assert!(mandate::check_coverage(
        &mut conn,
        &f.org_a,
        &f.usager_argent.id,
        Demarche::Famille,
        now
    )
    .unwrap()
    .is_none());
    // MONTH: covered for 31 days, not a second longer.
    let end = now + Duration::days(31);
    assert!(mandate::check_coverage(
        &mut conn,
        &f.org_a,
        &f.usager_argent.id,
        Demarche::Argent,
        end - Duration::seconds(1)
    )
    .unwrap()
    .is_some());
    assert!(mandate::check_coverage(
        &mut conn,
        &f.org_a,
        &f.usager_argent.id,
        Demarche::Argent,
        end
    )
    .unwrap()
    .is_none());
    assert!(mandate::check_coverage(
        &mut conn,
        &f.org_a,
        &f.usager_revoked.id,
        Demarche::Logement,
        now
    )
    .unwrap()
    .is_none());
}

async fn a_new_mandate_replaces_the_autorisation_for_the_same_demarche(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let now = service.clock_now();
    let mut conn = service.conn();
    let before = mandate::check_coverage(
        &mut conn,
        &f.org_a,
        &f.usager_argent.id,
        Demarche::Argent,
        now,
    )
    .unwrap()
    .unwrap();
    store::write_transaction(&mut conn, |tx| {
        mandate::seed_mandate(
            tx,
            &SystemRandom::new(),
            now,
            mandate::NewMandate {
                organisation_id: &f.org_a,
                usager_id: &f.usager_argent.id,
                created_by: &f.aidant_a,
                duration: mandate::MandateDuration::Long,
                demarches: &[Demarche::Argent],
                is_remote: false,
                consent_phone: None,
                renews: None,
            },
        )
    })
    .unwrap();
    let after = mandate::check_coverage(
        &mut conn,
        &f.org_a,
        &f.usager_argent.id,
        Demarche::Argent,
        now,
    )
    .unwrap()
    .unwrap();
    assert_ne!(before.autorisation_id(), after.autorisation_id());
    assert_eq!(after.expires_at(), now + Duration::days(365));
    let active =
        mandate::active_demarches(&mut conn, &f.org_a, &f.usager_argent.id, None, now).unwrap();
    assert_eq!(active.len(), 1);
}

async fn journal_chain_detects_tampering(backend: Backend) {
    use diesel::prelude::*;
    use store::schema::journal as journal_table;
    let service = TestService::start(backend);
    let org = service.fixtures.org_a.clone();
    let mut conn = service.conn();
    assert_eq!(
        journal::verify_chain(&mut conn, org.as_str()).unwrap(),
        None
    );
    let entries = journal::chain_entries(&mut conn, org.as_str()).unwrap();
    assert!(entries.len() >= 3, "fixtures journal their mandates");
    let alter = |conn: &mut store::DbConnection| {
        diesel::update(journal_table::table.filter(journal_table::id.eq(&entries[1].id)))
            .set(journal_table::subject.eq("altéré"))
            .execute(conn)
    };
    // The database refuses to change or remove an entry…
    let refused = alter(&mut conn).unwrap_err().to_string();
    assert!(refused.contains("never updated"), "{refused}");
    let refused = diesel::delete(journal_table::table.filter(journal_table::id.eq(&entries[2].id)))
        .execute(&mut conn)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("deleted"), "{refused}");
    assert_eq!(
        journal::verify_chain(&mut conn, org.as_str()).unwrap(),
        None
    );
    // …unless someone with the owner's rights drops its triggers first: the chain tells.
    use diesel::connection::SimpleConnection;
    let drop_triggers = match backend {
        Backend::Sqlite => "DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;",
        Backend::Postgres => "DROP TRIGGER journal_no_update_or_delete ON journal;",
    };
    conn.batch_execute(drop_triggers).unwrap();
    alter(&mut conn).unwrap();
    assert_eq!(
        journal::verify_chain(&mut conn, org.as_str()).unwrap(),
        Some(journal::ChainBreak::AlteredEntry { seq: 2 })
    );
}

async fn migrations_are_idempotent(backend: Backend) {
    let service = TestService::start(backend);
    let mut conn = service.conn();
    assert_eq!(store::migrate(&mut conn).unwrap(), 0);
}

on_both_backends!(
    concurrent_submissions_of_one_code_succeed_once,
    coverage_follows_revocation_and_expiry,
    a_new_mandate_replaces_the_autorisation_for_the_same_demarche,
    journal_chain_detects_tampering,
    migrations_are_idempotent,
);
