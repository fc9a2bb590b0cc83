//! The aidant's own session outside the identity-provider flow: sign-in page, fresh code for
//! the activity check, and the guards every espace aidant page goes through.

use crate::cookies::Jar;
use crate::csrf::{self, CsrfToken};
use crate::interaction::{recheck_refusal, see_other, session_cookie_value, sign_in_refusal};
use crate::pages::{csrf_refused, render};
use crate::{with_db, AppState, WebError};
use accounts::{Aidant, Organisation};
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::{AidantSession, VerifiedAidant};
use serde::Deserialize;
use store::{DbConnection, PooledDb, Timestamp};

/// Where an aidant lands by default.
pub(crate) const HOME: &str = "/espace-aidant";

/// The session cookie for a new session token.
pub(crate) fn session_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Jar::Session.build(state.secure_cookies, token.to_owned(), None)
}

/// How many aidants' tokens a browser keeps (a shared computer of a France Services).
const DEVICE_TOKENS_KEPT: usize = 5;

/// The tokens of the aidants who signed in from this browser.
pub(crate) fn device_tokens(req: &HttpRequest, state: &AppState) -> Vec<String> {
    Jar::Device
        .read(req, state)
        .map(|value| {
            value
                .split('.')
                .filter(|t| t.len() == 43)
                .take(DEVICE_TOKENS_KEPT)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "card_alert.html")]
struct CardAlertPage {
    failures: i32,
    locked_until: Option<String>,
    next: String,
}

/// The answer to a successful sign-in: the session cookie and the browser's tokens (a new one
/// first when it was not recognised); then `next`, or first the page that tells the aidant
/// what happened to their card.
pub(crate) fn signed_in_response(
    req: &HttpRequest,
    state: &AppState,
    signed: &authenticator::SignedIn,
    next: &str,
) -> Result<HttpResponse, WebError> {
    // An aidant who has not accepted the CGU in force reads them first, then goes on.
    let session = &signed.session;
    let next = &if session.acts_for_usagers() && !session.accepted_cgu(state.clock.now()) {
        with_next("/conditions-generales/accepter", next)
    } else {
        next.to_owned()
    };
    let mut response = match signed.alert {
        None => see_other(next),
        Some(alert) => render(
            StatusCode::OK,
            &CardAlertPage {
                failures: alert.failures,
                locked_until: alert
                    .locked_until
                    .map(|u| paris::local(u).format("%d/%m/%Y à %H:%M").to_string()),
                next: next.to_owned(),
            },
            None,
            state.secure_cookies,
        )?,
    };
    response
        .add_cookie(&session_cookie(state, signed.token.expose()))
        .map_err(|_| WebError::Blocking)?;
    // The browser's tokens, the new one first, kept for another device lifetime.
    let mut kept: Vec<String> = signed
        .device
        .iter()
        .map(|d| d.expose().to_owned())
        .collect();
    kept.extend(device_tokens(req, state));
    kept.truncate(DEVICE_TOKENS_KEPT);
    if !kept.is_empty() {
        let cookie = Jar::Device.build(
            state.secure_cookies,
            kept.join("."),
            Some(state.policy.device_lifetime),
        );
        response
            .add_cookie(&cookie)
            .map_err(|_| WebError::Blocking)?;
    }
    Ok(response)
}

/// Holds a failed sign-in's answer until `failure_answer` after `started`: every failure then
/// takes the same time, whatever its cause.
pub(crate) async fn after_failure_time(state: &AppState, started: std::time::Instant) {
    actix_web::rt::time::sleep_until((started + state.failure_answer).into()).await;
}

/// `next` if it is a path of this site, else the espace aidant (no open redirect).
pub(crate) fn local_path(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok {
        next.to_owned()
    } else {
        HOME.to_owned()
    }
}

fn with_next(page: &str, next: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("{page}?suite={encoded}")
}

/// Redirect to the sign-in page, coming back to `next`.
pub(crate) fn to_login(next: &str) -> HttpResponse {
    see_other(&with_next("/connexion", next))
}

/// Redirect to the fresh-code page, coming back to `next`.
pub(crate) fn to_recheck(next: &str) -> HttpResponse {
    see_other(&with_next("/code", next))
}

/// A signed-in aidant, with their current organisation.
pub(crate) struct Signed {
    pub session: AidantSession,
    pub aidant: Aidant,
    pub organisation: Organisation,
}

impl Signed {
    /// The parties an attestation names.
    pub fn parties(&self) -> mandate::Parties {
        let o = &self.organisation;
        mandate::Parties {
            organisation_id: o.id.clone(),
            organisation_name: o.name.clone(),
            siret: o.siret.clone(),
            address: format!("{}, {} {}", o.address, o.zipcode, o.city),
            aidant_name: self.aidant.full_name(),
        }
    }

    /// The activity proof, when the last code is recent enough.
    pub fn verified(&self, state: &AppState, now: Timestamp) -> Option<VerifiedAidant> {
        authenticator::verify_activity(&self.session, &state.policy, now)
    }
}

/// The signed-in aidant of this session token, if any.
pub(crate) fn signed_in(
    conn: &mut DbConnection,
    state: &AppState,
    now: Timestamp,
    token: Option<&str>,
) -> Result<Option<Signed>, WebError> {
    let Some(token) = token else { return Ok(None) };
    let Some(session) = authenticator::session_by_token(conn, &state.policy, now, token)? else {
        return Ok(None);
    };
    let aidant = accounts::aidant(conn, session.aidant_id())?;
    let organisation = accounts::organisation(conn, session.organisation_id())?;
    Ok(match (aidant, organisation) {
        (Some(aidant), Some(organisation)) if aidant.active => Some(Signed {
            session,
            aidant,
            organisation,
        }),
        _ => None,
    })
}

/// What a guarded page's body decides.
pub(crate) enum Guarded<T> {
    /// Not signed in.
    Login,
    /// The activity check asks a fresh code.
    Recheck,
    /// The page's own outcome.
    Done(T),
}

/// Runs `f` for the signed-in aidant of the request (on the blocking pool); the aidant is sent
/// to sign in when there is no session.
pub(crate) async fn guarded<T, F>(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    f: F,
) -> Result<Guarded<T>, WebError>
where
    T: Send + 'static,
    F: FnOnce(&mut PooledDb, &AppState, Timestamp, Signed) -> Result<Guarded<T>, WebError>
        + Send
        + 'static,
{
    let now = state.clock.now();
    let token = session_cookie_value(req, state);
    with_db(state, move |conn, state| {
        match signed_in(conn, state, now, token.as_deref())? {
            Some(signed) => f(conn, state, now, signed),
            None => Ok(Guarded::Login),
        }
    })
    .await
}

#[derive(Template)]
#[template(path = "aidant_login.html")]
struct LoginPage {
    csrf: String,
    suite: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "aidant_recheck.html")]
