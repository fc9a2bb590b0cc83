//! What must be refused, and how: at the choice, at the token endpoint, at userinfo.

use ac_tests::obtain_code;
use ac_tests::{
    on_both_backends, Backend, Browser, TestService, RP_REDIRECT, SECRET, SEED_A, SEED_B,
};
use chrono::Duration;
use mandate::Demarche;
use serde_json::Value;

/// Logs the aidant of organisation A (or B) in on a fresh interaction; returns its path.
pub(crate) async fn logged_in_interaction(
    service: &TestService,
    browser: &Browser,
    email: &str,
    seed: &str,
) -> String {
    let (interaction, _) = service.open_interaction(browser).await;
    let code = service.next_code(seed);
    let page = browser
        .submit(
            service.issuer(),
            &interaction,
            "connexion",
            &[("email", email), ("otp", &code)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    interaction
}

async fn token_request(
    service: &TestService,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/token", service.issuer()))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        headers,
    )
}

async fn usagers_without_active_mandate_are_neither_listed_nor_choosable(backend: Backend) {
    let service = TestService::start(backend);
    let browser = Browser::new();
    let f = service.fixtures.clone();
    let interaction = logged_in_interaction(&service, &browser, &f.email_a, SEED_A).await;
    let page = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    assert!(page.body.contains("Angela DUBOIS"));
    assert!(page.body.contains("Bernard MARTIN"));
    assert!(!page.body.contains("PETIT"), "expired mandate listed");
    assert!(!page.body.contains("ROBERT"), "revoked autorisation listed");
    assert!(
        !page.body.contains("RICHARD"),
        "other organisation's usager listed"
    );
    // Search by name, accents and case ignored.
    let found = browser
        .get(&format!("{}{interaction}?q=angéla", service.issuer()))
        .await;
    assert!(found.body.contains("Angela DUBOIS") && !found.body.contains("Bernard"));
    for (usager, who) in [
        (&f.usager_expired, "expired"),
        (&f.usager_revoked, "revoked"),
        (&f.usager_of_b, "other organisation"),
    ] {
        let refused = browser
            .submit(
                service.issuer(),
                &interaction,
                "usager",
                &[("usager", usager.id.as_str())],
            )
            .await;
        assert_eq!(refused.status, 422, "{who}");
        assert!(
            refused.body.contains("pas de mandat actif"),
            "{who}: {}",
            refused.body
        );
    }
}

async fn aidant_of_another_organisation_cannot_use_the_mandate(backend: Backend) {
    let service = TestService::start(backend);
    let browser = Browser::new();
    let f = service.fixtures.clone();
    let interaction = logged_in_interaction(&service, &browser, &f.email_b, SEED_B).await;
    let refused = browser
        .submit(
            service.issuer(),
            &interaction,
            "usager",
            &[("usager", f.usager_all.id.as_str())],
        )
        .await;
    assert_eq!(refused.status, 422);
    let page = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    assert!(page.body.contains("Emma RICHARD") && !page.body.contains("Angela"));
}

async fn demarche_not_covered_is_refused(backend: Backend) {
    let service = TestService::start(backend);
    let browser = Browser::new();
    let f = service.fixtures.clone();
    let interaction = logged_in_interaction(&service, &browser, &f.email_a, SEED_A).await;
    let chosen = browser
        .submit(
            service.issuer(),
            &interaction,
            "usager",
            &[("usager", f.usager_argent.id.as_str())],
        )
        .await;
    assert_eq!(chosen.status, 303);
    let page = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    assert!(
        page.body.contains("Argent") && !page.body.contains("Famille"),
        "{}",
        page.body
    );
    let refused = browser
        .submit(
            service.issuer(),
            &interaction,
            "demarche",
            &[("demarche", "famille")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("pas couverte"));
    let unknown = browser
        .submit(
            service.issuer(),
            &interaction,
            "demarche",
            &[("demarche", "impots")],
        )
        .await;
    assert_eq!(unknown.status, 422);
}

async fn revocation_between_choice_and_token_is_refused(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let f = service.fixtures.clone();
    let (code, _, nonce) = obtain_code(
        &service,
        &browser,
        &rp,
        &f.usager_argent.id,
        Demarche::Argent,
    )
    .await;
    service.revoke_in_org_a(&f.usager_argent.id, Demarche::Argent);
    assert_eq!(
        rp.finish(&code, &nonce).await.unwrap_err(),
        fc_sim::rp::RpError::Token("invalid_grant".into())
    );
}

async fn revocation_after_token_stops_userinfo(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let f = service.fixtures.clone();
    let (code, _, nonce) = obtain_code(
        &service,
        &browser,
        &rp,
        &f.usager_argent.id,
        Demarche::Argent,
    )
    .await;
    let identity = rp.finish(&code, &nonce).await.unwrap();
    service.revoke_in_org_a(&f.usager_argent.id, Demarche::Argent);
    let response = service
        .userinfo_at(service.issuer(), &identity.access_token)
        .await;
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer error=\"invalid_token\""));
}

