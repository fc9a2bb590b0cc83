//! The aidants' CGU: the version in force, public at `/conditions-generales`, and its
//! acceptance — asked of an aidant who has not accepted it before any page that acts for an
//! usager (`/conditions-generales/accepter`, on the way to the fresh-code page) and in the
//! identity provider's interaction (`/fi/{id}/cgu`). The wording of each version is a Markdown
//! file of `cgu/`, rendered when the service is built; which version is in force, and the
//! acceptance, are the authenticator's (`authenticator::cgu`).

use crate::account::{guarded, local_path, to_login, Guarded, NextQuery};
use crate::content::CGU;
use crate::csrf::{self, CsrfToken};
use crate::interaction::see_other;
use crate::pages::{csrf_refused, render};
use crate::{AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use store::Timestamp;

/// The wording of `version`: its title and HTML.
fn wording(version: i32) -> Option<(&'static str, &'static str)> {
    let file = format!("v{version}");
    CGU.iter()
        .find(|(name, _, _)| *name == file)
        .map(|(_, title, html)| (*title, *html))
}

/// The version in force at `now` and its wording.
fn in_force(now: Timestamp) -> Result<(i32, &'static str, &'static str), WebError> {
    let version = authenticator::cgu::in_force(now);
    let (title, html) = wording(version).ok_or(WebError::Mandate(
        mandate::MandateError::Corrupt(format!("CGU version {version} sans texte")),
    ))?;
    Ok((version, title, html))
}

#[derive(Template)]
#[template(path = "cgu.html")]
struct CguPage {
    title: &'static str,
    html: &'static str,
    version: i32,
}

/// GET /conditions-generales: the CGU in force.
pub(crate) async fn page(state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let (version, title, html) = in_force(state.clock.now())?;
    render(
        StatusCode::OK,
        &CguPage {
            title,
            html,
            version,
        },
        None,
        state.secure_cookies,
    )
}

/// The page that asks an aidant to accept the CGU.
#[derive(Template)]
#[template(path = "cgu_accept.html")]
pub(crate) struct AcceptPage {
    pub csrf: String,
    /// Where the form goes.
    pub action: String,
    /// Where to go next (the espace aidant's pages), if any.
    pub suite: Option<String>,
    pub version: i32,
    pub html: &'static str,
    pub error: Option<String>,
}

impl AcceptPage {
    /// The page for the version in force at `now`.
    pub(crate) fn new(
        now: Timestamp,
        csrf: String,
        action: String,
        suite: Option<String>,
        error: Option<String>,
    ) -> Result<AcceptPage, WebError> {
        let (version, _, html) = in_force(now)?;
        Ok(AcceptPage {
            csrf,
            action,
            suite,
            version,
            html,
            error,
        })
    }
}

/// What an acceptance form sends.
#[derive(Deserialize)]
pub(crate) struct AcceptForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub version: i32,
    #[serde(default)]
    pub accepte: String,
    #[serde(default)]
    pub suite: String,
}

/// Why an acceptance form is refused, if it is: the box not ticked.
pub(crate) fn unticked(form: &AcceptForm) -> Option<String> {
    (form.accepte != "oui")
        .then(|| "Cochez la case pour accepter les conditions générales d'utilisation.".to_owned())
}

/// What is said when the version read is no longer the one in force.
pub(crate) const NEWER: &str =
    "Une nouvelle version des conditions vient d'entrer en vigueur : lisez-la avant de l'accepter.";

/// GET /conditions-generales/accepter: the CGU in force, to accept before acting.
pub(crate) async fn accept_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, WebError> {
    let next = local_path(&query.suite);
    accept_form(&req, &state, next, StatusCode::OK, None).await
}

async fn accept_form(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    next: String,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let accepted = guarded(req, state, |_, _, now, signed| {
        Ok(Guarded::Done(signed.session.accepted_cgu(now)))
    })
    .await?;
    match accepted {
        Guarded::Done(true) => return Ok(see_other(&next)),
        Guarded::Done(false) => {}
        _ => return Ok(to_login(&next)),
    }
    let csrf = CsrfToken::for_request(req, state)?;
    let page = AcceptPage::new(
        state.clock.now(),
        csrf.value.clone(),
        "/conditions-generales/accepter".into(),
        Some(next),
        error,
    )?;
    render(status, &page, Some(&csrf), state.secure_cookies)
}

/// POST /conditions-generales/accepter: recorded, then on to the page asked.
pub(crate) async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AcceptForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let next = local_path(&form.suite);
    if let Some(error) = unticked(&form) {
        return accept_form(
            &req,
            &state,
            next,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(error),
        )
        .await;
    }
    let version = form.version;
    let outcome = guarded(&req, &state, move |conn, state, now, signed| {
        Ok(Guarded::Done(authenticator::cgu::accept_cgu(
            conn,
            &state.rng,
            now,
            &signed.session,
            version,
        )?))
    })
    .await?;
    match outcome {
        Guarded::Done(true) => Ok(see_other(&next)),
        Guarded::Done(false) => {
            accept_form(
                &req,
                &state,
                next,
                StatusCode::CONFLICT,
                Some(NEWER.to_owned()),
            )
            .await
        }
        _ => Ok(to_login(&next)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_version_has_its_wording() {
        for (version, _) in authenticator::cgu::VERSIONS {
            assert!(wording(*version).is_some(), "version {version}");
        }
    }
}
