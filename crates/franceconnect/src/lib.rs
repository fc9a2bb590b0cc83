//! The service-provider side toward FranceConnect, used when a mandate is created and the
//! usager proves who they are: discovery of FranceConnect, the authorization URL (state, nonce,
//! acr eidas1, identité pivot scopes), the code exchange, the ID-token validation (signature
//! against FranceConnect's JWKS, iss, aud, exp, nonce, acr), userinfo (JSON or signed JWT)
//! mapped into an `identity::IdentitePivot`, and the FranceConnect logout afterwards.
//!
//! Built on `openidconnect` + `reqwest`. It never touches the database; every failure is a
//! typed [`FranceConnectError`] the web layer turns into a French page.
//!
//! As FranceConnect v2 asks of its service providers: the client secret goes in the token
//! request's body (`client_secret_post`), and FranceConnect's keys are fetched again
//! regularly and whenever a token names a key we do not know (at most once a minute), so that
//! FranceConnect can rotate them without us restarting.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use identity::{Gender, IdentitePivot};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm};
use openidconnect::{
    AuthType, AuthenticationContextClass, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};
use ring::rand::SecureRandom;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// The scopes asked of FranceConnect by default (besides `openid`): the identité pivot and the
/// e-mail, within Aidants Connect's habilitation (no `preferred_username`).
pub const DEFAULT_SCOPES: &[&str] = &[
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
];

/// The shortest time between two fetches of FranceConnect's keys forced by an unknown key.
const FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The eIDAS levels FranceConnect may answer; we ask `eidas1`, the others are stronger.
const ACCEPTED_ACR: &[&str] = &["eidas1", "eidas2", "eidas3"];

