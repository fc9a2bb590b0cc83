//! The token endpoint: client authentication, the single-use code, the ID token.

use crate::OAuthError;
use crate::{
    new_secret, param, ClientAuth, PendingRequest, Provider, ProviderError, SigningAlg,
    TokenAuthMethod,
};
use diesel::prelude::*;
use journal::{Action, NewEntry};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mandate::Demarche;
use ring::rand::SecureRandom;
use serde::Serialize;
use store::schema::oidc_requests;
use store::{hash_secret, write_transaction, DbConnection, PooledDb, Timestamp};
use subtle::ConstantTimeEq;

/// A refused token request (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    /// Error code.
    pub error: OAuthError,
    /// Description.
    pub description: String,
    /// Whether the client tried HTTP Basic (an `invalid_client` is then challenged with
    /// `WWW-Authenticate: Basic`, RFC 6749 §5.2).
    pub client_tried_basic: bool,
}

impl TokenError {
    fn new(error: OAuthError, description: &str) -> TokenError {
        TokenError {
            error,
            description: description.to_owned(),
            client_tried_basic: false,
        }
    }
}

/// A successful token response.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// Bearer token for userinfo.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: i64,
    /// Signed ID token.
    pub id_token: String,
    /// Granted scopes.
    pub scope: String,
}

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    nonce: &'a str,
    acr: &'a str,
    /// The démarche the aidant acts for, as FranceConnect's perimeters name it.
    rep_scope: Vec<String>,
}

/// Signs `claims` as the client asked (its algorithm; HS256 with its secret).
pub fn sign<T: Serialize>(
    provider: &Provider,
    alg: SigningAlg,
    client_secret: &str,
    claims: &T,
    typ: Option<&str>,
) -> Result<String, ProviderError> {
    match alg {
        SigningAlg::Es256 => provider.keys().es256.sign_jwt(claims, typ),
        SigningAlg::Rs256 => provider.keys().rs256.sign_jwt(claims, typ),
        SigningAlg::Hs256 => {
            let mut header = Header::new(Algorithm::HS256);
            header.typ = typ.map(str::to_owned);
            let key = EncodingKey::from_secret(client_secret.as_bytes());
            jsonwebtoken::encode(&header, claims, &key)
                .map_err(|e| ProviderError::Signing(e.into()))
        }
    }
}

