//! Organisations (structures habilitées), aidants, their memberships and roles (aidant,
//! référent), activation and deactivation, and the habilitation state of an organisation.
//!
//! This crate never checks a credential: the authenticator does. It opens each new
//! organisation's journal chain.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use store::schema::{aidants, memberships, organisations};
use store::{new_id, to_db, DbConnection, StoreError};

/// Errors of account management.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Journal failed.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// A SIRET must be 14 digits.
    #[error("SIRET invalide: 14 chiffres attendus")]
    Siret,
    /// An e-mail address is malformed.
    #[error("adresse électronique invalide")]
    Email,
    /// The e-mail address already belongs to an aidant.
    #[error("un aidant utilise déjà cette adresse électronique")]
    EmailTaken,
    /// A name is empty.
    #[error("le nom et le prénom sont obligatoires")]
    Name,
    /// No such role.
    #[error("rôle inconnu: {0}")]
    Role(String),
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Store(StoreError::Query(e))
    }
}

/// Where an organisation stands in its habilitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Habilitation {
    /// Request filed.
    New,
    /// Awaiting the national team.
    Awaiting,
    /// Habilitated: its aidants may work.
    Validated,
    /// Refused.
    Refused,
    /// Changes required.
    ChangesRequired,
    /// Closed.
    Closed,
}

impl Habilitation {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Habilitation::New => "new",
            Habilitation::Awaiting => "awaiting",
            Habilitation::Validated => "validated",
            Habilitation::Refused => "refused",
            Habilitation::ChangesRequired => "changes_required",
            Habilitation::Closed => "closed",
        }
    }
}

/// The role of an aidant in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Uses mandates.
    Aidant,
    /// Also manages the organisation's aidants and cards.
    Referent,
}

impl Role {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Aidant => "aidant",
            Role::Referent => "referent",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Result<Role, AccountError> {
        match value {
            "aidant" => Ok(Role::Aidant),
            "referent" => Ok(Role::Referent),
            other => Err(AccountError::Role(other.to_owned())),
        }
    }
}

/// An organisation (structure).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = organisations)]
pub struct Organisation {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// SIRET (14 digits).
    pub siret: String,
    /// Street address.
    pub address: String,
    /// Postcode.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// Type (CCAS, France Services, mairie, association…).
    pub kind: String,
    /// Habilitation state (stored name).
    pub habilitation: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

impl Organisation {
    /// Whether its aidants may use and create mandates.
    pub fn is_habilitated(&self) -> bool {
        self.habilitation == Habilitation::Validated.as_str()
    }
}

/// What it takes to create an organisation.
#[derive(Debug, Clone)]
pub struct NewOrganisation<'a> {
    /// Name.
    pub name: &'a str,
    /// SIRET.
    pub siret: &'a str,
    /// Street address.
    pub address: &'a str,
    /// Postcode.
    pub zipcode: &'a str,
    /// City.
    pub city: &'a str,
    /// Type.
    pub kind: &'a str,
    /// Habilitation state.
    pub habilitation: Habilitation,
}

/// An aidant.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = aidants)]
pub struct Aidant {
    /// Id.
    pub id: String,
    /// Professional e-mail address (lower case).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Profession.
    pub profession: String,
    /// Phone.
    pub phone: String,
    /// Whether the account is active.
    pub active: bool,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

impl Aidant {
    /// "First Last".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// What it takes to create an aidant.
#[derive(Debug, Clone)]
pub struct NewAidant<'a> {
    /// E-mail address.
    pub email: &'a str,
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// Profession.
    pub profession: &'a str,
    /// Phone.
    pub phone: &'a str,
    /// Whether the account starts active.
    pub active: bool,
}

/// Normalises an e-mail address for lookups (trimmed, lower case).
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates an organisation and opens its journal chain (call inside a write transaction).
pub fn create_organisation(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    now: DateTime<Utc>,
    new: NewOrganisation<'_>,
) -> Result<Organisation, AccountError> {
    if new.siret.len() != 14 || !new.siret.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AccountError::Siret);
    }
    let organisation = Organisation {
        id: new_id(rng)?,
        name: new.name.trim().to_owned(),
        siret: new.siret.to_owned(),
        address: new.address.to_owned(),
        zipcode: new.zipcode.to_owned(),
        city: new.city.to_owned(),
        kind: new.kind.to_owned(),
        habilitation: new.habilitation.as_str().to_owned(),
        created_at: to_db(now),
    };
    diesel::insert_into(organisations::table)
        .values((
            organisations::id.eq(&organisation.id),
            organisations::name.eq(&organisation.name),
            organisations::siret.eq(&organisation.siret),
            organisations::address.eq(&organisation.address),
            organisations::zipcode.eq(&organisation.zipcode),
            organisations::city.eq(&organisation.city),
            organisations::kind.eq(&organisation.kind),
            organisations::habilitation.eq(&organisation.habilitation),
            organisations::created_at.eq(organisation.created_at),
        ))
        .execute(conn)?;
    journal::open_chain(conn, &organisation.id)?;
    Ok(organisation)
}

