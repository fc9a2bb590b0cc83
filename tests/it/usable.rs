//! The one rule of a usable autorisation: the SQL the coverage check and the lists run, and
//! the same rule on loaded rows, agree on every combination of its conditions; two mandates
//! made at once for the same usager and démarche leave one usable autorisation.

use ac_tests::{on_both_backends, Backend, TestService};
use chrono::Duration;
use diesel::prelude::*;
use mandate::{Demarche, MandateDuration, NewMandate, NewUsager};
use ring::rand::SystemRandom;
use std::sync::{mpsc, Arc};
use store::schema::{autorisations, mandates};
use store::UsagerId;

/// One combination of the rule's conditions.
#[derive(Debug, Clone, Copy)]
struct Case {
    autorisation_revoked: bool,
    mandate_revoked: bool,
    expired: bool,
    /// `None`: made in person; `Some(consented)`: remote.
    remote: Option<bool>,
    allowed: bool,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for autorisation_revoked in [false, true] {
        for mandate_revoked in [false, true] {
            for expired in [false, true] {
                for remote in [None, Some(false), Some(true)] {
                    for allowed in [false, true] {
                        out.push(Case {
                            autorisation_revoked,
                            mandate_revoked,
                            expired,
                            remote,
                            allowed,
                        });
                    }
                }
            }
        }
    }
    out
}

/// A new usager of organisation A with one mandate for `demarche`, as `case` says.
fn usager_in(service: &TestService, i: usize, demarche: Demarche, case: Case) -> mandate::Usager {
    let f = &service.fixtures;
    let now = service.clock_now();
    let rng = SystemRandom::new();
    let mut conn = service.conn();
    let identite = identity::IdentitePivot {
        given_name: format!("Cas{i:02}"),
        family_name: "REGLE".into(),
        preferred_username: String::new(),
        birthdate: identity::IdentitePivot::parse_birthdate("1970-03-04").unwrap(),
        gender: identity::Gender::Female,
        birthplace: "75107".into(),
        birthcountry: identity::FRANCE_COG.into(),
        email: String::new(),
    };
    store::write_transaction(&mut conn, |tx| -> Result<_, mandate::MandateError> {
        let usager = mandate::create_usager(
            tx,
            &rng,
            now,
            NewUsager {
                identite: &identite,
                franceconnect_sub: None,
                phone: "",
            },
        )?;
        let (m, autorisations) = mandate::seed_mandate(
            tx,
            &rng,
            now - Duration::days(40),
            NewMandate {
                organisation_id: &f.org_a,
                usager_id: &usager.id,
                created_by: &f.aidant_a,
                duration: if case.expired {
                    MandateDuration::Month
                } else {
                    MandateDuration::Long
                },
                demarches: &[demarche],
                is_remote: case.remote.is_some(),
                consent_phone: case.remote.map(|_| "+33612345678"),
                renews: None,
            },
        )?;
        let at = Some(now - Duration::days(1));
        if case.remote == Some(true) {
            diesel::update(mandates::table.find(&m.id))
                .set(mandates::consent_received_at.eq(at))
                .execute(tx.conn())?;
        }
        if case.mandate_revoked {
            diesel::update(mandates::table.find(&m.id))
                .set(mandates::revoked_at.eq(at))
                .execute(tx.conn())?;
        }
        if case.autorisation_revoked {
            diesel::update(autorisations::table.find(&autorisations[0].id))
                .set(autorisations::revoked_at.eq(at))
                .execute(tx.conn())?;
        }
        Ok(usager)
    })
    .unwrap()
}

