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

/// A service whose texts are the published ones and [`VERSION_2`], applying from the day after
/// the tests' start (Paris time), as a release would add it.
fn version_2_from_tomorrow(backend: Backend) -> (TestService, String) {
    let tomorrow = paris::local(ac_tests::start_time())
        .date()
        .succ_opt()
        .unwrap();
    TestService::start_with_simulator_adjusted(
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
    )
}

async fn a_mandate_keeps_the_text_it_was_made_under(backend: Backend) {
    let (service, _sim) = version_2_from_tomorrow(backend);
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

/// The recap is read with the usager at 23:50; at 00:05 the aidant confirms, but version 2
/// applies from that day: the usager consented to version 1, no longer in force, so nothing is
/// made and the recap shows version 2 to read again (409, the box to tick again). Confirmed
/// then, the mandate records version 2.
async fn a_new_version_between_recap_and_confirmation_is_read_first(backend: Backend) {
    let (service, _sim) = version_2_from_tomorrow(backend);
    // 10:00 in Paris → 23:50.
    service.clock.advance(Duration::minutes(13 * 60 + 50));
    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    let recap = service
        .identify_usager(&aidant, &[("demarche", "argent"), ("duree", "SEMESTER")], 1)
        .await;
    let read = aidant.get(&recap).await;
    assert!(read.body.contains("Texte du mandat (version 1)"));
    let count = |service: &TestService| -> i64 {
        mandates::table
            .count()
            .get_result(&mut service.conn())
            .unwrap()
    };
    let before = count(&service);
    service.clock.advance(Duration::minutes(15));
    let refused = aidant
        .post(
            &recap,
            &[
                ("csrf_token", &ac_tests::csrf_token(&read.body)),
                ("consentement", "oui"),
                ("texte", &ac_tests::hidden_field(&read.body, "texte")),
            ],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("Le texte du mandat a changé"));
    assert!(refused.body.contains("Texte du mandat (version 2)"));
    assert!(refused
        .body
        .contains("Seconde version du texte, pour ce test."));
    assert_eq!(count(&service), before, "nothing is made");

    let done = service.confirm_recap(&aidant, &recap).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(count(&service), before + 1);
    let newest: Option<i32> = mandates::table
        .select(mandates::text_version)
        .order(mandates::created_at.desc())
        .first(&mut service.conn())
        .unwrap();
    assert_eq!(newest, Some(2));
}

on_both_backends!(
    a_new_version_between_recap_and_confirmation_is_read_first,
    a_mandate_keeps_the_text_it_was_made_under,
    the_draft_is_printed_before_identification
);

/// Every language sought is listed, with its reviewed translation or said to have none; a
/// translation is printed beside the French text, its column in its language and direction;
/// a language or version without one is a French « introuvable » page. The attestation leads
/// to the translations of its own version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_is_printed_beside_its_reviewed_translations() {
    let (service, _sim) = TestService::start_with_simulator_adjusted(
        Backend::Sqlite,
        "127.0.0.1",
        &|_| {},
        ac_tests::translated_into_arabic(),
    );
    let visitor = Browser::new();
    let listing = visitor
        .get(&format!("{}/mandats/texte/1", service.issuer()))
        .await;
    assert_eq!(listing.status, 200);
    assert!(listing.shows("texte-du-mandat-langues"));
    assert!(
        listing
            .body
            .contains("<li class=\"fr-mb-2w\" id=\"langue-ar\" data-traduction=\"oui\">"),
        "{}",
        listing.body
    );
    assert!(listing.body.contains(
        "href=\"/mandats/texte/1/ar\" hreflang=\"ar\"><span lang=\"ar\" dir=\"rtl\">العربية</span>"
    ));
    let published = mandate::MandateTexts::published();
    for language in mandate::LANGUAGES.iter().filter(|l| l.code != "ar") {
        let absent = published.translation(1, language.code).is_none();
        assert_eq!(
            listing.body.contains(&format!(
                "id=\"langue-{}\" data-traduction=\"non\"",
                language.code
            )),
            absent,
            "{}",
            language.code
        );
        if absent {
            assert!(listing.body.contains(&format!(
                "pas encore de traduction relue en {}.",
                language.french_name
            )));
        }
    }

    let print = visitor
        .get(&format!("{}/mandats/texte/1/ar", service.issuer()))
        .await;
    assert_eq!(print.status, 200, "{}", print.body);
    assert!(print.shows("texte-du-mandat-traduit"));
    assert!(print
        .body
        .contains("Seul le texte en français a une valeur juridique."));
    assert!(print
        .body
        .contains("<td>Article 7 — Consentement. L&#39;usager a lu ce mandat"));
    assert!(print.body.contains(
        "<td class=\"traduit\" lang=\"ar\" dir=\"rtl\">نص تجريبي للاختبار، المادة 7.</td>"
    ));
    assert_eq!(print.body.matches("<td class=\"traduit\"").count(), 7);
    assert!(print
        .body
        .contains("Traduction de Traductrice du test, relue par Relecteur du test le 01/03/2026."));

    for (address, says) in [
        (
            "/mandats/texte/1/en",
            "pas encore de traduction relue en anglais",
        ),
        ("/mandats/texte/1/xx", "pas de traduction dans cette langue"),
        (
            "/mandats/texte/2/ar",
            "Cette version du texte du mandat n&#39;existe pas.",
        ),
        (
            "/mandats/texte/v1",
            "Cette version du texte du mandat n&#39;existe pas.",
        ),
    ] {
        let refused = visitor.get(&format!("{}{address}", service.issuer())).await;
        assert_eq!(refused.status, 404, "{address}");
        assert!(refused.body.contains(says), "{address}: {}", refused.body);
    }

    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    let attestation = service
        .create_mandate(&aidant, &[("demarche", "argent"), ("duree", "SEMESTER")], 1)
        .await;
    let page = aidant.get(&attestation).await;
    assert!(
        page.body.contains("<a class=\"fr-link\" href=\"/mandats/texte/1\">Lire ce texte dans une autre langue</a>"),
        "{}",
        page.body
    );
}
