//! The userinfo endpoint: the identité pivot of the usager, as JSON or as a signed JWT.

use crate::token::sign;
use crate::OAuthError;
use crate::{PendingRequest, Provider, ProviderError};
use diesel::prelude::*;
use mandate::Demarche;
use serde_json::Value;
use store::schema::oidc_requests;
use store::{hash_secret, DbConnection, Timestamp};

/// What userinfo answers.
#[derive(Debug, Clone, PartialEq)]
pub enum UserinfoResponse {
    /// `application/json`.
    Json(Value),
    /// `application/jwt`, signed as the client asked.
    Jwt(String),
}

/// A refused userinfo request (RFC 6750 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserinfoError {
    /// `invalid_token`, or none when no token was sent at all.
    pub error: Option<OAuthError>,
    /// Description.
    pub description: String,
}

fn invalid(description: &str) -> UserinfoError {
    UserinfoError {
        error: Some(OAuthError::InvalidToken),
        description: description.to_owned(),
    }
}

/// Answers a userinfo request carrying `bearer` (the access token, if any).
pub fn userinfo(
    conn: &mut DbConnection,
    now: Timestamp,
    provider: &Provider,
    bearer: Option<&str>,
) -> Result<Result<UserinfoResponse, UserinfoError>, ProviderError> {
    let Some(token) = bearer.filter(|t| !t.is_empty()) else {
        return Ok(Err(UserinfoError {
            error: None,
            description: String::new(),
        }));
    };
    let found: Option<PendingRequest> = oidc_requests::table
        .filter(oidc_requests::access_token_hash.eq(hash_secret(token)))
        .select(PendingRequest::as_select())
        .first(conn)
        .optional()?;
    let Some(request) = found else {
        return Ok(Err(invalid("jeton inconnu")));
    };
    if request.revoked_at.is_some() {
        return Ok(Err(invalid("jeton révoqué")));
    }
    if request.access_token_expires_at.is_none_or(|exp| exp <= now) {
        return Ok(Err(invalid("jeton expiré")));
    }
    let (Some(organisation_id), Some(usager_id), Some(demarche_id)) = (
        request.organisation_id.as_ref(),
        request.usager_id.as_ref(),
        request.demarche.as_deref(),
    ) else {
        return Ok(Err(invalid("jeton incomplet")));
    };
    let demarche = Demarche::parse(demarche_id)?;
    let Some((_, usager)) =
        mandate::check_coverage_with_usager(conn, organisation_id, usager_id, demarche, now)?
    else {
        return Ok(Err(invalid("le mandat ne couvre plus cette démarche")));
    };
    let identity = match provider.outgoing_identity(&usager)? {
        Ok(identity) => identity,
        Err(_) => return Ok(Err(invalid("identité de l'usager non conforme"))),
    };
    let mut claims = identity.claims_for_scopes(request.scopes());
    claims.insert("sub".into(), usager.sub.clone().into());
    let Some(client) = provider.client(&request.client_id) else {
        return Ok(Err(invalid("client inconnu")));
    };
    match client.userinfo_alg {
        None => Ok(Ok(UserinfoResponse::Json(Value::Object(claims)))),
        Some(alg) => {
            claims.insert("iss".into(), provider.issuer().into());
            claims.insert("aud".into(), client.client_id.clone().into());
            claims.insert("iat".into(), now.timestamp().into());
            let jwt = sign(
                provider,
                alg,
                &client.client_secret,
                &Value::Object(claims),
                Some("JWT"),
            )?;
            Ok(Ok(UserinfoResponse::Jwt(jwt)))
        }
    }
}
