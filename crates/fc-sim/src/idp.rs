//! FranceConnect **as identity provider** toward Aidants Connect (then a FranceConnect service
//! provider, when a mandate is created): discovery, authorization with a page where the usager
//! picks one of several fictional identities, token, userinfo (a signed JWT, as FranceConnect
//! v2 answers), JWKS and end-session — under `/api/v2`, like FranceConnect.
//!
//! Its state lives in memory. [`SimControl`] lets tests make it misbehave the ways a real
//! provider can (wrong nonce, unknown signing key, server error) and see the logouts.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use subtle::ConstantTimeEq;

/// Where the simulator reads the time.
pub type TimeSource = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The path of FranceConnect's API under the simulator's public URL.
pub const API: &str = "/api/v2";
/// Name of the simulator's FranceConnect session cookie.
const SESSION_COOKIE: &str = "fcsim_fc_session";

/// A service provider registered at the simulated FranceConnect.
#[derive(Debug, Clone)]
pub struct SpClient {
    /// client_id.
    pub client_id: String,
    /// client_secret.
    pub client_secret: String,
    /// Registered callbacks.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes its habilitation allows (besides `openid`): asking another is refused, as
    /// FranceConnect refuses it.
    pub scopes: Vec<String>,
}

/// The scopes a service provider is habilitated for by default: Aidants Connect's.
pub const HABILITATED_SCOPES: &[&str] = &[
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
];

/// A fictional person FranceConnect can identify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FictionalIdentity {
    /// Stable key (the base of the pairwise `sub`).
    pub key: &'static str,
    /// given_name.
    pub given_name: &'static str,
    /// family_name.
    pub family_name: &'static str,
    /// preferred_username.
    pub preferred_username: &'static str,
    /// birthdate.
    pub birthdate: &'static str,
    /// gender.
    pub gender: &'static str,
    /// birthplace (COG; empty abroad).
    pub birthplace: &'static str,
    /// birthcountry (COG).
    pub birthcountry: &'static str,
    /// email.
    pub email: &'static str,
    /// How the picker describes them.
    pub note: &'static str,
}

/// The people of the simulator.
pub const IDENTITIES: &[FictionalIdentity] = &[
    FictionalIdentity {
        key: "angela-dubois",
        given_name: "Angela Claire Louise",
        family_name: "DUBOIS",
        preferred_username: "",
        birthdate: "1962-08-24",
        gender: "female",
        birthplace: "75107",
        birthcountry: "99100",
        email: "angela.dubois@exemple.fr",
        note: "née à Paris 7e",
    },
    FictionalIdentity {
        key: "fatou-diallo",
        given_name: "Fatou",
        family_name: "DIALLO",
        preferred_username: "",
        birthdate: "1985-11-30",
        gender: "female",
        birthplace: "",
        birthcountry: "99341",
        email: "fatou.diallo@exemple.fr",
        note: "née au Sénégal",
    },
    FictionalIdentity {
        key: "marie-martin",
        given_name: "Marie Hélène",
        family_name: "MARTIN",
        preferred_username: "BERNARD",
        birthdate: "1971-04-02",
        gender: "female",
        birthplace: "69123",
        birthcountry: "99100",
        email: "marie.bernard@exemple.fr",
        note: "nom d'usage BERNARD, née à Lyon",
    },
    FictionalIdentity {
        key: "lucien-petit",
        given_name: "Lucien Jean",
        family_name: "PETIT",
        preferred_username: "",
        birthdate: "1947-03-12",
        gender: "male",
        birthplace: "59350",
        birthcountry: "99100",
        email: "lucien.petit@exemple.fr",
        note: "né à Lille",
    },
    FictionalIdentity {
        key: "sacha-nguyen",
        given_name: "Sacha",
        family_name: "NGUYEN",
        preferred_username: "",
        birthdate: "1990-00-00",
        gender: "unspecified",
        birthplace: "",
        birthcountry: "99243",
        email: "sacha.nguyen@exemple.fr",
        note: "né au Viêt Nam, date de naissance présumée, genre non précisé",
    },
];

/// Ways the simulator can be told to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// ID tokens carry another nonce than the one asked.
    WrongNonce,
    /// ID tokens are signed with a key the JWKS does not publish.
    UnknownKey,
    /// The token endpoint answers 500 `server_error`.
    TokenServerError,
}

