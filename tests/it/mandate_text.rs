//! The mandate's text is versioned: a mandate records the version in force the day it is made,
//! and its attestation reproduces that version's wording after a new version applies (on both
//! backends, through the FranceConnect simulator). The second version here is the test's own,
//! added to the service's published ones as a release would add it. The draft mandate is
//! printed before the usager identifies.

use ac_tests::{on_both_backends, Backend, Browser, TestService, SEED_A};
use chrono::Duration;
use diesel::prelude::*;
use std::sync::Arc;
use store::schema::{attestations, mandates};

const VERSION_2: &str = "Article 1 — Objet. Seconde version du texte, pour ce test.";

/// The attestation page's id (the last segment of its address).
fn id_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

async fn a_mandate_keeps_the_text_it_was_made_under(backend: Backend) {
    let tomorrow = paris::local(ac_tests::start_time())
        .date()
        .succ_opt()
        .unwrap();
    let (service, _sim) = TestService::start_with_simulator_adjusted(
        backend,
        "127.0.0.1",
        &|_| {},
        Arc::new(move |state| {
            state.mandate_texts = mandate::MandateTexts::published()
                .with(mandate::MandateText {
                    version: 2,
                    applies_from: tomorrow,
                    text: VERSION_2,
                })
                .unwrap();
        }),
    );
    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    let first = service
        .create_mandate(&aidant, &[("demarche", "argent"), ("duree", "SEMESTER")], 1)
        .await;
    let page = aidant.get(&first).await;
    assert!(
        page.body
            .contains("Texte du mandat (version 1, en vigueur depuis le 01/01/2026)"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("articles 1984 et suivants du Code civil"));

    // The next day, version 2 applies to new mandates only.
    service.clock.advance(Duration::days(1));
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    let second = service
        .create_mandate(
            &aidant,
            &[("demarche", "logement"), ("duree", "SEMESTER")],
            2,
        )
        .await;
    let page = aidant.get(&second).await;
    assert!(
        page.body.contains("Texte du mandat (version 2"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("Seconde version du texte, pour ce test."));
    let page = aidant.get(&first).await;
    assert!(
        page.body.contains("Texte du mandat (version 1"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Seconde version"));
    assert!(
        !page.body.contains("ne correspond plus à son empreinte"),
        "still intact"
    );
    // Each mandate records its version, and each attestation's signed content names it.
    let mut versions: Vec<Option<i32>> = mandates::table
        .select(mandates::text_version)
        .filter(mandates::text_version.is_not_null())
        .order(mandates::created_at)
        .load(&mut service.conn())
        .unwrap();
    versions.dedup();
    assert_eq!(versions, [Some(1), Some(2)]);
    for (url, version) in [(&first, 1), (&second, 2)] {
        let (content, fingerprint): (String, String) = attestations::table
            .find(id_of(url))
            .select((attestations::content, attestations::fingerprint))
            .first(&mut service.conn())
            .unwrap();
        assert!(
            content.contains(&format!("\"mandate_text\":{version}")),
            "{content}"
        );
        let verified = Browser::new()
            .get(&crate::back_office_mandates::verify_url(
                &service,
                &id_of(url),
                &fingerprint,
            ))
            .await;
        assert!(verified.body.contains("Attestation authentique"));
    }
}

/// Before the usager identifies, the aidant prints the draft: the démarches, the duration and
/// the text in force, no identity; nothing is written, and a draft without démarche is refused
/// with the form's own message.
async fn the_draft_is_printed_before_identification(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    let drafts = |service: &TestService| -> i64 {
        store::schema::mandate_drafts::table
            .count()
            .get_result(&mut service.conn())
            .unwrap()
    };
    let printed = service
        .start_mandate(
            &aidant,
            &[
                ("demarche", "argent"),
                ("demarche", "logement"),
                ("duree", "SEMESTER"),
                ("action", "projet"),
            ],
        )
        .await;
    assert_eq!(printed.status, 200, "{}", printed.body);
    assert!(printed.shows("projet-de-mandat"));
    for text in [
        "Projet de mandat",
        "CCAS de Test A",
        "Argent",
        "Logement",
        "Texte du mandat (version 1)",
        "articles 1984 et suivants du Code civil",
        "Son identité sera transmise par FranceConnect.",
    ] {
        assert!(printed.body.contains(text), "{text}: {}", printed.body);
    }
    assert_eq!(drafts(&service), 0, "nothing is written");
    let refused = service
        .start_mandate(&aidant, &[("duree", "SEMESTER"), ("action", "projet")])
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("Choisissez au moins une démarche."));
    // Without « projet », the same form goes on to FranceConnect.
    let sent = service
        .start_mandate(&aidant, &[("demarche", "argent"), ("duree", "SEMESTER")])
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(drafts(&service), 1);
}

on_both_backends!(
    a_mandate_keeps_the_text_it_was_made_under,
    the_draft_is_printed_before_identification
);
