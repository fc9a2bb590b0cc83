//! The OpenID Connect endpoints, as HTTP: discovery, JWKS, authorize, token, userinfo,
//! end-session. Errors follow RFC 6749, RFC 6750 and OpenID Connect Core exactly.

use crate::pages::{error_page, render, LoggedOutPage};
use crate::{with_db, AppState, WebError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use provider::{
    AuthorizeError, ClientAuth, EndSessionError, EndSessionOutcome, OAuthError, Untrusted,
    UserinfoError, UserinfoResponse,
};
use serde_json::json;

fn json_no_store(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(body.to_string())
}

/// GET /.well-known/openid-configuration
pub(crate) async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(state.provider.discovery().to_string())
}

/// GET /jwks
pub(crate) async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(state.provider.jwks().to_string())
}

/// GET /authorize
pub(crate) async fn authorize_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let encoded = req.query_string().to_owned();
    authorize(&req, &state, encoded, StatusCode::FOUND).await
}

/// POST /authorize (form body)
pub(crate) async fn authorize_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let Ok(encoded) = String::from_utf8(body.to_vec()) else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Demande de connexion invalide",
            "La demande est illisible.",
        ));
    };
    authorize(&req, &state, encoded, StatusCode::SEE_OTHER).await
}

async fn authorize(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    encoded: String,
    redirect: StatusCode,
) -> Result<HttpResponse, WebError> {
    let request = match provider::validate_authorization(&state.provider, &encoded) {
        Ok(r) => r,
        Err(AuthorizeError::Untrusted(why)) => {
            state
                .metrics
                .refused("authorize_client_ou_redirection_invalide");
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Demande de connexion invalide",
                untrusted_text(why),
            ));
        }
        Err(AuthorizeError::Redirect(error)) => {
            state.metrics.refused(&format!("authorize_{}", error.error));
            return Ok(HttpResponse::build(redirect)
                .insert_header((header::LOCATION, error.location()))
                .finish());
        }
    };
    let now = state.clock.now();
    let token = crate::cookies::Jar::Session.read(req, state);
    let pending = request.clone();
    let stored = with_db(state, move |conn, state| {
        if request.prompt.iter().any(|p| p == "none") {
            let has_session = match token {
                Some(t) => authenticator::session_by_token(conn, &state.policy, now, &t)?.is_some(),
                None => false,
            };
            if let Some(refusal) = provider::prompt_none_refusal(&request, has_session) {
                return Ok(refusal.location());
            }
        }
        let id =
            provider::store_request(conn, &state.rng, now, state.provider.lifetimes(), &request)?;
        Ok(format!("/fi/{id}"))
    })
    .await;
    // The client and its redirect URI are known: an outage goes back to it as RFC 6749 says.
    let location = match stored {
        Ok(location) => location,
        Err(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "database unavailable");
            state.metrics.refused("authorize_temporarily_unavailable");
            provider::unavailable_refusal(&pending).location()
        }
        Err(e) => return Err(e),
    };
    Ok(HttpResponse::build(redirect)
        .insert_header((header::LOCATION, location))
        .finish())
}

/// Reads `Authorization: Basic` (RFC 6749 §2.3.1: both parts form-urlencoded).
fn basic_credentials(req: &HttpRequest) -> ClientAuth {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return ClientAuth::default();
    };
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    match parsed {
        Some(credentials) => ClientAuth {
            basic: Some(credentials),
            malformed_header: false,
        },
        None => ClientAuth {
            basic: None,
            malformed_header: true,
        },
    }
}

