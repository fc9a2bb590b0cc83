//! The aidants' CGU (both backends): an aidant who has not accepted the version in force is
//! sent to it at sign-in, and can neither make a mandate nor use one through the identity
//! provider before accepting; the acceptance is recorded and journaled once; a refused form
//! (box not ticked, a version no longer in force) records nothing.

use crate::back_office_aidants::entries;
use ac_tests::{csrf_token, on_both_backends, Backend, Browser, TestService, SEED_A};
use diesel::prelude::*;
use store::schema::aidants;

const ACCEPT: &str = "/conditions-generales/accepter";

fn accepted(service: &TestService) -> Option<i32> {
    aidants::table
        .find(&service.fixtures.aidant_a)
        .select(aidants::cgu_version)
        .first(&mut service.conn())
        .unwrap()
}

async fn an_aidant_accepts_the_cgu_before_acting(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer().to_owned();
    // Aidant A has not accepted them yet.
    diesel::update(aidants::table.find(&service.fixtures.aidant_a))
        .set(aidants::cgu_version.eq(None::<i32>))
        .execute(&mut service.conn())
        .unwrap();
    let public = Browser::new()
        .get(&format!("{base}/conditions-generales"))
        .await;
    assert_eq!(public.status, 200);
    assert!(public.body.contains("Version 1, en vigueur."));

    // The identity provider's interaction asks for them after the sign-in.
    let browser = Browser::new();
    let (interaction, _) = service.open_interaction(&browser).await;
    let code = service.next_code(SEED_A);
    let logged = browser
        .submit(
            &base,
            &interaction,
            "connexion",
            &[("email", &service.fixtures.email_a), ("otp", &code)],
        )
        .await;
    assert_eq!(logged.status, 303, "{}", logged.body);
    let step = browser.get(&format!("{base}{interaction}")).await;
    assert!(step.shows("accepter-cgu"), "{}", step.body);
    let chosen = browser
        .submit(
            &base,
            &interaction,
            "usager",
            &[("usager", service.fixtures.usager_argent.id.as_str())],
        )
        .await;
    assert!(chosen.status == 303 || chosen.status >= 400);
    let still = browser.get(&format!("{base}{interaction}")).await;
    assert!(
        still.shows("accepter-cgu"),
        "no usager chosen before the CGU"
    );
    let chosen_usager: Option<String> = store::schema::oidc_requests::table
        .select(store::schema::oidc_requests::usager_id)
        .first(&mut service.conn())
        .unwrap();
    assert_eq!(chosen_usager, None);

    // The espace aidant: a mandate leads to the CGU too.
    let started = service
        .start_mandate(&browser, &[("demarche", "argent"), ("duree", "SEMESTER")])
        .await;
    assert_eq!(started.status, 303);
    let (url, page) = service
        .follow(&browser, &format!("{base}{}", started.location.unwrap()))
        .await;
    assert!(url.contains(ACCEPT), "{url}");
    assert!(page
        .body
        .contains("Conditions générales d'utilisation pour les aidants"));

    // Refused forms record nothing.
    let csrf = csrf_token(&page.body);
    let unticked = browser
        .post(
            &format!("{base}{ACCEPT}"),
            &[
                ("csrf_token", &csrf),
                ("version", "1"),
                ("suite", "/espace-aidant"),
            ],
        )
        .await;
    assert_eq!(unticked.status, 422);
    assert!(unticked.body.contains("Cochez la case pour accepter"));
    let stale = browser
        .post(
            &format!("{base}{ACCEPT}"),
            &[
                ("csrf_token", &csrf),
                ("version", "0"),
                ("accepte", "oui"),
                ("suite", "/espace-aidant"),
            ],
        )
        .await;
    assert_eq!(stale.status, 409);
    assert_eq!(accepted(&service), None);
    assert!(entries(&service, ::journal::Action::AcceptCgu).is_empty());

    // Accepted in the interaction: recorded, journaled, and the flow goes on.
    let accept = browser
        .post(
            &format!("{base}{interaction}/cgu"),
            &[("csrf_token", &csrf), ("version", "1"), ("accepte", "oui")],
        )
        .await;
    assert_eq!(accept.status, 303, "{}", accept.body);
    assert_eq!(accept.location.as_deref(), Some(interaction.as_str()));
    assert_eq!(accepted(&service), Some(1));
    let journaled = entries(&service, ::journal::Action::AcceptCgu);
    assert_eq!(journaled.len(), 1);
    assert_eq!(
        journaled[0].aidant_id.as_ref(),
        Some(&service.fixtures.aidant_a)
    );
    assert!(journaled[0].details.contains("\"version\":1"));
    let step = browser.get(&format!("{base}{interaction}")).await;
    assert!(step.shows("fi-usager"), "{}", step.body);
    // Accepting again changes nothing; the espace aidant no longer asks.
    let again = browser
        .post(
            &format!("{base}{ACCEPT}"),
            &[
                ("csrf_token", &csrf),
                ("version", "1"),
                ("accepte", "oui"),
                ("suite", "/espace-aidant"),
            ],
        )
        .await;
    assert_eq!(again.location.as_deref(), Some("/espace-aidant"));
    assert_eq!(entries(&service, ::journal::Action::AcceptCgu).len(), 1);
    let asked = browser
        .get(&format!("{base}{ACCEPT}?suite=/espace-aidant"))
        .await;
    assert_eq!(asked.location.as_deref(), Some("/espace-aidant"));
}

/// A sign-in at the espace aidant is sent to the CGU first, then to the page asked.
async fn the_sign_in_leads_to_the_cgu(backend: Backend) {
    let service = TestService::start(backend);
    diesel::update(aidants::table.find(&service.fixtures.aidant_a))
        .set(aidants::cgu_version.eq(None::<i32>))
        .execute(&mut service.conn())
        .unwrap();
    let browser = Browser::new();
    let code = service.next_code(SEED_A);
    let done = service
        .try_sign_in(&browser, &service.fixtures.email_a, &code)
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(
        done.location.as_deref(),
        Some("/conditions-generales/accepter?suite=%2Fespace-aidant")
    );
}

on_both_backends!(
    an_aidant_accepts_the_cgu_before_acting,
    the_sign_in_leads_to_the_cgu
);
