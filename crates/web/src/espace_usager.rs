//! The usager's own space, `/mon-espace/`: a welcome page with FranceConnect's button, the
//! sign-in sent to FranceConnect and its answer (`/fc/callback`, shared with mandate creation:
//! a sign-in of this browser's is told apart by its cookie), the confirmation of a record found
//! on the identité pivot, the usager's mandates, and the sign-out through FranceConnect's. Its
//! session cookie is sent to `/mon-espace` only, never with an aidant's pages.

use crate::cookies::Jar;
use crate::csrf::{self, CsrfToken};
use crate::interaction::see_other;
use crate::pages::{csrf_refused, error_page, render};
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use espace_usager::{Identified, UsagerSession};
use mandate::{AttestationKind, MandateState};
use serde::Deserialize;
use store::{AutorisationId, MandateId};

/// Where the space starts.
pub(crate) const HOME: &str = "/mon-espace/";
/// The `state` of FranceConnect's logout from the space (`/fc/deconnexion`).
pub(crate) const LOGOUT_STATE: &str = "mon-espace";
/// The same, when FranceConnect identified someone no structure knows.
pub(crate) const UNKNOWN_STATE: &str = "mon-espace-inconnu";

/// How long the sign-in cookie lives: the sign-in's ten minutes.
const LOGIN_COOKIE_MINUTES: i64 = 10;

#[derive(Template)]
#[template(path = "usager_welcome.html")]
struct WelcomePage {
    csrf: String,
    unknown: bool,
    goodbye: bool,
}

/// A démarche of a mandate, as the usager reads it.
struct DemarcheLine {
    /// Its autorisation.
    id: String,
    title: &'static str,
    active: bool,
    /// Revoked (by an aidant or the usager), rather than ended.
    revoked: bool,
}

