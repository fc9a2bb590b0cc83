//! fc-sim: a faithful FranceConnect simulator for development, demos and tests, in two roles.
//!
//! - **FranceConnect core toward identity providers**: fictional administrative sites (one
//!   without perimeters, one allowed two) whose "S'identifier avec FranceConnect" button starts
//!   an authorization request at Aidants Connect exactly as FranceConnect's core does, then
//!   exchanges the code, verifies the ID token and userinfo, checks the identity and the
//!   perimeters as FranceConnect does, shows the identity the site would receive or
//!   FranceConnect's error, and logs out through Aidants Connect's end-session ([`fc_core`]);
//!   [`rp`] is a generic relying party on the `openidconnect` crate, for tests of other
//!   clients.
//! - **FranceConnect as identity provider** toward Aidants Connect as a service provider, with
//!   fictional usagers ([`idp`], under `/api/v2`).
//!
//! It shares no code with the `provider` or `franceconnect` crates: it is an independent peer.

pub mod fc_core;
pub mod idp;
pub mod rp;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use askama::Template;
use rp::ReceivedIdentity;
use serde::Deserialize;
use std::net::TcpListener;

/// Name of the cookie holding the state, nonce and site of the flow under way.
const FLOW_COOKIE: &str = "fcsim_flow";
/// Name of the cookie holding the ID token of the identification shown (for end-session).
const ID_TOKEN_COOKIE: &str = "fcsim_id_token";
/// Scopes asked of the identity provider: the whole identité pivot and the e-mail.
pub const SCOPES: &[&str] = &["profile", "birth", "email"];

/// How the simulator is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Aidants Connect's issuer URL.
    pub issuer: String,
    /// Our client_id at Aidants Connect.
    pub client_id: String,
    /// Our client_secret.
    pub client_secret: String,
    /// Our own public URL (the redirect URI is `{public_url}/callback`; FranceConnect's issuer
    /// as identity provider is `{public_url}/api/v2`).
    pub public_url: String,
    /// Service providers registered at the simulated FranceConnect.
    pub sp_clients: Vec<idp::SpClient>,
}

struct SimState {
    core: fc_core::Core,
    http: reqwest::Client,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    issuer: &'a str,
    sites: &'a [fc_core::Site],
}

#[derive(Template)]
#[template(path = "identity.html")]
struct IdentityPage {
    identity: ReceivedIdentity,
    site: fc_core::Site,
    rep_scope: String,
}