struct Interaction {
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: String,
    scopes: Vec<String>,
    expires: DateTime<Utc>,
}

struct IssuedCode {
    client_id: String,
    redirect_uri: String,
    identity: usize,
    nonce: String,
    scopes: Vec<String>,
    expires: DateTime<Utc>,
}

struct AccessToken {
    client_id: String,
    identity: usize,
    scopes: Vec<String>,
    expires: DateTime<Utc>,
}

#[derive(Default)]
struct Memory {
    interactions: HashMap<String, Interaction>,
    codes: HashMap<String, IssuedCode>,
    tokens: HashMap<String, AccessToken>,
    sessions: HashMap<String, usize>,
    logouts: Vec<String>,
    fault: Option<Fault>,
    /// The key FranceConnect signs with now (the only one its JWKS publishes).
    key: Option<Arc<Key>>,
    /// How many times the key was rotated.
    rotations: u32,
    /// How many times the JWKS was served.
    jwks_served: u32,
}

struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

impl Key {
    fn generate(kid: &str) -> std::io::Result<Key> {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &secret.public_key(),
            false,
        );
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(std::io::Error::other("point P-256 invalide"));
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let decoding = DecodingKey::from_ec_components(&x, &y)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Key {
            kid: kid.to_owned(),
            encoding,
            decoding,
            jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"}),
        })
    }

    fn sign(&self, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

/// The identity-provider side of the simulator.
pub(crate) struct Idp {
    public_url: String,
    clients: Vec<SpClient>,
    now: TimeSource,
    rng: SystemRandom,
    rogue_key: Key,
    memory: Arc<Mutex<Memory>>,
}

/// Lets a test steer the simulated FranceConnect and see what happened.
#[derive(Clone)]
pub struct SimControl {
    memory: Arc<Mutex<Memory>>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimControl")
    }
}

fn lock(memory: &Mutex<Memory>) -> MutexGuard<'_, Memory> {
    memory
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimControl {
    /// Makes the simulator misbehave (or behave again with `None`).
    pub fn set_fault(&self, fault: Option<Fault>) {
        lock(&self.memory).fault = fault;
    }

    /// The `sub`s of the FranceConnect sessions ended through end-session, in order.
    pub fn logouts(&self) -> Vec<String> {
        lock(&self.memory).logouts.clone()
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> u32 {
        lock(&self.memory).jwks_served
    }

    /// Rotates FranceConnect's signing key: a new key with a new `kid` signs from now on, and
    /// the JWKS publishes it alone. Returns the new `kid`.
    pub fn rotate_key(&self) -> std::io::Result<String> {
        let mut memory = lock(&self.memory);
        memory.rotations += 1;
        let kid = format!("fc-sim-es256-{}", memory.rotations + 1);
        memory.key = Some(Arc::new(Key::generate(&kid)?));
        Ok(kid)
    }
}

impl Idp {
    pub(crate) fn new(
        public_url: &str,
        clients: Vec<SpClient>,
        now: TimeSource,
    ) -> std::io::Result<(Idp, SimControl)> {
        let memory = Arc::new(Mutex::new(Memory {
            key: Some(Arc::new(Key::generate("fc-sim-es256-1")?)),
            ..Memory::default()
        }));
        Ok((
            Idp {
                public_url: public_url.trim_end_matches('/').to_owned(),
                clients,
                now,
                rng: SystemRandom::new(),
                rogue_key: Key::generate("cle-inconnue")?,
                memory: memory.clone(),
            },
            SimControl { memory },
        ))
    }

    fn issuer(&self) -> String {
        format!("{}{API}", self.public_url)
    }

    fn random(&self) -> String {
        let mut bytes = [0u8; 32];
        // An unavailable system random source leaves a zeroed buffer; the simulator then
        // refuses to go on rather than hand out guessable codes.
        if self.rng.fill(&mut bytes).is_err() {
            return String::new();
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn client(&self, client_id: &str) -> Option<&SpClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        lock(&self.memory)
    }

    /// The key FranceConnect signs with now.
    fn key(&self) -> Option<Arc<Key>> {
        self.memory().key.clone()
    }

    /// FranceConnect's pairwise `sub` of an identity for a client.
    fn sub(&self, identity: usize, client_id: &str) -> String {
        let key = IDENTITIES.get(identity).map(|i| i.key).unwrap_or_default();
        let hash = digest::digest(&digest::SHA256, format!("{client_id}:{key}").as_bytes());
        format!("{}v1", hex_encode(hash.as_ref()))
    }

    fn claims(&self, identity: usize, client_id: &str, scopes: &[String]) -> Value {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), self.sub(identity, client_id).into());
        if let Some(person) = IDENTITIES.get(identity) {
            let all = [
                ("given_name", person.given_name),
                ("family_name", person.family_name),
                ("preferred_username", person.preferred_username),
                ("birthdate", person.birthdate),
                ("gender", person.gender),
                ("birthplace", person.birthplace),
                ("birthcountry", person.birthcountry),
                ("email", person.email),
            ];
            for (name, value) in all {
                let granted = scopes.iter().any(|s| {
                    s == name
                        || (s == "profile"
                            && matches!(
                                name,
                                "given_name"
                                    | "family_name"
                                    | "preferred_username"
                                    | "birthdate"
                                    | "gender"
                            ))
                        || (s == "birth" && matches!(name, "birthplace" | "birthcountry"))
                });
                if granted {
                    claims.insert(name.into(), value.into());
                }
            }
        }
        Value::Object(claims)
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Template)]
#[template(path = "choose_identity.html")]
struct ChoosePage<'a> {
    action: String,
    client_id: &'a str,
    identities: &'static [FictionalIdentity],
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    error: &'a str,
    description: &'a str,
}

