//! Transfers of mandates by the national team: an auditor may not (nothing written); an
//! administrator finds a structure's mandates in force by usager, is refused a structure
//! nobody has and a transfer that would give an usager two mandates for one démarche (nothing
//! written, what was typed kept), then moves two mandates: the new structure covers them, the
//! old one no longer does, both chains say so, each mandate has a new attestation naming its
//! new structure, and the attestation printed before still verifies and says it moved.

use crate::staff::{admin_signed_in, auditor_signed_in};
use ac_tests::{on_both_backends, Backend, Browser, TestService, SEED_A};
use mandate::Demarche;
use ring::rand::SystemRandom;
use store::{MandateId, OrganisationId, UsagerId};

fn structure_url(service: &TestService, org: &OrganisationId) -> String {
    format!("{}/administration/structures/{org}", service.issuer())
}

/// Posts the transfer form of `org`'s page with `fields` (and the CSRF token of the home
/// page, which every member has, even those shown no transfer form).
async fn post_transfer(
    service: &TestService,
    browser: &Browser,
    org: &OrganisationId,
    fields: &[(&str, &str)],
) -> ac_tests::Page {
    browser
        .post_from(
            service.issuer(),
            "/administration/",
            &format!("/administration/structures/{org}/transfert"),
            fields,
        )
        .await
}

/// The mandate of `usager` in force in `org`, if any.
fn mandate_in(service: &TestService, org: &OrganisationId, usager: &UsagerId) -> Option<MandateId> {
    mandate::mandates_in_force(&mut service.conn(), org, "", service.clock_now(), 1000)
        .unwrap()
        .1
        .into_iter()
        .find(|m| &m.mandate.usager_id == usager)
        .map(|m| m.mandate.id)
}

fn covered(service: &TestService, org: &OrganisationId, usager: &UsagerId, d: Demarche) -> bool {
    mandate::check_coverage(&mut service.conn(), org, usager, d, service.clock_now())
        .unwrap()
        .is_some()
}

fn transfer_entries(service: &TestService) -> Vec<::journal::JournalEntry> {
    ::journal::entries_by_action(&mut service.conn(), ::journal::Action::TransferMandat).unwrap()
}

/// A mandate of organisation B for usager_argent's démarche, made by B's aidant.
fn b_also_covers_argent(service: &TestService) {
    let f = &service.fixtures;
    let now = service.clock_now();
    store::write_transaction(&mut service.conn(), |tx| {
        mandate::seed_mandate(
            tx,
            &SystemRandom::new(),
            now,
            mandate::NewMandate {
                organisation_id: &f.org_b,
                usager_id: &f.usager_argent.id,
                created_by: &f.aidant_b,
                duration: mandate::MandateDuration::Month,
                demarches: &[Demarche::Argent],
                is_remote: false,
                consent_phone: None,
                renews: None,
            },
        )
    })
    .unwrap();
}

pub(crate) fn verify_url(service: &TestService, id: &str, fingerprint: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id", id)
        .append_pair("empreinte", fingerprint)
        .finish();
    format!("{}/attestations/verifier?{query}", service.issuer())
}

/// The refusals: the auditor's, a structure nobody has, two mandates for one démarche.
async fn refusals(service: &TestService, admin: &Browser, siret_b: &str) {
    let f = &service.fixtures;
    let auditor = auditor_signed_in(service).await;
    let refused = post_transfer(
        service,
        &auditor,
        &f.org_a,
        &[("vers", siret_b), ("portee", "tous")],
    )
    .await;
    assert_eq!(refused.status, 403);
    let argent = mandate_in(service, &f.org_a, &f.usager_argent.id).unwrap();
    let unknown = post_transfer(
        service,
        admin,
        &f.org_a,
        &[
            ("vers", "99999999999999"),
            ("mandat", argent.as_str()),
            ("portee", "choisis"),
        ],
    )
    .await;
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.body.contains("Aucune structure ne correspond"),
        "{}",
        unknown.body
    );
    assert!(
        unknown.body.contains("value=\"99999999999999\""),
        "the target is kept"
    );
    assert!(
        unknown
            .body
            .contains(&format!("value=\"{argent}\" checked")),
        "the ticked mandate stays ticked"
    );
    b_also_covers_argent(service);
    let twice = post_transfer(
        service,
        admin,
        &f.org_a,
        &[
            ("vers", siret_b),
            ("mandat", argent.as_str()),
            ("portee", "choisis"),
        ],
    )
    .await;
    assert_eq!(twice.status, 422);
    assert!(
        twice
            .body
            .contains("a déjà un mandat en cours pour la démarche"),
        "{}",
        twice.body
    );
    let none = post_transfer(
        service,
        admin,
        &f.org_a,
        &[("vers", siret_b), ("portee", "choisis")],
    )
    .await;
    assert!(
        none.body.contains("Cochez les mandats à transférer"),
        "{}",
        none.body
    );
    assert_eq!(
        mandate_in(service, &f.org_a, &f.usager_argent.id),
        Some(argent)
    );
    assert!(transfer_entries(service).is_empty(), "nothing was written");
}

