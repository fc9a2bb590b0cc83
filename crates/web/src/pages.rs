//! Page rendering and the pages outside the identity-provider flow.

use crate::cookies::Jar;
use crate::csrf::{self, CsrfToken};
use crate::{with_db, AppState, WebError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    aidant: Option<(String, String)>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
pub(crate) struct LoggedOutPage;

#[derive(Template)]
#[template(path = "accessibility.html")]
struct AccessibilityPage;

/// Renders a template as an HTML response.
pub(crate) fn render<T: Template>(
    status: StatusCode,
    page: &T,
    csrf: Option<&CsrfToken>,
    secure: bool,
) -> Result<HttpResponse, WebError> {
    Ok(html_response(status, page.render()?, csrf, secure))
}

/// An HTML response that is never cached, setting the CSRF cookie when it is new.
pub(crate) fn html_response(
    status: StatusCode,
    body: String,
    csrf: Option<&CsrfToken>,
    secure: bool,
) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(cookie) = csrf.and_then(|t| t.cookie(secure)) {
        response.cookie(cookie);
    }
    response.body(body)
}

/// A French error page.
/// The page of an account that may not act for usagers (a référent who is no aidant, or not
/// trained yet), where a page or the identity provider needs one that may.
pub(crate) fn not_acting() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "Votre compte ne permet pas d'agir pour un usager",
        "Votre compte de référent sert à gérer les aidants et les cartes de la structure. Créer des mandats et faire des démarches pour un usager demande d'être formé comme aidant : si vous serez aussi aidant, inscrivez-vous à une session depuis l'espace référent (« Formations des aidants »).",
    )
}

pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = ErrorPage { title, message }
        .render()
        .unwrap_or_else(|_| format!("{title} : {message}"));
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// 404.
pub(crate) async fn not_found() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Page introuvable",
        "L'adresse demandée n'existe pas.",
    )
}

/// 403 for a form whose CSRF token does not match.
pub(crate) fn csrf_refused() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "Formulaire refusé",
        "Ce formulaire a expiré ou ne provient pas d'Aidants Connect. Revenez à la page précédente, rechargez-la puis recommencez.",
    )
}

/// The accessibility statement (RGAA), linked from every page's footer.
pub(crate) async fn accessibility() -> Result<HttpResponse, WebError> {
    render(StatusCode::OK, &AccessibilityPage, None, false)
}

/// The home page.
pub(crate) async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let token = Jar::Session.read(&req, &state);
    let now = state.clock.now();
    let aidant = with_db(&state, move |conn, state| {
        let Some(token) = token else { return Ok(None) };
        let Some(session) = authenticator::session_by_token(conn, &state.policy, now, &token)?
        else {
            return Ok(None);
        };
        let aidant = accounts::aidant(conn, session.aidant_id())?;
        let organisation = accounts::organisation(conn, session.organisation_id())?;
        Ok(aidant
            .zip(organisation)
            .map(|(a, o)| (a.full_name(), o.name)))
    })
    .await?;
    let csrf = CsrfToken::for_request(&req, &state)?;
    render(
        StatusCode::OK,
        &HomePage {
            aidant,
            csrf: csrf.value.clone(),
        },
        Some(&csrf),
        state.secure_cookies,
    )
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf_token: String,
}

/// Ends the aidant's session.
pub(crate) async fn logout_aidant(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    if let Some(token) = Jar::Session.read(&req, &state) {
        let now = state.clock.now();
        with_db(&state, move |conn, state| {
            if let Some(session) =
                authenticator::session_by_token(conn, &state.policy, now, &token)?
            {
                authenticator::end_session(conn, session.id(), now)?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .cookie(Jar::Session.removal(&state))
        .finish())
}