#[derive(Template)]
#[template(path = "fc_logged_out.html")]
struct LoggedOutPage;

fn page(status: StatusCode, body: Result<String, askama::Error>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

fn error_page(error: &str, description: &str) -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        ErrorPage { error, description }.render(),
    )
}

fn redirect(url: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .finish()
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => base.to_owned(),
    }
}

fn json_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": error, "error_description": description }))
}

/// Mounts the routes under [`API`].
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        &format!("{API}/.well-known/openid-configuration"),
        web::get().to(discovery),
    )
    .route(&format!("{API}/jwks"), web::get().to(jwks))
    .route(&format!("{API}/authorize"), web::get().to(authorize))
    .route(&format!("{API}/interaction/{{id}}"), web::post().to(choose))
    .route(&format!("{API}/token"), web::post().to(token))
    .route(&format!("{API}/userinfo"), web::get().to(userinfo))
    .route(&format!("{API}/session/end"), web::get().to(end_session));
}

async fn discovery(idp: web::Data<Idp>) -> HttpResponse {
    let issuer = idp.issuer();
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/session/end"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "userinfo_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "scopes_supported": ["openid", "profile", "birth", "email", "given_name", "family_name",
            "preferred_username", "birthdate", "gender", "birthplace", "birthcountry"],
        "claims_supported": ["sub", "given_name", "family_name", "preferred_username", "birthdate",
            "gender", "birthplace", "birthcountry", "email"],
        "acr_values_supported": ["eidas1"],
    }))
}

async fn jwks(idp: web::Data<Idp>) -> HttpResponse {
    idp.memory().jwks_served += 1;
    let keys: Vec<Value> = idp.key().iter().map(|k| k.jwk.clone()).collect();
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    acr_values: String,
}