struct RecheckPage {
    csrf: String,
    suite: String,
    aidant_name: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    #[serde(default)]
    pub(crate) suite: String,
}

/// GET /connexion.
pub(crate) async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(&req, &state)?;
    let page = LoginPage {
        csrf: csrf.value.clone(),
        suite: local_path(&query.suite),
        email: String::new(),
        error: None,
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    pub(crate) csrf_token: String,
    #[serde(default)]
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) otp: String,
    /// Where to go once signed in (the aidants' sign-in only).
    #[serde(default)]
    pub(crate) suite: String,
}

/// POST /connexion: e-mail + code of the card.
pub(crate) async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let started = std::time::Instant::now();
    let LoginForm {
        email, otp, suite, ..
    } = form.into_inner();
    let next = local_path(&suite);
    let now = state.clock.now();
    let typed = email.clone();
    let source = crate::source_address(&req, &state);
    let devices = device_tokens(&req, &state);
    let outcome = with_db(&state, move |conn, state| {
        Ok(authenticator::login(
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
        )?)
    })
    .await?;
    match outcome {
        Ok(signed) => signed_in_response(&req, &state, &signed, &next),
        Err(refusal) => {
            after_failure_time(&state, started).await;
            let csrf = CsrfToken::for_request(&req, &state)?;
            let page = LoginPage {
                csrf: csrf.value.clone(),
                suite: next,
                email: typed,
                error: Some(sign_in_refusal(&state.metrics, refusal)),
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

/// GET /code: the activity check's page.
pub(crate) async fn recheck_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, WebError> {
    let next = local_path(&query.suite);
    recheck_form(&req, &state, next, StatusCode::OK, None).await
}

async fn recheck_form(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    next: String,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let name = guarded(req, state, |_, state, now, signed| {
        // A fresh code that still leads here: the page needs an aidant who may act for
        // usagers, which this account is not.
        let refused =
            !signed.session.acts_for_usagers() && signed.session.code_is_fresh(&state.policy, now);
        // One who may act but has not accepted the CGU in force accepts them first.
        let cgu = signed.session.acts_for_usagers() && !signed.session.accepted_cgu(now);
        Ok(Guarded::Done((signed.aidant.full_name(), refused, cgu)))
    })
    .await?;
    let Guarded::Done((aidant_name, not_acting, cgu)) = name else {
        return Ok(to_login(&next));
    };
    if not_acting && error.is_none() {
        return Ok(crate::pages::not_acting());
    }
    if cgu && error.is_none() {
        return Ok(see_other(&with_next(
            "/conditions-generales/accepter",
            &next,
        )));
    }
    let csrf = CsrfToken::for_request(req, state)?;
    let page = RecheckPage {
        csrf: csrf.value.clone(),
        suite: next,
        aidant_name,
        error,
    };
    render(status, &page, Some(&csrf), state.secure_cookies)
}

#[derive(Deserialize)]
pub(crate) struct RecheckForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    otp: String,
    #[serde(default)]
    suite: String,
}

/// POST /code.
pub(crate) async fn recheck(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RecheckForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let RecheckForm { otp, suite, .. } = form.into_inner();
    let next = local_path(&suite);
    let source = crate::source_address(&req, &state);
    let devices = device_tokens(&req, &state);
    let outcome = guarded(&req, &state, move |conn, state, now, signed| {
        Ok(Guarded::Done(authenticator::recheck(
            conn,
            &state.rng,
            &state.cipher,
            &state.policy,
            now,
            &signed.session,
            &otp,
            &source,
            &devices,
        )?))
    })
    .await?;
    match outcome {
        Guarded::Done(Ok(_)) => Ok(see_other(&next)),
        Guarded::Done(Err(refusal)) => {
            recheck_form(
                &req,
                &state,
                next,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(recheck_refusal(&state.metrics, refusal)),
            )
            .await
        }
        Guarded::Login | Guarded::Recheck => Ok(to_login(&next)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(
            local_path("/espace-aidant/usagers/x"),
            "/espace-aidant/usagers/x"
        );
        assert_eq!(local_path("https://evil.example/"), HOME);
        assert_eq!(local_path("//evil.example/"), HOME);
        assert_eq!(local_path("/\\evil.example"), HOME);
        assert_eq!(local_path(""), HOME);
    }
}
