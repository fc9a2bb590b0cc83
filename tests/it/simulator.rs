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
            .submit(base, &interaction, "usager", &[("usager", &usager)])
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
    simulator_shows_a_cancelled_identification
);