async fn mandate_expiring_between_choice_and_token_is_refused(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let f = service.fixtures.clone();
    let (code, _, nonce) = obtain_code(
        &service,
        &browser,
        &rp,
        &f.usager_argent.id,
        Demarche::Argent,
    )
    .await;
    // The MONTH mandate ends 31 days after its creation; the code lives 60 s, so move the
    // mandate's end instead of the clock: it ends now.
    {
        use diesel::prelude::*;
        use store::schema::mandates;
        let mut conn = service.conn();
        diesel::update(mandates::table.filter(mandates::usager_id.eq(&f.usager_argent.id)))
            .set(mandates::expires_at.eq(service.clock_now()))
            .execute(&mut conn)
            .unwrap();
    }
    assert_eq!(
        rp.finish(&code, &nonce).await.unwrap_err(),
        fc_sim::rp::RpError::Token("invalid_grant".into())
    );
}

async fn code_is_single_use_and_reuse_revokes(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let (code, _, nonce) = obtain_code(
        &service,
        &browser,
        &rp,
        &service.fixtures.usager_all.id,
        Demarche::Social,
    )
    .await;
    let identity = rp.finish(&code, &nonce).await.unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RP_REDIRECT),
    ];
    let (status, body, headers) = token_request(&service, &form, Some(("fc-es256", SECRET))).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(headers["cache-control"], "no-store");
    let response = service
        .userinfo_at(service.issuer(), &identity.access_token)
        .await;
    assert_eq!(response.status(), 401, "the first access token is revoked");
}

async fn code_expires_after_a_minute(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let (code, _, nonce) = obtain_code(
        &service,
        &browser,
        &rp,
        &service.fixtures.usager_all.id,
        Demarche::Social,
    )
    .await;
    service.clock.advance(Duration::seconds(61));
    assert_eq!(
        rp.finish(&code, &nonce).await.unwrap_err(),
        fc_sim::rp::RpError::Token("invalid_grant".into())
    );
}

