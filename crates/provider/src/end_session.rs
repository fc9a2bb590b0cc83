//! The end-session endpoint (RP-initiated logout).

use crate::authorize::with_query;
use crate::{param, Client, Provider, ProviderError, SigningAlg};
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use store::schema::oidc_requests;
use store::{DbConnection, Timestamp};

/// Where an end-session request leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSessionOutcome {
    /// Back to the client's registered post-logout URI.
    Redirect(String),
    /// No return address: show that the session is over.
    LoggedOut,
}

/// Why an end-session request was refused (told the person, never redirected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSessionError {
    /// The `id_token_hint` is not an ID token we issued to a client.
    InvalidHint,
    /// A return address came without an `id_token_hint` to check it against.
    UnverifiableRedirect,
    /// The return address is not one the client registered.
    UnregisteredRedirect,
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    aud: String,
}

fn verify_hint<'a>(provider: &'a Provider, hint: &str) -> Option<(&'a Client, HintClaims)> {
    let header = jsonwebtoken::decode_header(hint).ok()?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[provider.issuer()]);
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    let claims: HintClaims = match header.alg {
        Algorithm::HS256 => provider_clients_hs256(provider).find_map(|client| {
            jsonwebtoken::decode::<HintClaims>(
                hint,
                &DecodingKey::from_secret(client.client_secret.as_bytes()),
                &validation,
            )
            .ok()
            .map(|d| d.claims)
        })?,
        _ => {
            let key = provider.keys().by_kid(header.kid.as_deref()?)?;
            if key.algorithm != header.alg {
                return None;
            }
            jsonwebtoken::decode::<HintClaims>(hint, key.decoding_key(), &validation)
                .ok()?
                .claims
        }
    };
    let client = provider.client(&claims.aud)?;
    if header.alg == Algorithm::HS256 && client.id_token_alg != SigningAlg::Hs256 {
        return None;
    }
    Some((client, claims))
}

fn provider_clients_hs256(provider: &Provider) -> impl Iterator<Item = &Client> {
    provider
        .clients
        .values()
        .filter(|c| c.id_token_alg == SigningAlg::Hs256)
}

/// Handles an end-session request: the tokens issued to that client for that usager are
/// revoked, then the browser goes back to the registered post-logout URI with its state.
pub fn end_session(
    conn: &mut DbConnection,
    now: Timestamp,
    provider: &Provider,
    params: &[(String, String)],
) -> Result<Result<EndSessionOutcome, EndSessionError>, ProviderError> {
    let hint = param(params, "id_token_hint");
    let post_logout = param(params, "post_logout_redirect_uri");
    let verified = match hint {
        Some(h) => match verify_hint(provider, h) {
            Some(v) => Some(v),
            None => return Ok(Err(EndSessionError::InvalidHint)),
        },
        None => None,
    };
    if let Some((client, claims)) = &verified {
        if let Some(usager) = mandate::usager_by_sub(conn, &claims.sub)? {
            diesel::update(
                oidc_requests::table
                    .filter(oidc_requests::client_id.eq(&client.client_id))
                    .filter(oidc_requests::usager_id.eq(&usager.id))
                    .filter(oidc_requests::revoked_at.is_null()),
            )
            .set(oidc_requests::revoked_at.eq(Some(now)))
            .execute(conn)?;
        }
    }
    match (post_logout, verified) {
        (None, _) => Ok(Ok(EndSessionOutcome::LoggedOut)),
        (Some(_), None) => Ok(Err(EndSessionError::UnverifiableRedirect)),
        (Some(uri), Some((client, _))) => {
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Ok(Err(EndSessionError::UnregisteredRedirect));
            }
            let location = match param(params, "state") {
                Some(state) => with_query(uri, &[("state", state)]),
                None => uri.to_owned(),
            };
            Ok(Ok(EndSessionOutcome::Redirect(location)))
        }
    }
}
