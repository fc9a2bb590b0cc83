//! fc-sim: a faithful FranceConnect simulator for development, demos and tests, in two roles.
//!
//! - **FranceConnect core toward identity providers**: a fictional administrative site whose
//!   "S'identifier avec FranceConnect" button starts an authorization request at Aidants
//!   Connect, then exchanges the code, verifies the ID token with the published JWKS and calls
//!   userinfo, and shows the identity the site would receive ([`rp`], on the `openidconnect`
//!   crate).
//! - **FranceConnect as identity provider** toward Aidants Connect as a service provider, with
//!   fictional usagers ([`idp`], under `/api/v2`).
//!
//! It shares no code with the `provider` or `franceconnect` crates: it is an independent peer.

pub mod idp;
pub mod rp;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use askama::Template;
use rp::{ReceivedIdentity, RelyingParty};
use serde::Deserialize;
use std::net::TcpListener;
use tokio::sync::OnceCell;

/// Name of the cookie holding the state and nonce of the flow under way.
const FLOW_COOKIE: &str = "fcsim_flow";
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
    config: SimConfig,
    rp: OnceCell<RelyingParty>,
    now: idp::TimeSource,
}

impl SimState {
    async fn rp(&self) -> Result<&RelyingParty, rp::RpError> {
        let redirect_uri = format!("{}/callback", self.config.public_url.trim_end_matches('/'));
        self.rp
            .get_or_try_init(|| {
                let now = self.now.clone();
                async move {
                    Ok(RelyingParty::discover(
                        &self.config.issuer,
                        &self.config.client_id,
                        &self.config.client_secret,
                        &redirect_uri,
                    )
                    .await?
                    .with_time_source(now))
                }
            })
            .await
    }
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    issuer: &'a str,
}

#[derive(Template)]
#[template(path = "identity.html")]
struct IdentityPage {
    identity: ReceivedIdentity,
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
            issuer: &state.config.issuer,
        }
        .render(),
    )
}

async fn start(state: web::Data<SimState>) -> HttpResponse {
    let rp = match state.rp().await {
        Ok(rp) => rp,
        Err(e) => return error("Aidants Connect ne répond pas", &e.to_string()),
    };
    match rp.authorization_url(SCOPES) {
        Ok((url, flow_state, nonce)) => HttpResponse::Found()
            .insert_header((header::LOCATION, url.to_string()))
            .cookie(
                Cookie::build(FLOW_COOKIE, format!("{flow_state}.{nonce}"))
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
    let Some((expected_state, nonce)) = req.cookie(FLOW_COOKIE).and_then(|c| {
        c.value()
            .split_once('.')
            .map(|(s, n)| (s.to_owned(), n.to_owned()))
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
    let rp = match state.rp().await {
        Ok(rp) => rp,
        Err(e) => return error("Aidants Connect ne répond pas", &e.to_string()),
    };
    match rp.finish(&code, &nonce).await {
        Ok(identity) => {
            let mut gone = Cookie::build(FLOW_COOKIE, "").path("/").finish();
            gone.make_removal();
            let mut response = html(StatusCode::OK, IdentityPage { identity }.render());
            let _ = response.add_cookie(&gone);
            response
        }
        Err(e) => error("Identification refusée", &e.to_string()),
    }
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
    let data = web::Data::new(SimState {
        config,
        rp: OnceCell::new(),
        now,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(provider.clone())
            .configure(idp::routes)
            .route("/", web::get().to(index))
            .route("/connexion", web::get().to(start))
            .route("/callback", web::get().to(callback))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok((server, control))
}
