//! The HTTP face of Aidants Connect (actix-web): routes, French pages (askama templates),
//! cookies, CSRF protection, security headers, static files, health, readiness, metrics and
//! the request log, the public statistics and the usager's journal export.
//!
//! It holds no business rule: every decision is taken by the domain crates (`authenticator`,
//! `mandate`, `provider`…). Time is read here, once per request, from the injected [`Clock`].

mod account;
mod administration;
mod assets;
mod attestation;
mod cgu;
mod content;
mod cookies;
mod csrf;
mod espace;
mod espace_usager;
mod export;
mod habilitation;
mod interaction;
mod observe;
mod oidc;
mod pages;
mod referent;
mod sms_webhook;
mod stats;
mod streaming;
mod translations;
mod wizard;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpResponse, HttpServer};
use authenticator::{SeedCipher, SessionPolicy};
use chrono::Utc;
use provider::Provider;
use ring::rand::SystemRandom;
use std::net::TcpListener;
use std::sync::Arc;
use store::{DbPool, PooledDb, Timestamp};

pub use content::LegalFacts;
pub use observe::{count_protocol_error, Metrics, REQUEST_ID};

/// Where the current time comes from.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        Utc::now().into()
    }
}

/// The name of the aidant session cookie: `__Host-ac_session` when cookies are `Secure`.
pub fn session_cookie_name(secure: bool) -> &'static str {
    cookies::Jar::Session.name(secure)
}

/// Everything a request handler needs.
pub struct AppState {
    /// Database pool.
    pub pool: DbPool,
    /// The database's URL (for the disk check of `/readyz` with SQLite).
    pub database_url: String,
    /// With SQLite, `/readyz` fails below this much free disk space.
    pub min_free_bytes: u64,
    /// The identity provider.
    pub provider: Provider,
    /// Card seed cipher.
    pub cipher: SeedCipher,
    /// Session and code rules.
    pub policy: SessionPolicy,
    /// Every failed sign-in is answered after at least this long (one timing for every cause).
    pub failure_answer: std::time::Duration,
    /// Randomness.
    pub rng: SystemRandom,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Mark cookies `Secure` (off only for local http).
    pub secure_cookies: bool,
    /// Behind a reverse proxy: the client's address is the last `X-Forwarded-For` entry.
    pub behind_proxy: bool,
    /// FranceConnect, as seen by Aidants Connect the service provider.
    pub franceconnect: franceconnect::FranceConnect,
    /// Where remote consent requests go.
    pub sms: Arc<dyn sms::SmsSender>,
    /// The Bearer token the SMS provider presents on the inbound webhook.
    pub sms_webhook_token: String,
    /// The national team's e-mail address (told when a consent SMS cannot be sent).
    pub national_team_email: String,
    /// Key of attestation fingerprints.
    pub attestation_key: mandate::AttestationKey,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Bearer token `/metrics` requires (empty: open).
    pub metrics_token: String,
    /// How long the national team's sessions and enrolment links last.
    pub staff: authenticator::StaffLifetimes,
    /// Checks the links e-mailed to habilitation issuers.
    pub links: mail::LinkKey,
    /// An aidant who attended a training and passed Pix is activated at once.
    pub auto_activation: bool,
    /// What the legal pages say of the deployment.
    pub legal: LegalFacts,
    /// The versions of the mandate's text.
    pub mandate_texts: mandate::MandateTexts,
}

/// The version of the mandate's text in force at `now` (Paris time).
pub(crate) fn mandate_text(
    state: &AppState,
    now: store::Timestamp,
) -> Result<&mandate::MandateText, WebError> {
    state
        .mandate_texts
        .in_force(paris::local(now).date())
        .ok_or(WebError::Mandate(mandate::MandateError::Corrupt(
            "aucun texte de mandat publié".into(),
        )))
}

