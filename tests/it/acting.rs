//! A référent whose account may not act for usagers (made so by the habilitation of his
//! structure, until trained as an aidant) manages his structure but makes no mandate and uses
//! none through the identity provider, on both backends; trained — attended, Pix passed — he
//! may.

use crate::back_office_aidants::post;
use crate::habilitation::{session_with, time_passes, to_train_again};
use crate::staff::support_signed_in;
use ac_tests::{on_both_backends, Backend, Browser, TestService, SEED_R};
use chrono::Duration;
use diesel::prelude::*;

const NOT_ACTING: &str = "Votre compte ne permet pas d&#39;agir pour un usager";

/// Rita, signed in in a new browser.
async fn rita(service: &TestService) -> Browser {
    let rita = Browser::new();
    service
        .sign_in(&rita, &service.fixtures.email_referent_a, SEED_R)
        .await;
    rita
}

/// Her try at a mandate: refused with the reason when she may not act.
async fn mandate_try(service: &TestService, rita: &Browser) -> (u16, String) {
    let started = service
        .start_mandate(rita, &[("demarche", "argent"), ("duree", "SHORT")])
        .await;
    match started.location.as_deref() {
        Some(next) if next.starts_with("/code") => {
            let page = rita.get(&format!("{}{next}", service.issuer())).await;
            (page.status, page.body)
        }
        _ => (started.status, started.location.unwrap_or(started.body)),
    }
}

fn drafts(service: &TestService) -> i64 {
    store::schema::mandate_drafts::table
        .count()
        .get_result(&mut service.conn())
        .unwrap()
}

async fn a_referent_acts_for_usagers_once_trained(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    // As the habilitation leaves a new référent who will also be an aidant.
    store::write_transaction(&mut service.conn(), |tx| {
        accounts::set_acts_for_usagers(tx, &f.referent_a, false)
    })
    .unwrap();
    to_train_again(&service, &f.referent_a);

    let rita_browser = rita(&service).await;
    let home = rita_browser.get(&format!("{base}/espace-aidant")).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("id=\"compte-referent\""));
    assert!(!home.body.contains("href=\"/mandats/nouveau\""));
    let (status, body) = mandate_try(&service, &rita_browser).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(NOT_ACTING), "{body}");
    assert_eq!(drafts(&service), 0);
    // FranceConnect sends her to us: told, no usager offered.
    let (interaction, _) = service.open_interaction(&rita_browser).await;
    let page = rita_browser.get(&format!("{base}{interaction}")).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains(NOT_ACTING));
    assert!(!page.body.contains("Angela"));

    // Her référent doors stay open, those that need a fresh code too: she registers herself.
    let team = support_signed_in(&service).await;
    let session_page = session_with(&service, &team, &rita_browser, &f.referent_a).await;

    time_passes(&service, &team, 70).await;
    let present = post(
        &service,
        &team,
        &format!("{session_page}/presences"),
        &[("present", f.referent_a.as_str())],
    )
    .await;
    assert_eq!(present.status, 303, "{}", present.body);
    let pix = post(
        &service,
        &team,
        "/administration/formations/pix",
        &[("pix", &format!("{};réussi", f.email_referent_a))],
    )
    .await;
    assert_eq!(pix.status, 200, "{}", pix.body);
    assert!(
        accounts::aidant(&mut service.conn(), &f.referent_a)
            .unwrap()
            .unwrap()
            .acts_for_usagers
    );
    service.clock.advance(Duration::seconds(30));
    let trained = rita(&service).await;
    let home = trained.get(&format!("{base}/espace-aidant")).await;
    assert!(home.body.contains("href=\"/mandats/nouveau\""));
    // Her mandate is drafted, and the usager is sent to identify at FranceConnect.
    let (status, next) = mandate_try(&service, &trained).await;
    assert_eq!(status, 303, "{next}");
    assert!(
        !next.contains(NOT_ACTING) && !next.starts_with("/code"),
        "{next}"
    );
    assert_eq!(drafts(&service), 1, "{next}");
}

/// Without automatic activation, the national team lets the trained référent act: his
/// structure's page says he does not act for usagers yet and offers « Activer », which lets
/// him (journaled `activate_aidant`).
async fn the_team_lets_a_referent_act_without_automatic_activation(backend: Backend) {
    let (service, _sim) =
        TestService::start_with_simulator_configured(backend, "127.0.0.1", &|config| {
            config.habilitation.auto_activation = false
        });
    let f = service.fixtures.clone();
    store::write_transaction(&mut service.conn(), |tx| {
        accounts::set_acts_for_usagers(tx, &f.referent_a, false)
    })
    .unwrap();
    let team = support_signed_in(&service).await;
    let structure = format!("/administration/structures/{}", f.org_a);
    let page = team.get(&format!("{}{structure}", service.issuer())).await;
    assert!(
        page.body
            .contains("actif, n'agit pas encore pour les usagers (formation d'aidant à suivre)"),
        "{}",
        page.body
    );
    let journaled = |service: &TestService| -> i64 {
        store::schema::journal::table
            .filter(store::schema::journal::action.eq("activate_aidant"))
            .count()
            .get_result(&mut service.conn())
            .unwrap()
    };
    let before = journaled(&service);
    let done = post(
        &service,
        &team,
        &format!("{structure}/activer"),
        &[("email", &f.email_referent_a)],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(
        accounts::aidant(&mut service.conn(), &f.referent_a)
            .unwrap()
            .unwrap()
            .acts_for_usagers
    );
    assert_eq!(journaled(&service), before + 1);
    let page = team.get(&format!("{}{structure}", service.issuer())).await;
    assert!(!page.body.contains("n'agit pas encore pour les usagers"));
    let (status, next) = mandate_try(&service, &rita(&service).await).await;
    assert_eq!(status, 303, "{next}");
    assert_eq!(drafts(&service), 1, "{next}");
}

on_both_backends!(
    a_referent_acts_for_usagers_once_trained,
    the_team_lets_a_referent_act_without_automatic_activation
);
