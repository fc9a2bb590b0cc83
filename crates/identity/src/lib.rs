//! The identité pivot: the person claims FranceConnect federates (given_name, family_name,
//! preferred_username, birthdate, gender, birthplace, birthcountry, email), their formats and
//! their validation, and which of them each OpenID Connect scope releases.
//!
//! This crate knows nothing of databases or HTTP: it is shared by the identity provider, the
//! FranceConnect client and the FranceConnect simulator.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The INSEE COG code of France as a birth country.
pub const FRANCE_COG: &str = "99100";

/// Gender as FranceConnect spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    /// `female`
    Female,
    /// `male`
    Male,
}

impl Gender {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
        }
    }

    /// Parses a claim value.
    pub fn parse(value: &str) -> Result<Gender, IdentityError> {
        match value {
            "female" => Ok(Gender::Female),
            "male" => Ok(Gender::Male),
            _ => Err(IdentityError::Gender),
        }
    }
}

/// Why an identité pivot was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// `given_name` empty.
    #[error("prénoms manquants")]
    GivenName,
    /// `family_name` empty.
    #[error("nom de naissance manquant")]
    FamilyName,
    /// `birthdate` not `YYYY-MM-DD`.
    #[error("date de naissance invalide (AAAA-MM-JJ attendu)")]
    Birthdate,
    /// `gender` neither `male` nor `female`.
    #[error("genre invalide (male ou female attendu)")]
    Gender,
    /// `birthcountry` not a 5-digit COG code.
    #[error("pays de naissance invalide (code COG à 5 chiffres attendu)")]
    Birthcountry,
    /// `birthplace` not a 5-character COG code for a person born in France, or not empty for a
    /// person born abroad.
    #[error("lieu de naissance invalide (code COG de la commune, vide si né à l'étranger)")]
    Birthplace,
    /// `email` without an `@`.
    #[error("adresse électronique invalide")]
    Email,
}

/// The identité pivot of a person, as FranceConnect federates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitePivot {
    /// First names, space-separated.
    pub given_name: String,
    /// Birth name.
    pub family_name: String,
    /// Usage name; empty when none.
    pub preferred_username: String,
    /// Date of birth.
    pub birthdate: NaiveDate,
    /// Gender.
    pub gender: Gender,
    /// COG code of the birth commune; empty when born abroad.
    pub birthplace: String,
    /// COG code of the birth country (99100 = France).
    pub birthcountry: String,
    /// E-mail address; may be empty.
    pub email: String,
}

impl IdentitePivot {
    /// Checks every claim's format and returns the identity if all hold.
    pub fn validated(self) -> Result<IdentitePivot, IdentityError> {
        if self.given_name.trim().is_empty() {
            return Err(IdentityError::GivenName);
        }
        if self.family_name.trim().is_empty() {
            return Err(IdentityError::FamilyName);
        }
        if self.birthcountry.len() != 5 || !self.birthcountry.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdentityError::Birthcountry);
        }
        let born_in_france = self.birthcountry == FRANCE_COG;
        let place_ok = if born_in_france {
            // Corsican communes use 2A/2B.
            self.birthplace.len() == 5 && self.birthplace.bytes().all(|b| b.is_ascii_alphanumeric())
        } else {
            self.birthplace.is_empty()
        };
        if !place_ok {
            return Err(IdentityError::Birthplace);
        }
        if !self.email.is_empty() && !self.email.contains('@') {
            return Err(IdentityError::Email);
        }
        Ok(self)
    }

    /// Parses a `YYYY-MM-DD` birth date.
    pub fn parse_birthdate(value: &str) -> Result<NaiveDate, IdentityError> {
        NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| IdentityError::Birthdate)
    }

    /// The name to show a person: usage name if any, else birth name, after the first names.
    pub fn display_name(&self) -> String {
        display_name(
            &self.given_name,
            &self.family_name,
            &self.preferred_username,
        )
    }

    /// The claims that `scopes` release, as a JSON object (without `sub`). A claim without a
    /// value (no usage name, born abroad so no birth commune) is left out, never sent as `""`.
    pub fn claims_for_scopes<'a>(
        &self,
        scopes: impl IntoIterator<Item = &'a str>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut claims = serde_json::Map::new();
        for scope in scopes {
            for claim in claims_of_scope(scope) {
                let value = self.claim(claim);
                if !value.is_empty() {
                    claims.insert((*claim).to_owned(), value.into());
                }
            }
        }
        claims
    }

    fn claim(&self, name: &str) -> String {
        match name {
            "given_name" => self.given_name.clone(),
            "family_name" => self.family_name.clone(),
            "preferred_username" => self.preferred_username.clone(),
            "birthdate" => self.birthdate.format("%Y-%m-%d").to_string(),
            "gender" => self.gender.as_str().to_owned(),
            "birthplace" => self.birthplace.clone(),
            "birthcountry" => self.birthcountry.clone(),
            "email" => self.email.clone(),
            _ => String::new(),
        }
    }
}

