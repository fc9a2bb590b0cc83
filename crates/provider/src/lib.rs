//! The OpenID Connect identity provider that FranceConnect calls: registered clients,
//! discovery, JWKS and signing keys, authorization requests and their interactions, codes,
//! tokens, userinfo and end-session.
//!
//! It renders no page and reads no cookie (the `web` crate does, as node-oidc-provider's
//! "interactions" do). It issues a code only through [`complete`], which takes the two proofs
//! other crates alone can build: `authenticator::VerifiedAidant` and `mandate::Coverage`.
//! Codes and access tokens are stored as SHA-256 hashes.

mod authorize;
mod client;
mod end_session;
mod error;
mod interaction;
mod keys;
mod token;
mod userinfo;

pub use authorize::{
    cancel, complete, pending_request, prompt_none_refusal, purge_requests, select_usager,
    store_request, unavailable_refusal, validate_authorization, AuthorizationRequest,
    AuthorizeError, CompleteRefusal, ErrorRedirect, PendingRequest, Untrusted,
};
pub use client::{Client, ClientAuth, PromptLogin, SigningAlg, TokenAuthMethod};
pub use end_session::{end_session, EndSessionError, EndSessionOutcome};
pub use error::OAuthError;
pub use interaction::{next_step, NextStep};
pub use keys::{generate_es256_pem, generate_rs256_pem, KeySet, SigningKey};
pub use token::{sign as sign_jwt, token, TokenError, TokenResponse};
pub use userinfo::{userinfo, UserinfoError, UserinfoResponse};

use chrono::Duration;
use mandate::Demarche;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The `acr` we assert: FranceConnect's eIDAS low level.
pub const ACR_EIDAS1: &str = "eidas1";
/// The ID token claim naming the démarche(s) the aidant acts for ("representative scope"):
/// FranceConnect checks it against the perimeters of the administrative site.
pub const REP_SCOPE: &str = "rep_scope";

/// Errors that are the service's fault, never the client's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Journal failed.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// Mandate lookup failed.
    #[error(transparent)]
    Mandate(#[from] mandate::MandateError),
    /// Account lookup failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    /// A key could not be loaded, generated or used.
    #[error("clé de signature: {0}")]
    Key(#[from] keys::KeyError),
    /// A token could not be signed.
    #[error("signature impossible: {0}")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<diesel::result::Error> for ProviderError {
    fn from(e: diesel::result::Error) -> Self {
        ProviderError::Store(store::StoreError::Query(e))
    }
}

/// Lifetimes of what the provider issues.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// From `/authorize` to the code: the aidant's time to sign in and choose.
    pub interaction: Duration,
    /// A code (single use).
    pub code: Duration,
    /// An access token.
    pub access_token: Duration,
    /// An ID token.
    pub id_token: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            interaction: Duration::minutes(30),
            code: Duration::seconds(60),
            access_token: Duration::minutes(5),
            id_token: Duration::minutes(5),
        }
    }
}

/// The identity provider: issuer, clients, keys and lifetimes.
#[derive(Debug)]
pub struct Provider {
    issuer: String,
    clients: HashMap<String, Client>,
    keys: KeySet,
    lifetimes: Lifetimes,
    rep_scope_aliases: Vec<(String, Demarche)>,
    email_placeholder: String,
}

/// The e-mail sent for an usager who gave none, when the provider is not told another one:
/// FranceConnect requires a valid `email`.
pub const DEFAULT_EMAIL_PLACEHOLDER: &str = "sans-adresse-electronique@aidantsconnect.beta.gouv.fr";

impl Provider {
    /// A provider for `issuer` (its base URL, without trailing slash).
    pub fn new(issuer: &str, clients: Vec<Client>, keys: KeySet, lifetimes: Lifetimes) -> Provider {
        Provider {
            issuer: issuer.trim_end_matches('/').to_owned(),
            clients: clients
                .into_iter()
                .map(|c| (c.client_id.clone(), c))
                .collect(),
            keys,
            lifetimes,
            rep_scope_aliases: Vec::new(),
            email_placeholder: DEFAULT_EMAIL_PLACEHOLDER.to_owned(),
        }
    }