/// A mandate, as the usager reads it.
struct MandateLine {
    id: String,
    /// Its state and dates, in a few words.
    heading: String,
    /// Not revoked nor ended: the usager may revoke it.
    revocable: bool,
    demarches: Vec<DemarcheLine>,
    /// Its attestations: id and what they attest.
    attestations: Vec<(String, &'static str)>,
}

/// A structure and its mandates.
struct StructureLine {
    name: String,
    mandates: Vec<MandateLine>,
}

#[derive(Template)]
#[template(path = "usager_home.html")]
struct HomePage {
    csrf: String,
    name: String,
    structures: Vec<StructureLine>,
    /// The démarche just revoked: its title and the structure's name.
    revoked: Option<(&'static str, String)>,
    /// Whether e-mails tell the usager of each mandate made or used.
    notified: bool,
}

#[derive(Deserialize)]
pub(crate) struct HomeQuery {
    #[serde(default)]
    inconnu: String,
    #[serde(default)]
    revoir: String,
    /// The autorisation the usager just revoked.
    #[serde(default)]
    annulee: String,
}

/// The usager's session of this request, if any.
pub(crate) async fn session(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Option<UsagerSession>, WebError> {
    let Some(token) = Jar::Usager.read(req, state) else {
        return Ok(None);
    };
    let now = state.clock.now();
    with_db(state, move |conn, _| {
        Ok(espace_usager::session_by_token(conn, now, &token)?)
    })
    .await
}

/// A mandate's state and dates, in the usager's words.
fn heading(m: &mandate::MandateDetail) -> String {
    let until = crate::espace::date(m.mandate.expires_at);
    match m.state {
        MandateState::Active => format!("Mandat en cours, jusqu'au {until}"),
        MandateState::AwaitingConsent => "Mandat en attente de votre « Oui » par SMS".to_owned(),
        MandateState::Expired => format!("Mandat terminé le {until}"),
        MandateState::Revoked => "Mandat annulé".to_owned(),
    }
}

/// Whether the usager may still revoke a mandate in this state.
fn revocable(state: MandateState) -> bool {
    matches!(state, MandateState::Active | MandateState::AwaitingConsent)
}

/// GET /mon-espace/: the usager's mandates, or the way in through FranceConnect.
pub(crate) async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<HomeQuery>,
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(&req, &state)?;
    let Some(session) = session(&req, &state).await? else {
        let page = WelcomePage {
            csrf: csrf.value.clone(),
            unknown: query.inconnu == "1",
            goodbye: query.revoir == "1",
        };
        return render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies);
    };
    let now = state.clock.now();
    let name = format!(
        "{} {}",
        session.usager().given_name,
        session.usager().family_name
    );
    let (held, notifications) = with_db(&state, move |conn, _| {
        Ok((
            espace_usager::mandates(conn, &session, now)?,
            espace_usager::notifications(conn, &session)?,
        ))
    })
    .await?;
    let revoked = held.iter().find_map(|h| {
        h.mandates
            .iter()
            .flat_map(|m| &m.autorisations)
            .find(|(a, _, _)| a.id.as_str() == query.annulee && a.revoked_at.is_some())
            .map(|(_, d, _)| (d.title(), h.organisation.clone()))
    });
    let page = HomePage {
        csrf: csrf.value.clone(),
        name,
        revoked,
        notified: notifications.to.is_some(),
        structures: held
            .into_iter()
            .map(|h| StructureLine {
                name: h.organisation,
                mandates: h.mandates.iter().map(mandate_line).collect(),
            })
            .collect(),
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

/// A mandate as the home page shows it.
fn mandate_line(m: &mandate::MandateDetail) -> MandateLine {
    MandateLine {
        id: m.mandate.id.to_string(),
        heading: heading(m),
        revocable: revocable(m.state),
        demarches: m
            .autorisations
            .iter()
            .map(|(a, d, usable)| DemarcheLine {
                id: a.id.to_string(),
                title: d.title(),
                active: *usable,
                revoked: a.revoked_at.is_some(),
            })
            .collect(),
        attestations: m
            .attestations
            .iter()
            .map(|a| (a.id.clone(), attestation_words(a.kind)))
            .collect(),
    }
}

/// What an attestation attests, in the usager's words.
fn attestation_words(kind: AttestationKind) -> &'static str {
    match kind {
        AttestationKind::Mandat => "Voir l'attestation du mandat",
        AttestationKind::Revocation => "Voir l'attestation d'annulation",
        AttestationKind::Transfer => "Voir l'attestation de transfert",
    }
}

/// A use, as the page shows it.
struct UseRow {
    at: String,
    aidant: String,
    organisation: String,
    demarche: &'static str,
}

#[derive(Template)]
#[template(path = "usager_uses.html")]
struct UsesPage {
    rows: Vec<UseRow>,
    page: i64,
    pages: i64,
}

#[derive(Deserialize)]
pub(crate) struct UsesQuery {
    #[serde(default)]
    page: Option<i64>,
}

/// GET /mon-espace/utilisations: every use of the usager's mandates, newest first, paged.
pub(crate) async fn uses(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<UsesQuery>,
) -> Result<HttpResponse, WebError> {
    let Some(session) = session(&req, &state).await? else {
        return Ok(see_other(HOME));
    };
    let page = query.page.unwrap_or(1);
    let uses = with_db(&state, move |conn, _| {
        Ok(espace_usager::uses(conn, &session, page)?)
    })
    .await?;
    let page = UsesPage {
        rows: uses
            .lines
            .into_iter()
            .map(|u| UseRow {
                at: crate::espace::date_time(u.at),
                aidant: u.aidant,
                organisation: u.organisation,
                demarche: u.demarche.title(),
            })
            .collect(),
        page: uses.page,
        pages: uses.pages,
    };
    render(StatusCode::OK, &page, None, state.secure_cookies)
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// The page of FranceConnect being unreachable, from the space.
fn unavailable() -> HttpResponse {
    error_page(
        StatusCode::BAD_GATEWAY,
        "FranceConnect ne répond pas",
        "Réessayez dans quelques minutes. Rien n'a changé.",
    )
}

/// POST /mon-espace/connexion: the browser is sent to FranceConnect.
pub(crate) async fn begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let request = match state.franceconnect.authorization_request(&state.rng).await {
        Ok(request) => request,
        Err(e) => {
            tracing::warn!(error = %e, "FranceConnect unavailable for the usager's space");
            return Ok(unavailable());
        }
    };
    let now = state.clock.now();
    let (fc_state, nonce) = (request.state.clone(), request.nonce.clone());
    let browser = with_db(&state, move |conn, state| {
        Ok(espace_usager::begin_login(
            conn, &state.rng, now, &fc_state, &nonce,
        )?)
    })
    .await?;
    let mut response = see_other(request.url.as_str());
    response
        .add_cookie(&Jar::UsagerLogin.build(
            state.secure_cookies,
            browser.expose().to_owned(),
            Some(chrono::Duration::minutes(LOGIN_COOKIE_MINUTES)),
        ))
        .map_err(|_| WebError::Blocking)?;
    Ok(response)
}

/// Why the usager's identification did not go through, and the way back.
fn identification_failed(status: StatusCode, message: &str) -> HttpResponse {
    error_page(
        status,
        "Vous n'êtes pas connecté",
        &format!("{message} Rien n'a changé. Pour réessayer, revenez sur la page « Mon espace »."),
    )
}

/// The answer to a sign-in to the space that no longer waits (expired, answered, or begun in
/// another browser).
pub(crate) fn login_over() -> HttpResponse {
    identification_failed(
        StatusCode::BAD_REQUEST,
        "Cette connexion a expiré ou a déjà servi.",
    )
}

/// FranceConnect's answer to a sign-in of this browser (`browser`, its cookie) waiting with
/// `nonce`: FranceConnect's refusal, or the identity checked and matched.
pub(crate) async fn fc_answer(
    state: web::Data<AppState>,
    code: String,
    fc_state: String,
    error: Option<String>,
    browser: String,
    nonce: String,
) -> Result<HttpResponse, WebError> {
    if let Some(error) = error {
        tracing::info!(error = %error, "FranceConnect refused the usager's sign-in");
        let message = if error == "access_denied" {
            "Vous avez annulé la connexion avec FranceConnect."
        } else {
            "FranceConnect a refusé la connexion."
        };
        return Ok(identification_failed(StatusCode::BAD_REQUEST, message));
    }
    let now = state.clock.now();
    let identification = match state
        .franceconnect
        .identify(&code, &nonce, now.into())
        .await
    {
        Ok(identification) => identification,
        Err(e) => {
            tracing::warn!(error = %e, "FranceConnect identification of an usager refused");
            return Ok(identification_failed(
                StatusCode::BAD_GATEWAY,
                "La réponse de FranceConnect n'a pas pu être vérifiée.",
            ));
        }
    };
    let id_token = identification.id_token.clone();
    let outcome = with_db(&state, move |conn, state| {
        Ok(espace_usager::identified(
            conn,
            &state.rng,
            now,
            &fc_state,
            &browser,
            &identification.sub,
            &identification.pivot,
            &identification.id_token,
        )?)
    })
    .await?;
    match outcome {
        None => Ok(login_over()),
        Some(Identified::Session(token)) => into_space(&state, &token),
        Some(Identified::Confirm) => Ok(see_other("/mon-espace/confirmation")),
        Some(Identified::Nobody) => {
            // Signed out of FranceConnect too: nothing of theirs is here.
            let target = match state
                .franceconnect
                .logout_url(&id_token, UNKNOWN_STATE)
                .await
            {
                Ok(Some(url)) => url,
                _ => format!("{HOME}?inconnu=1"),
            };
            let mut response = see_other(&target);
            response
                .add_cookie(&Jar::UsagerLogin.removal(&state))
                .map_err(|_| WebError::Blocking)?;
            Ok(response)
        }
    }
}

#[derive(Template)]
#[template(path = "usager_confirm.html")]
struct ConfirmPage {
    csrf: String,
    name: String,
    birthdate: String,
    birthplace: String,
}

/// The page of a confirmation that no longer waits.
fn nothing_to_confirm() -> HttpResponse {
    identification_failed(
        StatusCode::GONE,
        "Cette connexion a expiré ou a déjà servi.",
    )
}

/// GET /mon-espace/confirmation: « Est-ce bien vous ? ».
pub(crate) async fn confirmation(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let Some(browser) = Jar::UsagerLogin.read(&req, &state) else {
        return Ok(nothing_to_confirm());
    };
    let now = state.clock.now();
    let found = with_db(&state, move |conn, _| {
        Ok(espace_usager::awaiting_confirmation(conn, now, &browser)?)
    })
    .await?;
    let Some(usager) = found else {
        return Ok(nothing_to_confirm());
    };
    let csrf = CsrfToken::for_request(&req, &state)?;
    let birthdate = crate::espace::birthdate(&usager.birthdate);
    let page = ConfirmPage {
        csrf: csrf.value.clone(),
        name: format!("{} {}", usager.given_name, usager.family_name),
        birthdate,
        birthplace: places::place_of_birth(&usager.birthplace, &usager.birthcountry),
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

/// POST /mon-espace/confirmation: « Oui, c'est moi » — the session opens.
pub(crate) async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let Some(browser) = Jar::UsagerLogin.read(&req, &state) else {
        return Ok(nothing_to_confirm());
    };
    let now = state.clock.now();
    let opened = with_db(&state, move |conn, state| {
        Ok(espace_usager::confirm_login(
            conn, &state.rng, now, &browser,
        )?)
    })
    .await?;
    match opened {
        Some(token) => into_space(&state, &token),
        None => Ok(nothing_to_confirm()),
    }
}

/// Into the space with the session of `token`; the sign-in's cookie is done with.
fn into_space(
    state: &AppState,
    token: &espace_usager::BrowserToken,
) -> Result<HttpResponse, WebError> {
    let mut response = see_other(HOME);
    response
        .add_cookie(&Jar::Usager.build(state.secure_cookies, token.expose().to_owned(), None))
        .map_err(|_| WebError::Blocking)?;
    response
        .add_cookie(&Jar::UsagerLogin.removal(state))
        .map_err(|_| WebError::Blocking)?;
    Ok(response)
}

/// POST /mon-espace/deconnexion: the session ends, then FranceConnect's.
pub(crate) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id_token = match Jar::Usager.read(&req, &state) {
        Some(token) => {
            with_db(&state, move |conn, _| {
                Ok(espace_usager::end_session(conn, &token)?)
            })
            .await?
        }
        None => None,
    };
    let target = match id_token {
        Some(id_token) => match state
            .franceconnect
            .logout_url(&id_token, LOGOUT_STATE)
            .await
        {
            Ok(Some(url)) => url,
            _ => format!("{HOME}?revoir=1"),
        },
        None => format!("{HOME}?revoir=1"),
    };
    let mut response = see_other(&target);
    response
        .add_cookie(&Jar::Usager.removal(&state))
        .map_err(|_| WebError::Blocking)?;
    Ok(response)
}

#[derive(Template)]
#[template(path = "usager_revoke.html")]
struct RevokePage {
    csrf: String,
    /// Where the form goes.
    action: String,
    /// The whole mandate (otherwise one démarche).
    whole: bool,
    organisation: String,
    demarches: Vec<&'static str>,
    until: String,
}

/// What the usager asks to revoke.
enum Target {
    /// One démarche (its autorisation).
    Demarche(AutorisationId),
    /// A whole mandate.
    Mandate(MandateId),
}

/// Where `target` stands among what structures hold for the usager.
enum Found {
    /// In force: the page that asks for the confirmation.
    InForce(RevokePage),
    /// Already revoked or ended: nothing to revoke.
    Over,
    /// Not theirs, or no such thing.
    Unknown,
}

fn find_target(held: &[espace_usager::HeldBy], target: &Target, csrf: String) -> Found {
    for h in held {
        for m in &h.mandates {
            let revocable = revocable(m.state);
            let (whole, demarches): (bool, Vec<&'static str>) = match target {
                Target::Mandate(id) if m.mandate.id == *id => (
                    true,
                    m.autorisations
                        .iter()
                        .filter(|(a, _, _)| a.revoked_at.is_none())
                        .map(|(_, d, _)| d.title())
                        .collect(),
                ),
                Target::Demarche(id) => {
                    match m.autorisations.iter().find(|(a, _, _)| a.id == *id) {
                        Some((a, d, _)) if a.revoked_at.is_none() => (false, vec![d.title()]),
                        Some(_) => return Found::Over,
                        None => continue,
                    }
                }
                Target::Mandate(_) => continue,
            };
            if !revocable {
                return Found::Over;
            }
            let action = match target {
                Target::Demarche(id) => format!("/mon-espace/demarches/{id}/annuler"),
                Target::Mandate(id) => format!("/mon-espace/mandats/{id}/annuler"),
            };
            return Found::InForce(RevokePage {
                csrf,
                action,
                whole,
                organisation: h.organisation.clone(),
                demarches,
                until: crate::espace::date(m.mandate.expires_at),
            });
        }
    }
    Found::Unknown
}

/// The page of something that is not the usager's.
fn not_theirs() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Introuvable",
        "Ce mandat n'est pas à votre nom, ou il n'existe pas. Revenez sur la page « Mon espace ».",
    )
}

