//! Registered clients (FranceConnect) and their authentication.

use serde::Deserialize;
use subtle::ConstantTimeEq;

/// How a client wants tokens signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SigningAlg {
    /// ECDSA P-256 (recommended by FranceConnect v2).
    #[serde(rename = "ES256")]
    Es256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    #[serde(rename = "RS256")]
    Rs256,
    /// HMAC with the client secret: FranceConnect v1 legacy, only when configured explicitly.
    #[serde(rename = "HS256")]
    Hs256,
}

/// How a client authenticates at the token endpoint (RFC 6749 §2.3.1): exactly one, the one
/// registered, is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    /// `Authorization: Basic` (the OpenID Connect default).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body (FranceConnect's record for us).
    ClientSecretPost,
}

impl TokenAuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }
}

/// What `prompt=login` asks of an aidant already signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptLogin {
    /// A fresh code, typed after the request (OpenID Connect Core's reading).
    #[default]
    Reauthenticate,
    /// A code typed within the activity window: FranceConnect sends `prompt=login` on every
    /// connection, and an aidant doing ten démarches in a row must not type ten codes.
    ActivityWindow,
}

/// A registered client (its `Debug` leaves the secret out).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// client_id.
    pub client_id: String,
    /// client_secret (kept in configuration; HS256 needs it in clear).
    pub client_secret: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// ID token signing algorithm.
    #[serde(default = "default_alg")]
    pub id_token_alg: SigningAlg,
    /// Sign userinfo responses as a JWT with this algorithm (`application/jwt`); plain JSON
    /// if unset.
    #[serde(default)]
    pub userinfo_alg: Option<SigningAlg>,
    /// How it authenticates at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_method: TokenAuthMethod,
    /// Whether its authorization requests must carry a `nonce` (optional in the code flow).
    #[serde(default)]
    pub require_nonce: bool,
    /// What its `prompt=login` asks.
    #[serde(default)]
    pub prompt_login: PromptLogin,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<masqué>")
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("id_token_alg", &self.id_token_alg)
            .field("userinfo_alg", &self.userinfo_alg)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("require_nonce", &self.require_nonce)
            .field("prompt_login", &self.prompt_login)
            .finish()
    }
}

fn default_alg() -> SigningAlg {
    SigningAlg::Es256
}

impl Client {
    /// Whether `secret` is this client's secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        let a = store::hash_secret(secret);
        let b = store::hash_secret(&self.client_secret);
        a.as_bytes().ct_eq(b.as_bytes()).into()
    }

    /// Whether `uri` is one of the registered redirect URIs (exact match).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }
}

/// The client credentials a token request carried (its `Debug` leaves the secret out).
#[derive(Clone, Default)]
pub struct ClientAuth {
    /// From `Authorization: Basic` (client_secret_basic), already decoded.
    pub basic: Option<(String, String)>,
    /// Whether an `Authorization` header was present but unreadable.
    pub malformed_header: bool,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field(
                "basic",
                &self.basic.as_ref().map(|(id, _)| (id, "<masqué>")),
            )
            .field("malformed_header", &self.malformed_header)
            .finish()
    }
}
