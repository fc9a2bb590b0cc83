//! Aidants Connect called exactly as FranceConnect's core calls it (release fc-392RC1): fixed
//! URLs with a trailing slash, `client_secret_post`, HS256 ID token and userinfo (asked as
//! `application/jwt`), `prompt=login` on every connection, `claims.id_token.rep_scope` with
//! the site's perimeters (or none), end-session; and what must be refused — a perimeter no
//! mandate of the structure covers, a démarche the structure may not do, a PKCE mismatch.

use ac_tests::{
    on_both_backends, query_of, Backend, Browser, TestService, RP_LOGOUT, RP_REDIRECT, SECRET,
    SEED_A,
};
use chrono::Duration;
use serde_json::Value;
use store::UsagerId;

/// FranceConnect's client at Aidants Connect in the test service.
const CLIENT: &str = "fc-franceconnect";

/// 64 hexadecimal characters, as FranceConnect's state and nonce.
fn hex64(seed: u8) -> String {
    hex::encode([seed; 32])
}

/// The `claims` parameter FranceConnect sends for a site with these perimeters.
fn claims(values: &[&str]) -> String {
    serde_json::json!({ "id_token": { "rep_scope": { "essential": true, "values": values } } })
        .to_string()
}

/// FranceConnect's authorization request, at `/authorize/`, with `extra` parameters (which
/// replace those of the same name).
fn authorize_url(base: &str, state: &str, nonce: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", RP_REDIRECT),
        ("scope", "openid profile email birth"),
        ("acr_values", "eidas1"),
        ("prompt", "login"),
        ("state", state),
        ("nonce", nonce),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        params.push((name, value));
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{base}/authorize/?{query}")
}

/// Opens FranceConnect's request in `browser`; returns the interaction path.
async fn open(
    service: &TestService,
    browser: &Browser,
    seed: u8,
    extra: &[(&str, &str)],
) -> String {
    let url = authorize_url(service.issuer(), &hex64(seed), &hex64(seed + 1), extra);
    browser.authorize(&url).await
}