/// The HTTP status of an OAuth error (RFC 6749 §5.2, RFC 6750 §3.1): the one place where a
/// protocol error becomes a status.
fn oauth_status(error: OAuthError) -> StatusCode {
    match error {
        OAuthError::InvalidClient | OAuthError::InvalidToken => StatusCode::UNAUTHORIZED,
        OAuthError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// An OAuth error answered as JSON, with its status.
fn oauth_refusal(error: OAuthError, description: &str) -> HttpResponse {
    oauth_error(oauth_status(error), error, description)
}

/// An OAuth error answered as JSON with a transport status (405, 413) instead of its own.
fn oauth_error(status: StatusCode, error: OAuthError, description: &str) -> HttpResponse {
    json_no_store(
        status,
        &json!({ "error": error.as_str(), "error_description": description }),
    )
}

/// The JSON answer of `/token` and `/userinfo` to a failure that is not the client's: 503
/// `temporarily_unavailable` with `Retry-After` when the database cannot serve, else 500
/// `server_error`. These endpoints never answer with a page.
fn oauth_failure(error: &WebError) -> HttpResponse {
    if error.is_unavailable() {
        tracing::warn!(error = %error, "database unavailable");
        let mut response = oauth_refusal(
            OAuthError::TemporarilyUnavailable,
            "service momentanément indisponible, réessayez plus tard",
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(crate::RETRY_AFTER_SECONDS),
        );
        response
    } else {
        tracing::error!(error = %error, "internal error");
        oauth_refusal(OAuthError::ServerError, "erreur interne")
    }
}

/// Any other method on `/token` or `/userinfo`: a JSON 405.
pub(crate) async fn oauth_method_not_allowed() -> HttpResponse {
    oauth_error(
        StatusCode::METHOD_NOT_ALLOWED,
        OAuthError::InvalidRequest,
        "méthode non prise en charge",
    )
}

/// POST /token. The body is read here, not by an extractor, so that an oversized or broken
/// body is answered in JSON too.
pub(crate) async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let body = match payload.to_bytes_limited(TOKEN_BODY_LIMIT).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return oauth_refusal(OAuthError::InvalidRequest, "corps illisible"),
        Err(_) => {
            return oauth_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                OAuthError::InvalidRequest,
                "corps trop volumineux",
            )
        }
    };
    token_response(&req, &state, &body)
        .await
        .unwrap_or_else(|e| oauth_failure(&e))
}

/// The largest token request body read.
const TOKEN_BODY_LIMIT: usize = 16 * 1024;

async fn token_response(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: &[u8],
) -> Result<HttpResponse, WebError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(oauth_refusal(
            OAuthError::InvalidRequest,
            "corps application/x-www-form-urlencoded attendu",
        ));
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return Ok(oauth_refusal(OAuthError::InvalidRequest, "corps illisible"));
    };
    let form = match provider::parse_params(text) {
        Ok(f) => f,
        Err(name) => {
            return Ok(oauth_refusal(
                OAuthError::InvalidRequest,
                &format!("paramètre répété: {name}"),
            ));
        }
    };
    let auth = basic_credentials(req);
    let now = state.clock.now();
    let outcome = with_db(state, move |conn, state| {
        Ok(provider::token(
            conn,
            &state.rng,
            now,
            &state.provider,
            &auth,
            &form,
        )?)
    })
    .await?;
    Ok(match outcome {
        Ok(response) => {
            state.metrics.flow_completed("jeton");
            json_no_store(StatusCode::OK, &json!(response))
        }
        Err(error) => {
            state.metrics.refused(&format!("token_{}", error.error));
            let mut response = oauth_refusal(error.error, &error.description);
            if error.error == OAuthError::InvalidClient && error.client_tried_basic {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Basic realm=\"Aidants Connect\""),
                );
            }
            response
        }
    })
}

/// GET or POST /userinfo with `Authorization: Bearer`.
pub(crate) async fn userinfo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    userinfo_response(&req, &state)
        .await
        .unwrap_or_else(|e| oauth_failure(&e))
}

async fn userinfo_response(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let now = state.clock.now();
    let outcome = with_db(state, move |conn, state| {
        Ok(provider::userinfo(
            conn,
            now,
            &state.provider,
            bearer.as_deref(),
        )?)
    })
    .await?;
    Ok(match outcome {
        Ok(UserinfoResponse::Json(claims)) => json_no_store(StatusCode::OK, &claims),
        Ok(UserinfoResponse::Jwt(jwt)) => HttpResponse::Ok()
            .content_type("application/jwt")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(jwt),
        Err(error) => {
            let mut response = HttpResponse::Unauthorized();
            response.insert_header((header::WWW_AUTHENTICATE, bearer_challenge(&error)));
            response.insert_header((header::CACHE_CONTROL, "no-store"));
            match error.error {
                Some(code) => response.json(
                    json!({ "error": code.as_str(), "error_description": error.description }),
                ),
                None => response.finish(),
            }
        }
    })
}

