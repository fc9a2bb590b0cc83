//! The aidant's part of the identity-provider flow: sign in (or fresh code), choose the
//! usager, choose the démarche, then back to FranceConnect with the code.

use crate::csrf::{self, CsrfToken};
use crate::pages::{csrf_refused, error_page, html_response};
use crate::{with_db, AppState, WebError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::{AidantSession, Failure, LoginRefusal, VerifiedAidant};
use mandate::Demarche;
use provider::{CompleteRefusal, NextStep, PendingRequest};
use serde::Deserialize;
use store::{DbConnection, PooledDb, Timestamp, UsagerId};

/// Most usagers listed at once.
const USAGER_LIST_LIMIT: i64 = 50;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    id: String,
    csrf: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "recheck.html")]
struct RecheckPage {
    id: String,
    csrf: String,
    aidant_name: String,
    error: Option<String>,
}

struct UsagerRow {
    id: String,
    name: String,
    birthdate: String,
}

#[derive(Template)]
#[template(path = "usagers.html")]
struct UsagersPage {
    id: String,
    csrf: String,
    aidant_name: String,
    organisation_name: String,
    q: String,
    usagers: Vec<UsagerRow>,
    /// The démarches the administrative site accepts, when it says.
    perimeter: Option<String>,
    error: Option<String>,
}

/// The démarches a site accepts, as a person reads them (« Famille, Travail »).
fn perimeter_text(demarches: &[Demarche]) -> String {
    demarches
        .iter()
        .map(|d| d.title())
        .collect::<Vec<_>>()
        .join(", ")
}

struct DemarcheRow {
    id: &'static str,
    title: &'static str,
    description: &'static str,
    expires: String,
}

#[derive(Template)]
#[template(path = "demarches.html")]
struct DemarchesPage {
    id: String,
    csrf: String,
    usager_name: String,
    demarches: Vec<DemarcheRow>,
    error: Option<String>,
}

pub(crate) fn session_cookie_value(req: &HttpRequest, state: &AppState) -> Option<String> {
    crate::cookies::Jar::Session.read(req, state)
}

fn load_session(
    conn: &mut DbConnection,
    state: &AppState,
    now: Timestamp,
    token: Option<&str>,
) -> Result<Option<AidantSession>, WebError> {
    match token {
        Some(t) => Ok(authenticator::session_by_token(
            conn,
            &state.policy,
            now,
            t,
        )?),
        None => Ok(None),
    }
}

