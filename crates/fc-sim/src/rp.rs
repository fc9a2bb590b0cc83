//! A relying party built on the `openidconnect` crate, independent of our `provider` crate:
//! what FranceConnect does with an identity provider (authorization URL, code exchange,
//! ID-token verification against the published JWKS, userinfo).

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::reqwest;
use openidconnect::{
    AdditionalClaims, AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Claims of the identité pivot that are not OpenID Connect standard claims.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PivotClaims {
    /// COG code of the birth commune.
    #[serde(default)]
    pub birthplace: Option<String>,
    /// COG code of the birth country.
    #[serde(default)]
    pub birthcountry: Option<String>,
}
impl AdditionalClaims for PivotClaims {}

/// What went wrong, named as the relying party sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpError {
    /// The provider could not be discovered.
    #[error("découverte impossible: {0}")]
    Discovery(String),
    /// The token endpoint answered an OAuth error (its `error` code).
    #[error("erreur du point de jeton: {0}")]
    Token(String),
    /// The token request failed otherwise.
    #[error("échange du code impossible: {0}")]
    TokenTransport(String),
    /// The ID token did not verify.
    #[error("jeton d'identité invalide: {0}")]
    IdToken(String),
    /// Userinfo failed.
    #[error("userinfo en échec: {0}")]
    Userinfo(String),
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The identity an administrative site receives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReceivedIdentity {
    /// sub.
    pub sub: String,
    /// given_name.
    pub given_name: String,
    /// family_name.
    pub family_name: String,
    /// preferred_username.
    pub preferred_username: String,
    /// birthdate.
    pub birthdate: String,
    /// gender.
    pub gender: String,
    /// birthplace.
    pub birthplace: String,
    /// birthcountry.
    pub birthcountry: String,
    /// email.
    pub email: String,
    /// acr of the ID token.
    pub acr: String,
    /// auth_time of the ID token (seconds).
    pub auth_time: i64,
    /// Algorithm the ID token was signed with.
    pub id_token_alg: String,
    /// The access token, for further calls.
    pub access_token: String,
}

/// Where the relying party reads the time (to check ID-token expiry).
pub type TimeSource = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// A relying party registered at an identity provider.
#[derive(Clone)]
pub struct RelyingParty {
    now: TimeSource,
    http: reqwest::Client,
    metadata: CoreProviderMetadata,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
}

impl RelyingParty {
    /// Discovers the provider at `issuer`.
    pub async fn discover(
        issuer: &str,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
    ) -> Result<RelyingParty, RpError> {
        let http = reqwest::ClientBuilder::new()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RpError::Discovery(e.to_string()))?;
        let issuer =
            IssuerUrl::new(issuer.to_owned()).map_err(|e| RpError::Discovery(e.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| RpError::Discovery(e.to_string()))?;
        #[allow(clippy::disallowed_methods)]
        let system_time: TimeSource = Arc::new(Utc::now);
        Ok(RelyingParty {
            now: system_time,
            http,
            metadata,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
        })
    }

    /// The same relying party, reading the time from `now` (tests move it by hand).
    pub fn with_time_source(mut self, now: TimeSource) -> RelyingParty {
        self.now = now;
        self
    }

    fn client(
        &self,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        RpError,
    > {
        let redirect = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|e| RpError::Discovery(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            self.metadata.clone(),
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// An authorization URL asking `scopes` (besides openid) at eidas1, with its state and nonce.
    pub fn authorization_url(
        &self,
        scopes: &[&str],
    ) -> Result<(url::Url, String, String), RpError> {
        let client = self.client()?;
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_auth_context_value(AuthenticationContextClass::new("eidas1".into()));
        for scope in scopes {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        let (url, state, nonce) = request.url();
        Ok((url, state.secret().clone(), nonce.secret().clone()))
    }

    /// Exchanges `code`, verifies the ID token (signature with the JWKS, iss, aud, exp, nonce)
    /// and calls userinfo: the identity the site receives.
    pub async fn finish(&self, code: &str, nonce: &str) -> Result<ReceivedIdentity, RpError> {
        let client = self.client()?;
        let token_response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| RpError::TokenTransport(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    RpError::Token(r.error().as_ref().to_owned())
                }
                other => RpError::TokenTransport(other.to_string()),
            })?;
        let id_token = token_response
            .id_token()
            .ok_or_else(|| RpError::IdToken("absent".into()))?;
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(vec![
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::HmacSha256,
            ])
            .set_time_fn(|| (self.now)());
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map_err(|e| RpError::IdToken(e.to_string()))?;
        let alg = id_token
            .signing_alg()
            .map(|a| {
                serde_json::to_value(a)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let acr = claims
            .auth_context_ref()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let auth_time = claims
            .auth_time()
            .map(|t| t.timestamp())
            .unwrap_or_default();
        let info: UserInfoClaims<PivotClaims, CoreGenderClaim> = client
            .user_info(
                token_response.access_token().clone(),
                Some(claims.subject().clone()),
            )
            .map_err(|e| RpError::Userinfo(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(|e| RpError::Userinfo(e.to_string()))?;
        Ok(ReceivedIdentity {
            sub: info.subject().to_string(),
            given_name: info
                .given_name()
                .and_then(|l| l.get(None))
                .map(|v| v.to_string())
                .unwrap_or_default(),
            family_name: info
                .family_name()
                .and_then(|l| l.get(None))
                .map(|v| v.to_string())
                .unwrap_or_default(),
            preferred_username: info
                .preferred_username()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            birthdate: info.birthdate().map(|v| v.to_string()).unwrap_or_default(),
            gender: info.gender().map(|v| v.to_string()).unwrap_or_default(),
            birthplace: info
                .additional_claims()
                .birthplace
                .clone()
                .unwrap_or_default(),
            birthcountry: info
                .additional_claims()
                .birthcountry
                .clone()
                .unwrap_or_default(),
            email: info.email().map(|v| v.to_string()).unwrap_or_default(),
            acr,
            auth_time,
            id_token_alg: alg,
            access_token: token_response.access_token().secret().clone(),
        })
    }
}
