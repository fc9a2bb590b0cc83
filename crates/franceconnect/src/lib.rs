//! The service-provider side toward FranceConnect, used when a mandate is created and the
//! usager proves who they are: discovery of FranceConnect, the authorization URL (state, nonce,
//! acr eidas1, identité pivot scopes), the code exchange, the ID-token validation (signature
//! against FranceConnect's JWKS, iss, aud, exp, nonce, acr), userinfo (JSON or signed JWT)
//! mapped into an `identity::IdentitePivot`, and the FranceConnect logout afterwards.
//!
//! Built on `openidconnect` + `reqwest`. It never touches the database; every failure is a
//! typed [`FranceConnectError`] the web layer turns into a French page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use identity::{Gender, IdentitePivot};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use ring::rand::SecureRandom;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Scopes asked of FranceConnect besides `openid`: the whole identité pivot and the e-mail.
pub const PIVOT_SCOPES: &[&str] = &[
    "given_name",
    "family_name",
    "preferred_username",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
];

/// The eIDAS levels FranceConnect may answer; we ask `eidas1`, the others are stronger.
const ACCEPTED_ACR: &[&str] = &["eidas1", "eidas2", "eidas3"];

/// Errors toward FranceConnect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FranceConnectError {
    /// The configuration names an invalid URL.
    #[error("adresse FranceConnect invalide : {0}")]
    Endpoint(String),
    /// The random generator failed.
    #[error("générateur aléatoire indisponible")]
    Random,
    /// FranceConnect could not be reached or answered garbage (discovery, transport).
    #[error("FranceConnect est injoignable : {0}")]
    Unavailable(String),
    /// The token endpoint refused the code (its OAuth `error`).
    #[error("FranceConnect a refusé l'échange du code : {0}")]
    Token(String),
    /// The ID token did not validate (signature, iss, aud, exp, nonce or acr).
    #[error("jeton d'identité FranceConnect invalide : {0}")]
    IdToken(String),
    /// Userinfo failed or did not validate.
    #[error("FranceConnect n'a pas transmis l'identité : {0}")]
    Userinfo(String),
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

/// The FranceConnect service-provider client. Discovery happens on first use and is retried
/// after a failure, so an outage at start-up does not stop the service.
pub struct FranceConnect {
    config: FranceConnectConfig,
    http: openidconnect::reqwest::Client,
    metadata: OnceCell<ProviderMetadataWithLogout>,
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
            .map_err(|e| FranceConnectError::Endpoint(e.to_string()))?;
        RedirectUrl::new(config.redirect_uri.clone())
            .map_err(|e| FranceConnectError::Endpoint(e.to_string()))?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| FranceConnectError::Unavailable(e.to_string()))?;
        Ok(FranceConnect {
            config,
            http,
            metadata: OnceCell::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FranceConnectConfig {
        &self.config
    }

    async fn metadata(&self) -> Result<&ProviderMetadataWithLogout, FranceConnectError> {
        self.metadata
            .get_or_try_init(|| async {
                let issuer = IssuerUrl::new(self.config.issuer.clone())
                    .map_err(|e| FranceConnectError::Endpoint(e.to_string()))?;
                ProviderMetadataWithLogout::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| FranceConnectError::Unavailable(e.to_string()))
            })
            .await
    }

    async fn client(&self) -> Result<FcClient, FranceConnectError> {
        let metadata = self.metadata().await?.clone();
        let redirect = RedirectUrl::new(self.config.redirect_uri.clone())
            .map_err(|e| FranceConnectError::Endpoint(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
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
        for scope in PIVOT_SCOPES {
            request = request.add_scope(Scope::new((*scope).to_owned()));
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
            .map_err(|e| FranceConnectError::Endpoint(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    FranceConnectError::Token(r.error().as_ref().to_owned())
                }
                other => FranceConnectError::Unavailable(other.to_string()),
            })?;
        let id_token = token_response
            .id_token()
            .ok_or_else(|| FranceConnectError::IdToken("absent de la réponse".into()))?;
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(vec![
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            ])
            .set_time_fn(move || now);
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map_err(|e| FranceConnectError::IdToken(e.to_string()))?;
        let acr = claims
            .auth_context_ref()
            .map(|a| a.to_string())
            .unwrap_or_default();
        if !ACCEPTED_ACR.contains(&acr.as_str()) {
            return Err(FranceConnectError::IdToken(format!(
                "niveau eIDAS « {acr} » insuffisant"
            )));
        }
        let subject = claims.subject().to_string();
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
            .map_err(|e| FranceConnectError::Unavailable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(FranceConnectError::Userinfo(format!(
                "statut {}",
                response.status().as_u16()
            )));
        }
        let is_jwt = response
            .headers()
            .get(openidconnect::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/jwt"));
        let body = response
            .text()
            .await
            .map_err(|e| FranceConnectError::Unavailable(e.without_url().to_string()))?;
        let claims: Value = if is_jwt {
            let header = jsonwebtoken::decode_header(&body)
                .map_err(|e| FranceConnectError::Userinfo(e.to_string()))?;
            if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
                return Err(FranceConnectError::Userinfo(format!(
                    "algorithme {:?} refusé",
                    header.alg
                )));
            }
            let keys: JwkSet = serde_json::to_value(metadata.jwks())
                .and_then(serde_json::from_value)
                .map_err(|e| FranceConnectError::Userinfo(e.to_string()))?;
            let jwk = match &header.kid {
                Some(kid) => keys.find(kid),
                None => keys.keys.first(),
            }
            .ok_or_else(|| FranceConnectError::Userinfo("clé de signature inconnue".into()))?;
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| FranceConnectError::Userinfo(e.to_string()))?;
            let mut validation = Validation::new(header.alg);
            validation.set_issuer(&[metadata.issuer().as_str()]);
            validation.set_audience(&[&self.config.client_id]);
            validation.validate_exp = false;
            validation.required_spec_claims = ["iss", "aud", "sub"]
                .into_iter()
                .map(str::to_owned)
                .collect();
            jsonwebtoken::decode::<Value>(&body, &key, &validation)
                .map_err(|e| FranceConnectError::Userinfo(e.to_string()))?
                .claims
        } else {
            serde_json::from_str(&body).map_err(|e| FranceConnectError::Userinfo(e.to_string()))?
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
        assert_eq!(
            pivot_from_userinfo(&missing),
            Err(FranceConnectError::MissingClaim("birthdate"))
        );
        let mut abroad_with_place = claims;
        abroad_with_place["birthplace"] = "75107".into();
        assert!(matches!(
            pivot_from_userinfo(&abroad_with_place),
            Err(FranceConnectError::Identity(_))
        ));
    }
}
