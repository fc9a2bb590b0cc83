//! The back office's national exports, open to every member of the national team: the page
//! that lists them and the CSV files, streamed.

use super::signed_in;
use crate::pages::render;
use crate::{AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "admin_exports.html")]
struct ExportsPage;

/// GET /administration/exports.
pub(crate) async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    if let Err(away) = signed_in(&req, &state).await? {
        return Ok(away);
    }
    render(StatusCode::OK, &ExportsPage, None, state.secure_cookies)
}

/// GET /administration/exports/{name}.csv.
pub(crate) async fn file(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let session = match signed_in(&req, &state).await? {
        Ok(session) => session,
        Err(away) => return Ok(away),
    };
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