/// Signs aidant A in on the interaction (FranceConnect's prompt=login: the first time, a code).
async fn sign_in(service: &TestService, browser: &Browser, interaction: &str) {
    let code = service.next_code(SEED_A);
    let page = browser
        .submit(
            service.issuer(),
            interaction,
            "connexion",
            &[("email", &service.fixtures.email_a), ("otp", &code)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
}

/// Chooses the usager then the démarche; returns the redirect to FranceConnect.
async fn choose(
    service: &TestService,
    browser: &Browser,
    interaction: &str,
    usager_id: &UsagerId,
    demarche: &str,
) -> String {
    let base = service.issuer();
    let page = browser
        .submit(
            base,
            interaction,
            "usager",
            &[("usager", usager_id.as_str())],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = browser
        .submit(base, interaction, "demarche", &[("demarche", demarche)])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    page.location.unwrap()
}

/// FranceConnect's token request: `client_secret_post`, at `/token/`.
async fn exchange(service: &TestService, code: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", RP_REDIRECT),
        ("client_id", CLIENT),
        ("client_secret", SECRET),
    ];
    form.extend_from_slice(extra);
    let response = reqwest::Client::new()
        .post(format!("{}/token/", service.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// FranceConnect's userinfo request, at `/userinfo/`, asked as a JWT and required back as one:
/// its claims.
async fn userinfo_jwt(service: &TestService, tokens: &Value) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/userinfo/", service.issuer()))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .header("accept", "application/jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jwt");
    hs256_claims(&response.text().await.unwrap(), None)
}

/// Chooses the usager; returns the page of the démarches then offered.
async fn offered_demarches(
    service: &TestService,
    browser: &Browser,
    interaction: &str,
    usager_id: &UsagerId,
) -> ac_tests::Page {
    let base = service.issuer();
    let page = browser
        .submit(
            base,
            interaction,
            "usager",
            &[("usager", usager_id.as_str())],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    browser.get(&format!("{base}{interaction}")).await
}

/// The claims of an HS256 JWT signed with the client secret, checked as FranceConnect does.
fn hs256_claims(jwt: &str, nonce: Option<&str>) -> Value {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[CLIENT]);
    // The test clock is not the wall clock: expiry is checked against the token's own iat.
    validation.validate_exp = false;
    if nonce.is_none() {
        validation.required_spec_claims.clear();
    }
    let data = jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .unwrap_or_else(|e| panic!("{e}: {jwt}"));
    if let Some(nonce) = nonce {
        assert_eq!(data.claims["nonce"], nonce);
        let (iat, exp) = (data.claims["iat"].as_i64(), data.claims["exp"].as_i64());
        assert!(
            iat.zip(exp).is_some_and(|(iat, exp)| exp > iat),
            "{}",
            data.claims
        );
    }
    data.claims
}

async fn a_flow_driven_as_franceconnect_drives_it(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let browser = Browser::new();
    // A site allowed the perimeters Famille-Scolarité and Travail-Formation.
    let perimeters = claims(&["Famille-Scolarité", "Travail-Formation"]);
    let interaction = open(&service, &browser, 1, &[("claims", &perimeters)]).await;
    sign_in(&service, &browser, &interaction).await;
    let usagers = browser.get(&format!("{base}{interaction}")).await;
    assert!(
        usagers
            .body
            .contains("Ce site n'accepte que les démarches : Famille, Travail"),
        "{}",
        usagers.body
    );
    // Bernard's mandate covers « argent » only: he is not offered.
    assert!(usagers.body.contains("DUBOIS"));
    assert!(!usagers.body.contains("MARTIN"), "{}", usagers.body);
    let demarches = offered_demarches(&service, &browser, &interaction, &f.usager_all.id).await;
    for (id, offered) in [
        ("famille", true),
        ("travail", true),
        ("argent", false),
        ("social", false),
    ] {
        assert_eq!(
            demarches.body.contains(&format!("value=\"{id}\"")),
            offered,
            "{id}: {}",
            demarches.body
        );
    }
    // A démarche outside the perimeters, forced through the form: refused.
    let refused = browser
        .submit(&base, &interaction, "demarche", &[("demarche", "argent")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let page = browser
        .submit(&base, &interaction, "demarche", &[("demarche", "famille")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let back = query_of(&page.location.unwrap());
    assert_eq!(back["state"], hex64(1));

    let (status, tokens) = exchange(&service, &back["code"], &[]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "openid profile email birth");
    let id_token = hs256_claims(tokens["id_token"].as_str().unwrap(), Some(&hex64(2)));
    assert_eq!(id_token["acr"], "eidas1");
    assert_eq!(id_token["iss"], base);
    assert_eq!(
        id_token["rep_scope"],
        serde_json::json!(["Famille-Scolarité"])
    );
    assert_eq!(id_token["sub"], f.usager_all.sub);

    // Userinfo asked as a JWT, at /userinfo/, answered as one.
    let userinfo = userinfo_jwt(&service, &tokens).await;
    assert_eq!(userinfo["sub"], f.usager_all.sub);
    assert_eq!(userinfo["given_name"], "Angela");
    assert_eq!(userinfo["birthcountry"], "99100");
    assert!(
        userinfo.get("preferred_username").is_none(),
        "an empty claim is left out: {userinfo}"
    );

    // FranceConnect's end-session, at /logout/.
    let logout = Browser::new()
        .get(&format!(
            "{base}/logout/?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                    ("state", &hex64(3)),
                    ("post_logout_redirect_uri", RP_LOGOUT),
                ])
                .finish()
        ))
        .await;
    assert_eq!(logout.status, 302, "{}", logout.body);
    let location = logout.location.unwrap();
    assert!(location.starts_with(RP_LOGOUT), "{location}");
    assert_eq!(query_of(&location)["state"], hex64(3));

    // A site without perimeters (`values: []`): everything the mandates cover is offered, and
    // the ID token names the démarche by FranceConnect's label.
    let interaction = open(&service, &browser, 10, &[("claims", &claims(&[]))]).await;
    let usagers = browser.get(&format!("{base}{interaction}")).await;
    assert!(usagers.body.contains("MARTIN"), "{}", usagers.body);
    let location = choose(
        &service,
        &browser,
        &interaction,
        &f.usager_argent.id,
        "argent",
    )
    .await;
    let (_, tokens) = exchange(&service, &query_of(&location)["code"], &[]).await;
    let id_token = hs256_claims(tokens["id_token"].as_str().unwrap(), Some(&hex64(11)));
    assert_eq!(
        id_token["rep_scope"],
        serde_json::json!(["Argent-Impots-Consommation"])
    );
}

/// An usager who gave no e-mail, born abroad on a presumed date (day and month unknown), of
/// unspecified gender: FranceConnect still receives an identity it accepts.
async fn every_identity_sent_is_acceptable_to_franceconnect(backend: Backend) {
    let service = TestService::start(backend);
    let pivot = identity::IdentitePivot {
        given_name: "Amina".into(),
        family_name: "KONÉ".into(),
        preferred_username: String::new(),
        birthdate: identity::Birthdate::parse("1985-00-00").unwrap(),
        gender: identity::Gender::Unspecified,
        birthplace: String::new(),
        birthcountry: "99330".into(),
        email: String::new(),
    }
    .validated()
    .unwrap();
    let usager = service.usager_of_a(&pivot, &[mandate::Demarche::Social]);
    let browser = Browser::new();
    let interaction = open(&service, &browser, 1, &[]).await;
    sign_in(&service, &browser, &interaction).await;
    let usagers = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    assert!(
        usagers.body.contains("<td>1985</td>"),
        "the presumed date as read: {}",
        usagers.body
    );
    let location = choose(&service, &browser, &interaction, &usager.id, "social").await;
    let (status, tokens) = exchange(&service, &query_of(&location)["code"], &[]).await;
    assert_eq!(status, 200, "{tokens}");
    let userinfo = userinfo_jwt(&service, &tokens).await;
    assert_eq!(userinfo["email"], service.config.usager_email_placeholder);
    assert_eq!(userinfo["gender"], "unspecified");
    assert_eq!(userinfo["birthdate"], "1985-00-00");
    assert_eq!(userinfo["birthcountry"], "99330");
    assert!(userinfo.get("birthplace").is_none(), "{userinfo}");
    assert_eq!(userinfo["family_name"], "KONÉ");
}

/// FranceConnect sends `prompt=login` on every connection: within the activity window, the
/// aidant is not asked for a code again; after it, they are.
async fn prompt_login_is_met_by_the_activity_window(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let browser = Browser::new();
    let interaction = open(&service, &browser, 1, &[]).await;
    sign_in(&service, &browser, &interaction).await;
    choose(&service, &browser, &interaction, &f.usager_all.id, "social").await;
    // Ten minutes later, another démarche for another site: straight to the usager.
    service.clock.advance(Duration::minutes(10));
    let interaction = open(&service, &browser, 20, &[]).await;
    let page = browser.get(&format!("{base}{interaction}")).await;
    assert!(page.shows("fi-usager"), "{}", page.body);
    choose(
        &service,
        &browser,
        &interaction,
        &f.usager_all.id,
        "famille",
    )
    .await;
    // Past the 20 minutes of the window, a fresh code is asked.
    service.clock.advance(Duration::minutes(21));
    let interaction = open(&service, &browser, 30, &[]).await;
    let page = browser.get(&format!("{base}{interaction}")).await;
    assert!(page.body.contains("code"), "{}", page.body);
    assert!(!page.shows("fi-usager"), "{}", page.body);
    // A client reading prompt=login as OpenID Connect Core does asks a code at once.
    let rp = service.relying_party("fc-es256").await;
    let recheck = Browser::new();
    ac_tests::obtain_code(
        &service,
        &recheck,
        &rp,
        &f.usager_all.id,
        mandate::Demarche::Social,
    )
    .await;
    service.clock.advance(Duration::seconds(5));
    let (url, _, _) = rp.authorization_url(&["profile"]).unwrap();
    let url = format!("{url}&prompt=login");
    let interaction = recheck.authorize(&url).await;
    let page = recheck.get(&format!("{base}{interaction}")).await;
    assert!(!page.shows("fi-usager"), "{}", page.body);
}

/// `max_age` is checked once, against the request: a code older than it when the request
/// arrives is asked again, but the aidant is not asked again at each step however long they
/// take to choose.
async fn max_age_is_checked_once_against_the_request(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let browser = Browser::new();
    service.sign_in(&browser, &f.email_a, SEED_A).await;
    service.clock.advance(Duration::seconds(400));
    let url = authorize_url(
        &base,
        &hex64(1),
        &hex64(2),
        &[("max_age", "300"), ("prompt", "consent")],
    );
    let interaction = browser.authorize(&url).await;
    let page = browser.get(&format!("{base}{interaction}")).await;
    assert!(!page.shows("fi-usager"), "a code is asked: {}", page.body);
    let code = service.next_code(SEED_A);
    let page = browser
        .submit(&base, &interaction, "code", &[("otp", &code)])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = browser
        .submit(
            &base,
            &interaction,
            "usager",
            &[("usager", f.usager_all.id.as_str())],
        )
        .await;
    assert_eq!(page.status, 303);
    // Six minutes choosing: more than max_age since the code, no code asked again.
    service.clock.advance(Duration::minutes(6));
    let page = browser
        .submit(&base, &interaction, "demarche", &[("demarche", "social")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.unwrap().starts_with(RP_REDIRECT));
}

/// The perimeters of the site and the démarches of the structure: when nothing the
/// structure's mandates cover is accepted, the aidant is told and goes back (access_denied);
/// a démarche the structure may no longer do covers nothing, even at the token endpoint.
async fn perimeters_outside_the_structure_are_refused(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let browser = Browser::new();
    // Structure A may do « argent » and « social » only.
    aidants_connect::admin::set_allowed_demarches(
        &mut service.conn(),
        &ring::rand::SystemRandom::new(),
        service.clock_now(),
        "11111111100011",
        Some("argent,social"),
    )
    .unwrap();
    let interaction = open(
        &service,
        &browser,
        1,
        &[("claims", &claims(&["Famille-Scolarité"]))],
    )
    .await;
    sign_in(&service, &browser, &interaction).await;
    let page = browser.get(&format!("{base}{interaction}")).await;
    assert!(
        page.body.contains("id=\"aucun-mandat-perimetre\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("DUBOIS"));
    let cancelled = browser.submit(&base, &interaction, "annuler", &[]).await;
    let location = cancelled.location.unwrap();
    assert!(location.starts_with(RP_REDIRECT));
    assert_eq!(query_of(&location)["error"], "access_denied");

    // Without perimeters, only the démarches the structure may do are offered.
    let interaction = open(&service, &browser, 10, &[]).await;
    let demarches = offered_demarches(&service, &browser, &interaction, &f.usager_all.id).await;
    assert!(demarches.body.contains("value=\"social\""));
    assert!(
        !demarches.body.contains("value=\"famille\""),
        "{}",
        demarches.body
    );
    let page = browser
        .submit(&base, &interaction, "demarche", &[("demarche", "social")])
        .await;
    let code = query_of(&page.location.unwrap())["code"].clone();
    // The national team withdraws « social » before FranceConnect exchanges the code.
    aidants_connect::admin::set_allowed_demarches(
        &mut service.conn(),
        &ring::rand::SystemRandom::new(),
        service.clock_now(),
        "11111111100011",
        Some("argent"),
    )
    .unwrap();
    let (status, body) = exchange(&service, &code, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let entries =
        journal::entries_by_action(&mut service.conn(), journal::Action::SetAllowedDemarches)
            .unwrap();
    assert_eq!(entries.len(), 2);
    // And no mandate can be made for a démarche the structure may not do.
    let aidant = Browser::new();
    service.sign_in(&aidant, &f.email_a, SEED_A).await;
    let form = aidant.get(&format!("{base}/mandats/nouveau")).await;
    assert!(form.body.contains("value=\"argent\""));
    assert!(!form.body.contains("value=\"famille\""));
    let refused = service
        .start_mandate(&aidant, &[("demarche", "famille"), ("duree", "SHORT")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("pas habilitée pour : Famille"),
        "{}",
        refused.body
    );
}

/// PKCE S256: a code bound to a challenge is exchanged only with its verifier.
async fn pkce_binds_the_code_to_its_verifier(backend: Backend) {
    use base64::Engine;
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let browser = Browser::new();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    let interaction = open(
        &service,
        &browser,
        1,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid profile inconnu"),
        ],
    )
    .await;
    sign_in(&service, &browser, &interaction).await;
    let location = choose(&service, &browser, &interaction, &f.usager_all.id, "social").await;
    let code = query_of(&location)["code"].clone();
    let (status, body) = exchange(&service, &code, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = exchange(
        &service,
        &code,
        &[(
            "code_verifier",
            "un-autre-verificateur-de-quarante-trois-caracteres",
        )],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = exchange(&service, &code, &[("code_verifier", verifier)]).await;
    assert_eq!(status, 200, "{body}");
    // Only what was granted: a scope the provider does not know is left out.
    assert_eq!(body["scope"], "openid profile");
}

/// Aidants Connect as FranceConnect's service provider: FranceConnect rotates its signing key
/// and the next identification fetches its keys again, without a restart; tokens naming
/// unknown keys do not make us fetch them more than once a minute.
async fn franceconnect_keys_rotate_without_restart(backend: Backend) {
    let (service, _) = TestService::start_with_simulator(backend);
    let control = service.sim.clone().unwrap();
    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    let fields = [("demarche", "argent"), ("duree", "SHORT")];
    service.create_mandate(&aidant, &fields, 0).await;
    let fetched = control.jwks_fetches();
    let kid = control.rotate_key().unwrap();
    assert_eq!(kid, "fc-sim-es256-2");
    service.create_mandate(&aidant, &fields, 1).await;
    assert_eq!(
        control.jwks_fetches(),
        fetched + 1,
        "fetched once, on the new kid"
    );
    // Tokens signed with keys nobody publishes, twice in a row: refused, and the keys are
    // not fetched again within the minute.
    control.set_fault(Some(fc_sim::idp::Fault::UnknownKey));
    for _ in 0..2 {
        let started = service.start_mandate(&aidant, &fields).await;
        let back = service
            .identify_at_fc(&aidant, &started.location.unwrap(), 2)
            .await;
        let (_, refused) = service.follow(&aidant, &back.location.unwrap()).await;
        assert_eq!(refused.status, 502, "{}", refused.body);
    }
    assert_eq!(control.jwks_fetches(), fetched + 1);
}

/// FranceConnect refuses scopes outside our habilitation; it may answer `unspecified` and a
/// presumed birth date, which we keep.
async fn franceconnect_identities_as_franceconnect_answers_them(backend: Backend) {
    let (service, _) = TestService::start_with_simulator_configured(backend, "127.0.0.1", &|c| {
        c.franceconnect.scopes.push("preferred_username".into());
    });
    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    let fields = [("demarche", "social"), ("duree", "SHORT")];
    let started = service.start_mandate(&aidant, &fields).await;
    let fc = aidant.get(&started.location.unwrap()).await;
    assert_eq!(fc.status, 302, "FranceConnect sends us back: {}", fc.body);
    let (_, refused) = service.follow(&aidant, &fc.location.unwrap()).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("invalid_scope"), "{}", refused.body);
    assert!(
        refused.body.contains("Aucun mandat n&#39;a été créé"),
        "{}",
        refused.body
    );

    let (service, _) = TestService::start_with_simulator(backend);
    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    let recap = service.identify_usager(&aidant, &fields, 4).await;
    let page = aidant.get(&recap).await;
    assert!(
        page.body.contains("NGUYEN") && page.body.contains("1990"),
        "{}",
        page.body
    );
    assert_eq!(service.confirm_recap(&aidant, &recap).await.status, 303);
    let stored = {
        use diesel::prelude::*;
        store::schema::usagers::table
            .filter(store::schema::usagers::family_name.eq("NGUYEN"))
            .select((
                store::schema::usagers::gender,
                store::schema::usagers::birthdate,
            ))
            .first::<(String, String)>(&mut service.conn())
            .unwrap()
    };
    assert_eq!(stored, ("unspecified".to_owned(), "1990-00-00".to_owned()));
}

on_both_backends!(
    franceconnect_keys_rotate_without_restart,
    franceconnect_identities_as_franceconnect_answers_them,
    a_flow_driven_as_franceconnect_drives_it,
    prompt_login_is_met_by_the_activity_window,
    max_age_is_checked_once_against_the_request,
    every_identity_sent_is_acceptable_to_franceconnect,
    perimeters_outside_the_structure_are_refused,
    pkce_binds_the_code_to_its_verifier,
);
