//! FranceConnect's core toward Aidants Connect, as strict as the real one (release fc-392RC1):
//! a static record (fixed URLs with a trailing slash, no discovery), `client_secret_post`, one
//! algorithm pinned (HS256 with the shared secret) for the ID token and for userinfo (asked as
//! `application/jwt`, required back as such), `prompt=login` on every connection, `state` and
//! `nonce` of 64 hexadecimal characters, `claims.id_token.rep_scope` with the site's
//! perimeters; the identity checked with the rules of FranceConnect's `OidcIdentityDto`, and
//! the ID token's `rep_scope` against the site's perimeters (error Y600020); end-session with
//! `id_token_hint`, `state`, `post_logout_redirect_uri` and `client_id`.
//!
//! Written here from those rules, without the service's code: it checks what Aidants Connect
//! sends, independently.

use chrono::{DateTime, NaiveDate, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use std::sync::Arc;

/// Where the core reads the time.
pub type TimeSource = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The scopes FranceConnect asks of Aidants Connect.
pub const SCOPES: &str = "openid profile email birth";

/// An administrative site behind FranceConnect, with the perimeters it is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    /// Its key in the simulator's URLs.
    pub key: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its perimeters (FranceConnect's labels); empty: any démarche.
    pub perimeters: &'static [&'static str],
}

/// The simulated sites: one without perimeters, one allowed two.
pub const SITES: &[Site] = &[
    Site {
        key: "sans-perimetre",
        name: "Démarche en ligne fictive (sans périmètre)",
        perimeters: &[],
    },
    Site {
        key: "famille-travail",
        name: "Démarche en ligne fictive (Famille-Scolarité et Travail-Formation)",
        perimeters: &["Famille-Scolarité", "Travail-Formation"],
    },
];

/// The site named `key`, or the first.
pub fn site(key: &str) -> Site {
    SITES
        .iter()
        .copied()
        .find(|s| s.key == key)
        .unwrap_or(SITES[0])
}

/// Why the core refused the connection, as FranceConnect would show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// The token endpoint refused or failed.
    #[error("Aidants Connect a refusé l'échange du code : {0}")]
    Token(String),
    /// The ID token is not what the record says (algorithm, signature, iss, aud, exp, nonce,
    /// acr).
    #[error("jeton d'identité refusé : {0}")]
    IdToken(String),
    /// Userinfo is not a JWT as the record says, or does not verify.
    #[error("userinfo refusé : {0}")]
    Userinfo(String),
    /// The identity breaks a rule of FranceConnect's identity check.
    #[error("identité refusée : {0}")]
    Identity(String),
    /// The site has perimeters and the ID token's rep_scope names none of them.
    #[error("Y600020 : le mandat sélectionné ne contient pas les autorisations nécessaires à la connexion sur ce service")]
    RepScope,
    /// Randomness failed.
    #[error("générateur aléatoire indisponible")]
    Random,
}

/// What the site receives.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CoreIdentity {
    /// sub.
    pub sub: String,
    /// The identity claims, as received.
    pub claims: serde_json::Map<String, Value>,
    /// `rep_scope` of the ID token.
    pub rep_scope: Vec<String>,
    /// The ID token, for end-session.
    pub id_token: String,
}