/// Errors a handler can meet that are not the visitor's fault.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Provider.
    #[error(transparent)]
    Provider(#[from] provider::ProviderError),
    /// Authenticator.
    #[error(transparent)]
    Auth(#[from] authenticator::AuthError),
    /// Mandates.
    #[error(transparent)]
    Mandate(#[from] mandate::MandateError),
    /// Accounts.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    /// Journal.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// The national team's reads.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    /// The outbox.
    #[error(transparent)]
    Mail(#[from] mail::MailError),
    /// The habilitation journey.
    #[error(transparent)]
    Habilitation(#[from] ::habilitation::HabilitationError),
    /// The usager's own space.
    #[error(transparent)]
    EspaceUsager(#[from] ::espace_usager::EspaceError),
    /// A blocking task failed.
    #[error("tâche interrompue")]
    Blocking,
    /// A template failed to render.
    #[error("gabarit: {0}")]
    Template(#[from] askama::Error),
    /// The QR code could not be drawn.
    #[error("QR code: {0}")]
    Qr(String),
    /// The random generator failed: nothing that needs a secret can be made.
    #[error("générateur aléatoire indisponible")]
    Random,
}

/// Seconds a client is told to wait (`Retry-After`) when the database cannot serve.
pub(crate) const RETRY_AFTER_SECONDS: &str = "30";

impl WebError {
    /// Whether the database cannot serve now (the request may be tried again): 503.
    pub fn is_unavailable(&self) -> bool {
        match self {
            WebError::Store(e) => store::is_unavailable(e),
            other => store::is_unavailable(other),
        }
    }
}

impl actix_web::ResponseError for WebError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        if self.is_unavailable() {
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE
        } else {
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.is_unavailable() {
            tracing::warn!(error = %self, "database unavailable");
            let mut page = pages::error_page(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "Service momentanément indisponible",
                "Aidants Connect ne peut pas répondre pour le moment. Rien de ce que vous avez fait n'a été perdu : réessayez dans quelques minutes.",
            );
            page.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
            return page;
        }
        tracing::error!(error = %self, "internal error");
        pages::error_page(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "Erreur interne",
            "Une erreur est survenue de notre côté. Réessayez dans quelques instants ; si elle persiste, contactez votre référent.",
        )
    }
}

/// The address a request comes from, as failed sign-ins are counted: the peer, or behind a
/// reverse proxy the address that proxy appended to `X-Forwarded-For`.
pub(crate) fn source_address(req: &actix_web::HttpRequest, state: &AppState) -> String {
    let forwarded = state
        .behind_proxy
        .then(|| {
            req.headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .map(|v| v.trim().to_owned())
        })
        .flatten()
        .filter(|v| !v.is_empty());
    forwarded.unwrap_or_else(|| {
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    })
}

/// Runs `f` with a pooled connection on the blocking thread pool.
pub(crate) async fn with_db<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, WebError>
where
    T: Send + 'static,
    F: FnOnce(&mut PooledDb, &AppState) -> Result<T, WebError> + Send + 'static,
{
    let state = state.clone();
    web::block(move || {
        let mut conn = state.pool.get().map_err(store::StoreError::Pool)?;
        f(&mut conn, &state)
    })
    .await
    .map_err(|_| WebError::Blocking)?
}

/// The security headers sent with every response.
fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ));
    if hsts {
        headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// Mounts every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for address in content::addresses() {
        cfg.route(&address, web::get().to(content::page));
    }
    cfg.route("/", web::get().to(pages::home))
        .route("/deconnexion", web::post().to(pages::logout_aidant))
        .route("/healthz", web::get().to(observe::healthz))
        .route("/readyz", web::get().to(observe::readyz))
        .route("/metrics", web::get().to(observe::metrics))
        .route("/statistiques", web::get().to(stats::page))
        .route("/accessibilite", web::get().to(pages::accessibility))
        .route("/static/{path:.+}", web::get().to(assets::serve))
        .configure(oidc_routes)
        .route("/fi/{id}", web::get().to(interaction::show))
        .route("/fi/{id}/connexion", web::post().to(interaction::login))
        .route("/fi/{id}/code", web::post().to(interaction::recheck))
        .route("/fi/{id}/cgu", web::post().to(interaction::accept_cgu))
        .route(
            "/fi/{id}/usager",
            web::post().to(interaction::choose_usager),
        )
        .route(
            "/fi/{id}/demarche",
            web::post().to(interaction::choose_demarche),
        )
        .route("/fi/{id}/annuler", web::post().to(interaction::cancel))
        .route("/habilitation", web::get().to(habilitation::home))
        .route("/habilitation/", web::get().to(habilitation::home))
        .route(
            "/habilitation/demandeur",
            web::post().to(habilitation::begin),
        )
        .route(
            "/habilitation/retrouver",
            web::post().to(habilitation::find),
        )
        .route(
            "/habilitation/deconnexion",
            web::post().to(habilitation::logout),
        )
        .route(
            "/habilitation/lien/{token}",
            web::get().to(habilitation::link),
        )
        .route(
            "/habilitation/lien/{token}",
            web::post().to(habilitation::open),
        )
        .route(
            "/habilitation/demandes",
            web::get().to(habilitation::requests),
        )
        .route(
            "/habilitation/demandes",
            web::post().to(habilitation::start),
        )
        .route(
            "/habilitation/demandes/{id}",
            web::get().to(habilitation::request),
        )
        .route(
            "/habilitation/demandes/{id}/soumettre",
            web::post().to(habilitation::submit),
        )
        .route(
            "/habilitation/demandes/{id}/messages",
            web::post().to(habilitation::message),
        )
        .route(
            "/habilitation/demandes/{id}/structure",
            web::get().to(habilitation::structure),
        )
        .route(
            "/habilitation/demandes/{id}/structure",
            web::post().to(habilitation::save_structure),
        )
        .route(
            "/habilitation/demandes/{id}/referent",
            web::get().to(habilitation::referent),
        )
        .route(
            "/habilitation/demandes/{id}/referent",
            web::post().to(habilitation::save_referent),
        )
        .route(
            "/habilitation/demandes/{id}/aidants",
            web::get().to(habilitation::aidants),
        )
        .route(
            "/habilitation/demandes/{id}/aidants",
            web::post().to(habilitation::add_aidant),
        )
        .route(
            "/habilitation/demandes/{id}/aidants/{person}",
            web::get().to(habilitation::aidant),
        )
        .route(
            "/habilitation/demandes/{id}/aidants/{person}",
            web::post().to(habilitation::edit_aidant),
        )
        .route(
            "/habilitation/demandes/{id}/aidants/{person}/retirer",
            web::post().to(habilitation::remove_aidant),
        )
        .route(
            "/espace-referent/formations",
            web::get().to(referent::trainings),
        )
        .route(
            "/espace-referent/formations",
            web::post().to(referent::register_training),
        )
        .route(
            "/administration/formations",
            web::get().to(administration::trainings::list),
        )
        .route(
            "/administration/formations",
            web::post().to(administration::trainings::create),
        )
        .route(
            "/administration/formations/pix",
            web::post().to(administration::trainings::pix),
        )
        .route(
            "/administration/formations/{id}",
            web::get().to(administration::trainings::session),
        )
        .route(
            "/administration/formations/{id}/presences",
            web::post().to(administration::trainings::attendance),
        )
        .route(
            "/administration/habilitations",
            web::get().to(administration::habilitations::queue),
        )
        .route(
            "/administration/demandes-aidants",
            web::get().to(administration::aidant_requests::queue),
        )
        .route(
            "/administration/demandes-aidants/{id}",
            web::get().to(administration::aidant_requests::request),
        )
        .route(
            "/administration/demandes-aidants/{id}/decision",
            web::post().to(administration::aidant_requests::decide),
        )
        .route(
            "/administration/habilitations/{id}",
            web::get().to(administration::habilitations::request),
        )
        .route(
            "/administration/habilitations/{id}/messages",
            web::post().to(administration::habilitations::message),
        )
        .route(
            "/administration/habilitations/{id}/decision",
            web::post().to(administration::habilitations::decide),
        )
        .route("/administration", web::get().to(administration::home))
        .route("/administration/", web::get().to(administration::home))
        .route(
            "/administration/connexion",
            web::get().to(administration::login_page),
        )
        .route(
            "/administration/connexion",
            web::post().to(administration::login),
        )
        .route(
            "/administration/deconnexion",
            web::post().to(administration::logout),
        )
        .route(
            "/administration/cartes",
            web::get().to(administration::cards::cards),
        )
        .route(
            "/administration/equipe",
            web::get().to(administration::team),
        )
        .route(
            "/administration/equipe",
            web::post().to(administration::create_member),
        )
        .route(
            "/administration/equipe/{id}",
            web::post().to(administration::change_member),
        )
        .route(
            "/administration/structures",
            web::get().to(administration::structures),
        )
        .route(
            "/administration/structures",
            web::post().to(administration::create_structure),
        )
        .route(
            "/administration/structures/{id}",
            web::get().to(administration::structure),
        )
        .route(
            "/administration/structures/{id}/aidants",
            web::post().to(administration::add_member),
        )
        .route(
            "/administration/structures/{id}/activer",
            web::post().to(administration::activate),
        )
        .route(
            "/administration/cartes/import",
            web::post().to(administration::cards::import),
        )
        .route(
            "/administration/cartes/{action}",
            web::post().to(administration::cards::card_action),
        )
        .route(
            "/administration/cartes/{serial}",
            web::get().to(administration::cards::card),
        )
        .route(
            "/administration/cartes/{serial}/dissocier",
            web::post().to(administration::cards::dissociate),
        )
        .route(
            "/administration/aidants",
            web::get().to(administration::aidants::search),
        )
        .service(
            web::resource("/administration/aidants/desactivation")
                .app_data(administration::aidants::list_form_config())
                .route(web::get().to(administration::aidants::deactivation))
                .route(web::post().to(administration::aidants::deactivate)),
        )
        .route(
            "/administration/aidants/{id}",
            web::get().to(administration::aidants::aidant),
        )
        .route(
            "/administration/aidants/{id}",
            web::post().to(administration::aidants::edit),
        )
        .route(
            "/administration/aidants/{id}/compte",
            web::post().to(administration::aidants::account),
        )
        .route(
            "/administration/aidants/{id}/structures/{organisation}",
            web::post().to(administration::aidants::membership),
        )
        .route(
            "/administration/aidants/{id}/{change}",
            web::post().to(administration::aidants::structure_change),
        )
        .route(
            "/administration/structures/{id}/modifier",
            web::post().to(administration::structures::edit),
        )
        .route(
            "/administration/structures/{id}/envois",
            web::post().to(administration::structures::shipment),
        )
        .route(
            "/administration/enrolement/{token}",
            web::get().to(administration::enrolment),
        )
        .route(
            "/administration/structures/{id}/habilitation",
            web::post().to(administration::set_open),
        )
        .route(
            "/administration/structures/{id}/transfert",
            web::post().to(administration::transfer),
        )
        .route(
            "/administration/exports",
            web::get().to(administration::exports::page),
        )
        .route(
            "/administration/exports/{name}",
            web::get().to(administration::exports::file),
        )
        .route(
            "/administration/usagers",
            web::get().to(administration::usagers::search),
        )
        .route(
            "/administration/usagers/{id}/effacer",
            web::post().to(administration::usagers::erase),
        )
        .route(
            "/administration/journal",
            web::get().to(administration::journal::search),
        )
        .route(
            "/administration/journal/export.csv",
            web::get().to(administration::journal::export),
        )
        .route(
            "/administration/journal/verification",
            web::get().to(administration::journal::verification),
        )
        .route(
            "/administration/journal/verification",
            web::post().to(administration::journal::ask_verification),
        )
        .route(
            "/administration/enrolement/{token}",
            web::post().to(administration::enrol),
        )
        .route("/connexion", web::get().to(account::login_page))
        .route("/connexion", web::post().to(account::login))
        .route("/conditions-generales", web::get().to(cgu::page))
        .route(
            "/conditions-generales/accepter",
            web::get().to(cgu::accept_page),
        )
        .route(
            "/conditions-generales/accepter",
            web::post().to(cgu::accept),
        )
        .route("/code", web::get().to(account::recheck_page))
        .route("/code", web::post().to(account::recheck))
        .route("/espace-aidant", web::get().to(espace::usagers))
        .route("/espace-aidant/usagers/{id}", web::get().to(espace::usager))
        .route(
            "/espace-aidant/usagers/{id}/journal",
            web::get().to(export::page),
        )
        .route(
            "/espace-aidant/usagers/{id}/journal.json",
            web::get().to(export::json),
        )
        .route(
            "/espace-aidant/autorisations/{id}/revoquer",
            web::post().to(espace::revoke_autorisation),
        )
        .route(
            "/espace-aidant/mandats/{id}/revoquer",
            web::get().to(espace::revoke_mandate_page),
        )
        .route(
            "/espace-aidant/mandats/{id}/revoquer",
            web::post().to(espace::revoke_mandate),
        )
        .route(
            "/espace-aidant/mandats/{id}/sms",
            web::post().to(espace::resend_consent),
        )
        .route(
            "/espace-aidant/organisation",
            web::post().to(espace::switch_organisation),
        )
        .route("/espace-referent", web::get().to(referent::aidants))
        .route(
            "/espace-referent/aidants/nouveau",
            web::get().to(referent::new_aidant_page),
        )
        .route(
            "/espace-referent/aidants/nouveau",
            web::post().to(referent::add_aidant),
        )
        .route(
            "/espace-referent/demandes",
            web::get().to(referent::requests),
        )
        .route(
            "/espace-referent/demandes/{id}/retirer",
            web::post().to(referent::withdraw_request),
        )
        .route(
            "/espace-referent/aidants/{id}",
            web::get().to(referent::aidant),
        )
        .route(
            "/espace-referent/aidants/{id}/carte",
            web::post().to(referent::associate),
        )
        .route(
            "/espace-referent/aidants/{id}/carte/valider",
            web::post().to(referent::validate),
        )
        .route(
            "/espace-referent/aidants/{id}/cartes/{card}/dissocier",
            web::post().to(referent::dissociate),
        )
        .route(
            "/espace-referent/aidants/{id}/cartes/{card}/debloquer",
            web::post().to(referent::unlock),
        )
        .route(
            "/espace-referent/aidants/{id}/carte-numerique",
            web::post().to(referent::enrol_digital),
        )
        .route(
            "/espace-referent/aidants/{id}/{action}",
            web::post().to(referent::member_action),
        )
        .route("/mandats/nouveau", web::get().to(wizard::new_page))
        .route("/mandats/nouveau", web::post().to(wizard::start))
        .route("/mandats/nouveau/{id}", web::get().to(wizard::recap))
        .route("/mandats/nouveau/{id}", web::post().to(wizard::confirm))
        .route(
            "/mandats/texte/{version}",
            web::get().to(translations::languages),
        )
        .route(
            "/mandats/texte/{version}/{langue}",
            web::get().to(translations::side_by_side),
        )
        .route("/fc/callback", web::get().to(wizard::callback))
        .route("/mon-espace", web::get().to(espace_usager::home))
        .route("/mon-espace/", web::get().to(espace_usager::home))
        .route(
            "/mon-espace/connexion",
            web::post().to(espace_usager::begin),
        )
        .route(
            "/mon-espace/utilisations",
            web::get().to(espace_usager::uses),
        )
        .route("/mon-espace/releve", web::get().to(export::own_page))
        .route("/mon-espace/releve.json", web::get().to(export::own_json))
        .route(
            "/mon-espace/confirmation",
            web::get().to(espace_usager::confirmation),
        )
        .route(
            "/mon-espace/confirmation",
            web::post().to(espace_usager::confirm),
        )
        .route(
            "/mon-espace/deconnexion",
            web::post().to(espace_usager::logout),
        )
        .route(
            "/mon-espace/demarches/{id}/annuler",
            web::get().to(espace_usager::revoke_demarche_page),
        )
        .route(
            "/mon-espace/demarches/{id}/annuler",
            web::post().to(espace_usager::revoke_demarche),
        )
        .route(
            "/mon-espace/mandats/{id}/annuler",
            web::get().to(espace_usager::revoke_mandate_page),
        )
        .route(
            "/mon-espace/mandats/{id}/annuler",
            web::post().to(espace_usager::revoke_mandate),
        )
        .route(
            "/mon-espace/attestations/{id}",
            web::get().to(attestation::own),
        )
        .route("/mon-espace/e-mails", web::get().to(espace_usager::emails))
        .route(
            "/mon-espace/e-mails",
            web::post().to(espace_usager::choose_emails),
        )
        .route("/fc/deconnexion", web::get().to(wizard::after_logout))
        .route("/attestations/verifier", web::get().to(attestation::verify))
        .route("/attestations/{id}", web::get().to(attestation::show))
        .route("/sms/reponse", web::post().to(sms_webhook::receive));
}

/// The OpenID Connect endpoints, each at `/x` and at `/x/`: FranceConnect's record of Aidants
/// Connect is static and names them with a trailing slash, as the original service served them.
fn oidc_routes(cfg: &mut web::ServiceConfig) {
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/openid-configuration/",
    ] {
        cfg.route(path, web::get().to(oidc::discovery));
    }
    for path in ["/jwks", "/jwks/"] {
        cfg.route(path, web::get().to(oidc::jwks));
    }
    for path in ["/authorize", "/authorize/"] {
        cfg.route(path, web::get().to(oidc::authorize_get))
            .route(path, web::post().to(oidc::authorize_post));
    }
    for path in ["/token", "/token/"] {
        cfg.service(
            web::resource(path)
                .route(web::post().to(oidc::token))
                .default_service(web::to(oidc::oauth_method_not_allowed)),
        );
    }
    for path in ["/userinfo", "/userinfo/"] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(oidc::userinfo))
                .route(web::post().to(oidc::userinfo))
                .default_service(web::to(oidc::oauth_method_not_allowed)),
        );
    }
    for path in ["/logout", "/logout/"] {
        cfg.route(path, web::get().to(oidc::end_session_get))
            .route(path, web::post().to(oidc::end_session_post));
    }
}

/// Starts the HTTP server on `listener` with `workers` threads; returns it running.
pub fn serve(
    data: web::Data<AppState>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let hsts = data.secure_cookies;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .app_data(web::PayloadConfig::default().limit(64 * 1024))
            .wrap(actix_web::middleware::from_fn(
                observe::refuse_transfer_encoding,
            ))
            .wrap(security_headers(hsts))
            .wrap(actix_web::middleware::from_fn(observe::middleware))
            .default_service(web::to(pages::not_found))
            .configure(routes)
    })
    .workers(workers.max(1))
    .listen(listener)?
    .run();
    Ok(server)
}
