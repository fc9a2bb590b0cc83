//! The national team's training pages: the sessions (and publishing one), a session's
//! registered aidants and their attendance, and the import of Pix results (all rows or none).
//! Every member reads; support and administrators write (`SupportStaff`).

use super::{not_allowed, TrainingMember};
use crate::csrf::CsrfToken;
use crate::habilitation::{field_errors, input, refused_or, shown, summary, Input, Posted};
use crate::interaction::see_other;
use crate::pages::{csrf_refused, error_page, render};
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::StaffSession;
use habilitation::training::{self, PixReport};
use habilitation::FieldError;
use store::AidantId;

const LIST: &str = "/administration/formations";

struct SessionRow {
    id: String,
    starts: String,
    place: String,
    organiser: String,
    seats: String,
}

#[derive(Template)]
#[template(path = "admin_trainings.html")]
struct ListPage {
    csrf: String,
    rows: Vec<SessionRow>,
    may_publish: bool,
    may_record: bool,
    inputs: Vec<Input>,
    online: bool,
    errors: Vec<(String, String)>,
    pix: String,
    report: Option<PixReport>,
}

async fn list_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: StaffSession,
    posted: &Posted,
    errors: &[FieldError],
    report: Option<PixReport>,
) -> Result<HttpResponse, WebError> {
    let (may_publish, may_record) = (session.support().is_some(), session.training().is_some());
    let lines = with_db(state, move |conn, _| {
        Ok(training::sessions(conn, &session, 200)?)
    })
    .await?;
    let csrf = CsrfToken::for_request(req, state)?;
    let refused = !errors.is_empty() || report.as_ref().is_some_and(|r| !r.rejected.is_empty());
    let page = ListPage {
        csrf: csrf.value.clone(),
        rows: lines
            .iter()
            .map(|l| SessionRow {
                id: l.session.id.clone(),
                starts: shown(l.session.starts_at),
                place: l.session.place.clone(),
                organiser: l.session.organiser.clone(),
                seats: format!("{} / {}", l.registered, l.session.seats),
            })
            .collect(),
        may_publish,
        may_record,
        inputs: vec![
            input(
                "date",
                "Date",
                "AAAA-MM-JJ, par exemple 2026-04-15",
                "text",
                "off",
                posted.get("date"),
                errors,
            ),
            input(
                "time",
                "Heure de début (heure de Paris)",
                "HH:MM, par exemple 09:30",
                "text",
                "off",
                posted.get("time"),
                errors,
            ),
            input(
                "place",
                "Lieu",
                "Adresse, ou vide si en ligne",
                "text",
                "off",
                posted.get("place"),
                errors,
            ),
            input(
                "organiser",
                "Organisme de formation",
                "",
                "text",
                "organization",
                posted.get("organiser"),
                errors,
            ),
            input(
                "seats",
                "Nombre de places",
                "",
                "text",
                "off",
                posted.get("seats"),
                errors,
            ),
        ],
        online: posted.ticked("online"),
        errors: summary(errors),
        pix: posted.get("pix").to_owned(),
        report,
    };
    let status = if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(status, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/formations.
pub(crate) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    TrainingMember(session): TrainingMember,
) -> Result<HttpResponse, WebError> {
    list_page(&req, &state, session, &Posted::parse(b""), &[], None).await
}

/// POST /administration/formations: a session published.
pub(crate) async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    TrainingMember(session): TrainingMember,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let posted = Posted::parse(&body);
    if !posted.csrf_ok(&req, &state) {
        return Ok(csrf_refused());
    }
    let now = state.clock.now();
    let (for_session, p) = (session.clone(), posted.clone());
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = for_session.support() else {
            return Ok(None);
        };
        let new = training::NewSession {
            date: p.get("date"),
            time: p.get("time"),
            place: p.get("place"),
            online: p.ticked("online"),
            organiser: p.get("organiser"),
            seats: p.get("seats"),
        };
        Ok(Some(refused_or(training::create_session(
            conn, &state.rng, now, &who, &new,
        ))?))
    })
    .await?;
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(created)) => Ok(see_other(&format!("{LIST}/{}", created.id))),
        Some(Err(refusal)) => {
            let errors = field_errors(refusal, "date");
            list_page(&req, &state, session, &posted, &errors, None).await
        }
    }
}