/// Aidant A makes, through FranceConnect, an argent mandate for the simulator's second
/// usager (Fatou DIALLO): the id and fingerprint printed on its attestation.
pub(crate) async fn printed_mandate(service: &TestService) -> (String, String) {
    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    let printed = aidant
        .get(
            &service
                .create_mandate(&aidant, &[("demarche", "argent"), ("duree", "SEMESTER")], 1)
                .await,
        )
        .await;
    (
        crate::mandates::span(&printed.body, "numero"),
        crate::mandates::span(&printed.body, "empreinte"),
    )
}

async fn an_administrator_transfers_mandates(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    let f = service.fixtures.clone();
    let (id, fingerprint) = printed_mandate(&service).await;
    let old = mandate::attestation(&mut service.conn(), &id)
        .unwrap()
        .unwrap();
    let siret_b = accounts::organisation(&mut service.conn(), &f.org_b)
        .unwrap()
        .unwrap()
        .siret;

    let admin = admin_signed_in(&service).await;
    let (total, _) =
        mandate::mandates_in_force(&mut service.conn(), &f.org_a, "", service.clock_now(), 1000)
            .unwrap();
    let page = admin.get(&structure_url(&service, &f.org_a)).await;
    assert!(
        page.body.contains(&format!("Mandats en cours : {total}")),
        "{}",
        page.body
    );
    let found = admin
        .get(&format!(
            "{}?usager=dubois",
            structure_url(&service, &f.org_a)
        ))
        .await;
    assert!(found.body.contains("Angela DUBOIS"), "{}", found.body);
    assert!(!found.body.contains("Bernard MARTIN"));

    refusals(&service, &admin, &siret_b).await;

    let all = mandate_in(&service, &f.org_a, &f.usager_all.id).unwrap();
    let done = post_transfer(
        &service,
        &admin,
        &f.org_a,
        &[
            ("vers", &siret_b),
            ("mandat", all.as_str()),
            ("mandat", old.mandate_id.as_str()),
            ("portee", "choisis"),
        ],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let shown = admin
        .get(&format!("{}{}", service.issuer(), done.location.unwrap()))
        .await;
    assert!(
        shown.body.contains("2 mandat(s) transféré(s)"),
        "{}",
        shown.body
    );

    assert!(covered(
        &service,
        &f.org_b,
        &f.usager_all.id,
        Demarche::Logement
    ));
    assert!(!covered(
        &service,
        &f.org_a,
        &f.usager_all.id,
        Demarche::Logement
    ));
    assert!(
        covered(&service, &f.org_a, &f.usager_argent.id, Demarche::Argent),
        "left alone"
    );
    let entries = transfer_entries(&service);
    assert_eq!(entries.len(), 4, "one entry on each chain per mandate");
    assert!(entries.iter().all(|e| e.details.contains("\"staff\":")));
    for chain in [&f.org_a, &f.org_b] {
        assert_eq!(
            entries.iter().filter(|e| e.chain == chain.as_str()).count(),
            2
        );
        assert_eq!(
            ::journal::verify_chain(&mut service.conn(), chain.as_str()).unwrap(),
            None
        );
    }

    let attestations =
        mandate::attestations_of_mandate(&mut service.conn(), &old.mandate_id).unwrap();
    let new = attestations.last().unwrap();
    assert_eq!(new.kind, mandate::AttestationKind::Transfer);
    let content = new.parsed().unwrap();
    assert_eq!(content.siret, siret_b);
    assert_eq!(
        content.transferred_from.unwrap().siret,
        accounts::organisation(&mut service.conn(), &f.org_a)
            .unwrap()
            .unwrap()
            .siret
    );
    let verified = Browser::new()
        .get(&verify_url(&service, &new.id, &new.fingerprint))
        .await;
    assert!(
        verified.body.contains(r#"data-verdict="authentique""#),
        "{}",
        verified.body
    );
    assert!(
        !verified.body.contains("id=\"transfert\""),
        "{}",
        verified.body
    );
    let before = Browser::new()
        .get(&verify_url(&service, &id, &fingerprint))
        .await;
    assert!(
        before.body.contains(r#"data-verdict="authentique""#),
        "{}",
        before.body
    );
    assert!(before.body.contains("id=\"transfert\""), "{}", before.body);
    assert!(
        before.body.contains(&content.organisation_name),
        "names the new holder"
    );
}

on_both_backends!(an_administrator_transfers_mandates);