/// What went wrong underneath a [`FranceConnectError`]: the library's own error, kept whole, or
/// the rule a valid answer broke.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Errors toward FranceConnect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FranceConnectError {
    /// The configuration names an invalid URL.
    #[error("adresse FranceConnect invalide : {0}")]
    Endpoint(#[source] Cause),
    /// The random generator failed.
    #[error("générateur aléatoire indisponible")]
    Random,
    /// FranceConnect could not be reached or answered garbage (discovery, transport).
    #[error("FranceConnect est injoignable : {0}")]
    Unavailable(#[source] Cause),
    /// The token endpoint refused the code (its OAuth `error`).
    #[error("FranceConnect a refusé l'échange du code : {0}")]
    Token(String),
    /// The ID token did not validate (signature, iss, aud, exp, nonce or acr).
    #[error("jeton d'identité FranceConnect invalide : {0}")]
    IdToken(#[source] Cause),
    /// Userinfo failed or did not validate.
    #[error("FranceConnect n'a pas transmis l'identité : {0}")]
    Userinfo(#[source] Cause),
    /// Userinfo names another person than the ID token.
    #[error("l'identité transmise ne correspond pas au jeton d'identité")]
    SubjectMismatch,
    /// A claim is missing from userinfo.
    #[error("FranceConnect n'a pas transmis {0}")]
    MissingClaim(&'static str),
    /// The identity FranceConnect sent is malformed.
    #[error("identité FranceConnect invalide : {0}")]
    Identity(#[from] identity::IdentityError),
}

/// Where FranceConnect is and who we are for it.
#[derive(Debug, Clone, Deserialize)]
pub struct FranceConnectConfig {
    /// FranceConnect's issuer (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// Our client_id at FranceConnect.
    pub client_id: String,
    /// Our client_secret.
    pub client_secret: String,
    /// Our registered callback.
    pub redirect_uri: String,
    /// Our registered post-logout URI.
    pub post_logout_redirect_uri: String,
    /// Scopes asked besides `openid`.
    pub scopes: Vec<String>,
    /// How long FranceConnect's discovery document and keys are kept before being fetched
    /// again.
    pub keys_lifetime: Duration,
}

/// An authorization request about to be sent: keep `state` and `nonce` to check the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The URL to send the browser to.
    pub url: String,
    /// Opaque state, 256 bits.
    pub state: String,
    /// Nonce, 256 bits.
    pub nonce: String,
}

/// What FranceConnect told us about the usager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// FranceConnect's `sub` for us.
    pub sub: String,
    /// The validated identité pivot.
    pub pivot: IdentitePivot,
    /// The ID token, for the logout.
    pub id_token: String,
}

type FcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

fn random_token(rng: &dyn SecureRandom) -> Result<String, FranceConnectError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)
        .map_err(|_| FranceConnectError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// FranceConnect's discovery document and keys, with when they were fetched.
struct Fetched {
    metadata: Arc<ProviderMetadataWithLogout>,
    at: Instant,
}

/// The FranceConnect service-provider client. Discovery happens on first use and is retried
/// after a failure, so an outage at start-up does not stop the service; it is fetched again
/// after `keys_lifetime`, or sooner when a token is signed with a key it does not list.
pub struct FranceConnect {
    config: FranceConnectConfig,
    http: openidconnect::reqwest::Client,
    fetched: RwLock<Option<Fetched>>,
    /// When an unknown key last made us fetch the keys again.
    forced: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for FranceConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FranceConnect")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl FranceConnect {
    /// A client for `config`; nothing is fetched yet.
    pub fn new(config: FranceConnectConfig) -> Result<FranceConnect, FranceConnectError> {
        IssuerUrl::new(config.issuer.clone())
            .map_err(|e| FranceConnectError::Endpoint(e.into()))?;
        RedirectUrl::new(config.redirect_uri.clone())
            .map_err(|e| FranceConnectError::Endpoint(e.into()))?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| FranceConnectError::Unavailable(e.into()))?;
        Ok(FranceConnect {
            config,
            http,
            fetched: RwLock::new(None),
            forced: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FranceConnectConfig {
        &self.config
    }

    /// FranceConnect's discovery document and keys: those kept, while fresh.
    async fn metadata(&self) -> Result<Arc<ProviderMetadataWithLogout>, FranceConnectError> {
        if let Some(fetched) = self.fetched.read().await.as_ref() {
            if fetched.at.elapsed() < self.config.keys_lifetime {
                return Ok(fetched.metadata.clone());
            }
        }
        self.fetch().await
    }

    /// Fetches FranceConnect's discovery document and keys, and keeps them.
    async fn fetch(&self) -> Result<Arc<ProviderMetadataWithLogout>, FranceConnectError> {
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| FranceConnectError::Endpoint(e.into()))?;
        let metadata = Arc::new(
            ProviderMetadataWithLogout::discover_async(issuer, &self.http)
                .await
                .map_err(|e| FranceConnectError::Unavailable(e.into()))?,
        );
        *self.fetched.write().await = Some(Fetched {
            metadata: metadata.clone(),
            at: Instant::now(),
        });
        Ok(metadata)
    }

    /// A token named a key we do not know: FranceConnect may have rotated its keys. Fetches
    /// them again, unless an unknown key already did less than a minute ago (so that forged
    /// tokens cannot make us hammer FranceConnect); returns whether it did.
    async fn refresh_for_unknown_key(&self) -> Result<bool, FranceConnectError> {
        {
            let mut forced = self.forced.lock().await;
            if forced.is_some_and(|at| at.elapsed() < FORCED_REFRESH_INTERVAL) {
                return Ok(false);
            }
            *forced = Some(Instant::now());
        }
        tracing::info!("unknown FranceConnect signing key: fetching its keys again");
        self.fetch().await?;
        Ok(true)
    }

    async fn client(&self) -> Result<FcClient, FranceConnectError> {
        let metadata = (*self.metadata().await?).clone();
        let redirect = RedirectUrl::new(self.config.redirect_uri.clone())
            .map_err(|e| FranceConnectError::Endpoint(e.into()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_auth_type(AuthType::RequestBody)
        .set_redirect_uri(redirect))
    }

    /// A new authorization request (code flow, identité pivot scopes, eidas1) with a fresh
    /// state and nonce drawn from `rng`.
    pub async fn authorization_request(
        &self,
        rng: &dyn SecureRandom,
    ) -> Result<AuthorizationRequest, FranceConnectError> {
        let client = self.client().await?;
        let state = random_token(rng)?;
        let nonce = random_token(rng)?;
        let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state_for_url),
                move || Nonce::new(nonce_for_url),
            )
            .add_auth_context_value(AuthenticationContextClass::new("eidas1".into()));
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        Ok(AuthorizationRequest {
            url: url.to_string(),
            state,
            nonce,
        })
    }

    /// Exchanges `code`, validates the ID token at time `now` against `nonce`, and reads the
    /// identité pivot from userinfo.
    pub async fn identify(
        &self,
        code: &str,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<Identification, FranceConnectError> {
        let client = self.client().await?;
        let token_response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| FranceConnectError::Endpoint(e.into()))?
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    FranceConnectError::Token(r.error().as_ref().to_owned())
                }
                other => FranceConnectError::Unavailable(other.into()),
            })?;
        let id_token = token_response
            .id_token()
            .ok_or_else(|| FranceConnectError::IdToken("absent de la réponse".into()))?;
        let verify = |client: &FcClient| -> Result<(String, String), ClaimsVerificationError> {
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(vec![
                    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                ])
                .set_time_fn(move || now);
            let claims = id_token.claims(&verifier, &Nonce::new(nonce.to_owned()))?;
            let acr = claims
                .auth_context_ref()
                .map(|a| a.to_string())
                .unwrap_or_default();
            Ok((acr, claims.subject().to_string()))
        };
        let verified = match verify(&client) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if self.refresh_for_unknown_key().await? => verify(&self.client().await?),
            other => other,
        };
        let (acr, subject) = verified.map_err(|e| FranceConnectError::IdToken(e.into()))?;
        if !ACCEPTED_ACR.contains(&acr.as_str()) {
            return Err(FranceConnectError::IdToken(
                format!("niveau eIDAS « {acr} » insuffisant").into(),
            ));
        }
        let claims_json = self
            .userinfo(token_response.access_token().secret(), &subject)
            .await?;
        let (sub, pivot) = pivot_from_userinfo(&claims_json)?;
        if sub != subject {
            return Err(FranceConnectError::SubjectMismatch);
        }
        Ok(Identification {
            sub,
            pivot,
            id_token: id_token.to_string(),
        })
    }

    /// Userinfo: JSON, or a JWT signed (ES256 or RS256) with a key of FranceConnect's JWKS,
    /// whose `iss`, `aud` and `sub` must be FranceConnect, us and the ID token's subject.
    async fn userinfo(
        &self,
        access_token: &str,
        subject: &str,
    ) -> Result<Value, FranceConnectError> {
        let metadata = self.metadata().await?;
        let endpoint = metadata
            .userinfo_endpoint()
            .ok_or_else(|| FranceConnectError::Userinfo("point userinfo non publié".into()))?;
        let response = self
            .http
            .get(endpoint.url().as_str())
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| FranceConnectError::Unavailable(e.without_url().into()))?;
        if !response.status().is_success() {
            return Err(FranceConnectError::Userinfo(
                format!("statut {}", response.status().as_u16()).into(),
            ));
        }
        let is_jwt = response
            .headers()
            .get(openidconnect::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/jwt"));
        let body = response
            .text()
            .await
            .map_err(|e| FranceConnectError::Unavailable(e.without_url().into()))?;
        let claims: Value = if is_jwt {
            let header = jsonwebtoken::decode_header(&body)
                .map_err(|e| FranceConnectError::Userinfo(e.into()))?;
            if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
                return Err(FranceConnectError::Userinfo(
                    format!("algorithme {:?} refusé", header.alg).into(),
                ));
            }
            let key = match signing_key(&metadata, header.kid.as_deref())? {
                Some(key) => key,
                None if self.refresh_for_unknown_key().await? => {
                    signing_key(&*self.metadata().await?, header.kid.as_deref())?.ok_or_else(
                        || FranceConnectError::Userinfo("clé de signature inconnue".into()),
                    )?
                }
                None => {
                    return Err(FranceConnectError::Userinfo(
                        "clé de signature inconnue".into(),
                    ))
                }
            };
            let mut validation = Validation::new(header.alg);
            validation.set_issuer(&[metadata.issuer().as_str()]);
            validation.set_audience(&[&self.config.client_id]);
            validation.validate_exp = false;
            validation.required_spec_claims = ["iss", "aud", "sub"]
                .into_iter()
                .map(str::to_owned)
                .collect();
            jsonwebtoken::decode::<Value>(&body, &key, &validation)
                .map_err(|e| FranceConnectError::Userinfo(e.into()))?
                .claims
        } else {
            serde_json::from_str(&body).map_err(|e| FranceConnectError::Userinfo(e.into()))?
        };
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(FranceConnectError::SubjectMismatch);
        }
        Ok(claims)
    }

    /// The FranceConnect logout URL for an identification (`id_token_hint`, our registered
    /// post-logout URI, `state`), or `None` when FranceConnect publishes no end-session
    /// endpoint.
    pub async fn logout_url(
        &self,
        id_token: &str,
        state: &str,
    ) -> Result<Option<String>, FranceConnectError> {
        let metadata = self.metadata().await?;
        let Some(endpoint) = metadata.additional_metadata().end_session_endpoint.as_ref() else {
            return Ok(None);
        };
        let mut url = endpoint.url().clone();
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair(
                "post_logout_redirect_uri",
                &self.config.post_logout_redirect_uri,
            )
            .append_pair("state", state);
        Ok(Some(url.to_string()))
    }
}