async fn token_endpoint_errors(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let (code, _, _) = obtain_code(
        &service,
        &browser,
        &rp,
        &service.fixtures.usager_all.id,
        Demarche::Social,
    )
    .await;
    let good = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RP_REDIRECT),
    ];

    let (status, body, headers) =
        token_request(&service, &good, Some(("fc-es256", "mauvais-secret"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    let (status, body, _) = token_request(&service, &good, Some(("inconnu", SECRET))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body, _) = token_request(&service, &good, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let wrong_redirect = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:9/autre"),
    ];
    let (status, body, _) =
        token_request(&service, &wrong_redirect, Some(("fc-es256", SECRET))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let other_client = token_request(&service, &good, Some(("fc-rs256", SECRET))).await;
    assert_eq!(other_client.1["error"], "invalid_grant");
    let grant = [
        ("grant_type", "password"),
        ("code", code.as_str()),
        ("redirect_uri", RP_REDIRECT),
    ];
    assert_eq!(
        token_request(&service, &grant, Some(("fc-es256", SECRET)))
            .await
            .1["error"],
        "unsupported_grant_type"
    );
    let no_code = [
        ("grant_type", "authorization_code"),
        ("redirect_uri", RP_REDIRECT),
    ];
    assert_eq!(
        token_request(&service, &no_code, Some(("fc-es256", SECRET)))
            .await
            .1["error"],
        "invalid_request"
    );
    let both = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RP_REDIRECT),
        ("client_id", "fc-es256"),
        ("client_secret", SECRET),
    ];
    assert_eq!(
        token_request(&service, &both, Some(("fc-es256", SECRET)))
            .await
            .1["error"],
        "invalid_request"
    );

    // A client registered with client_secret_basic may not send its secret in the body.
    let (status, body, _) = token_request(&service, &both, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Its registered method works, once: the failed attempts above did not consume the code.
    let (status, body, headers) = token_request(&service, &good, Some(("fc-es256", SECRET))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
}

async fn userinfo_errors(backend: Backend) {
    let service = TestService::start(backend);
    let http = reqwest::Client::new();
    let url = format!("{}/userinfo", service.issuer());
    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let bad = http
        .get(&url)
        .bearer_auth("pas-un-jeton")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

async fn csrf_is_required_on_every_form(backend: Backend) {
    let service = TestService::start(backend);
    let browser = Browser::new();
    let (interaction, _) = service.open_interaction(&browser).await;
    browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    let code = service.next_code(SEED_A);
    // A cross-site form: no CSRF cookie in another browser, and a forged token.
    let attacker = Browser::new();
    for (browser, token) in [(&attacker, "forged"), (&browser, "forged"), (&browser, "")] {
        let page = browser
            .post(
                &format!("{}{interaction}/connexion", service.issuer()),
                &[
                    ("csrf_token", token),
                    ("email", &service.fixtures.email_a),
                    ("otp", &code),
                ],
            )
            .await;
        assert_eq!(page.status, 403);
        assert!(page.body.contains("Formulaire refusé"));
    }
    // The code was not consumed by the refused posts.
    let ok = browser
        .submit(
            service.issuer(),
            &interaction,
            "connexion",
            &[("email", &service.fixtures.email_a), ("otp", &code)],
        )
        .await;
    assert_eq!(ok.status, 303);
}

async fn end_session_revokes_and_returns(backend: Backend) {
    let service = TestService::start(backend);
    let rp = service.relying_party("fc-es256").await;
    let browser = Browser::new();
    let (code, _, _) = obtain_code(
        &service,
        &browser,
        &rp,
        &service.fixtures.usager_all.id,
        Demarche::Social,
    )
    .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", RP_REDIRECT),
    ];
    let (_, body, _) = token_request(&service, &form, Some(("fc-es256", SECRET))).await;
    let id_token = body["id_token"].as_str().unwrap().to_owned();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let base = service.issuer();
    let unregistered = browser
        .get(&format!("{base}/logout?id_token_hint={id_token}&post_logout_redirect_uri=http://evil.example/&state=s1"))
        .await;
    assert_eq!(unregistered.status, 400);
    let forged = browser
        .get(&format!(
            "{base}/logout?id_token_hint={}x&post_logout_redirect_uri={}",
            id_token,
            ac_tests::RP_LOGOUT
        ))
        .await;
    assert_eq!(forged.status, 400);
    let out = browser
        .get(&format!(
            "{base}/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=s1",
            ac_tests::RP_LOGOUT
        ))
        .await;
    assert_eq!(out.status, 302);
    assert_eq!(
        out.location.as_deref(),
        Some(format!("{}?state=s1", ac_tests::RP_LOGOUT).as_str())
    );
    let response = service.userinfo_at(base, &access).await;
    assert_eq!(response.status(), 401);
}

async fn aidant_cancels(backend: Backend) {
    let service = TestService::start(backend);
    let browser = Browser::new();
    let (interaction, state) = service.open_interaction(&browser).await;
    let page = browser
        .submit(service.issuer(), &interaction, "annuler", &[])
        .await;
    let params = ac_tests::query_of(&page.location.unwrap());
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], state);
    let again = browser
        .get(&format!("{}{interaction}", service.issuer()))
        .await;
    assert_eq!(again.status, 410);
}

/// Every response, page or not, carries the security headers; HSTS only when the service is
/// served over https (secure cookies).
async fn security_headers_on_every_response(backend: Backend) {
    let plain = TestService::start(backend);
    let secure = TestService::start_configured(backend, &|config| config.secure_cookies = true);
    let http = reqwest::Client::new();
    for (service, https) in [(&plain, false), (&secure, true)] {
        for (path, status) in [
            ("/", 200),
            ("/connexion", 200),
            ("/static/dsfr/dsfr.min.css", 200),
            ("/page-qui-n-existe-pas", 404),
            ("/authorize?client_id=inconnu", 400),
        ] {
            let response = http
                .get(format!("{}{path}", service.issuer()))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{path}");
            let headers = response.headers();
            let csp = headers["content-security-policy"].to_str().unwrap();
            assert!(
                csp.contains("default-src 'self'")
                    && csp.contains("frame-ancestors 'none'")
                    && !csp.contains("unsafe-inline")
                    && !csp.contains("unsafe-eval"),
                "{path}: {csp}"
            );
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(headers["x-frame-options"], "DENY", "{path}");
            assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
            assert_eq!(
                headers.get("strict-transport-security").is_some(),
                https,
                "{path}"
            );
        }
    }
    let page = http
        .get(format!("{}/connexion", secure.issuer()))
        .send()
        .await
        .unwrap();
    let cookies: Vec<_> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    assert!(!cookies.is_empty());
    assert!(
        cookies
            .iter()
            .all(|c| c.contains("Secure") && c.contains("HttpOnly") && c.contains("SameSite=")),
        "{cookies:?}"
    );
}

on_both_backends!(
    usagers_without_active_mandate_are_neither_listed_nor_choosable,
    aidant_of_another_organisation_cannot_use_the_mandate,
    demarche_not_covered_is_refused,
    revocation_between_choice_and_token_is_refused,
    revocation_after_token_stops_userinfo,
    mandate_expiring_between_choice_and_token_is_refused,
    code_is_single_use_and_reuse_revokes,
    code_expires_after_a_minute,
    token_endpoint_errors,
    userinfo_errors,
    csrf_is_required_on_every_form,
    end_session_revokes_and_returns,
    aidant_cancels,
    security_headers_on_every_response,
);
