//! The national team's review of the référents' requests for aidants (a new aidant to train,
//! or one arriving from another structure): the queue by status, a request's page with where
//! the aidant works now, and the decision. Every member reads; support and administrators
//! decide (`SupportStaff`).

use super::{support_form, Member};
use crate::csrf::CsrfToken;
use crate::habilitation::{
    error_of, field_errors, refused_or, shown, status_class, status_of, summary, Posted,
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

/// The statuses a request for an aidant can have, as the queue's tabs (closed: withdrawn by
/// its référent).
const TABS: [Status; 4] = [
    Status::Awaiting,
    Status::Validated,
    Status::Refused,
    Status::Closed,
];

struct Tab {
    status: &'static str,
    label: &'static str,
    current: bool,
}

struct QueueLine {
    id: String,
    name: String,
    email: String,
    organisation: String,
    kind: &'static str,
    asked: String,
    status: &'static str,
    status_class: &'static str,
}

#[derive(Template)]
#[template(path = "admin_aidant_requests.html")]
struct QueuePage {
    tabs: Vec<Tab>,
    current: &'static str,
    lines: Vec<QueueLine>,
    max: i64,
}

/// How a request is named: new to train, or arriving.
fn kind(request: &habilitation::aidants::AidantRequest) -> &'static str {
    match (request.arriving, request.leaves) {
        (false, _) => "Nouvel aidant à former",
        (true, false) => "Aidant d'une autre structure, qui y reste",
        (true, true) => "Aidant d'une autre structure, qui la quitte",
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct QueueQuery {
    #[serde(default)]
    statut: String,
}

/// GET /administration/demandes-aidants: the requests of a status (« en attente » by default,
/// oldest first; decided ones, latest decision first).
pub(crate) async fn queue(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, WebError> {
    let status = Status::parse(&query.statut)
        .ok()
        .filter(|s| TABS.contains(s))
        .unwrap_or(Status::Awaiting);
    let rows = with_db(&state, move |conn, _| {
        Ok(habilitation::aidants::queue(
            conn, &session, status, QUEUE_MAX,
        )?)
    })
    .await?;
    let page = QueuePage {
        tabs: TABS
            .iter()
            .map(|s| Tab {
                status: s.as_str(),
                label: s.label(),
                current: *s == status,
            })
            .collect(),
        current: status.label(),
        lines: rows
            .into_iter()
            .map(|row| {
                let r = row.request;
                QueueLine {
                    name: r.full_name(),
                    email: r.email.clone(),
                    organisation: row.organisation,
                    kind: kind(&r),
                    asked: shown(r.created_at),
                    status: r.status.label(),
                    status_class: status_class(r.status),
                    id: r.id,
                }
            })
            .collect(),
        max: QUEUE_MAX,
    };
    let csrf = CsrfToken::for_request(&req, &state)?;
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

#[derive(Template)]
#[template(path = "admin_aidant_request.html")]
struct RequestPage {
    csrf: String,
    id: String,
    name: String,
    email: String,
    phone: String,
    profession: String,
    organisation: String,
    organisation_id: String,
    referent: String,
    kind: &'static str,
    asked: String,
    status: &'static str,
    status_class: &'static str,
    decided: String,
    reason: String,
    works_in: Vec<(String, bool)>,
    may_decide: bool,
    picked: String,
    reason_typed: String,
    errors: Vec<(String, String)>,
    reason_error: Option<String>,
    decision_error: Option<String>,
}

async fn request_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: StaffSession,
    id: String,
    posted: &Posted,
    errors: &[FieldError],
) -> Result<HttpResponse, WebError> {
    let may_write = session.support().is_some();
    let found = with_db(state, move |conn, _| {
        Ok(habilitation::aidants::file_for_team(conn, &session, &id)?)
    })
    .await?;
    let Some(file) = found else {
        return Ok(error_page(
            StatusCode::NOT_FOUND,
            "Demande introuvable",
            "Aucune demande d'ajout d'aidant n'a cet identifiant.",
        ));
    };
    let r = &file.request;
    let csrf = CsrfToken::for_request(req, state)?;
    let page = RequestPage {
        csrf: csrf.value.clone(),
        id: r.id.clone(),
        name: r.full_name(),
        email: r.email.clone(),
        phone: r.phone.clone(),
        profession: r.profession.clone(),
        organisation: file.organisation.clone(),
        organisation_id: r.organisation_id.to_string(),
        referent: file.referent.clone(),
        kind: kind(r),
        asked: shown(r.created_at),
        status: r.status.label(),
        status_class: status_class(r.status),
        decided: r.decided_at.map(shown).unwrap_or_default(),
        reason: r.reason.clone(),
        works_in: file.works_in.clone(),
        may_decide: may_write && r.status == Status::Awaiting,
        picked: posted.get("decision").to_owned(),
        reason_typed: posted.get("reason").to_owned(),
        errors: summary(errors),
        reason_error: error_of(errors, "reason"),
        decision_error: error_of(errors, "decision"),
    };
    render(status_of(errors), &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/demandes-aidants/{id}.
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
    )
    .await
}

/// POST /administration/demandes-aidants/{id}/decision: validated or refused (with a reason).
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
    let validate = match posted.get("decision") {
        "valider" => true,
        "refuser" => false,
        _ => {
            let errors = [FieldError {
                field: "decision",
                message: "Choisissez une décision.".into(),
            }];
            return request_page(&req, &state, session, id, &posted, &errors).await;
        }
    };
    let now = state.clock.now();
    let (for_session, for_id, reason) =
        (session.clone(), id.clone(), posted.get("reason").to_owned());
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = for_session.support() else {
            return Ok(Err(Refusal::UnknownRequest));
        };
        refused_or(habilitation::aidants::decide(
            conn, &state.rng, now, &who, &for_id, validate, &reason,
        ))
    })
    .await?;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/administration/demandes-aidants/{id}"))),
        Err(refusal) => {
            let errors = field_errors(refusal, "decision");
            request_page(&req, &state, session, id, &posted, &errors).await
        }
    }
}
