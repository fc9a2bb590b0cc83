//! The authorization endpoint's refusals: an error page when the client or its redirect URI
//! cannot be trusted, an OIDC error redirect with the state otherwise.

use ac_tests::{on_both_backends, query_of, Backend, Browser, TestService, RP_REDIRECT};

fn authorize_url(base: &str, params: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{base}/authorize?{query}")
}

/// Query parameters of an authorization request.
type Params = Vec<(&'static str, &'static str)>;

const GOOD: [(&str, &str); 6] = [
    ("client_id", "fc-es256"),
    ("redirect_uri", RP_REDIRECT),
    ("response_type", "code"),
    ("scope", "openid profile"),
    ("state", "etat-1"),
    ("nonce", "nonce-1"),
];

fn without(name: &str) -> Vec<(&'static str, &'static str)> {
    GOOD.iter().copied().filter(|(n, _)| *n != name).collect()
}

fn replacing(name: &str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    GOOD.iter()
        .map(|(n, v)| if *n == name { (*n, value) } else { (*n, *v) })
        .collect()
}

async fn untrusted_client_or_redirect_gets_an_error_page(backend: Backend) {
    let service = TestService::start(backend);
    let browser = Browser::new();
    for params in [
        replacing("client_id", "inconnu"),
        without("client_id"),
        replacing("redirect_uri", "http://evil.example/callback"),
        replacing("redirect_uri", "http://127.0.0.1:9/callback/"),
        without("redirect_uri"),
    ] {
        let page = browser.get(&authorize_url(service.issuer(), &params)).await;
        assert_eq!(page.status, 400, "{params:?}");
        assert!(
            page.location.is_none(),
            "never redirect to an untrusted address"
        );
        assert!(page.body.contains("Demande de connexion invalide"));
        assert!(page.body.contains("lang=\"fr\""));
    }
}

/// A refused request: its parameters, the OAuth error expected, whether the state comes back
/// (it cannot when the request has none).
type Refusal = (Params, &'static str, bool);

fn with(extra: &[(&'static str, &'static str)]) -> Params {
    let mut params = GOOD.to_vec();
    params.extend_from_slice(extra);
    params
}

/// The core parameters: response type, scope, state, repetitions, request objects, prompt,
/// max_age, and the nonce FranceConnect's clients must send (OpenID Connect Core makes it
/// optional for the others in the code flow).
fn parameter_refusals() -> Vec<Refusal> {
    let franceconnect_without_nonce: Params = without("nonce")
        .into_iter()
        .map(|(n, v)| {
            if n == "client_id" {
                (n, "fc-franceconnect")
            } else {
                (n, v)
            }
        })
        .collect();
    vec![
        (without("response_type"), "invalid_request", true),
        (
            replacing("response_type", "token"),
            "unsupported_response_type",
            true,
        ),
        (replacing("scope", "profile"), "invalid_scope", true),
        (without("scope"), "invalid_scope", true),
        (without("state"), "invalid_request", false),
        (with(&[("scope", "openid")]), "invalid_request", true),
        (
            with(&[("request", "eyJhbGciOiJub25lIn0.e30.")]),
            "request_not_supported",
            true,
        ),
        (with(&[("prompt", "none login")]), "invalid_request", true),
        (with(&[("max_age", "-5")]), "invalid_request", true),
        (with(&[("prompt", "none")]), "login_required", true),
        (franceconnect_without_nonce, "invalid_request", true),
    ]
}

/// PKCE: only S256, with a well-formed challenge, and no method without a challenge.
fn pkce_refusals() -> Vec<Refusal> {
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    [
        with(&[("code_challenge", challenge)]),
        with(&[
            ("code_challenge", challenge),
            ("code_challenge_method", "plain"),
        ]),
        with(&[
            ("code_challenge", "court"),
            ("code_challenge_method", "S256"),
        ]),
        with(&[("code_challenge_method", "S256")]),
    ]
    .into_iter()
    .map(|params| (params, "invalid_request", true))
    .collect()
}

/// The claims parameter: JSON, an object, and a `rep_scope` naming known démarches.
fn claims_refusals() -> Vec<Refusal> {
    [
        "{pas du json",
        "[1, 2]",
        r#"{"id_token":{"rep_scope":{"essential":true,"values":["Famille-Scolarité","Astronautique"]}}}"#,
        r#"{"id_token":{"rep_scope":{"essential":true,"values":"famille"}}}"#,
    ]
    .into_iter()
    .map(|claims| (with(&[("claims", claims)]), "invalid_request", true))
    .collect()
}

/// The request comes back to the client's address with the error, its description and the
/// state, and never with a code.
async fn assert_redirected_with_error(service: &TestService, browser: &Browser, refusal: Refusal) {
    let (params, error, has_state) = refusal;
    let page = browser.get(&authorize_url(service.issuer(), &params)).await;
    assert_eq!(page.status, 302, "{params:?}: {}", page.body);
    let location = page.location.unwrap();
    assert!(location.starts_with(RP_REDIRECT), "{location}");
    let query = query_of(&location);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some(error),
        "{params:?}"
    );
    assert!(query.contains_key("error_description"));
    assert!(!location.contains("code="), "{location}");
    assert_eq!(
        query.get("state").map(String::as_str),
        has_state.then_some("etat-1"),
        "{params:?}"
    );
}

async fn invalid_requests_are_redirected_with_the_exact_error(backend: Backend) {
    let service = TestService::start(backend);
    let browser = Browser::new();
    for refusal in parameter_refusals()
        .into_iter()
        .chain(pkce_refusals())
        .chain(claims_refusals())
    {
        assert_redirected_with_error(&service, &browser, refusal).await;
    }
    // Without a nonce, the other clients' requests go on to the aidant.
    let page = browser
        .get(&authorize_url(service.issuer(), &without("nonce")))
        .await;
    assert_eq!(page.status, 302);
    assert!(page.location.unwrap().starts_with("/fi/"));
}

async fn post_authorization_requests_work(backend: Backend) {
    let service = TestService::start(backend);
    let browser = Browser::new();
    let page = browser
        .post(&format!("{}/authorize", service.issuer()), &GOOD)
        .await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().starts_with("/fi/"));
}

async fn discovery_and_jwks_describe_the_provider(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer();
    let discovery: serde_json::Value =
        reqwest::get(format!("{base}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["issuer"], base);
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("end_session_endpoint", "/logout"),
        ("jwks_uri", "/jwks"),
    ] {
        assert_eq!(discovery[key], format!("{base}{path}"));
    }
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256", "HS256"])
    );
    assert_eq!(
        discovery["userinfo_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256", "HS256"])
    );
    assert_eq!(discovery["claims_parameter_supported"], true);
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(discovery["claims_supported"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("rep_scope")));
    // FranceConnect's record names every endpoint with a trailing slash: they answer alike.
    for path in ["/.well-known/openid-configuration/", "/jwks/"] {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let jwks: serde_json::Value = reqwest::get(format!("{base}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .all(|k| k["kid"].is_string() && k.get("d").is_none()),
        "no private part published"
    );
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
}

on_both_backends!(
    untrusted_client_or_redirect_gets_an_error_page,
    invalid_requests_are_redirected_with_the_exact_error,
    post_authorization_requests_work,
    discovery_and_jwks_describe_the_provider,
);
