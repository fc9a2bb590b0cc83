//! The national team's review of habilitation requests: the queue by status, a request's
//! page with its thread, the team's messages and decisions. Every member reads; support and
//! administrators write and decide (`SupportStaff`).

use super::{support_form, Member};
use crate::csrf::CsrfToken;
use crate::habilitation::{
    error_of, field_errors, refused_or, shown, status_class, summary, Posted, Summary,
};
use crate::interaction::see_other;
use crate::pages::{error_page, render};
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::StaffSession;
use habilitation::{FieldError, Refusal, Status};

/// The most requests a queue page lists.
const QUEUE_MAX: i64 = 200;

struct Tab {
    status: &'static str,
    label: &'static str,
    count: i64,
    current: bool,
}

struct QueueLine {
    id: String,
    reference: String,
    name: String,
    siret: String,
    place: String,
    status: &'static str,
    status_class: &'static str,
    submitted: String,
    aidants: i64,
}

#[derive(Template)]
#[template(path = "admin_habilitations.html")]
struct QueuePage {
    tabs: Vec<Tab>,
    current: &'static str,
    lines: Vec<QueueLine>,
    max: i64,
}

#[derive(serde::Deserialize)]
pub(crate) struct QueueQuery {
    #[serde(default)]
    statut: String,
}