/// The identity a site received, for the page.
fn received(identity: &fc_core::CoreIdentity) -> ReceivedIdentity {
    let claim = |name: &str| {
        identity
            .claims
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    ReceivedIdentity {
        sub: identity.sub.clone(),
        given_name: claim("given_name"),
        family_name: claim("family_name"),
        preferred_username: claim("preferred_username"),
        birthdate: claim("birthdate"),
        gender: claim("gender"),
        birthplace: claim("birthplace"),
        birthcountry: claim("birthcountry"),
        email: claim("email"),
        acr: "eidas1".to_owned(),
        id_token_alg: "HS256".to_owned(),
        ..ReceivedIdentity::default()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    error: String,
    description: String,
}

fn html(status: StatusCode, body: Result<String, askama::Error>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

fn error(error: &str, description: &str) -> HttpResponse {
    html(
        StatusCode::BAD_REQUEST,
        ErrorPage {
            error: error.to_owned(),
            description: description.to_owned(),
        }
        .render(),
    )
}

async fn index(state: web::Data<SimState>) -> HttpResponse {
    html(
        StatusCode::OK,
        IndexPage {
            issuer: &state.core.issuer,
            sites: fc_core::SITES,
        }
        .render(),
    )
}

#[derive(Deserialize)]
struct StartQuery {
    #[serde(default)]
    site: String,
}

async fn start(state: web::Data<SimState>, query: web::Query<StartQuery>) -> HttpResponse {
    let site = fc_core::site(&query.site);
    match state.core.authorization_url(site) {
        Ok((url, flow_state, nonce)) => HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .cookie(
                Cookie::build(FLOW_COOKIE, format!("{flow_state}.{nonce}.{}", site.key))
                    .path("/")
                    .http_only(true)
                    .same_site(SameSite::Lax)
                    .finish(),
            )
            .finish(),
        Err(e) => error("Configuration invalide", &e.to_string()),
    }
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    req: HttpRequest,
    state: web::Data<SimState>,
    query: web::Query<Callback>,
) -> HttpResponse {
    let query = query.into_inner();
    let Some((expected_state, nonce, site)) = req.cookie(FLOW_COOKIE).and_then(|c| {
        let mut parts = c.value().splitn(3, '.');
        Some((
            parts.next()?.to_owned(),
            parts.next()?.to_owned(),
            fc_core::site(parts.next()?),
        ))
    }) else {
        return error(
            "Session introuvable",
            "Aucune identification n'est en cours dans ce navigateur.",
        );
    };
    if query.state.as_deref() != Some(expected_state.as_str()) {
        return error(
            "État invalide",
            "Le paramètre state ne correspond pas à la demande envoyée.",
        );
    }
    if let Some(code) = query.error {
        return error(
            &code,
            query.error_description.as_deref().unwrap_or_default(),
        );
    }
    let Some(code) = query.code else {
        return error(
            "Code absent",
            "Le fournisseur d'identité n'a renvoyé ni code ni erreur.",
        );
    };
    match state.core.finish(&state.http, &code, &nonce, site).await {
        Ok(identity) => {
            let mut gone = Cookie::build(FLOW_COOKIE, "").path("/").finish();
            gone.make_removal();
            let page = IdentityPage {
                identity: received(&identity),
                site,
                rep_scope: identity.rep_scope.join(", "),
            };
            let mut response = html(StatusCode::OK, page.render());
            let _ = response.add_cookie(&gone);
            let _ = response.add_cookie(
                &Cookie::build(ID_TOKEN_COOKIE, identity.id_token)
                    .path("/")
                    .http_only(true)
                    .same_site(SameSite::Lax)
                    .finish(),
            );
            response
        }
        Err(e @ fc_core::CoreError::RepScope) => error("Y600020", &e.to_string()),
        Err(e) => error("Identification refusée par FranceConnect", &e.to_string()),
    }
}

/// The site's logout: FranceConnect's end-session at Aidants Connect.
async fn logout(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    let Some(id_token) = req.cookie(ID_TOKEN_COOKIE).map(|c| c.value().to_owned()) else {
        return error(
            "Aucune session",
            "Aucune identification n'est affichée dans ce navigateur.",
        );
    };
    let mut gone = Cookie::build(ID_TOKEN_COOKIE, "").path("/").finish();
    gone.make_removal();
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            state.core.logout_url(&id_token, "fin-de-session-fc-sim"),
        ))
        .cookie(gone)
        .finish()
}

/// Starts the simulator on `listener`, reading the time from `now`; returns the running
/// server and the control of its FranceConnect side.
pub fn serve(
    config: SimConfig,
    listener: TcpListener,
    now: idp::TimeSource,
) -> std::io::Result<(actix_web::dev::Server, idp::SimControl)> {
    let (provider, control) =
        idp::Idp::new(&config.public_url, config.sp_clients.clone(), now.clone())?;
    let provider = web::Data::new(provider);
    let public_url = config.public_url.trim_end_matches('/');
    let data = web::Data::new(SimState {
        core: fc_core::Core {
            issuer: config.issuer.trim_end_matches('/').to_owned(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            redirect_uri: format!("{public_url}/callback"),
            post_logout_redirect_uri: format!("{public_url}/"),
            now,
        },
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(provider.clone())
            .configure(idp::routes)
            .route("/", web::get().to(index))
            .route("/connexion", web::get().to(start))
            .route("/callback", web::get().to(callback))
            .route("/deconnexion", web::get().to(logout))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok((server, control))
}