/// FranceConnect's record of Aidants Connect.
#[derive(Clone)]
pub struct Core {
    /// Aidants Connect's base URL (its issuer).
    pub issuer: String,
    /// FranceConnect's client_id there.
    pub client_id: String,
    /// The shared secret.
    pub client_secret: String,
    /// FranceConnect's callback.
    pub redirect_uri: String,
    /// FranceConnect's post-logout URI.
    pub post_logout_redirect_uri: String,
    /// The time.
    pub now: TimeSource,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn hex64() -> Result<String, CoreError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CoreError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl Core {
    fn endpoint(&self, name: &str) -> String {
        format!("{}/{name}/", self.issuer.trim_end_matches('/'))
    }

    /// The authorization URL for `site`, with its state and nonce.
    pub fn authorization_url(&self, site: Site) -> Result<(String, String, String), CoreError> {
        let (state, nonce) = (hex64()?, hex64()?);
        let claims = serde_json::json!({
            "id_token": { "rep_scope": { "essential": true, "values": site.perimeters } }
        })
        .to_string();
        let query = form(&[
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", SCOPES),
            ("acr_values", "eidas1"),
            ("prompt", "login"),
            ("state", &state),
            ("nonce", &nonce),
            ("claims", &claims),
        ]);
        Ok((
            format!("{}?{query}", self.endpoint("authorize")),
            state,
            nonce,
        ))
    }

    /// Exchanges `code`, verifies the ID token and userinfo, checks the identity and the
    /// perimeters of `site`.
    pub async fn finish(
        &self,
        http: &reqwest::Client,
        code: &str,
        nonce: &str,
        site: Site,
    ) -> Result<CoreIdentity, CoreError> {
        let response = http
            .post(self.endpoint("token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
            ]))
            .send()
            .await
            .map_err(|e| CoreError::Token(e.to_string()))?;
        let status = response.status();
        let tokens: Value = response
            .json()
            .await
            .map_err(|e| CoreError::Token(e.to_string()))?;
        if !status.is_success() {
            return Err(CoreError::Token(
                tokens["error"]
                    .as_str()
                    .unwrap_or("réponse illisible")
                    .to_owned(),
            ));
        }
        let (Some(access_token), Some(id_token)) =
            (tokens["access_token"].as_str(), tokens["id_token"].as_str())
        else {
            return Err(CoreError::Token("access_token ou id_token absent".into()));
        };
        if access_token.is_empty() || !access_token.is_ascii() {
            return Err(CoreError::Token("access_token invalide".into()));
        }
        let id_claims = self.verify(id_token, true).map_err(CoreError::IdToken)?;
        if id_claims["nonce"].as_str() != Some(nonce) {
            return Err(CoreError::IdToken("nonce différent de celui envoyé".into()));
        }
        let acr = id_claims["acr"].as_str().unwrap_or_default();
        if acr.is_empty() || !acr.chars().all(|c| c.is_ascii_alphanumeric()) || acr != "eidas1" {
            return Err(CoreError::IdToken(format!("acr « {acr} » refusé")));
        }
        let rep_scope: Vec<String> = match &id_claims["rep_scope"] {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    CoreError::IdToken("rep_scope doit être une liste de textes".into())
                })?,
            _ => return Err(CoreError::IdToken("rep_scope doit être une liste".into())),
        };
        if !rep_scope_accepted(site, &rep_scope) {
            return Err(CoreError::RepScope);
        }
        let response = http
            .get(self.endpoint("userinfo"))
            .bearer_auth(access_token)
            .header("accept", "application/jwt")
            .send()
            .await
            .map_err(|e| CoreError::Userinfo(e.to_string()))?;
        let is_jwt = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/jwt"));
        if !response.status().is_success() || !is_jwt {
            return Err(CoreError::Userinfo(format!(
                "statut {}, {} au lieu d'application/jwt",
                response.status().as_u16(),
                if is_jwt { "JWT" } else { "autre chose" }
            )));
        }
        let body = response
            .text()
            .await
            .map_err(|e| CoreError::Userinfo(e.to_string()))?;
        let claims = self.verify(&body, false).map_err(CoreError::Userinfo)?;
        let sub = id_claims["sub"].as_str().unwrap_or_default();
        if claims["sub"].as_str() != Some(sub) {
            return Err(CoreError::Userinfo(
                "sub différent de celui du jeton d'identité".into(),
            ));
        }
        check_identity(&claims).map_err(CoreError::Identity)?;
        let Value::Object(claims) = claims else {
            return Err(CoreError::Userinfo("objet JSON attendu".into()));
        };
        Ok(CoreIdentity {
            sub: sub.to_owned(),
            claims,
            rep_scope,
            id_token: id_token.to_owned(),
        })
    }

    /// Verifies an HS256 JWT signed with the shared secret, for this client and issuer; the
    /// ID token's expiry is checked against the core's clock.
    fn verify(&self, jwt: &str, id_token: bool) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(jwt).map_err(|e| e.to_string())?;
        if header.alg != Algorithm::HS256 {
            return Err(format!("algorithme {:?} au lieu de HS256", header.alg));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[&self.client_id]);
        validation.set_issuer(&[self.issuer.trim_end_matches('/')]);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(
            jwt,
            &DecodingKey::from_secret(self.client_secret.as_bytes()),
            &validation,
        )
        .map_err(|e| e.to_string())?
        .claims;
        if id_token {
            let now = (self.now)().timestamp();
            if claims["exp"].as_i64().is_none_or(|exp| exp <= now) {
                return Err("jeton expiré".into());
            }
        }
        Ok(claims)
    }

    /// FranceConnect's end-session toward Aidants Connect.
    pub fn logout_url(&self, id_token: &str, state: &str) -> String {
        format!(
            "{}?{}",
            self.endpoint("logout"),
            form(&[
                ("id_token_hint", id_token),
                ("state", state),
                ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
                ("client_id", &self.client_id),
            ])
        )
    }
}

