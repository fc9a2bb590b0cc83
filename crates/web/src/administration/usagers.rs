//! The back office's usagers: found by name or id (every member), and erased on their
//! request when no mandate of theirs is in force (administrators only).

use super::{form_status, not_allowed, Member};
use crate::csrf::{self, CsrfToken};
use crate::espace::birthdate;
use crate::interaction::see_other;
use crate::pages::{csrf_refused, render};
use crate::{with_db, AppState, WebError};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::StaffSession;
use serde::Deserialize;

/// Usagers listed at most.
const LISTED: i64 = 50;

struct Row {
    id: String,
    name: String,
    birthdate: String,
    state: String,
    erasable: bool,
}

#[derive(Template)]
#[template(path = "admin_usagers.html")]
struct UsagersPage {
    csrf: String,
    query: String,
    rows: Vec<Row>,
    may_erase: bool,
    done: Option<&'static str>,
    error: Option<String>,
    /// The usager whose refused erasure form keeps what was typed.
    typed_for: String,
    typed: String,
}

#[derive(Deserialize)]
pub(crate) struct UsagersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    fait: String,
}

/// The page for `query`, with the outcome of an erasure.
async fn page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &StaffSession,
    query: String,
    done: Option<&'static str>,
    refused: Option<(String, String, String)>,
) -> Result<HttpResponse, WebError> {
    let (search, now) = (query.clone(), state.clock.now());
    let found = with_db(state, move |conn, _| {
        Ok(mandate::find_usagers(conn, &search, now, LISTED)?)
    })
    .await?;
    let csrf = CsrfToken::for_request(req, state)?;
    let (typed_for, typed, error) = refused.map_or((String::new(), String::new(), None), |r| {
        (r.0, r.1, Some(r.2))
    });
    let shown = UsagersPage {
        csrf: csrf.value.clone(),
        query,
        rows: found
            .into_iter()
            .map(|f| Row {
                id: f.usager.id.to_string(),
                name: f.usager.display_name(),
                birthdate: birthdate(&f.usager.birthdate),
                state: match (f.usager.erased_at, f.mandate_in_force) {
                    (Some(at), _) => format!(
                        "identité effacée le {}",
                        paris::local(at).format("%d/%m/%Y")
                    ),
                    (None, true) => "mandat en cours".into(),
                    (None, false) => "aucun mandat en cours".into(),
                },
                erasable: f.usager.erased_at.is_none() && !f.mandate_in_force,
            })
            .collect(),
        may_erase: session.admin().is_some(),
        done,
        typed_for,
        typed,
        error,
    };
    render(
        form_status(shown.error.as_deref()),
        &shown,
        Some(&csrf),
        state.secure_cookies,
    )
}

/// GET /administration/usagers?q=.
pub(crate) async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    query: web::Query<UsagersQuery>,
) -> Result<HttpResponse, WebError> {
    let UsagersQuery { q, fait } = query.into_inner();
    let done = (fait == "efface").then_some(
        "Identité effacée : le journal ne désigne plus cet usager que par son pseudonyme.",
    );
    page(&req, &state, &session, q, done, None).await
}

#[derive(Deserialize)]
pub(crate) struct EraseForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reference: String,
}

/// POST /administration/usagers/{id}/effacer.
pub(crate) async fn erase(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<EraseForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let reference = form.into_inner().reference;
    let (usager, typed, acting, now) = (
        store::UsagerId::from(id.as_str()),
        reference.clone(),
        session.clone(),
        state.clock.now(),
    );
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.admin() else {
            return Ok(None);
        };
        Ok(Some(mandate::erase_usager(
            conn,
            &state.rng,
            &state.attestation_key,
            now,
            &who,
            &usager,
            &reference,
        )?))
    })
    .await?;
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(_)) => {
            let q: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
            Ok(see_other(&format!(
                "/administration/usagers?q={q}&fait=efface"
            )))
        }
        Some(Err(refusal)) => {
            page(
                &req,
                &state,
                &session,
                id.clone(),
                None,
                Some((id, typed, refusal.to_string())),
            )
            .await
        }
    }
}
