//! The demo a newcomer clicks through: fc-sim's button to the identity the administrative
//! site receives. fc-sim verifies the ID token with the real clock, so this service runs at
//! the real time (see `TestService::start_with_simulator`).

use ac_tests::{csrf_token, on_both_backends, Backend, Browser, TestService, SEED_A};

async fn demo_through_the_simulator(backend: Backend) {
    let (service, sim) = TestService::start_with_simulator(backend);
    let browser = Browser::new();
    let home = browser.get(&format!("{sim}/")).await;
    assert!(home.body.contains("S'identifier avec FranceConnect"));
    let to_ac = browser.get(&format!("{sim}/connexion")).await;
    let interaction = browser.authorize(&to_ac.location.unwrap()).await;
    let base = service.issuer();
    let code = service.code(SEED_A);
    let email = service.fixtures.email_a.clone();
    assert_eq!(
        browser
            .submit(
                base,
                &interaction,
                "connexion",
                &[("email", &email), ("otp", &code)]
            )
            .await
            .status,
        303
    );
    let usager = service.fixtures.usager_all.id.clone();
    assert_eq!(
        browser
            .submit(base, &interaction, "usager", &[("usager", usager.as_str())])
            .await
            .status,
        303
    );
    let back = browser
        .submit(base, &interaction, "demarche", &[("demarche", "logement")])
        .await;
    let callback = back.location.unwrap();
    assert!(
        callback.starts_with(&format!("{sim}/callback?code=")),
        "{callback}"
    );
    let shown = browser.get(&callback).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown.body.contains(r#"<td id="family_name">DUBOIS</td>"#),
        "{}",
        shown.body
    );
    assert!(shown.body.contains(r#"<td id="birthplace">75107</td>"#));
    assert!(shown.body.contains(r#"<td id="acr">eidas1</td>"#));
}

async fn simulator_shows_a_cancelled_identification(backend: Backend) {
    let (service, sim) = TestService::start_with_simulator(backend);
    let browser = Browser::new();
    let to_ac = browser.get(&format!("{sim}/connexion")).await;
    let interaction = browser.authorize(&to_ac.location.unwrap()).await;
    let page = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    let cancelled = browser
        .post(
            &format!("{}{interaction}/annuler", service.issuer()),
            &[("csrf_token", &csrf_token(&page.body))],
        )
        .await;
    let shown = browser.get(&cancelled.location.unwrap()).await;
    assert_eq!(shown.status, 400);
    assert!(
        shown.body.contains(r#"<p id="error">access_denied</p>"#),
        "{}",
        shown.body
    );
}

on_both_backends!(
    demo_through_the_simulator,
    simulator_shows_a_cancelled_identification,
    a_site_with_perimeters_through_the_simulator,
);

/// fc-sim's site allowed « Famille-Scolarité » and « Travail-Formation », calling Aidants
/// Connect as FranceConnect's core does: only those démarches are offered, the identity is
/// checked and shown with its rep_scope, a second connection within the activity window asks
/// no code, and the site's logout goes through Aidants Connect's end-session.
async fn a_site_with_perimeters_through_the_simulator(backend: Backend) {
    let (service, sim) = TestService::start_with_simulator(backend);
    let browser = Browser::new();
    let base = service.issuer().to_owned();
    let home = browser.get(&format!("{sim}/")).await;
    assert!(
        home.body.contains("Famille-Scolarité, Travail-Formation"),
        "{}",
        home.body
    );
    let to_ac = browser
        .get(&format!("{sim}/connexion?site=famille-travail"))
        .await;
    let authorize = to_ac.location.unwrap();
    for expected in [
        "/authorize/?",
        "prompt=login",
        "client_id=fc-sim",
        "rep_scope",
    ] {
        assert!(authorize.contains(expected), "{expected}: {authorize}");
    }
    let interaction = browser.authorize(&authorize).await;
    let code = service.code(SEED_A);
    let email = service.fixtures.email_a.clone();
    browser
        .submit(
            &base,
            &interaction,
            "connexion",
            &[("email", &email), ("otp", &code)],
        )
        .await;
    let usager = service.fixtures.usager_all.id.clone();
    browser
        .submit(
            &base,
            &interaction,
            "usager",
            &[("usager", usager.as_str())],
        )
        .await;
    let demarches = browser.get(&format!("{base}{interaction}")).await;
    assert!(demarches.body.contains("value=\"travail\""));
    assert!(
        !demarches.body.contains("value=\"logement\""),
        "{}",
        demarches.body
    );
    let back = browser
        .submit(&base, &interaction, "demarche", &[("demarche", "travail")])
        .await;
    let shown = browser.get(&back.location.unwrap()).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown
            .body
            .contains(r#"<td id="rep_scope">Travail-Formation</td>"#),
        "{}",
        shown.body
    );
    assert!(shown.body.contains(r#"<td id="email">"#));

    // Another site a few minutes later: FranceConnect's prompt=login asks no code again.
    service.clock.advance(chrono::Duration::minutes(5));
    let to_ac = browser.get(&format!("{sim}/connexion")).await;
    let interaction = browser.authorize(&to_ac.location.unwrap()).await;
    let page = browser.get(&format!("{base}{interaction}")).await;
    assert!(page.shows("fi-usager"), "{}", page.body);
    browser
        .submit(
            &base,
            &interaction,
            "usager",
            &[("usager", usager.as_str())],
        )
        .await;
    let back = browser
        .submit(&base, &interaction, "demarche", &[("demarche", "logement")])
        .await;
    let shown = browser.get(&back.location.unwrap()).await;
    assert!(
        shown.body.contains(r#"<td id="rep_scope">Logement</td>"#),
        "{}",
        shown.body
    );

    // The site's logout: FranceConnect's end-session at Aidants Connect, then back.
    let logout = browser.get(&format!("{sim}/deconnexion")).await;
    let end_session = logout.location.unwrap();
    assert!(
        end_session.starts_with(&format!("{base}/logout/?")),
        "{end_session}"
    );
    let done = browser.get(&end_session).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert!(done.location.unwrap().starts_with(&format!("{sim}/")));
}