/// FranceConnect's check of the ID token's `rep_scope`: a site with perimeters needs at least
/// one of them among the values; a site without accepts any.
fn rep_scope_accepted(site: Site, rep_scope: &[String]) -> bool {
    site.perimeters.is_empty()
        || rep_scope
            .iter()
            .any(|r| site.perimeters.contains(&r.as_str()))
}

/// A COG code: `^(2[AB]|\d{2})\d{3}$`.
fn is_cog(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 5
        && (b[..2].iter().all(u8::is_ascii_digit) || b[..2] == *b"2A" || b[..2] == *b"2B")
        && b[2..].iter().all(u8::is_ascii_digit)
}

/// `YYYY-MM-DD`, `YYYY-MM-00` or `YYYY-00-00`.
fn is_idp_birthdate(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
        return false;
    }
    match (*month, *day) {
        ("00", "00") => year != &"0000",
        (m, "00") => matches!(m.parse::<u32>(), Ok(1..=12)),
        _ => NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
    }
}

/// An e-mail as FranceConnect's `IsEmail` reads one, in short: one `@`, a local part, a
/// dotted domain, no space.
fn is_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// FranceConnect's identity check (`OidcIdentityDto`).
fn check_identity(claims: &Value) -> Result<(), String> {
    let text = |name: &str| claims[name].as_str();
    let sub = text("sub").unwrap_or_default();
    if sub.is_empty() || !sub.is_ascii() {
        return Err("sub absent ou non ASCII".into());
    }
    for name in ["given_name", "family_name"] {
        let value = text(name).unwrap_or_default();
        if value.is_empty() || value.chars().count() > 256 {
            return Err(format!("{name} : 1 à 256 caractères attendus"));
        }
    }
    if !text("birthdate").is_some_and(is_idp_birthdate) {
        return Err("birthdate : AAAA-MM-JJ, AAAA-MM-00 ou AAAA-00-00 attendu".into());
    }
    if !matches!(text("gender"), Some("female" | "male" | "unspecified")) {
        return Err("gender : female, male ou unspecified attendu".into());
    }
    let country = text("birthcountry").unwrap_or_default();
    if !is_cog(country) {
        return Err("birthcountry : code COG attendu".into());
    }
    if country == "99100" && !text("birthplace").is_some_and(is_cog) {
        return Err("birthplace : code COG attendu pour une personne née en France".into());
    }
    if let Some(value) = claims.get("preferred_username") {
        if !value.is_string() {
            return Err("preferred_username : texte attendu".into());
        }
    }
    if !text("email").is_some_and(is_email) {
        return Err("email absent ou invalide".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rep_scope_is_checked_against_the_site_perimeters() {
        let [open, restricted] = [SITES[0], SITES[1]];
        let values = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(rep_scope_accepted(open, &[]));
        assert!(rep_scope_accepted(open, &values(&["Etranger-Europe"])));
        assert!(rep_scope_accepted(
            restricted,
            &values(&["Travail-Formation"])
        ));
        assert!(!rep_scope_accepted(
            restricted,
            &values(&["Etranger-Europe"])
        ));
        assert!(!rep_scope_accepted(restricted, &[]));
    }

    #[test]
    fn identities_are_checked_as_franceconnect_checks_them() {
        let good = serde_json::json!({
            "sub": "abc", "given_name": "Angela", "family_name": "DUBOIS",
            "birthdate": "1962-00-00", "gender": "unspecified", "birthcountry": "99100",
            "birthplace": "2A004", "email": "angela@exemple.fr"
        });
        assert_eq!(check_identity(&good), Ok(()));
        for (claim, value) in [
            ("email", Value::Null),
            ("email", "sans-arobase".into()),
            ("gender", "autre".into()),
            ("birthdate", "1962-13-00".into()),
            ("birthdate", "1962-02-30".into()),
            ("birthcountry", "FR".into()),
            ("birthplace", "".into()),
            ("given_name", "".into()),
            ("family_name", "A".repeat(257).into()),
        ] {
            let mut bad = good.clone();
            bad[claim] = value.clone();
            assert!(check_identity(&bad).is_err(), "{claim} = {value}");
        }
        let mut abroad = good.clone();
        abroad["birthcountry"] = "99350".into();
        abroad.as_object_mut().unwrap().remove("birthplace");
        assert_eq!(check_identity(&abroad), Ok(()));
    }
}