/// POST /administration/formations/pix: Pix results pasted, all rows or none.
pub(crate) async fn pix(
    req: HttpRequest,
    state: web::Data<AppState>,
    TrainingMember(session): TrainingMember,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let posted = Posted::parse(&body);
    if !posted.csrf_ok(&req, &state) {
        return Ok(csrf_refused());
    }
    let now = state.clock.now();
    let (for_session, text) = (session.clone(), posted.get("pix").to_owned());
    let report = with_db(&state, move |conn, state| {
        let Some(who) = for_session.training() else {
            return Ok(None);
        };
        Ok(Some(training::import_pix(
            conn,
            &state.rng,
            now,
            &who,
            &text,
            state.auto_activation,
        )?))
    })
    .await?;
    match report {
        None => Ok(not_allowed()),
        Some(report) => {
            let shown = if report.rejected.is_empty() {
                Posted::parse(b"")
            } else {
                posted
            };
            list_page(&req, &state, session, &shown, &[], Some(report)).await
        }
    }
}

struct RegisteredRow {
    id: String,
    name: String,
    organisation: String,
    attended: bool,
    pix: &'static str,
    active: bool,
}

#[derive(Template)]
#[template(path = "admin_training.html")]
struct SessionPage {
    csrf: String,
    id: String,
    title: String,
    place: String,
    organiser: String,
    seats: String,
    rows: Vec<RegisteredRow>,
    may_write: bool,
    error: Option<String>,
    done: bool,
}

#[derive(serde::Deserialize)]
pub(crate) struct SessionQuery {
    #[serde(default)]
    fait: String,
}

async fn session_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: StaffSession,
    id: String,
    error: Option<String>,
    done: bool,
) -> Result<HttpResponse, WebError> {
    let may_write = session.training().is_some();
    let found = with_db(state, move |conn, _| {
        let Some(line) = training::session(conn, &id)? else {
            return Ok(None);
        };
        let registered = training::registered(conn, &session, &id)?;
        Ok(Some((line, registered)))
    })
    .await?;
    let Some((line, registered)) = found else {
        return Ok(error_page(
            StatusCode::NOT_FOUND,
            "Session introuvable",
            "Aucune session de formation n'a cet identifiant.",
        ));
    };
    let csrf = CsrfToken::for_request(req, state)?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = SessionPage {
        csrf: csrf.value.clone(),
        id: line.session.id.clone(),
        title: shown(line.session.starts_at),
        place: line.session.place.clone(),
        organiser: line.session.organiser.clone(),
        seats: format!("{} / {}", line.registered, line.session.seats),
        rows: registered
            .into_iter()
            .map(|t| RegisteredRow {
                attended: t.session.as_ref().is_some_and(|(_, a)| *a == Some(true)),
                pix: match t.pix {
                    Some(true) => "réussi",
                    Some(false) => "non réussi",
                    None => "pas encore",
                },
                active: t.aidant.active,
                name: t.aidant.full_name(),
                organisation: t.organisation,
                id: t.aidant.id.into(),
            })
            .collect(),
        may_write,
        error,
        done,
    };
    render(status, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/formations/{id}.
pub(crate) async fn session(
    req: HttpRequest,
    state: web::Data<AppState>,
    TrainingMember(session): TrainingMember,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, WebError> {
    let done = query.fait == "1";
    session_page(&req, &state, session, path.into_inner(), None, done).await
}

/// POST /administration/formations/{id}/presences: the ticked aidants attended.
pub(crate) async fn attendance(
    req: HttpRequest,
    state: web::Data<AppState>,
    TrainingMember(session): TrainingMember,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let posted = Posted::parse(&body);
    if !posted.csrf_ok(&req, &state) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let now = state.clock.now();
    let present: Vec<AidantId> = posted
        .all("present")
        .into_iter()
        .map(AidantId::from)
        .collect();
    let (for_session, for_id) = (session.clone(), id.clone());
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = for_session.training() else {
            return Ok(None);
        };
        Ok(Some(refused_or(training::record_attendance(
            conn,
            &state.rng,
            now,
            &who,
            &for_id,
            &present,
            state.auto_activation,
        ))?))
    })
    .await?;
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(_)) => Ok(see_other(&format!("{LIST}/{id}?fait=1"))),
        Some(Err(refusal)) => {
            let message = field_errors(refusal, "present")
                .into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
                .join(" ");
            session_page(&req, &state, session, id, Some(message), false).await
        }
    }
}
