//! The back office's national exports, open to every member of the national team: the page
//! that lists them and the CSV files, streamed.

use super::Member;
use crate::pages::render;
use crate::{AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "admin_exports.html")]
struct ExportsPage;

/// GET /administration/exports.
pub(crate) async fn page(
    state: web::Data<AppState>,
    _member: Member,
) -> Result<HttpResponse, WebError> {
    render(StatusCode::OK, &ExportsPage, None, state.secure_cookies)
}

/// GET /administration/exports/{name}.csv.
pub(crate) async fn file(
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let now = state.clock.now();
    let name = path.into_inner();
    let file = format!(
        "{}-{}",
        name.trim_end_matches(".csv"),
        paris::local(now).format("%Y%m%d-%H%M%S.csv")
    );
    Ok(match name.as_str() {
        "structures.csv" => crate::streaming::csv(&state, &file, move |conn, sink| {
            audit::export_structures(conn, &session, now, sink)?;
            Ok(())
        }),
        "aidants.csv" => crate::streaming::csv(&state, &file, move |conn, sink| {
            audit::export_aidants(conn, &session, sink)?;
            Ok(())
        }),
        "departements.csv" => crate::streaming::csv(&state, &file, move |conn, sink| {
            audit::export_departements(conn, &session, now, sink)?;
            Ok(())
        }),
        _ => crate::pages::not_found().await,
    })
}
