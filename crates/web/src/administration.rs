//! The national team's back office at `/administration`: enrolment of a member's card through
//! their single-use link, sign-in with e-mail and code, the home page, sign-out. Its session
//! cookie is sent to `/administration` only; every form carries the CSRF token. The pages
//! extract the [`authenticator::StaffSession`] and decide nothing.

use crate::account::{after_failure_time, LoginForm};
use crate::attestation::qr_data_uri;
use crate::cookies::Jar;
use crate::csrf::{self, CsrfToken};
use crate::interaction::{see_other, sign_in_refusal};
use crate::pages::{csrf_refused, error_page, render, CsrfForm};
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::{EnrolmentRefusal, OtpRefusal, StaffSession};
use serde::Deserialize;

/// The back office's home.
const HOME: &str = "/administration/";
/// Its sign-in page.
const SIGN_IN: &str = "/administration/connexion";

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
    /// Just back from enrolling their card.
    enrolled: bool,
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    enrole: String,
}

#[derive(Template)]
#[template(path = "admin_home.html")]
struct HomePage {
    csrf: String,
    name: String,
    role: &'static str,
    until: String,
    idle_minutes: i64,
}

#[derive(Template)]
#[template(path = "admin_enrol.html")]
struct EnrolPage {
    csrf: String,
    token: String,
    name: String,
    qr: String,
    error: Option<String>,
}

/// The staff session the request's cookie names, if live.
async fn staff_session(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Option<StaffSession>, WebError> {
    let Some(token) = Jar::Staff.read(req, state) else {
        return Ok(None);
    };
    let now = state.clock.now();
    with_db(state, move |conn, state| {
        Ok(authenticator::staff_session_by_token(
            conn,
            &state.staff,
            now,
            &token,
        )?)
    })
    .await
}

/// GET /administration/: the home page of a signed-in member; otherwise the sign-in page.
pub(crate) async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let Some(session) = staff_session(&req, &state).await? else {
        return Ok(see_other(SIGN_IN));
    };
    let csrf = CsrfToken::for_request(&req, &state)?;
    let page = HomePage {
        csrf: csrf.value.clone(),
        name: session.staff().full_name(),
        role: session.role().label(),
        until: paris::local(session.expires_at())
            .format("%H:%M")
            .to_string(),
        idle_minutes: state.staff.idle.num_minutes(),
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/connexion.
pub(crate) async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(&req, &state)?;
    let page = LoginPage {
        csrf: csrf.value.clone(),
        email: String::new(),
        error: None,
        enrolled: query.enrole == "1",
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

/// POST /administration/connexion: e-mail and code; one answer for every failure.
pub(crate) async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let started = std::time::Instant::now();
    let LoginForm { email, otp, .. } = form.into_inner();
    let now = state.clock.now();
    let typed = email.clone();
    let source = crate::source_address(&req, &state);
    let outcome = with_db(&state, move |conn, state| {
        Ok(authenticator::staff_login(
            conn,
            &state.rng,
            &state.cipher,
            &state.policy,
            &state.staff,
            now,
            authenticator::Credentials {
                email: &email,
                code: &otp,
                source: &source,
                devices: &[],
            },
        )?)
    })
    .await?;
    match outcome {
        Ok(signed) => {
            let mut response = see_other(HOME);
            response
                .add_cookie(&Jar::Staff.build(
                    state.secure_cookies,
                    signed.token.expose().to_owned(),
                    None,
                ))
                .map_err(|_| WebError::Blocking)?;
            Ok(response)
        }
        Err(refusal) => {
            after_failure_time(&state, started).await;
            let csrf = CsrfToken::for_request(&req, &state)?;
            let page = LoginPage {
                csrf: csrf.value.clone(),
                email: typed,
                error: Some(sign_in_refusal(&state.metrics, refusal)),
                enrolled: false,
            };
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page,
                Some(&csrf),
                state.secure_cookies,
            )
        }
    }
}

/// POST /administration/deconnexion.
pub(crate) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    if let Some(token) = Jar::Staff.read(&req, &state) {
        let now = state.clock.now();
        with_db(&state, move |conn, _| {
            Ok(authenticator::end_staff_session(conn, now, &token)?)
        })
        .await?;
    }
    let mut response = see_other(SIGN_IN);
    response
        .add_cookie(&Jar::Staff.removal(&state))
        .map_err(|_| WebError::Blocking)?;
    Ok(response)
}

/// The page of a link that does not work (unknown, used or expired).
fn dead_link() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Lien d'enrôlement inutilisable",
        "Ce lien d'enrôlement n'existe pas, a déjà servi ou a expiré. Demandez-en un nouveau à un administrateur de l'équipe Aidants Connect.",
    )
}

/// The enrolment page of `token` with `error`, or the dead-link page.
async fn enrol_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    token: String,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let now = state.clock.now();
    let lookup = token.clone();
    let found = with_db(state, move |conn, state| {
        Ok(authenticator::staff_enrolment(
            conn,
            &state.cipher,
            now,
            &lookup,
        )?)
    })
    .await?;
    let Some(found) = found else {
        return Ok(dead_link());
    };
    let csrf = CsrfToken::for_request(req, state)?;
    let page = EnrolPage {
        csrf: csrf.value.clone(),
        token,
        name: found.staff.full_name(),
        qr: qr_data_uri(&found.enrolment.otpauth_uri(&found.staff.email))?,
        error,
    };
    render(status, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/enrolement/{token}: the card's QR code, shown while the link works.
pub(crate) async fn enrolment(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    enrol_page(&req, &state, path.into_inner(), StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(crate) struct EnrolForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    otp: String,
}

/// POST /administration/enrolement/{token}: the first code the application shows validates
/// the card and ends the link.
pub(crate) async fn enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<EnrolForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let token = path.into_inner();
    let now = state.clock.now();
    let (code, link) = (form.into_inner().otp, token.clone());
    let outcome = with_db(&state, move |conn, state| {
        Ok(authenticator::complete_staff_enrolment(
            conn,
            &state.rng,
            &state.cipher,
            &state.policy,
            now,
            &link,
            &code,
        )?)
    })
    .await?;
    let message = match outcome {
        Ok(_) => return Ok(see_other(&format!("{SIGN_IN}?enrole=1"))),
        Err(EnrolmentRefusal::UnknownLink) => return Ok(dead_link()),
        Err(EnrolmentRefusal::Code(refusal)) => enrolment_refusal(refusal),
    };
    enrol_page(
        &req,
        &state,
        token,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(message),
    )
    .await
}

/// What the member is told of a refused first code.
fn enrolment_refusal(refusal: OtpRefusal) -> String {
    match refusal {
        OtpRefusal::WrongCode | OtpRefusal::Replayed | OtpRefusal::OutOfService => {
            "Code incorrect. Saisissez le code que l'application affiche maintenant.".into()
        }
        OtpRefusal::TooSoon(until) | OtpRefusal::Locked { until, .. } => format!(
            "Trop de codes erronés : réessayez après {} (heure de Paris).",
            paris::local(until).format("%H:%M:%S")
        ),
    }
}