async fn authorize(idp: web::Data<Idp>, query: web::Query<AuthorizeQuery>) -> HttpResponse {
    let q = query.into_inner();
    let Some(client) = idp.client(&q.client_id) else {
        return error_page(
            "invalid_client",
            "Fournisseur de service inconnu de FranceConnect.",
        );
    };
    if !client.redirect_uris.contains(&q.redirect_uri) {
        return error_page(
            "invalid_redirect_uri",
            "L'adresse de retour n'est pas enregistrée pour ce fournisseur de service.",
        );
    }
    let back = |error: &str, description: &str| {
        redirect(&with_query(
            &q.redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", &q.state),
            ],
        ))
    };
    if q.response_type != "code" {
        return back("unsupported_response_type", "response_type=code attendu");
    }
    let scopes: Vec<String> = q.scope.split_whitespace().map(str::to_owned).collect();
    if !scopes.iter().any(|s| s == "openid") {
        return back("invalid_scope", "le scope openid est obligatoire");
    }
    if let Some(refused) = scopes
        .iter()
        .find(|s| *s != "openid" && !client.scopes.contains(s))
    {
        return back(
            "invalid_scope",
            &format!("le fournisseur de service n'est pas habilité pour le scope {refused}"),
        );
    }
    if q.state.len() < 32 || q.nonce.len() < 32 {
        return back(
            "invalid_request",
            "state et nonce sont obligatoires (32 caractères au moins)",
        );
    }
    if !q.acr_values.split_whitespace().any(|a| a == "eidas1") {
        return back("invalid_request", "acr_values=eidas1 attendu");
    }
    let id = idp.random();
    if id.is_empty() {
        return back("server_error", "générateur aléatoire indisponible");
    }
    let expires = (idp.now)() + Duration::minutes(10);
    idp.memory().interactions.insert(
        id.clone(),
        Interaction {
            client_id: q.client_id.clone(),
            redirect_uri: q.redirect_uri.clone(),
            state: q.state.clone(),
            nonce: q.nonce.clone(),
            scopes,
            expires,
        },
    );
    page(
        StatusCode::OK,
        ChoosePage {
            action: format!("{API}/interaction/{id}"),
            client_id: &client.client_id,
            identities: IDENTITIES,
        }
        .render(),
    )
}

#[derive(Deserialize)]
struct ChooseForm {
    #[serde(default)]
    identity: Option<usize>,
    #[serde(default)]
    annuler: Option<String>,
}

async fn choose(
    idp: web::Data<Idp>,
    path: web::Path<String>,
    form: web::Form<ChooseForm>,
) -> HttpResponse {
    let now = (idp.now)();
    let Some(interaction) = idp.memory().interactions.remove(&path.into_inner()) else {
        return error_page(
            "session_expired",
            "Cette identification a expiré : recommencez.",
        );
    };
    if interaction.expires <= now {
        return error_page(
            "session_expired",
            "Cette identification a expiré : recommencez.",
        );
    }
    let form = form.into_inner();
    let identity = match (form.annuler, form.identity) {
        (Some(_), _) => {
            return redirect(&with_query(
                &interaction.redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "L'usager a annulé l'identification."),
                    ("state", &interaction.state),
                ],
            ))
        }
        (None, Some(i)) if i < IDENTITIES.len() => i,
        _ => return error_page("invalid_request", "Choisissez une identité."),
    };
    let code = idp.random();
    let sid = idp.random();
    if code.is_empty() || sid.is_empty() {
        return error_page("server_error", "Générateur aléatoire indisponible.");
    }
    {
        let mut memory = idp.memory();
        memory.codes.insert(
            code.clone(),
            IssuedCode {
                client_id: interaction.client_id.clone(),
                redirect_uri: interaction.redirect_uri.clone(),
                identity,
                nonce: interaction.nonce.clone(),
                scopes: interaction.scopes.clone(),
                expires: now + Duration::seconds(60),
            },
        );
        memory.sessions.insert(sid.clone(), identity);
    }
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            with_query(
                &interaction.redirect_uri,
                &[("code", &code), ("state", &interaction.state)],
            ),
        ))
        .cookie(
            Cookie::build(SESSION_COOKIE, sid)
                .path(API)
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish(),
        )
        .finish()
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

