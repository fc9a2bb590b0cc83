//! Usagers: the people helped, known by their identité pivot.

use crate::MandateError;
use diesel::prelude::*;
use identity::{Gender, IdentitePivot};
use ring::rand::SecureRandom;
use store::schema::usagers;
use store::{new_id, DbConnection, StoreError, Timestamp, UsagerId, WriteTx};

/// An usager.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = usagers)]
pub struct Usager {
    /// Row id.
    pub id: UsagerId,
    /// The stable identifier Aidants Connect gives FranceConnect (`sub` of our ID tokens).
    pub sub: String,
    /// FranceConnect's `sub` for Aidants Connect as a service provider, once known.
    pub franceconnect_sub: Option<String>,
    /// First names.
    pub given_name: String,
    /// Birth name.
    pub family_name: String,
    /// Usage name.
    pub preferred_username: String,
    /// `YYYY-MM-DD`.
    pub birthdate: String,
    /// `male` / `female`.
    pub gender: String,
    /// COG code of the birth commune.
    pub birthplace: String,
    /// COG code of the birth country.
    pub birthcountry: String,
    /// E-mail.
    pub email: String,
    /// Phone.
    pub phone: String,
    /// Lower-case, unaccented names, for search.
    pub search_name: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When their identity was erased on their request, if it was.
    pub erased_at: Option<Timestamp>,
    /// Where they chose, in their space, to be told of each mandate made or used in their name.
    pub notify_email: Option<String>,
}

impl Usager {
    /// The identité pivot stored for this usager.
    pub fn identite(&self) -> Result<IdentitePivot, MandateError> {
        Ok(IdentitePivot {
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            preferred_username: self.preferred_username.clone(),
            birthdate: IdentitePivot::parse_birthdate(&self.birthdate)?,
            gender: Gender::parse(&self.gender)?,
            birthplace: self.birthplace.clone(),
            birthcountry: self.birthcountry.clone(),
            email: self.email.clone(),
        })
    }

    /// The name to show.
    pub fn display_name(&self) -> String {
        identity::display_name(
            &self.given_name,
            &self.family_name,
            &self.preferred_username,
        )
    }
}

/// Lower case, French accents removed, spaces folded: how names are searched.
pub fn normalise_search(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.to_lowercase().chars() {
        match c {
            'æ' => {
                out.push_str("ae");
                continue;
            }
            'œ' => {
                out.push_str("oe");
                continue;
            }
            _ => {}
        }
        let plain = match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' => 'a',
            'ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' | 'ì' => 'i',
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ÿ' => 'y',
            '-' | '\'' | '’' => ' ',
            other => other,
        };
        if plain.is_whitespace() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
        } else {
            out.push(plain);
        }
    }
    out.trim_end().to_owned()
}

/// What it takes to register an usager.
#[derive(Debug, Clone)]
pub struct NewUsager<'a> {
    /// Identity.
    pub identite: &'a IdentitePivot,
    /// FranceConnect's sub, when identified through FranceConnect.
    pub franceconnect_sub: Option<&'a str>,
    /// Phone.
    pub phone: &'a str,
}

/// The `LIKE` pattern finding `term` anywhere in a search name, with `\` as the escape
/// character (`%` and `_` in the term match themselves).
pub(crate) fn search_pattern(term: &str) -> String {
    store::like_patterns(term).0
}

/// A new `sub`: 256 random bits, in hex.
pub(crate) fn new_sub(rng: &dyn SecureRandom) -> Result<String, MandateError> {
    let mut sub_bytes = [0u8; 32];
    rng.fill(&mut sub_bytes).map_err(|_| StoreError::Random)?;
    Ok(hex::encode(sub_bytes))
}

/// Registers an usager, giving them a new stable `sub`.
pub fn create_usager(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    new: NewUsager<'_>,
) -> Result<Usager, MandateError> {
    let identite = new.identite.clone().validated()?;
    let usager = Usager {
        id: new_id(rng)?.into(),
        sub: new_sub(rng)?,
        franceconnect_sub: new.franceconnect_sub.map(str::to_owned),
        search_name: normalise_search(&format!(
            "{} {} {}",
            identite.given_name, identite.family_name, identite.preferred_username
        )),
        given_name: identite.given_name,
        family_name: identite.family_name,
        preferred_username: identite.preferred_username,
        birthdate: identite.birthdate.to_string(),
        gender: identite.gender.as_str().to_owned(),
        birthplace: identite.birthplace,
        birthcountry: identite.birthcountry,
        email: identite.email,
        phone: new.phone.to_owned(),
        created_at: now,
        erased_at: None,
        notify_email: None,
    };
    diesel::insert_into(usagers::table)
        .values((
            usagers::id.eq(&usager.id),
            usagers::sub.eq(&usager.sub),
            usagers::franceconnect_sub.eq(&usager.franceconnect_sub),
            usagers::given_name.eq(&usager.given_name),
            usagers::family_name.eq(&usager.family_name),
            usagers::preferred_username.eq(&usager.preferred_username),
            usagers::birthdate.eq(&usager.birthdate),
            usagers::gender.eq(&usager.gender),
            usagers::birthplace.eq(&usager.birthplace),
            usagers::birthcountry.eq(&usager.birthcountry),
            usagers::email.eq(&usager.email),
            usagers::phone.eq(&usager.phone),
            usagers::search_name.eq(&usager.search_name),
            usagers::created_at.eq(usager.created_at),
        ))
        .execute(tx.conn())?;
    Ok(usager)
}

/// The usager with this row id.
pub fn usager(conn: &mut DbConnection, id: &UsagerId) -> Result<Option<Usager>, MandateError> {
    Ok(usagers::table
        .find(id)
        .select(Usager::as_select())
        .first(conn)
        .optional()?)
}

/// The usagers with these row ids (those that exist), in no order.
pub fn usagers_by_ids(
    conn: &mut DbConnection,
    ids: &[UsagerId],
) -> Result<Vec<Usager>, MandateError> {
    Ok(usagers::table
        .filter(usagers::id.eq_any(ids))
        .select(Usager::as_select())
        .load(conn)?)
}

/// The ids of the usagers whose name holds `name` (case, accents and hyphens ignored), at most
/// `limit`; none for an empty name.
pub fn usagers_named(
    conn: &mut DbConnection,
    name: &str,
    limit: i64,
) -> Result<Vec<UsagerId>, MandateError> {
    let term = normalise_search(name);
    if term.is_empty() {
        return Ok(Vec::new());
    }
    Ok(usagers::table
        .filter(
            usagers::search_name
                .like(search_pattern(&term))
                .escape('\\'),
        )
        .order(usagers::id)
        .limit(limit)
        .select(usagers::id)
        .load(conn)?)
}

/// The usager FranceConnect knows by this `sub`.
pub fn usager_by_franceconnect_sub(
    conn: &mut DbConnection,
    franceconnect_sub: &str,
) -> Result<Option<Usager>, MandateError> {
    Ok(usagers::table
        .filter(usagers::franceconnect_sub.eq(franceconnect_sub))
        .select(Usager::as_select())
        .first(conn)
        .optional()?)
}

/// The usager with this `sub`.
pub fn usager_by_sub(conn: &mut DbConnection, sub: &str) -> Result<Option<Usager>, MandateError> {
    Ok(usagers::table
        .filter(usagers::sub.eq(sub))
        .select(Usager::as_select())
        .first(conn)
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_names_ignore_case_accents_and_hyphens() {
        assert_eq!(normalise_search("Hélène  Le-Bœuf"), "helene le boeuf");
        assert_eq!(normalise_search("ÉLODIE D'Arc"), "elodie d arc");
    }
}