/// Creates an aidant (without membership).
pub fn create_aidant(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    now: DateTime<Utc>,
    new: NewAidant<'_>,
) -> Result<Aidant, AccountError> {
    let email = normalise_email(new.email);
    let Some((local, domain)) = email.split_once('@') else {
        return Err(AccountError::Email);
    };
    if local.is_empty() || !domain.contains('.') || email.contains(char::is_whitespace) {
        return Err(AccountError::Email);
    }
    if new.first_name.trim().is_empty() || new.last_name.trim().is_empty() {
        return Err(AccountError::Name);
    }
    if find_aidant_by_email(conn, &email)?.is_some() {
        return Err(AccountError::EmailTaken);
    }
    let aidant = Aidant {
        id: new_id(rng)?,
        email,
        first_name: new.first_name.trim().to_owned(),
        last_name: new.last_name.trim().to_owned(),
        profession: new.profession.trim().to_owned(),
        phone: new.phone.trim().to_owned(),
        active: new.active,
        created_at: to_db(now),
    };
    diesel::insert_into(aidants::table)
        .values((
            aidants::id.eq(&aidant.id),
            aidants::email.eq(&aidant.email),
            aidants::first_name.eq(&aidant.first_name),
            aidants::last_name.eq(&aidant.last_name),
            aidants::profession.eq(&aidant.profession),
            aidants::phone.eq(&aidant.phone),
            aidants::active.eq(aidant.active),
            aidants::created_at.eq(aidant.created_at),
        ))
        .execute(conn)?;
    Ok(aidant)
}

/// Makes an aidant a member of an organisation with a role (or changes the role).
pub fn set_membership(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    aidant_id: &str,
    organisation_id: &str,
    role: Role,
) -> Result<(), AccountError> {
    let changed = diesel::update(memberships::table.find((aidant_id, organisation_id)))
        .set(memberships::role.eq(role.as_str()))
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(memberships::table)
            .values((
                memberships::aidant_id.eq(aidant_id),
                memberships::organisation_id.eq(organisation_id),
                memberships::role.eq(role.as_str()),
                memberships::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The aidant with this e-mail address, active or not.
pub fn find_aidant_by_email(
    conn: &mut DbConnection,
    email: &str,
) -> Result<Option<Aidant>, AccountError> {
    Ok(aidants::table
        .filter(aidants::email.eq(normalise_email(email)))
        .select(Aidant::as_select())
        .first(conn)
        .optional()?)
}

/// The aidant with this id.
pub fn aidant(conn: &mut DbConnection, id: &str) -> Result<Option<Aidant>, AccountError> {
    Ok(aidants::table
        .find(id)
        .select(Aidant::as_select())
        .first(conn)
        .optional()?)
}

/// The organisation with this id.
pub fn organisation(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<Organisation>, AccountError> {
    Ok(organisations::table
        .find(id)
        .select(Organisation::as_select())
        .first(conn)
        .optional()?)
}

/// Activates or deactivates an aidant.
pub fn set_active(
    conn: &mut DbConnection,
    aidant_id: &str,
    active: bool,
) -> Result<(), AccountError> {
    diesel::update(aidants::table.find(aidant_id))
        .set(aidants::active.eq(active))
        .execute(conn)?;
    Ok(())
}

/// The habilitated organisations an aidant may work for, by name, with the role held.
pub fn working_organisations(
    conn: &mut DbConnection,
    aidant_id: &str,
) -> Result<Vec<(Organisation, Role)>, AccountError> {
    let rows: Vec<(Organisation, String)> = memberships::table
        .inner_join(organisations::table)
        .filter(memberships::aidant_id.eq(aidant_id))
        .filter(organisations::habilitation.eq(Habilitation::Validated.as_str()))
        .order(organisations::name.asc())
        .select((Organisation::as_select(), memberships::role))
        .load(conn)?;
    rows.into_iter()
        .map(|(o, role)| Ok((o, Role::parse(&role)?)))
        .collect()
}

/// Whether the aidant is an active member of this habilitated organisation.
pub fn may_work_for(
    conn: &mut DbConnection,
    aidant_id: &str,
    organisation_id: &str,
) -> Result<bool, AccountError> {
    let count: i64 = memberships::table
        .inner_join(organisations::table)
        .inner_join(aidants::table)
        .filter(memberships::aidant_id.eq(aidant_id))
        .filter(memberships::organisation_id.eq(organisation_id))
        .filter(organisations::habilitation.eq(Habilitation::Validated.as_str()))
        .filter(aidants::active.eq(true))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}