/// GET /logout
pub(crate) async fn end_session_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let encoded = req.query_string().to_owned();
    end_session(&req, &state, &encoded).await
}

/// POST /logout
pub(crate) async fn end_session_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let encoded = String::from_utf8_lossy(&body).into_owned();
    end_session(&req, &state, &encoded).await
}

async fn end_session(
    _req: &HttpRequest,
    state: &web::Data<AppState>,
    encoded: &str,
) -> Result<HttpResponse, WebError> {
    let params = match provider::parse_params(encoded) {
        Ok(p) => p,
        Err(name) => {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Déconnexion impossible",
                &format!("Le paramètre {name} est répété."),
            ))
        }
    };
    let now = state.clock.now();
    let outcome = with_db(state, move |conn, state| {
        Ok(provider::end_session(conn, now, &state.provider, &params)?)
    })
    .await?;
    match outcome {
        Ok(EndSessionOutcome::Redirect(location)) => Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, location))
            .finish()),
        Ok(EndSessionOutcome::LoggedOut) => {
            render(StatusCode::OK, &LoggedOutPage, None, state.secure_cookies)
        }
        Err(refused) => Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Déconnexion impossible",
            match refused {
                EndSessionError::InvalidHint => {
                    "Le jeton d'identité fourni (id_token_hint) est invalide."
                }
                EndSessionError::UnverifiableRedirect => {
                    "Une adresse de retour sans id_token_hint ne peut pas être vérifiée."
                }
                EndSessionError::UnregisteredRedirect => {
                    "L'adresse de retour après déconnexion n'est pas enregistrée."
                }
            },
        )),
    }
}

/// What the person is told when a request cannot be answered at the client's address.
fn untrusted_text(why: Untrusted) -> &'static str {
    match why {
        Untrusted::RepeatedClientId => "Le paramètre client_id est répété.",
        Untrusted::MissingClientId => "La demande ne précise pas le service (client_id manquant).",
        Untrusted::UnknownClient => {
            "Le service à l'origine de la demande n'est pas connu d'Aidants Connect."
        }
        Untrusted::RepeatedRedirectUri => "Le paramètre redirect_uri est répété.",
        Untrusted::MissingRedirectUri => {
            "L'adresse de retour du service est manquante (redirect_uri)."
        }
        Untrusted::UnregisteredRedirectUri => {
            "L'adresse de retour du service n'est pas enregistrée (redirect_uri)."
        }
    }
}

/// The `WWW-Authenticate` value of a refused userinfo request. RFC 6750 §3 allows only
/// printable ASCII without `"` and `\` in `error_description`: accents are dropped there (the
/// JSON body keeps them).
fn bearer_challenge(error: &UserinfoError) -> String {
    match error.error {
        Some(code) => {
            let ascii: String = mandate::normalise_search(&error.description)
                .chars()
                .filter(|c| matches!(c, ' '..='~') && *c != '"' && *c != '\\')
                .collect();
            format!("Bearer error=\"{code}\", error_description=\"{ascii}\"")
        }
        None => "Bearer".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_printable_ascii() {
        let refused = UserinfoError {
            error: Some(OAuthError::InvalidToken),
            description: "le mandat ne couvre plus cette démarche \"x\"".into(),
        };
        assert_eq!(
            bearer_challenge(&refused),
            "Bearer error=\"invalid_token\", error_description=\"le mandat ne couvre plus cette demarche x\""
        );
        let silent = UserinfoError {
            error: None,
            description: String::new(),
        };
        assert_eq!(bearer_challenge(&silent), "Bearer");
    }

    #[test]
    fn each_protocol_error_has_its_status() {
        assert_eq!(
            oauth_status(OAuthError::InvalidClient),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            oauth_status(OAuthError::InvalidToken),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            oauth_status(OAuthError::InvalidGrant),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            oauth_status(OAuthError::TemporarilyUnavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