/// GET /administration/habilitations: the requests of a status, oldest submission first
/// (« en attente » by default).
pub(crate) async fn queue(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, WebError> {
    let status = Status::parse(&query.statut).unwrap_or(Status::Awaiting);
    let (counts, rows) = with_db(&state, move |conn, _| {
        Ok((
            habilitation::review::counts(conn, &session)?,
            habilitation::review::queue(conn, &session, Some(status), QUEUE_MAX)?,
        ))
    })
    .await?;
    let page = QueuePage {
        tabs: counts
            .into_iter()
            .map(|(s, count)| Tab {
                status: s.as_str(),
                label: s.label(),
                count,
                current: s == status,
            })
            .collect(),
        current: status.label(),
        lines: rows
            .into_iter()
            .map(|row| {
                let r = row.request;
                QueueLine {
                    reference: r.reference_or_draft().to_owned(),
                    name: r.name.clone(),
                    siret: r.siret.clone(),
                    place: format!("{} {}", r.zipcode, r.city),
                    status: r.status.label(),
                    status_class: status_class(r.status),
                    submitted: r.submitted_at.map(shown).unwrap_or_default(),
                    aidants: row.aidants,
                    id: r.id,
                }
            })
            .collect(),
        max: QUEUE_MAX,
    };
    let csrf = CsrfToken::for_request(&req, &state)?;
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

/// A decision the page offers.
struct Choice {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "admin_habilitation.html")]
struct RequestPage {
    csrf: String,
    s: Summary,
    issuer: String,
    may_write: bool,
    choices: Vec<Choice>,
    errors: Vec<(String, String)>,
    body: String,
    body_error: Option<String>,
    decision_body: String,
    decision_error: Option<String>,
    organisation: Option<String>,
}

/// The decisions possible from `status`.
fn choices(status: Status, picked: &str) -> Vec<Choice> {
    let offered: &[(Status, &str)] = match status {
        Status::Awaiting => &[
            (Status::ChangesRequired, "Demander des modifications"),
            (
                Status::Validated,
                "Valider : créer la structure, son référent et ses aidants",
            ),
            (Status::Refused, "Refuser"),
            (Status::Closed, "Clôturer sans décision"),
        ],
        Status::ChangesRequired => &[
            (Status::Refused, "Refuser"),
            (Status::Closed, "Clôturer sans décision"),
        ],
        Status::Draft => &[(Status::Closed, "Clôturer le brouillon")],
        Status::Validated | Status::Refused | Status::Closed => &[],
    };
    offered
        .iter()
        .map(|(s, label)| Choice {
            value: s.as_str(),
            label,
            checked: s.as_str() == picked,
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn request_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: StaffSession,
    id: String,
    posted: &Posted,
    errors: &[FieldError],
    decision_errors: &[FieldError],
) -> Result<HttpResponse, WebError> {
    let may_write = session.support().is_some();
    let found = with_db(state, move |conn, _| {
        let Some(file) = habilitation::review::file_for_team(conn, &session, &id)? else {
            return Ok(None);
        };
        let issuer = habilitation::review::issuer_of(conn, &session, &file.request)?;
        Ok(Some((file, issuer)))
    })
    .await?;
    let Some((file, issuer)) = found else {
        return Ok(error_page(
            StatusCode::NOT_FOUND,
            "Demande introuvable",
            "Aucune demande d'habilitation n'a cet identifiant.",
        ));
    };
    let csrf = CsrfToken::for_request(req, state)?;
    let page = RequestPage {
        csrf: csrf.value.clone(),
        issuer: format!(
            "{} ({}, {}, {})",
            issuer.full_name(),
            issuer.profession,
            issuer.email,
            issuer.phone
        ),
        may_write,
        choices: choices(file.request.status, posted.get("decision")),
        errors: summary(
            errors
                .iter()
                .chain(decision_errors)
                .cloned()
                .collect::<Vec<_>>()
                .as_slice(),
        ),
        body: posted.get("body").to_owned(),
        body_error: error_of(errors, "body"),
        decision_body: posted.get("decision_body").to_owned(),
        decision_error: error_of(decision_errors, "decision_body"),
        organisation: file.request.organisation_id.as_ref().map(|o| o.to_string()),
        s: Summary::of(&file)?,
    };
    let status = if errors.is_empty() && decision_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(status, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/habilitations/{id}.
pub(crate) async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    request_page(
        &req,
        &state,
        session,
        path.into_inner(),
        &Posted::parse(b""),
        &[],
        &[],
    )
    .await
}

/// POST /administration/habilitations/{id}/messages: to the issuer, who is told by e-mail.
pub(crate) async fn message(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let posted = match support_form(&req, &state, &session, &body) {
        Ok(posted) => posted,
        Err(refused) => return Ok(*refused),
    };
    let id = path.into_inner();
    let now = state.clock.now();
    let (for_session, for_id, text) = (session.clone(), id.clone(), posted.get("body").to_owned());
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = for_session.support() else {
            return Ok(Err(Refusal::UnknownRequest));
        };
        refused_or(habilitation::review::team_message(
            conn, &state.rng, now, &who, &for_id, &text,
        ))
    })
    .await?;
    match outcome {
        Ok(()) => Ok(see_other(&format!(
            "/administration/habilitations/{id}#messages"
        ))),
        Err(refusal) => {
            let errors = field_errors(refusal, "body");
            request_page(&req, &state, session, id, &posted, &errors, &[]).await
        }
    }
}

/// POST /administration/habilitations/{id}/decision.
pub(crate) async fn decide(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let posted = match support_form(&req, &state, &session, &body) {
        Ok(posted) => posted,
        Err(refused) => return Ok(*refused),
    };
    let id = path.into_inner();
    let Ok(to) = Status::parse(posted.get("decision")) else {
        let errors = vec![FieldError {
            field: "decision_body",
            message: "Choisissez une décision.".into(),
        }];
        return request_page(&req, &state, session, id, &posted, &[], &errors).await;
    };
    let now = state.clock.now();
    let (for_session, for_id, text) = (
        session.clone(),
        id.clone(),
        posted.get("decision_body").to_owned(),
    );
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = for_session.support() else {
            return Ok(Err(Refusal::UnknownRequest));
        };
        refused_or(habilitation::review::decide(
            conn, &state.rng, now, &who, &for_id, to, &text,
        ))
    })
    .await?;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/administration/habilitations/{id}"))),
        Err(refusal) => {
            let mut errors = field_errors(refusal, "decision_body");
            for e in &mut errors {
                e.field = "decision_body";
            }
            request_page(&req, &state, session, id, &posted, &[], &errors).await
        }
    }
}