/// The name to show a person: the usage name if any, else the birth name, after the first names.
pub fn display_name(given_name: &str, family_name: &str, preferred_username: &str) -> String {
    let last = if preferred_username.is_empty() {
        family_name
    } else {
        preferred_username
    };
    format!("{given_name} {last}")
}

/// The identité pivot claims a scope releases (FranceConnect's scope-to-claims table).
pub fn claims_of_scope(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "given_name",
            "family_name",
            "preferred_username",
            "birthdate",
            "gender",
        ],
        "birth" => &["birthplace", "birthcountry"],
        "identite_pivot" => &[
            "given_name",
            "family_name",
            "birthdate",
            "gender",
            "birthplace",
            "birthcountry",
        ],
        "given_name" => &["given_name"],
        "family_name" => &["family_name"],
        "preferred_username" => &["preferred_username"],
        "birthdate" => &["birthdate"],
        "gender" => &["gender"],
        "birthplace" => &["birthplace"],
        "birthcountry" => &["birthcountry"],
        "email" => &["email"],
        _ => &[],
    }
}

/// Every scope this service understands, `openid` first.
pub const SUPPORTED_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "birth",
    "identite_pivot",
    "given_name",
    "family_name",
    "preferred_username",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
];

/// Every claim this service can release.
pub const SUPPORTED_CLAIMS: &[&str] = &[
    "sub",
    "given_name",
    "family_name",
    "preferred_username",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn marie() -> IdentitePivot {
        IdentitePivot {
            given_name: "Marie Claire".into(),
            family_name: "DUPONT".into(),
            preferred_username: "MARTIN".into(),
            birthdate: IdentitePivot::parse_birthdate("1950-03-12").unwrap(),
            gender: Gender::Female,
            birthplace: "75107".into(),
            birthcountry: FRANCE_COG.into(),
            email: "marie@example.org".into(),
        }
    }

    #[test]
    fn a_complete_identity_is_valid() {
        assert_eq!(marie().validated(), Ok(marie()));
    }

    #[test]
    fn born_abroad_has_an_empty_birthplace() {
        let mut p = marie();
        p.birthcountry = "99350".into();
        assert_eq!(p.clone().validated(), Err(IdentityError::Birthplace));
        p.birthplace.clear();
        assert!(p.validated().is_ok());
    }

    #[test]
    fn corsican_birthplaces_are_accepted() {
        let mut p = marie();
        p.birthplace = "2A004".into();
        assert!(p.validated().is_ok());
    }

    #[test]
    fn malformed_claims_are_refused() {
        let mut p = marie();
        p.given_name = " ".into();
        assert_eq!(p.validated(), Err(IdentityError::GivenName));
        let mut p = marie();
        p.birthcountry = "FR".into();
        assert_eq!(p.validated(), Err(IdentityError::Birthcountry));
        assert_eq!(
            IdentitePivot::parse_birthdate("12/03/1950"),
            Err(IdentityError::Birthdate)
        );
        assert_eq!(Gender::parse("x"), Err(IdentityError::Gender));
    }

    #[test]
    fn scopes_release_only_their_claims() {
        let claims = marie().claims_for_scopes(["openid", "birth"]);
        assert_eq!(claims.len(), 2);
        assert_eq!(claims["birthplace"], "75107");
        let claims = marie().claims_for_scopes(["openid", "profile", "email"]);
        assert_eq!(claims["birthdate"], "1950-03-12");
        assert_eq!(claims["gender"], "female");
        assert_eq!(claims["email"], "marie@example.org");
        assert!(!claims.contains_key("birthplace"));
    }

    #[test]
    fn display_name_prefers_the_usage_name() {
        assert_eq!(marie().display_name(), "Marie Claire MARTIN");
    }
}