/// Handles a token request: `form` is the decoded body, `auth` the Basic credentials if any.
/// Codes are single use: a second use revokes what the first issued.
pub fn token(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    provider: &Provider,
    auth: &ClientAuth,
    form: &[(String, String)],
) -> Result<Result<TokenResponse, TokenError>, ProviderError> {
    // Client authentication.
    let form_id = param(form, "client_id");
    let form_secret = param(form, "client_secret");
    let invalid_client = |basic: bool| TokenError {
        error: OAuthError::InvalidClient,
        description: "authentification du client refusée".into(),
        client_tried_basic: basic,
    };
    if auth.malformed_header {
        return Ok(Err(invalid_client(true)));
    }
    let (client_id, secret, basic) = match (&auth.basic, form_secret) {
        (Some(_), Some(_)) => {
            return Ok(Err(TokenError::new(
                OAuthError::InvalidRequest,
                "une seule méthode d'authentification du client est permise",
            )))
        }
        (Some((id, secret)), None) => {
            if form_id.is_some_and(|f| f != id) {
                return Ok(Err(TokenError::new(
                    OAuthError::InvalidRequest,
                    "client_id contradictoire",
                )));
            }
            (id.as_str(), secret.as_str(), true)
        }
        (None, Some(secret)) => match form_id {
            Some(id) => (id, secret, false),
            None => return Ok(Err(invalid_client(false))),
        },
        (None, None) => return Ok(Err(invalid_client(false))),
    };
    let Some(client) = provider
        .client(client_id)
        .filter(|c| c.secret_matches(secret))
    else {
        return Ok(Err(invalid_client(basic)));
    };
    let used = if basic {
        TokenAuthMethod::ClientSecretBasic
    } else {
        TokenAuthMethod::ClientSecretPost
    };
    if used != client.token_endpoint_auth_method {
        return Ok(Err(TokenError {
            description: format!(
                "ce client s'authentifie par {}",
                client.token_endpoint_auth_method.as_str()
            ),
            ..invalid_client(basic)
        }));
    }
    match param(form, "grant_type") {
        None => {
            return Ok(Err(TokenError::new(
                OAuthError::InvalidRequest,
                "grant_type manquant",
            )))
        }
        Some("authorization_code") => {}
        Some(_) => {
            return Ok(Err(TokenError::new(
                OAuthError::UnsupportedGrantType,
                "seul authorization_code est pris en charge",
            )))
        }
    }
    let Some(code) = param(form, "code") else {
        return Ok(Err(TokenError::new(
            OAuthError::InvalidRequest,
            "code manquant",
        )));
    };
    let Some(redirect_uri) = param(form, "redirect_uri") else {
        return Ok(Err(TokenError::new(
            OAuthError::InvalidRequest,
            "redirect_uri manquant",
        )));
    };
    let invalid_grant = |d: &str| Ok(Err(TokenError::new(OAuthError::InvalidGrant, d)));

    // Read and check, sign, then one short write: the signature (up to a millisecond for
    // RS256) is never made while holding the write lock, database-wide on SQLite.
    let found: Option<PendingRequest> = oidc_requests::table
        .filter(oidc_requests::code_hash.eq(hash_secret(code)))
        .select(PendingRequest::as_select())
        .first(&mut **conn)
        .optional()?;
    let Some(request) = found else {
        return invalid_grant("code inconnu");
    };
    if request.client_id != client.client_id {
        return invalid_grant("code émis pour un autre client");
    }
    if request.code_consumed_at.is_some() || request.revoked_at.is_some() {
        revoke(conn, now, &request.id)?;
        return invalid_grant("code déjà utilisé: les jetons émis avec ce code sont révoqués");
    }
    if request.code_expires_at.is_none_or(|exp| exp <= now) {
        return invalid_grant("code expiré");
    }
    if request.redirect_uri != redirect_uri {
        return invalid_grant("redirect_uri différent de celui de la demande");
    }
    if let Some(challenge) = &request.code_challenge {
        let verified = param(form, "code_verifier")
            .filter(|v| crate::authorize::is_pkce_value(v))
            .is_some_and(|v| pkce_s256(v).as_bytes().ct_eq(challenge.as_bytes()).into());
        // The code stays usable: a wrong verifier from whoever intercepted it must not
        // spoil the client's own exchange.
        if !verified {
            return invalid_grant("code_verifier absent ou ne correspondant pas au code_challenge");
        }
    }
    let (
        Some(aidant_id),
        Some(organisation_id),
        Some(usager_id),
        Some(demarche_id),
        Some(auth_time),
    ) = (
        request.aidant_id.as_ref(),
        request.organisation_id.as_ref(),
        request.usager_id.as_ref(),
        request.demarche.as_deref(),
        request.auth_time,
    )
    else {
        return invalid_grant("demande incomplète");
    };
    let demarche = Demarche::parse(demarche_id)?;
    let Some(usager) = mandate::usager(conn, usager_id)? else {
        return invalid_grant("demande incomplète");
    };
    if let Err(refused) = provider.outgoing_identity(&usager)? {
        tracing::warn!(error = %refused, "stored identity would be refused by FranceConnect");
        revoke(conn, now, &request.id)?;
        return invalid_grant(
            "l'identité enregistrée de l'usager n'est pas conforme aux règles de FranceConnect",
        );
    }
    let access_token = new_secret(rng)?;
    let access_token_hash = hash_secret(&access_token);
    let lifetimes = provider.lifetimes();
    let claims = IdTokenClaims {
        iss: provider.issuer(),
        sub: &usager.sub,
        aud: &client.client_id,
        exp: (now + lifetimes.id_token).timestamp(),
        iat: now.timestamp(),
        auth_time: auth_time.timestamp(),
        nonce: &request.nonce,
        acr: &request.acr,
        rep_scope: provider
            .rep_scope_names(demarche, &request.rep_scope_values().unwrap_or_default()),
    };
    let id_token = sign(
        provider,
        client.id_token_alg,
        &client.client_secret,
        &claims,
        Some("JWT"),
    )?;
    write_transaction(conn, |tx| {
        // Refused at every step: the mandate must still cover the démarche now, and the aidant
        // must still be an active member of the organisation — checked in the transaction that
        // consumes the code, after signing, so that on SQLite no revocation lands in between
        // and the journal never shows a use after a cancellation. (Carrying both checks as
        // EXISTS conditions of the UPDATE below cost PostgreSQL ≈ 20 % more CPU per flow than
        // these two indexed reads.) The code is consumed and the access token recorded by one
        // conditional statement: of two concurrent exchanges of a code, only one finds it
        // unconsumed.
        let Some(coverage) =
            mandate::check_coverage(tx.conn(), organisation_id, usager_id, demarche, now)?
        else {
            revoke(tx.conn(), now, &request.id)?;
            return invalid_grant(NOT_COVERED);
        };
        if !accounts::may_work_for(tx.conn(), aidant_id, organisation_id)? {
            revoke(tx.conn(), now, &request.id)?;
            return invalid_grant(NOT_HABILITATED);
        }
        let claimed = diesel::update(
            oidc_requests::table
                .find(&request.id)
                .filter(oidc_requests::code_consumed_at.is_null())
                .filter(oidc_requests::revoked_at.is_null()),
        )
        .set((
            oidc_requests::code_consumed_at.eq(Some(now)),
            oidc_requests::access_token_hash.eq(Some(&access_token_hash)),
            oidc_requests::access_token_expires_at.eq(Some(now + lifetimes.access_token)),
        ))
        .execute(tx.conn())?;
        if claimed != 1 {
            revoke(tx.conn(), now, &request.id)?;
            return invalid_grant("code déjà utilisé: les jetons émis avec ce code sont révoqués");
        }
        journal::append(
            tx,
            rng,
            now,
            NewEntry {
                chain: organisation_id.as_str(),
                action: Action::UseAutorisation,
                aidant_id: Some(aidant_id),
                usager_id: Some(usager_id),
                organisation_id: Some(organisation_id),
                subject: demarche.id(),
                details: serde_json::json!({
                    "autorisation": coverage.autorisation_id(),
                    "mandat": coverage.mandate_id(),
                    "client_id": client.client_id,
                    "access_token_sha256": access_token_hash,
                }),
            },
        )?;
        mandate::notify_use(tx, rng, now, &coverage, &usager, aidant_id)?;
        Ok(Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetimes.access_token.num_seconds(),
            id_token,
            scope: granted_scope(&request),
        }))
    })
}

/// Why a code is refused when its mandate no longer covers the démarche.
const NOT_COVERED: &str = "le mandat ne couvre plus cette démarche";
/// Why a code is refused when its aidant may no longer work for the structure.
const NOT_HABILITATED: &str = "l'aidant n'est plus habilité";

/// The scopes granted: those requested that the provider knows (RFC 6749 §3.3).
fn granted_scope(request: &PendingRequest) -> String {
    request
        .scopes()
        .filter(|s| identity::SUPPORTED_SCOPES.contains(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The S256 transformation of a PKCE code verifier (RFC 7636 §4.2).
fn pkce_s256(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// Revokes what a request issued (its access token stops working, its code too).
fn revoke(conn: &mut DbConnection, now: Timestamp, request_id: &str) -> Result<(), ProviderError> {
    diesel::update(
        oidc_requests::table
            .find(request_id)
            .filter(oidc_requests::revoked_at.is_null()),
    )
    .set(oidc_requests::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}
