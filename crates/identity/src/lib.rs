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
/// The longest first or last name FranceConnect accepts, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// Gender as FranceConnect spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    /// `female`
    Female,
    /// `male`
    Male,
    /// `unspecified`: FranceConnect may answer it, and accepts it.
    Unspecified,
}

impl Gender {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Unspecified => "unspecified",
        }
    }

    /// Parses a claim value.
    pub fn parse(value: &str) -> Result<Gender, IdentityError> {
        match value {
            "female" => Ok(Gender::Female),
            "male" => Ok(Gender::Male),
            "unspecified" => Ok(Gender::Unspecified),
            _ => Err(IdentityError::Gender),
        }
    }
}

/// A date of birth as the civil registry may know it: whole, or "presumed" with an unknown
/// day (`YYYY-MM-00`) or an unknown month and day (`YYYY-00-00`), as FranceConnect federates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Birthdate {
    year: i32,
    /// 1–12, or 0 when unknown.
    month: u32,
    /// 1–31, or 0 when unknown.
    day: u32,
}

impl Birthdate {
    /// Parses `YYYY-MM-DD`, `YYYY-MM-00` or `YYYY-00-00` (a real date when whole).
    pub fn parse(value: &str) -> Result<Birthdate, IdentityError> {
        let bytes = value.as_bytes();
        let shaped = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shaped {
            return Err(IdentityError::Birthdate);
        }
        let number = |range: std::ops::Range<usize>| value[range].parse::<u32>().ok();
        let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10))
        else {
            return Err(IdentityError::Birthdate);
        };
        let year = i32::try_from(year).map_err(|_| IdentityError::Birthdate)?;
        let valid = match (month, day) {
            (0, 0) => year > 0,
            (1..=12, 0) => year > 0,
            (_, _) => NaiveDate::from_ymd_opt(year, month, day).is_some(),
        };
        if !valid {
            return Err(IdentityError::Birthdate);
        }
        Ok(Birthdate { year, month, day })
    }

    /// Whether the day (or month) is unknown.
    pub fn is_presumed(self) -> bool {
        self.day == 0
    }

    /// As a person reads it: `24/08/1962`, or `08/1962`, or `1962` when presumed.
    pub fn display_fr(self) -> String {
        match (self.month, self.day) {
            (0, _) => format!("{:04}", self.year),
            (month, 0) => format!("{month:02}/{:04}", self.year),
            (month, day) => format!("{day:02}/{month:02}/{:04}", self.year),
        }
    }
}

impl std::fmt::Display for Birthdate {
    /// The claim value: `YYYY-MM-DD` (`00` where unknown).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Birthdate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Birthdate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Birthdate::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether `code` has the shape of an INSEE COG code (`^(2[AB]|\d{2})\d{3}$`): five digits,
/// or a Corsican commune (2A…, 2B…).
pub fn is_cog(code: &str) -> bool {
    let bytes = code.as_bytes();
    bytes.len() == 5
        && (bytes[..2].iter().all(u8::is_ascii_digit) || matches!(&bytes[..2], b"2A" | b"2B"))
        && bytes[2..].iter().all(u8::is_ascii_digit)
}

/// Whether `email` is an address FranceConnect accepts: one `@`, a local part and a dotted
/// domain, no space, 254 characters at most.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && email
            .chars()
            .all(|c| c.is_ascii_graphic() || (!c.is_ascii() && !c.is_whitespace()))
}

