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
    /// Sign userinfo responses as a JWT with this algorithm (ES256 or RS256); plain JSON if unset.
    #[serde(default)]
    pub userinfo_alg: Option<SigningAlg>,
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
