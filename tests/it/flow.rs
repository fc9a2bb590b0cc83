//! The whole flow: authorize → login → usager → démarche → code → token → ID token checked
//! against the JWKS → userinfo = the usager's identité pivot.

use ac_tests::{obtain_code, on_both_backends, query_of, Backend, Browser, TestService, SEED_A};
use chrono::Duration;
use journal::Action;
use mandate::Demarche;
use store::UsagerId;

async fn full_flow(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let usager = service.fixtures.usager_all.clone();
    let (code, _state, nonce) =
        obtain_code(&service, &browser, &rp, &usager.id, Demarche::Argent).await;
    let identity = rp.finish(&code, &nonce).await.unwrap();
    assert_eq!(identity.id_token_alg, "ES256");
    assert_eq!(identity.acr, "eidas1");
    assert_eq!(identity.sub, usager.sub);
    assert_eq!(identity.given_name, "Angela");
    assert_eq!(identity.family_name, "DUBOIS");
    assert_eq!(identity.birthdate, "1962-08-24");
    assert_eq!(identity.gender, "female");
    assert_eq!(identity.birthplace, "75107");
    assert_eq!(identity.birthcountry, "99100");
    assert_eq!(identity.email, "angela@exemple.fr");
    // auth_time is when the aidant typed the code.
    assert_eq!(identity.auth_time, service.clock_now().timestamp());

    // The journal records the sign-in and the use, with the hash of the access token only.
    let mut conn = service.conn();
    let uses = journal::entries_by_action(&mut conn, Action::UseAutorisation).unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].subject, "argent");
    assert_eq!(
        uses[0].usager_id.as_ref(),
        Some(UsagerId::from(usager.id.as_str())).as_ref()
    );
    let details: serde_json::Value = serde_json::from_str(&uses[0].details).unwrap();
    assert_eq!(
        details["access_token_sha256"],
        store::hash_secret(&identity.access_token)
    );
    assert!(!uses[0].details.contains(&identity.access_token));
    assert_eq!(
        journal::entries_by_action(&mut conn, Action::ConnectAidant)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        journal::verify_chain(&mut conn, service.fixtures.org_a.as_str()).unwrap(),
        None
    );
}

async fn rs256_and_signed_userinfo(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-rs256").await;
    let browser = Browser::new();
    let usager = service.fixtures.usager_argent.clone();
    let (code, _, nonce) = obtain_code(&service, &browser, &rp, &usager.id, Demarche::Argent).await;
    let identity = rp.finish(&code, &nonce).await.unwrap();
    assert_eq!(identity.id_token_alg, "RS256");
    assert_eq!(identity.family_name, "MARTIN");
    // The userinfo answer itself is a JWT for this client.
    let raw = service
        .userinfo_at(service.issuer(), &identity.access_token)
        .await;
    assert_eq!(raw.headers()["content-type"], "application/jwt");
    assert_eq!(raw.text().await.unwrap().split('.').count(), 3);
}

async fn hs256_legacy_client(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-hs256").await;
    let browser = Browser::new();
    let (code, _, nonce) = obtain_code(
        &service,
        &browser,
        &rp,
        &service.fixtures.usager_all.id,
        Demarche::Famille,
    )
    .await;
    let identity = rp.finish(&code, &nonce).await.unwrap();
    assert_eq!(identity.id_token_alg, "HS256");
}

async fn session_is_reused_then_activity_check_asks_a_fresh_code(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let usager = service.fixtures.usager_all.id.clone();
    let (code, _, nonce) = obtain_code(&service, &browser, &rp, &usager, Demarche::Papiers).await;
    rp.finish(&code, &nonce).await.unwrap();

    // Within the activity window the aidant goes straight to the usager choice.
    service.clock.advance(Duration::minutes(5));
    let (url, _, _) = rp.authorization_url(&["profile"]).unwrap();
    let interaction = browser.authorize(url.as_str()).await;
    let page = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    assert!(page.shows("fi-usager"), "{}", page.body);

    // After 20 minutes without a code, a fresh one is asked before any choice.
    service.clock.advance(Duration::minutes(16));
    let page = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    assert!(page.shows("fi-code"), "{}", page.body);
    let refused = browser
        .submit(
            service.issuer(),
            &interaction,
            "usager",
            &[("usager", usager.as_str())],
        )
        .await;
    assert_eq!(
        refused.status, 303,
        "a choice without a fresh code goes back to the check"
    );
    let page = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    assert!(page.shows("fi-code"));
    let code = service.next_code(SEED_A);
    let ok = browser
        .submit(service.issuer(), &interaction, "code", &[("otp", &code)])
        .await;
    assert_eq!(ok.status, 303);
    let page = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    assert!(page.shows("fi-usager"), "{}", page.body);
    let mut conn = service.conn();
    assert_eq!(
        journal::entries_by_action(&mut conn, Action::ActivityCheckAidant)
            .unwrap()
            .len(),
        1
    );
}

async fn prompt_login_and_max_age_force_a_fresh_code(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let (code, _, nonce) = obtain_code(
        &service,
        &browser,
        &rp,
        &service.fixtures.usager_all.id,
        Demarche::Papiers,
    )
    .await;
    rp.finish(&code, &nonce).await.unwrap();
    service.clock.advance(Duration::minutes(2));
    for extra in ["&prompt=login", "&max_age=60"] {
        let (url, _, _) = rp.authorization_url(&["profile"]).unwrap();
        let interaction = browser.authorize(&format!("{url}{extra}")).await;
        let page = browser
            .get(&format!("{}{interaction}", service.issuer()))
            .await;
        assert!(page.shows("fi-code"), "{extra}: {}", page.body);
    }
}

async fn flow_across_two_instances(backend: Backend) {
    let service = TestService::start_instances(backend, 2);
    let (a, b) = (
        service.instances[0].base.clone(),
        service.instances[1].base.clone(),
    );
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let (url, state, nonce) = rp.authorization_url(fc_sim::SCOPES).unwrap();
    let interaction = browser.authorize(url.as_str()).await; // on A
    let code = service.next_code(SEED_A);
    let logged = browser
        .submit(
            &b,
            &interaction,
            "connexion",
            &[("email", &service.fixtures.email_a), ("otp", &code)],
        )
        .await;
    assert_eq!(logged.status, 303, "{}", logged.body);
    let chosen = browser
        .submit(
            &a,
            &interaction,
            "usager",
            &[("usager", service.fixtures.usager_all.id.as_str())],
        )
        .await;
    assert_eq!(chosen.status, 303);
    let done = browser
        .submit(&b, &interaction, "demarche", &[("demarche", "travail")])
        .await;
    let params = query_of(&done.location.unwrap());
    assert_eq!(params["state"], state);
    // The code minted on B is exchanged on A (the issuer), the token used on B.
    let identity = rp.finish(&params["code"], &nonce).await.unwrap();
    assert_eq!(identity.sub, service.fixtures.usager_all.sub);
    let on_b = service.userinfo_at(&b, &identity.access_token).await;
    assert_eq!(on_b.status(), 200);
    let claims: serde_json::Value = on_b.json().await.unwrap();
    assert_eq!(claims["given_name"], "Angela");
}

on_both_backends!(
    full_flow,
    rs256_and_signed_userinfo,
    hs256_legacy_client,
    session_is_reused_then_activity_check_asks_a_fresh_code,
    prompt_login_and_max_age_force_a_fresh_code,
    flow_across_two_instances,
);