/// Why an identité pivot was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// `given_name` empty or longer than 256 characters.
    #[error("prénoms manquants ou trop longs (256 caractères au plus)")]
    GivenName,
    /// `family_name` empty or longer than 256 characters.
    #[error("nom de naissance manquant ou trop long (256 caractères au plus)")]
    FamilyName,
    /// `birthdate` not `YYYY-MM-DD`, `YYYY-MM-00` or `YYYY-00-00`.
    #[error("date de naissance invalide (AAAA-MM-JJ attendu, 00 pour un jour ou un mois inconnu)")]
    Birthdate,
    /// `gender` not `male`, `female` or `unspecified`.
    #[error("genre invalide (male, female ou unspecified attendu)")]
    Gender,
    /// `birthcountry` not a COG code.
    #[error("pays de naissance invalide (code COG à 5 caractères attendu)")]
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
    /// Date of birth (possibly presumed).
    pub birthdate: Birthdate,
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
    /// Checks every claim's format as FranceConnect does (names of 1 to 256 characters, COG
    /// codes, a valid e-mail when there is one) and returns the identity if all hold.
    pub fn validated(self) -> Result<IdentitePivot, IdentityError> {
        let name_ok =
            |name: &str| !name.trim().is_empty() && name.chars().count() <= MAX_NAME_CHARS;
        if !name_ok(&self.given_name) {
            return Err(IdentityError::GivenName);
        }
        if !name_ok(&self.family_name) {
            return Err(IdentityError::FamilyName);
        }
        if self.preferred_username.chars().count() > MAX_NAME_CHARS {
            return Err(IdentityError::FamilyName);
        }
        if !is_cog(&self.birthcountry) {
            return Err(IdentityError::Birthcountry);
        }
        let place_ok = if self.birthcountry == FRANCE_COG {
            is_cog(&self.birthplace)
        } else {
            self.birthplace.is_empty()
        };
        if !place_ok {
            return Err(IdentityError::Birthplace);
        }
        if !self.email.is_empty() && !is_valid_email(&self.email) {
            return Err(IdentityError::Email);
        }
        Ok(self)
    }

    /// The identity as it leaves for FranceConnect, which requires an e-mail: the usager's, or
    /// `placeholder` when they gave none (or one FranceConnect would refuse). Validated.
    pub fn for_franceconnect(mut self, placeholder: &str) -> Result<IdentitePivot, IdentityError> {
        if !is_valid_email(&self.email) {
            placeholder.clone_into(&mut self.email);
        }
        self.validated()
    }

    /// Parses a birth date (`YYYY-MM-DD`, or presumed `YYYY-MM-00`, `YYYY-00-00`).
    pub fn parse_birthdate(value: &str) -> Result<Birthdate, IdentityError> {
        Birthdate::parse(value)
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
            "birthdate" => self.birthdate.to_string(),
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
        let mut p = marie();
        p.family_name = "A".repeat(257);
        assert_eq!(p.validated(), Err(IdentityError::FamilyName));
        let mut p = marie();
        p.given_name = "É".repeat(256);
        assert!(p.validated().is_ok(), "256 characters, more bytes");
        let mut p = marie();
        p.birthplace = "2C004".into();
        assert_eq!(p.validated(), Err(IdentityError::Birthplace));
        let mut p = marie();
        p.email = "marie@localhost".into();
        assert_eq!(p.validated(), Err(IdentityError::Email));
    }

    #[test]
    fn presumed_birthdates_are_read_kept_and_shown() {
        for (text, shown) in [
            ("1962-08-24", "24/08/1962"),
            ("1962-08-00", "08/1962"),
            ("1962-00-00", "1962"),
        ] {
            let date = Birthdate::parse(text).unwrap();
            assert_eq!(date.to_string(), text);
            assert_eq!(date.display_fr(), shown);
            assert_eq!(date.is_presumed(), text.ends_with("-00"));
            let json = serde_json::to_string(&date).unwrap();
            assert_eq!(serde_json::from_str::<Birthdate>(&json).unwrap(), date);
        }
        for bad in [
            "1962-13-00",
            "1962-02-30",
            "1962-00-05",
            "0000-00-00",
            "62-08-24",
            "1962/08/24",
            "1962-08-2a",
        ] {
            assert_eq!(
                Birthdate::parse(bad),
                Err(IdentityError::Birthdate),
                "{bad}"
            );
        }
    }

    #[test]
    fn franceconnect_always_gets_an_email_and_any_gender() {
        let mut p = marie();
        p.email.clear();
        p.gender = Gender::parse("unspecified").unwrap();
        let sent = p.for_franceconnect("sans-adresse@aidants.example").unwrap();
        assert_eq!(sent.email, "sans-adresse@aidants.example");
        let claims = sent.claims_for_scopes(["openid", "profile", "email"]);
        assert_eq!(claims["gender"], "unspecified");
        assert_eq!(claims["email"], "sans-adresse@aidants.example");
        assert_eq!(
            marie().for_franceconnect("x@y.example").unwrap().email,
            "marie@example.org"
        );
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