fn gone() -> HttpResponse {
    error_page(
        StatusCode::GONE,
        "Demande expirée",
        "Cette demande de connexion a expiré ou est déjà terminée. Recommencez depuis le site de la démarche, en cliquant sur le bouton FranceConnect.",
    )
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Counts a refused sign-in or code in the metrics, by its cause.
fn count_refusal(metrics: &crate::Metrics, refusal: LoginRefusal) {
    metrics.otp_failure(match refusal {
        LoginRefusal::BadCredentials(Failure::UnknownAccount | Failure::WrongCode) => {
            "identifiants_incorrects"
        }
        LoginRefusal::BadCredentials(Failure::Replayed) => "code_deja_utilise",
        LoginRefusal::BadCredentials(Failure::Locked(_)) => "carte_bloquee",
        LoginRefusal::BadCredentials(Failure::TooSoon(_)) => "trop_tot",
        LoginRefusal::SourceLocked(_) => "poste_suspendu",
        LoginRefusal::NoOrganisation => "sans_structure",
    });
}

/// The one answer to every failed sign-in, whatever its cause.
const BAD_CREDENTIALS: &str = "Adresse électronique ou code incorrect. Vérifiez votre adresse, puis saisissez le code que votre carte affiche maintenant (chaque code ne sert qu'une fois ; après une erreur, patientez quelques secondes).";

fn source_locked(until: Timestamp) -> String {
    format!(
        "Trop de tentatives de connexion échouées depuis ce poste : les connexions sont suspendues jusqu'à {} (heure de Paris). Si vous n'êtes pas à l'origine de ces essais, prévenez votre référent.",
        paris::local(until).format("%H:%M")
    )
}

const NO_ORGANISATION: &str =
    "Votre compte n'est rattaché à aucune structure habilitée. Contactez votre référent.";

/// The French message of a refused sign-in, counted in the metrics. An unknown e-mail, a
/// wrong or used code, a wait or a lock get the same words: nothing tells an anonymous sender
/// which e-mails are aidants' or which cards are locked.
pub(crate) fn sign_in_refusal(metrics: &crate::Metrics, refusal: LoginRefusal) -> String {
    count_refusal(metrics, refusal);
    match refusal {
        LoginRefusal::BadCredentials(_) => BAD_CREDENTIALS.into(),
        LoginRefusal::SourceLocked(until) => source_locked(until),
        LoginRefusal::NoOrganisation => NO_ORGANISATION.into(),
    }
}

/// The French message of a fresh code refused to an aidant already signed in, counted in the
/// metrics: they are told why.
pub(crate) fn recheck_refusal(metrics: &crate::Metrics, refusal: LoginRefusal) -> String {
    count_refusal(metrics, refusal);
    match refusal {
        LoginRefusal::BadCredentials(Failure::UnknownAccount | Failure::WrongCode) => {
            "Code incorrect. Saisissez le code que votre carte affiche maintenant.".into()
        }
        LoginRefusal::BadCredentials(Failure::Replayed) => {
            "Ce code a déjà été utilisé. Attendez que votre carte affiche un nouveau code.".into()
        }
        LoginRefusal::BadCredentials(Failure::Locked(until)) => format!(
            "Trop de codes erronés depuis un poste non reconnu : votre carte y est bloquée jusqu'au {} (heure de Paris). Prévenez votre référent, qui peut la débloquer.",
            paris::local(until).format("%d/%m/%Y à %H:%M")
        ),
        LoginRefusal::BadCredentials(Failure::TooSoon(until)) => format!(
            "Code incorrect. Patientez jusqu'à {} (heure de Paris) avant de saisir un nouveau code.",
            paris::local(until).format("%H:%M:%S")
        ),
        LoginRefusal::SourceLocked(until) => source_locked(until),
        LoginRefusal::NoOrganisation => NO_ORGANISATION.into(),
    }
}

/// The outcome of rendering a step.
enum Rendered {
    Gone,
    OtherAidant,
    NotActing,
    Page(String),
}

/// What a page needs besides the step.
#[derive(Default)]
struct PageInput {
    error: Option<String>,
    email: Option<String>,
    q: String,
}

/// Renders the page of the interaction's current step.
async fn render_step(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    id: String,
    status: StatusCode,
    input: PageInput,
) -> Result<HttpResponse, WebError> {
    let now = state.clock.now();
    let token = session_cookie_value(req, state);
    let csrf = CsrfToken::for_request(req, state)?;
    let csrf_value = csrf.value.clone();
    let q = input.q.clone();
    let page = with_db(state, move |conn, state| {
        let Some(request) = provider::pending_request(conn, &id, now)? else {
            return Ok(Rendered::Gone);
        };
        let session = load_session(conn, state, now, token.as_deref())?;
        let step = provider::next_step(&request, session, &state.provider, &state.policy, now);
        let rendered = match step {
            NextStep::OtherAidant => return Ok(Rendered::OtherAidant),
            NextStep::NotActing => return Ok(Rendered::NotActing),
            NextStep::AcceptCgu(_) => crate::cgu::AcceptPage::new(
                now,
                csrf_value,
                format!("/fi/{id}/cgu"),
                None,
                input.error,
            )?
            .render(),
            NextStep::SignIn => LoginPage {
                id,
                csrf: csrf_value,
                email: input
                    .email
                    .or(request.login_hint.clone())
                    .unwrap_or_default(),
                error: input.error,
            }
            .render(),
            NextStep::Recheck(session) => RecheckPage {
                id,
                csrf: csrf_value,
                aidant_name: accounts::aidant(conn, session.aidant_id())?
                    .map(|a| a.full_name())
                    .unwrap_or_default(),
                error: input.error,
            }
            .render(),
            NextStep::ChooseUsager(verified) => {
                let within = request.requested_demarches(&state.provider);
                let usagers = mandate::usagers_with_active_mandates(
                    conn,
                    verified.organisation_id(),
                    within.as_deref(),
                    now,
                    Some(q.as_str()),
                    USAGER_LIST_LIMIT,
                )?
                .into_iter()
                .map(|u| UsagerRow {
                    name: u.display_name(),
                    birthdate: crate::espace::birthdate(&u.birthdate),
                    id: u.id.into(),
                })
                .collect();
                UsagersPage {
                    id,
                    csrf: csrf_value,
                    aidant_name: accounts::aidant(conn, verified.aidant_id())?
                        .map(|a| a.full_name())
                        .unwrap_or_default(),
                    organisation_name: accounts::organisation(conn, verified.organisation_id())?
                        .map(|o| o.name)
                        .unwrap_or_default(),
                    q,
                    usagers,
                    perimeter: within.as_deref().map(perimeter_text),
                    error: input.error,
                }
                .render()
            }
            NextStep::ChooseDemarche(verified, usager_id) => {
                let usager = mandate::usager(conn, &usager_id)?;
                let within = request.requested_demarches(&state.provider);
                let demarches = mandate::active_demarches(
                    conn,
                    verified.organisation_id(),
                    &usager_id,
                    within.as_deref(),
                    now,
                )?
                .into_iter()
                .map(|(d, expires)| DemarcheRow {
                    id: d.id(),
                    title: d.title(),
                    description: d.description(),
                    expires: paris::local(expires).format("%d/%m/%Y à %H:%M").to_string(),
                })
                .collect();
                DemarchesPage {
                    id,
                    csrf: csrf_value,
                    usager_name: usager.map(|u| u.display_name()).unwrap_or_default(),
                    demarches,
                    error: input.error,
                }
                .render()
            }
        };
        Ok(Rendered::Page(rendered?))
    })
    .await?;
    match page {
        Rendered::Gone => Ok(gone()),
        Rendered::OtherAidant => Ok(error_page(
            StatusCode::FORBIDDEN,
            "Demande suivie par un autre aidant",
            "Cette demande de connexion a été commencée par un autre aidant. Recommencez depuis le site de la démarche.",
        )),
        Rendered::NotActing => Ok(crate::pages::not_acting()),
        Rendered::Page(body) => Ok(html_response(status, body, Some(&csrf), state.secure_cookies)),
    }
}

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// GET /fi/{id}: the page of the current step.
pub(crate) async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, WebError> {
    let input = PageInput {
        q: query.into_inner().q.chars().take(100).collect(),
        ..PageInput::default()
    };
    render_step(&req, &state, path.into_inner(), StatusCode::OK, input).await
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    otp: String,
}

/// POST /fi/{id}/connexion: e-mail + OTP code.
pub(crate) async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let started = std::time::Instant::now();
    let id = path.into_inner();
    let now = state.clock.now();
    let LoginForm { email, otp, .. } = form.into_inner();
    let typed_email = email.clone();
    let rid = id.clone();
    let source = crate::source_address(&req, &state);
    let devices = crate::account::device_tokens(&req, &state);
    let outcome = with_db(&state, move |conn, state| {
        if provider::pending_request(conn, &rid, now)?.is_none() {
            return Ok(None);
        }
        Ok(Some(authenticator::login(
            conn,
            &state.rng,
            &state.cipher,
            &state.policy,
            now,
            authenticator::Credentials {
                email: &email,
                code: &otp,
                source: &source,
                devices: &devices,
            },
        )?))
    })
    .await?;
    match outcome {
        None => Ok(gone()),
        Some(Ok(signed)) => {
            crate::account::signed_in_response(&req, &state, &signed, &format!("/fi/{id}"))
        }
        Some(Err(refusal)) => {
            crate::account::after_failure_time(&state, started).await;
            let input = PageInput {
                error: Some(sign_in_refusal(&state.metrics, refusal)),
                email: Some(typed_email),
                q: String::new(),
            };
            render_step(&req, &state, id, StatusCode::UNPROCESSABLE_ENTITY, input).await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    otp: String,
}

/// POST /fi/{id}/code: a fresh code for the activity check or `prompt=login`/`max_age`.
pub(crate) async fn recheck(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let now = state.clock.now();
    let token = session_cookie_value(&req, &state);
    let otp = form.into_inner().otp;
    let source = crate::source_address(&req, &state);
    let devices = crate::account::device_tokens(&req, &state);
    let outcome = with_db(&state, move |conn, state| {
        let Some(session) = load_session(conn, state, now, token.as_deref())? else {
            return Ok(None);
        };
        Ok(Some(authenticator::recheck(
            conn,
            &state.rng,
            &state.cipher,
            &state.policy,
            now,
            &session,
            &otp,
            &source,
            &devices,
        )?))
    })
    .await?;
    match outcome {
        Some(Err(refusal)) => {
            let input = PageInput {
                error: Some(recheck_refusal(&state.metrics, refusal)),
                ..PageInput::default()
            };
            render_step(&req, &state, id, StatusCode::UNPROCESSABLE_ENTITY, input).await
        }
        _ => Ok(see_other(&format!("/fi/{id}"))),
    }
}

/// POST /fi/{id}/cgu: the aidant accepts the CGU in force, then goes on with the request.
pub(crate) async fn accept_cgu(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<crate::cgu::AcceptForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    if let Some(error) = crate::cgu::unticked(&form) {
        let input = PageInput {
            error: Some(error),
            ..PageInput::default()
        };
        return render_step(&req, &state, id, StatusCode::UNPROCESSABLE_ENTITY, input).await;
    }
    let now = state.clock.now();
    let token = session_cookie_value(&req, &state);
    let version = form.version;
    let accepted = with_db(&state, move |conn, state| {
        let Some(session) = load_session(conn, state, now, token.as_deref())? else {
            return Ok(true);
        };
        Ok(authenticator::cgu::accept_cgu(
            conn, &state.rng, now, &session, version,
        )?)
    })
    .await?;
    if !accepted {
        let input = PageInput {
            error: Some(crate::cgu::NEWER.to_owned()),
            ..PageInput::default()
        };
        return render_step(&req, &state, id, StatusCode::CONFLICT, input).await;
    }
    Ok(see_other(&format!("/fi/{id}")))
}

/// The live session and its activity proof, for a choice.
#[derive(Deserialize)]
pub(crate) struct UsagerForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    usager: String,
}

enum Choice {
    Gone,
    AskAgain,
    /// Refused: the reason counted in the metrics, and the message shown.
    Refused(&'static str, String),
    Done(String),
}

/// Runs a choice of the interaction for the aidant of a live, freshly verified session:
/// CSRF, open request and activity proof are checked first.
async fn make_choice<F>(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: String,
    csrf_token: &str,
    choose: F,
) -> Result<HttpResponse, WebError>
where
    F: FnOnce(
            &mut PooledDb,
            &AppState,
            Timestamp,
            &PendingRequest,
            &VerifiedAidant,
        ) -> Result<Choice, WebError>
        + Send
        + 'static,
{
    if !csrf::is_valid(&req, &state, csrf_token) {
        return Ok(csrf_refused());
    }
    let now = state.clock.now();
    let token = session_cookie_value(&req, &state);
    let rid = id.clone();
    let choice = with_db(&state, move |conn, state| {
        let Some(request) = provider::pending_request(conn, &rid, now)? else {
            return Ok(Choice::Gone);
        };
        let session = load_session(conn, state, now, token.as_deref())?;
        let step = provider::next_step(&request, session, &state.provider, &state.policy, now);
        let Some(verified) = step.acting() else {
            return Ok(Choice::AskAgain);
        };
        choose(conn, state, now, &request, &verified)
    })
    .await?;
    finish_choice(&req, &state, id, choice).await
}

/// POST /fi/{id}/usager.
pub(crate) async fn choose_usager(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<UsagerForm>,
) -> Result<HttpResponse, WebError> {
    let UsagerForm { csrf_token, usager } = form.into_inner();
    make_choice(
        req,
        state,
        path.into_inner(),
        &csrf_token,
        move |conn, state, now, request, verified| {
            if provider::select_usager(
                conn,
                now,
                &state.provider,
                request,
                verified,
                &UsagerId::from(usager),
            )? {
                Ok(Choice::Done(format!("/fi/{}", request.id)))
            } else {
                Ok(Choice::Refused(
                    "usager_sans_mandat",
                    "Cet usager n'a pas de mandat actif avec votre structure.".into(),
                ))
            }
        },
    )
    .await
}

async fn finish_choice(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    id: String,
    choice: Choice,
) -> Result<HttpResponse, WebError> {
    match choice {
        Choice::Gone => Ok(gone()),
        Choice::AskAgain => Ok(see_other(&format!("/fi/{id}"))),
        Choice::Done(location) => Ok(see_other(&location)),
        Choice::Refused(reason, message) => {
            state.metrics.refused(reason);
            let input = PageInput {
                error: Some(message),
                ..PageInput::default()
            };
            render_step(req, state, id, StatusCode::UNPROCESSABLE_ENTITY, input).await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct DemarcheForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    demarche: String,
}

/// POST /fi/{id}/demarche: the last step; back to FranceConnect with a code.
pub(crate) async fn choose_demarche(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<DemarcheForm>,
) -> Result<HttpResponse, WebError> {
    let DemarcheForm {
        csrf_token,
        demarche,
    } = form.into_inner();
    make_choice(
        req,
        state,
        path.into_inner(),
        &csrf_token,
        move |conn, state, now, request, verified| {
            let Some(usager_id) = request.usager_id.clone() else {
                return Ok(Choice::AskAgain);
            };
            let Ok(demarche) = Demarche::parse(&demarche) else {
                return Ok(Choice::Refused(
                    "demarche_inconnue",
                    "Choisissez une démarche dans la liste.".into(),
                ));
            };
            let Some(coverage) = mandate::check_coverage(
                conn,
                verified.organisation_id(),
                &usager_id,
                demarche,
                now,
            )?
            else {
                return Ok(Choice::Refused(
                    "demarche_non_couverte",
                    "Cette démarche n'est pas couverte par un mandat actif pour cet usager.".into(),
                ));
            };
            match provider::complete(
                conn,
                &state.rng,
                now,
                &state.provider,
                request,
                verified,
                &coverage,
            )? {
                Ok(location) => {
                    state.metrics.flow_completed("autorisation");
                    Ok(Choice::Done(location))
                }
                Err(CompleteRefusal::ReauthenticationRequired) | Err(CompleteRefusal::Mismatch) => {
                    Ok(Choice::AskAgain)
                }
                Err(CompleteRefusal::NoLongerPending) => Ok(Choice::Gone),
                Err(CompleteRefusal::OutsideRepScope) => Ok(Choice::Refused(
                    "demarche_hors_perimetre",
                    "Ce site n'accepte pas cette démarche : choisissez-en une dans la liste."
                        .into(),
                )),
            }
        },
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct CancelForm {
    #[serde(default)]
    csrf_token: String,
}

/// POST /fi/{id}/annuler: back to the client with `access_denied`.
pub(crate) async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CancelForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let now = state.clock.now();
    let location = with_db(&state, move |conn, _| {
        match provider::pending_request(conn, &id, now)? {
            Some(request) => Ok(Some(provider::cancel(conn, now, &request)?.location())),
            None => Ok(None),
        }
    })
    .await?;
    Ok(match location {
        Some(location) => see_other(&location),
        None => gone(),
    })
}