/// The key of FranceConnect's JWKS named `kid` (the only one when no `kid`), if it lists it.
fn signing_key(
    metadata: &ProviderMetadataWithLogout,
    kid: Option<&str>,
) -> Result<Option<DecodingKey>, FranceConnectError> {
    let keys: JwkSet = serde_json::to_value(metadata.jwks())
        .and_then(serde_json::from_value)
        .map_err(|e| FranceConnectError::Userinfo(e.into()))?;
    let jwk = match kid {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    };
    jwk.map(|jwk| DecodingKey::from_jwk(jwk).map_err(|e| FranceConnectError::Userinfo(e.into())))
        .transpose()
}

/// FranceConnect's userinfo claims as an identité pivot, validated. Returns also FranceConnect's
/// `sub`, which identifies the usager toward us.
pub fn pivot_from_userinfo(claims: &Value) -> Result<(String, IdentitePivot), FranceConnectError> {
    let text = |name: &'static str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let required = |name: &'static str| text(name).ok_or(FranceConnectError::MissingClaim(name));
    let sub = required("sub")?;
    let pivot = IdentitePivot {
        given_name: required("given_name")?,
        family_name: required("family_name")?,
        preferred_username: text("preferred_username").unwrap_or_default(),
        birthdate: IdentitePivot::parse_birthdate(&required("birthdate")?)?,
        gender: Gender::parse(&required("gender")?)?,
        birthplace: text("birthplace").unwrap_or_default(),
        birthcountry: required("birthcountry")?,
        email: text("email").unwrap_or_default(),
    }
    .validated()?;
    Ok((sub, pivot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_maps_to_a_validated_pivot() {
        let claims = serde_json::json!({
            "sub": "fc-sub-1", "given_name": "Fatou", "family_name": "DIALLO",
            "birthdate": "1985-11-30", "gender": "female", "birthplace": "", "birthcountry": "99341"
        });
        let (sub, pivot) = pivot_from_userinfo(&claims).unwrap();
        assert_eq!(sub, "fc-sub-1");
        assert_eq!(pivot.birthcountry, "99341");
        assert_eq!(pivot.preferred_username, "");
        let mut missing = claims.clone();
        missing.as_object_mut().unwrap().remove("birthdate");
        assert!(matches!(
            pivot_from_userinfo(&missing),
            Err(FranceConnectError::MissingClaim("birthdate"))
        ));
        let mut abroad_with_place = claims;
        abroad_with_place["birthplace"] = "75107".into();
        assert!(matches!(
            pivot_from_userinfo(&abroad_with_place),
            Err(FranceConnectError::Identity(_))
        ));
    }
}
