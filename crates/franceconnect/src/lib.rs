//! The service-provider side toward FranceConnect, used when a mandate is created and the
//! usager proves who they are: the authorization request (state, nonce, acr, identité pivot
//! scopes) and the mapping of FranceConnect's userinfo into an `identity::IdentitePivot`.
//!
//! It never touches the database. The code exchange and ID-token validation (openidconnect +
//! reqwest) join this crate with the mandate-creation flow.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use identity::{Gender, IdentitePivot};
use ring::rand::SecureRandom;
use serde_json::Value;

/// Scopes asked of FranceConnect: the whole identité pivot and the e-mail.
pub const PIVOT_SCOPES: &str = "openid given_name family_name preferred_username birthdate gender birthplace birthcountry email";

/// Errors toward FranceConnect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FranceConnectError {
    /// The configured authorization endpoint is not a URL.
    #[error("adresse FranceConnect invalide: {0}")]
    Endpoint(String),
    /// The random generator failed.
    #[error("générateur aléatoire indisponible")]
    Random,
    /// A claim is missing from userinfo.
    #[error("FranceConnect n'a pas transmis {0}")]
    MissingClaim(&'static str),
    /// The identity FranceConnect sent is malformed.
    #[error("identité FranceConnect invalide: {0}")]
    Identity(#[from] identity::IdentityError),
}

/// Where and as whom we ask FranceConnect.
#[derive(Debug, Clone)]
pub struct ServiceProvider {
    /// FranceConnect's authorization endpoint.
    pub authorization_endpoint: String,
    /// Our client_id at FranceConnect.
    pub client_id: String,
    /// Our registered callback.
    pub redirect_uri: String,
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

fn random_token(rng: &dyn SecureRandom) -> Result<String, FranceConnectError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)
        .map_err(|_| FranceConnectError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl ServiceProvider {
    /// A new authorization request (code flow, identité pivot scopes, eidas1).
    pub fn authorization_request(
        &self,
        rng: &dyn SecureRandom,
    ) -> Result<AuthorizationRequest, FranceConnectError> {
        let state = random_token(rng)?;
        let nonce = random_token(rng)?;
        let mut url = url::Url::parse(&self.authorization_endpoint)
            .map_err(|e| FranceConnectError::Endpoint(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", PIVOT_SCOPES)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("acr_values", "eidas1");
        Ok(AuthorizationRequest {
            url: url.to_string(),
            state,
            nonce,
        })
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
    use ring::rand::SystemRandom;

    #[test]
    fn authorization_requests_carry_fresh_state_and_nonce() {
        let sp = ServiceProvider {
            authorization_endpoint: "https://fc.example/api/v1/authorize".into(),
            client_id: "ac".into(),
            redirect_uri: "https://ac.example/fc/callback".into(),
        };
        let rng = SystemRandom::new();
        let a = sp.authorization_request(&rng).unwrap();
        let b = sp.authorization_request(&rng).unwrap();
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        let url = url::Url::parse(&a.url).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["acr_values"], "eidas1");
        assert_eq!(q["state"], a.state);
        assert_eq!(q["redirect_uri"], "https://ac.example/fc/callback");
        assert!(q["scope"].starts_with("openid "));
    }

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