    /// The same provider, sending `placeholder` as the e-mail of usagers who gave none.
    pub fn with_email_placeholder(mut self, placeholder: &str) -> Provider {
        placeholder.clone_into(&mut self.email_placeholder);
        self
    }

    /// The identity of an usager as it leaves for the client: with the e-mail placeholder when
    /// they gave none, checked as FranceConnect checks what it receives.
    pub fn outgoing_identity(
        &self,
        usager: &mandate::Usager,
    ) -> Result<Result<identity::IdentitePivot, identity::IdentityError>, ProviderError> {
        Ok(usager
            .identite()?
            .for_franceconnect(&self.email_placeholder))
    }

    /// The same provider, also reading `rep_scope` values by these names (FranceConnect's
    /// perimeter labels, such as `Famille-Scolarité`), besides the catalogue's ids.
    pub fn with_rep_scope_aliases(mut self, aliases: Vec<(String, Demarche)>) -> Provider {
        self.rep_scope_aliases = aliases;
        self
    }

    /// The démarche a `rep_scope` value names: a catalogue id, or an alias.
    pub fn demarche_of(&self, value: &str) -> Option<Demarche> {
        Demarche::parse(value).ok().or_else(|| {
            self.rep_scope_aliases
                .iter()
                .find(|(alias, _)| alias == value)
                .map(|(_, d)| *d)
        })
    }

    /// How the ID token's `rep_scope` names `demarche` for a request that sent `requested`:
    /// with the requested values that name it, in the requester's vocabulary; otherwise by
    /// its first alias (FranceConnect's label), or else its id.
    pub fn rep_scope_names(&self, demarche: Demarche, requested: &[String]) -> Vec<String> {
        let asked: Vec<String> = requested
            .iter()
            .filter(|v| self.demarche_of(v) == Some(demarche))
            .cloned()
            .collect();
        if !asked.is_empty() {
            return asked;
        }
        let name = self
            .rep_scope_aliases
            .iter()
            .find(|(_, d)| *d == demarche)
            .map(|(alias, _)| alias.clone())
            .unwrap_or_else(|| demarche.id().to_owned());
        vec![name]
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The registered client with this id.
    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.get(client_id)
    }

    /// The keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The lifetimes.
    pub fn lifetimes(&self) -> &Lifetimes {
        &self.lifetimes
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        self.keys.jwks()
    }

    /// The discovery document (`/.well-known/openid-configuration`).
    pub fn discovery(&self) -> Value {
        let mut id_token_algs = vec!["ES256", "RS256"];
        if self
            .clients
            .values()
            .any(|c| c.id_token_alg == SigningAlg::Hs256)
        {
            id_token_algs.push("HS256");
        }
        let mut userinfo_algs = vec!["ES256", "RS256"];
        if self
            .clients
            .values()
            .any(|c| c.userinfo_alg == Some(SigningAlg::Hs256))
        {
            userinfo_algs.push("HS256");
        }
        let mut claims: Vec<&str> = identity::SUPPORTED_CLAIMS.to_vec();
        claims.push(REP_SCOPE);
        let issuer = &self.issuer;
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "end_session_endpoint": format!("{issuer}/logout"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": id_token_algs,
            "userinfo_signing_alg_values_supported": userinfo_algs,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "scopes_supported": identity::SUPPORTED_SCOPES,
            "claims_supported": claims,
            "acr_values_supported": [ACR_EIDAS1],
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "code_challenge_methods_supported": ["S256"],
            "claims_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "ui_locales_supported": ["fr"],
        })
    }
}

/// Parses form or query parameters, refusing a repeated parameter (RFC 6749 §3.1).
pub fn parse_params(encoded: &str) -> Result<Vec<(String, String)>, String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect();
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(name.clone());
        }
    }
    Ok(pairs)
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A new random secret (code, access token): 256 bits, base64url.
pub(crate) fn new_secret(rng: &dyn ring::rand::SecureRandom) -> Result<String, ProviderError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)
        .map_err(|_| store::StoreError::Random)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(parse_params("a=1&b=2&a=3"), Err("a".to_owned()));
        let ok = parse_params("a=1&b=%C3%A9").unwrap();
        assert_eq!(param(&ok, "b"), Some("é"));
        assert_eq!(param(&ok, "c"), None);
    }
}