async fn the_rule_in_sql_and_on_loaded_rows_agree(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let now = service.clock_now();
    let cases = cases();
    let made: Vec<(Case, Demarche, mandate::Usager)> = cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let demarche = if case.allowed {
                Demarche::Argent
            } else {
                Demarche::Logement
            };
            (*case, demarche, usager_in(&service, i, demarche, *case))
        })
        .collect();
    // The structure is then limited to some démarches, Logement not among them.
    let allowed = [Demarche::Argent, Demarche::Famille];
    let mut conn = service.conn();
    store::write_transaction(&mut conn, |tx| {
        accounts::set_allowed_demarches(
            tx,
            &SystemRandom::new(),
            now,
            &f.org_a,
            Some(&allowed.map(|d| d.id())),
            accounts::By::System,
        )
    })
    .unwrap();
    let listed: Vec<UsagerId> =
        mandate::usagers_with_active_mandates(&mut conn, &f.org_a, None, now, Some("regle"), 100)
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect();
    let mut usable = 0;
    for (case, demarche, usager) in &made {
        let details = mandate::mandates_of_usager(&mut conn, &f.org_a, &usager.id, now).unwrap();
        let (m, autorisation) = (&details[0].mandate, &details[0].autorisations[0].0);
        let on_rows = mandate::is_usable(autorisation, m, &allowed, now);
        let in_sql = mandate::check_coverage(&mut conn, &f.org_a, &usager.id, *demarche, now)
            .unwrap()
            .is_some();
        assert_eq!(in_sql, on_rows, "{case:?}");
        assert_eq!(listed.contains(&usager.id), on_rows, "{case:?}");
        assert_eq!(details[0].autorisations[0].2, on_rows, "{case:?}");
        let expected = !case.autorisation_revoked
            && !case.mandate_revoked
            && !case.expired
            && case.remote != Some(false)
            && case.allowed;
        assert_eq!(on_rows, expected, "{case:?}");
        usable += usize::from(on_rows);
    }
    assert_eq!(usable, 2, "in person or consented, and nothing else");
}

/// Makes a mandate for organisation A's usager `usager_id` for `demarche`.
fn mandate_for(
    tx: &mut store::WriteTx<'_>,
    service: &TestService,
    usager_id: &UsagerId,
    demarche: Demarche,
) {
    let f = &service.fixtures;
    mandate::seed_mandate(
        tx,
        &SystemRandom::new(),
        service.clock_now(),
        NewMandate {
            organisation_id: &f.org_a,
            usager_id,
            created_by: &f.aidant_a,
            duration: MandateDuration::Long,
            demarches: &[demarche],
            is_remote: false,
            consent_phone: None,
            renews: None,
        },
    )
    .unwrap();
}

async fn a_mandate_made_while_another_commits_replaces_it(backend: Backend) {
    let service = Arc::new(TestService::start(backend));
    let usager = service.fixtures.usager_argent.id.clone();
    let (written, go) = mpsc::channel();
    let first = {
        let (service, usager) = (service.clone(), usager.clone());
        std::thread::spawn(move || {
            let mut conn = service.conn();
            store::write_transaction(&mut conn, |tx| {
                mandate_for(tx, &service, &usager, Demarche::Argent);
                written.send(()).unwrap();
                // The second mandate is being made meanwhile, in its own transaction.
                std::thread::sleep(std::time::Duration::from_millis(500));
                Ok::<(), diesel::result::Error>(())
            })
            .unwrap();
        })
    };
    go.recv().unwrap();
    let mut conn = service.conn();
    store::write_transaction(&mut conn, |tx| {
        mandate_for(tx, &service, &usager, Demarche::Argent);
        Ok::<(), diesel::result::Error>(())
    })
    .unwrap();
    first.join().unwrap();
    let unrevoked: i64 = autorisations::table
        .inner_join(mandates::table)
        .filter(mandates::usager_id.eq(&usager))
        .filter(mandates::organisation_id.eq(&service.fixtures.org_a))
        .filter(autorisations::demarche.eq(Demarche::Argent.id()))
        .filter(autorisations::revoked_at.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(
        unrevoked, 1,
        "the usager has one autorisation for the démarche"
    );
}

on_both_backends!(
    the_rule_in_sql_and_on_loaded_rows_agree,
    a_mandate_made_while_another_commits_replaces_it,
);