async fn token(idp: web::Data<Idp>, req: HttpRequest, form: web::Form<TokenForm>) -> HttpResponse {
    let form = form.into_inner();
    // FranceConnect v2 takes the client's secret in the body only (client_secret_post).
    if basic_credentials(&req).is_some() {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "seule la méthode client_secret_post est acceptée",
        );
    }
    let (Some(client_id), Some(secret)) = (form.client_id, form.client_secret) else {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "authentification du client requise",
        );
    };
    let authenticated = idp
        .client(&client_id)
        .is_some_and(|c| bool::from(c.client_secret.as_bytes().ct_eq(secret.as_bytes())));
    if !authenticated {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client inconnu ou secret erroné",
        );
    }
    if form.grant_type != "authorization_code" {
        return json_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "authorization_code attendu",
        );
    }
    let now = (idp.now)();
    let fault = idp.memory().fault;
    if fault == Some(Fault::TokenServerError) {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "FranceConnect est indisponible",
        );
    }
    let Some(code) = idp.memory().codes.remove(&form.code) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code inconnu ou déjà utilisé",
        );
    };
    if code.client_id != client_id || code.redirect_uri != form.redirect_uri || code.expires <= now
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code invalide pour ce client",
        );
    }
    let access_token = idp.random();
    if access_token.is_empty() {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "générateur aléatoire indisponible",
        );
    }
    let nonce = if fault == Some(Fault::WrongNonce) {
        "un-autre-nonce-que-celui-demande".to_owned()
    } else {
        code.nonce.clone()
    };
    let claims = json!({
        "iss": idp.issuer(),
        "sub": idp.sub(code.identity, &client_id),
        "aud": client_id,
        "exp": (now + Duration::seconds(60)).timestamp(),
        "iat": now.timestamp(),
        "auth_time": now.timestamp(),
        "nonce": nonce,
        "acr": "eidas1",
        "amr": ["pwd"],
    });
    let current = idp.key();
    let key = match (fault, current.as_deref()) {
        (Some(Fault::UnknownKey), _) | (_, None) => &idp.rogue_key,
        (_, Some(key)) => key,
    };
    let id_token = match key.sign(&claims) {
        Ok(t) => t,
        Err(e) => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                &e.to_string(),
            )
        }
    };
    idp.memory().tokens.insert(
        access_token.clone(),
        AccessToken {
            client_id: client_id.clone(),
            identity: code.identity,
            scopes: code.scopes.clone(),
            expires: now + Duration::seconds(60),
        },
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 60,
            "id_token": id_token,
            "scope": code.scopes.join(" "),
        }))
}

async fn userinfo(idp: web::Data<Idp>, req: HttpRequest) -> HttpResponse {
    let unauthorized = || {
        HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#))
            .finish()
    };
    let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized();
    };
    let now = (idp.now)();
    let (client_id, identity, scopes) = {
        let memory = idp.memory();
        match memory.tokens.get(token.trim()) {
            Some(t) if t.expires > now => (t.client_id.clone(), t.identity, t.scopes.clone()),
            _ => return unauthorized(),
        }
    };
    let mut claims = idp.claims(identity, &client_id, &scopes);
    if let Value::Object(map) = &mut claims {
        map.insert("iss".into(), idp.issuer().into());
        map.insert("aud".into(), client_id.into());
        map.insert("iat".into(), now.timestamp().into());
    }
    match idp.key().map(|key| key.sign(&claims)) {
        Some(Ok(jwt)) => HttpResponse::Ok()
            .content_type("application/jwt")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(jwt),
        _ => HttpResponse::InternalServerError().finish(),
    }
}

#[derive(Deserialize)]
struct EndSessionQuery {
    #[serde(default)]
    id_token_hint: String,
    #[serde(default)]
    post_logout_redirect_uri: Option<String>,
    #[serde(default)]
    state: String,
}

async fn end_session(
    idp: web::Data<Idp>,
    req: HttpRequest,
    query: web::Query<EndSessionQuery>,
) -> HttpResponse {
    let q = query.into_inner();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[idp.issuer()]);
    let key = idp.key();
    let Some(Ok(hint)) = key
        .as_deref()
        .map(|k| jsonwebtoken::decode::<Value>(&q.id_token_hint, &k.decoding, &validation))
    else {
        return error_page("invalid_request", "id_token_hint absent ou invalide.");
    };
    let client_id = hint
        .claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let sub = hint
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(client) = idp.client(client_id) else {
        return error_page("invalid_request", "Fournisseur de service inconnu.");
    };
    {
        let mut memory = idp.memory();
        if let Some(sid) = req.cookie(SESSION_COOKIE) {
            memory.sessions.remove(sid.value());
        }
        memory.logouts.push(sub);
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path(API).finish();
    gone.make_removal();
    let mut response =
        match q.post_logout_redirect_uri {
            Some(uri) if client.post_logout_redirect_uris.contains(&uri) => {
                redirect(&with_query(&uri, &[("state", &q.state)]))
            }
            Some(_) => return error_page(
                "invalid_request",
                "post_logout_redirect_uri n'est pas enregistrée pour ce fournisseur de service.",
            ),
            None => page(StatusCode::OK, LoggedOutPage.render()),
        };
    let _ = response.add_cookie(&gone);
    response
}