/// The confirmation page of revoking `target`.
async fn revoke_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
) -> Result<HttpResponse, WebError> {
    let Some(session) = session(&req, &state).await? else {
        return Ok(see_other(HOME));
    };
    let csrf = CsrfToken::for_request(&req, &state)?;
    let now = state.clock.now();
    let held = with_db(&state, move |conn, _| {
        Ok(espace_usager::mandates(conn, &session, now)?)
    })
    .await?;
    match find_target(&held, &target, csrf.value.clone()) {
        Found::InForce(page) => render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies),
        Found::Over => Ok(see_other(HOME)),
        Found::Unknown => Ok(not_theirs()),
    }
}

/// GET /mon-espace/demarches/{id}/annuler: « Voulez-vous annuler cette démarche ? ».
pub(crate) async fn revoke_demarche_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let target = Target::Demarche(AutorisationId::from(path.into_inner()));
    revoke_page(req, state, target).await
}

/// GET /mon-espace/mandats/{id}/annuler: « Voulez-vous annuler ce mandat ? ».
pub(crate) async fn revoke_mandate_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let target = Target::Mandate(MandateId::from(path.into_inner()));
    revoke_page(req, state, target).await
}

/// POST /mon-espace/demarches/{id}/annuler: the démarche is revoked; back to the mandates,
/// which say so.
pub(crate) async fn revoke_demarche(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let Some(session) = session(&req, &state).await? else {
        return Ok(see_other(HOME));
    };
    let id = AutorisationId::from(path.into_inner());
    let now = state.clock.now();
    let target = id.clone();
    let done = with_db(
        &state,
        move |conn, state| match espace_usager::revoke_demarche(
            conn, &state.rng, now, &session, &target,
        ) {
            Ok(_) => Ok(true),
            Err(espace_usager::EspaceError::Mandate(
                mandate::MandateError::UnknownAutorisation,
            )) => Ok(false),
            Err(e) => Err(e.into()),
        },
    )
    .await?;
    if !done {
        return Ok(not_theirs());
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("annulee", id.as_str())
        .finish();
    Ok(see_other(&format!("{HOME}?{query}")))
}

/// POST /mon-espace/mandats/{id}/annuler: the mandate is revoked; its revocation attestation.
pub(crate) async fn revoke_mandate(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let Some(session) = session(&req, &state).await? else {
        return Ok(see_other(HOME));
    };
    let id = MandateId::from(path.into_inner());
    let now = state.clock.now();
    let attestation = with_db(
        &state,
        move |conn, state| match espace_usager::revoke_mandate(
            conn,
            &state.rng,
            now,
            &state.attestation_key,
            &session,
            &id,
        ) {
            Ok(attestation) => Ok(Some(attestation.id)),
            Err(espace_usager::EspaceError::Mandate(mandate::MandateError::UnknownMandate)) => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        },
    )
    .await?;
    match attestation {
        Some(id) => Ok(see_other(&format!(
            "/mon-espace/attestations/{id}?annule=1"
        ))),
        None => Ok(not_theirs()),
    }
}

#[derive(Template)]
#[template(path = "usager_emails.html")]
struct EmailsPage {
    csrf: String,
    /// Where e-mails go, when chosen.
    to: Option<String>,
    /// The address FranceConnect gave.
    offered: Option<String>,
    /// The choice was just recorded.
    saved: bool,
}

#[derive(Deserialize)]
pub(crate) struct EmailsQuery {
    #[serde(default)]
    fait: String,
}

/// GET /mon-espace/e-mails: whether to be told by e-mail of each mandate made or used.
pub(crate) async fn emails(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<EmailsQuery>,
) -> Result<HttpResponse, WebError> {
    let Some(session) = session(&req, &state).await? else {
        return Ok(see_other(HOME));
    };
    let csrf = CsrfToken::for_request(&req, &state)?;
    let notifications = with_db(&state, move |conn, _| {
        Ok(espace_usager::notifications(conn, &session)?)
    })
    .await?;
    let page = EmailsPage {
        csrf: csrf.value.clone(),
        to: notifications.to,
        offered: notifications.offered,
        saved: query.fait == "1",
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

#[derive(Deserialize)]
pub(crate) struct EmailsForm {
    #[serde(default)]
    csrf_token: String,
    /// `oui` or `non`.
    #[serde(default)]
    recevoir: String,
}

/// POST /mon-espace/e-mails: the usager's choice.
pub(crate) async fn choose_emails(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<EmailsForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let wanted = match form.recevoir.as_str() {
        "oui" => true,
        "non" => false,
        _ => {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Choix incompris",
                "Revenez sur la page « Recevoir un e-mail » et choisissez un des deux boutons.",
            ))
        }
    };
    let Some(session) = session(&req, &state).await? else {
        return Ok(see_other(HOME));
    };
    let now = state.clock.now();
    let chosen = with_db(&state, move |conn, state| {
        Ok(espace_usager::choose_notifications(
            conn, &state.rng, now, &session, wanted,
        )?)
    })
    .await?;
    if !chosen {
        return Ok(error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Pas d'adresse e-mail",
            "FranceConnect ne nous a pas donné d'adresse e-mail. Nous ne pouvons pas vous écrire. Rien n'a changé.",
        ));
    }
    Ok(see_other("/mon-espace/e-mails?fait=1"))
}
