//! Organisations (structures habilitées), aidants, their memberships and roles (aidant,
//! référent), activation and deactivation, and the habilitation state of an organisation.
//!
//! This crate never checks a credential: the authenticator does. It opens each new
//! organisation's journal chain. It applies the inactivity rule ([`apply_inactivity`]) and
//! records the addresses whose mail is refused ([`record_undeliverable`]).

mod edits;
mod inactivity;

pub use edits::{
    deactivate_account, edit_aidant, edit_organisation, search_aidants, set_member_active,
    set_role, AidantDetails, OrganisationDetails,
};
pub use inactivity::{apply_inactivity, restart_idle, InactivityRound, InactivityRule};

use diesel::prelude::*;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use store::schema::{aidants, memberships, organisations};
use store::{
    new_id, AidantId, DbConnection, OrganisationId, StaffId, StoreError, Timestamp, WriteTx,
};

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
    /// An e-mail could not be written to the outbox.
    #[error(transparent)]
    Mail(#[from] mail::MailError),
    /// A SIRET must be 14 digits.
    #[error("SIRET invalide: 14 chiffres attendus")]
    Siret,
    /// A postcode must be 5 digits.
    #[error("code postal invalide : 5 chiffres attendus")]
    Zipcode,
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
    /// No such habilitation state.
    #[error("état d'habilitation inconnu: {0}")]
    Habilitation(String),
    /// No organisation has this SIRET.
    #[error("aucune structure n'a le SIRET {0}")]
    UnknownSiret(String),
    /// An organisation already has this SIRET.
    #[error("une structure a déjà le SIRET {0}")]
    SiretTaken(String),
    /// No aidant has this e-mail address.
    #[error("aucun aidant n'a l'adresse {0}")]
    UnknownEmail(String),
    /// The aidant is already a member of the organisation.
    #[error("cet aidant fait déjà partie de la structure")]
    AlreadyMember,
    /// No such organisation.
    #[error("structure inconnue")]
    UnknownOrganisation,
    /// The aidant is not a member of the organisation.
    #[error("cet aidant ne fait pas partie de la structure")]
    NotMember,
    /// The change would leave the organisation without a working référent.
    #[error("la structure doit garder au moins un référent en activité : désignez d'abord un autre référent")]
    LastReferent,
}

impl AccountError {
    /// Whether the input was refused (nothing was written, a person can correct it), rather
    /// than storage failing.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            AccountError::Store(_) | AccountError::Journal(_) | AccountError::Mail(_)
        )
    }
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Store(StoreError::Query(e))
    }
}

store::text_enum! {
    /// Where an organisation stands in its habilitation (stored as its name).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Habilitation(AccountError, AccountError::Habilitation) {
        /// Request filed.
        New = "new",
        /// Awaiting the national team.
        Awaiting = "awaiting",
        /// Habilitated: its aidants may work.
        Validated = "validated",
        /// Refused.
        Refused = "refused",
        /// Changes required.
        ChangesRequired = "changes_required",
        /// Closed.
        Closed = "closed",
    }
}

store::text_enum! {
    /// The role of an aidant in an organisation (stored as its name).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Role(AccountError, AccountError::Role) {
        /// Uses mandates.
        Aidant = "aidant",
        /// Also manages the organisation's aidants and cards.
        Referent = "referent",
    }
}

/// An organisation (structure).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = organisations)]
pub struct Organisation {
    /// Id.
    pub id: OrganisationId,
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
    /// Habilitation state.
    pub habilitation: Habilitation,
    /// Creation time.
    pub created_at: Timestamp,
    /// The démarches it may do, as a JSON array of catalogue ids; `None`: all.
    pub allowed_demarches: Option<String>,
    /// Whether it holds the France Services label.
    pub france_services: bool,
}

impl Organisation {
    /// Whether its aidants may use and create mandates.
    pub fn is_habilitated(&self) -> bool {
        self.habilitation == Habilitation::Validated
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
    /// Whether it holds the France Services label.
    pub france_services: bool,
}

/// An aidant.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = aidants)]
pub struct Aidant {
    /// Id.
    pub id: AidantId,
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
    pub created_at: Timestamp,
    /// Whether they may act for usagers (make mandates, use them): not a structure's référent
    /// who is no aidant, or not trained yet.
    pub acts_for_usagers: bool,
    /// The last version of the CGU they accepted, if any.
    pub cgu_version: Option<i32>,
}

impl Aidant {
    /// "First Last".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// How an usager reads the aidant's name: « Prénom N. ».
    pub fn first_name_and_initial(&self) -> String {
        let initial: String = self.last_name.chars().take(1).collect();
        format!("{} {initial}.", self.first_name)
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

/// Whether a (normalised) e-mail address has the shape of one: a local part, `@`, a domain
/// with a dot, no space.
pub fn is_valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Normalises an e-mail address for lookups (trimmed, lower case).
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates an organisation and opens its journal chain (inside the caller's transaction).
pub fn create_organisation(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    new: NewOrganisation<'_>,
) -> Result<Organisation, AccountError> {
    if new.siret.len() != 14 || !new.siret.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AccountError::Siret);
    }
    if new.name.trim().is_empty() {
        return Err(AccountError::Name);
    }
    if new.zipcode.len() != 5 || !new.zipcode.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AccountError::Zipcode);
    }
    if organisation_by_siret(tx.conn(), new.siret)?.is_some() {
        return Err(AccountError::SiretTaken(new.siret.to_owned()));
    }
    let organisation = Organisation {
        id: new_id(rng)?.into(),
        name: new.name.trim().to_owned(),
        siret: new.siret.to_owned(),
        address: new.address.to_owned(),
        zipcode: new.zipcode.to_owned(),
        city: new.city.to_owned(),
        kind: new.kind.to_owned(),
        habilitation: new.habilitation,
        created_at: now,
        allowed_demarches: None,
        france_services: new.france_services,
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
            organisations::france_services.eq(organisation.france_services),
        ))
        .execute(tx.conn())?;
    journal::open_chain(tx, organisation.id.as_str())?;
    Ok(organisation)
}

/// Creates an aidant (without membership).
pub fn create_aidant(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    new: NewAidant<'_>,
) -> Result<Aidant, AccountError> {
    let email = checked_identity(tx.conn(), new.email, new.first_name, new.last_name, None)?;
    let aidant = Aidant {
        id: new_id(rng)?.into(),
        email,
        first_name: new.first_name.trim().to_owned(),
        last_name: new.last_name.trim().to_owned(),
        profession: new.profession.trim().to_owned(),
        phone: new.phone.trim().to_owned(),
        active: new.active,
        created_at: now,
        acts_for_usagers: true,
        cgu_version: None,
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
        .execute(tx.conn())?;
    Ok(aidant)
}

/// Records that the aidant accepted `version` of the CGU at `now`, in the caller's transaction
/// (the authenticator's acceptance, which journals it; the demo and test seeds).
pub fn record_cgu_acceptance(
    tx: &mut WriteTx<'_>,
    aidant_id: &AidantId,
    version: i32,
    now: Timestamp,
) -> Result<(), AccountError> {
    diesel::update(aidants::table.find(aidant_id))
        .set((
            aidants::cgu_version.eq(Some(version)),
            aidants::cgu_accepted_at.eq(Some(now)),
        ))
        .execute(tx.conn())?;
    Ok(())
}

/// The normalised address of an aidant's identity, once it is well formed, both names are
/// given and no other aidant than `except` has the address.
fn checked_identity(
    conn: &mut DbConnection,
    email: &str,
    first_name: &str,
    last_name: &str,
    except: Option<&AidantId>,
) -> Result<String, AccountError> {
    let email = normalise_email(email);
    if !is_valid_email(&email) {
        return Err(AccountError::Email);
    }
    if first_name.trim().is_empty() || last_name.trim().is_empty() {
        return Err(AccountError::Name);
    }
    if find_aidant_by_email(conn, &email)?.is_some_and(|other| Some(&other.id) != except) {
        return Err(AccountError::EmailTaken);
    }
    Ok(email)
}

/// Makes an aidant a member of an organisation with a role (or changes the role).
pub fn set_membership(
    tx: &mut WriteTx<'_>,
    now: Timestamp,
    aidant_id: &AidantId,
    organisation_id: &OrganisationId,
    role: Role,
) -> Result<(), AccountError> {
    let changed = diesel::update(memberships::table.find((aidant_id, organisation_id)))
        .set(memberships::role.eq(role))
        .execute(tx.conn())?;
    if changed == 0 {
        diesel::insert_into(memberships::table)
            .values((
                memberships::aidant_id.eq(aidant_id),
                memberships::organisation_id.eq(organisation_id),
                memberships::role.eq(role),
                memberships::created_at.eq(now),
                memberships::active.eq(true),
            ))
            .execute(tx.conn())?;
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
pub fn aidant(conn: &mut DbConnection, id: &AidantId) -> Result<Option<Aidant>, AccountError> {
    Ok(aidants::table
        .find(id)
        .select(Aidant::as_select())
        .first(conn)
        .optional()?)
}

/// The organisation with this id.
pub fn organisation(
    conn: &mut DbConnection,
    id: &OrganisationId,
) -> Result<Option<Organisation>, AccountError> {
    Ok(organisations::table
        .find(id)
        .select(Organisation::as_select())
        .first(conn)
        .optional()?)
}

/// The aidants with these ids (those that exist), in no order.
pub fn aidants_by_ids(
    conn: &mut DbConnection,
    ids: &[AidantId],
) -> Result<Vec<Aidant>, AccountError> {
    Ok(aidants::table
        .filter(aidants::id.eq_any(ids))
        .select(Aidant::as_select())
        .load(conn)?)
}

/// The organisations with these ids (those that exist), in no order.
pub fn organisations_by_ids(
    conn: &mut DbConnection,
    ids: &[OrganisationId],
) -> Result<Vec<Organisation>, AccountError> {
    Ok(organisations::table
        .filter(organisations::id.eq_any(ids))
        .select(Organisation::as_select())
        .load(conn)?)
}

/// The organisations by id after `after`, at most `limit` (an export's batches).
pub fn organisations_after(
    conn: &mut DbConnection,
    after: Option<&OrganisationId>,
    limit: i64,
) -> Result<Vec<Organisation>, AccountError> {
    let mut query = organisations::table
        .order(organisations::id.asc())
        .limit(limit)
        .select(Organisation::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(organisations::id.gt(after));
    }
    Ok(query.load(conn)?)
}

/// The aidants by id after `after`, at most `limit` (an export's batches).
pub fn aidants_after(
    conn: &mut DbConnection,
    after: Option<&AidantId>,
    limit: i64,
) -> Result<Vec<Aidant>, AccountError> {
    let mut query = aidants::table
        .order(aidants::id.asc())
        .limit(limit)
        .select(Aidant::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(aidants::id.gt(after));
    }
    Ok(query.load(conn)?)
}

/// Per organisation among `ids` with any: how many aidants may work for it (account and
/// membership active).
pub fn working_members_count(
    conn: &mut DbConnection,
    ids: &[OrganisationId],
) -> Result<Vec<(OrganisationId, i64)>, AccountError> {
    Ok(memberships::table
        .inner_join(aidants::table)
        .filter(memberships::organisation_id.eq_any(ids))
        .filter(memberships::active.eq(true))
        .filter(aidants::active.eq(true))
        .group_by(memberships::organisation_id)
        .select((memberships::organisation_id, diesel::dsl::count_star()))
        .load(conn)?)
}

/// The memberships of these aidants: aidant, organisation, role, whether active.
pub fn memberships_of(
    conn: &mut DbConnection,
    ids: &[AidantId],
) -> Result<Vec<(AidantId, OrganisationId, Role, bool)>, AccountError> {
    Ok(memberships::table
        .filter(memberships::aidant_id.eq_any(ids))
        .order((memberships::aidant_id, memberships::organisation_id))
        .select((
            memberships::aidant_id,
            memberships::organisation_id,
            memberships::role,
            memberships::active,
        ))
        .load(conn)?)
}

/// Activates or deactivates an aidant.
pub fn set_active(
    tx: &mut WriteTx<'_>,
    aidant_id: &AidantId,
    active: bool,
) -> Result<(), AccountError> {
    diesel::update(aidants::table.find(aidant_id))
        .set(aidants::active.eq(active))
        .execute(tx.conn())?;
    Ok(())
}

/// The habilitated organisations an aidant may work for, by name, with the role held.
pub fn working_organisations(
    conn: &mut DbConnection,
    aidant_id: &AidantId,
) -> Result<Vec<(Organisation, Role)>, AccountError> {
    Ok(memberships::table
        .inner_join(organisations::table)
        .filter(memberships::aidant_id.eq(aidant_id))
        .filter(memberships::active.eq(true))
        .filter(organisations::habilitation.eq(Habilitation::Validated))
        .order(organisations::name.asc())
        .select((Organisation::as_select(), memberships::role))
        .load(conn)?)
}

/// The rule "the aidant may work for the structure", as one SQL expression over a membership
/// joined with its structure and its aidant: the membership is active, the structure
/// habilitated, the aidant active. [`may_work_for`] asks it; the authenticator joins it into
/// the session lookup.
pub type WorkingMembership = diesel::dsl::And<
    diesel::dsl::And<
        diesel::dsl::Eq<memberships::active, bool>,
        diesel::dsl::Eq<organisations::habilitation, Habilitation>,
    >,
    diesel::dsl::Eq<aidants::active, bool>,
>;

/// See [`WorkingMembership`].
pub fn working_membership() -> WorkingMembership {
    memberships::active
        .eq(true)
        .and(organisations::habilitation.eq(Habilitation::Validated))
        .and(aidants::active.eq(true))
}

/// Whether the aidant is an active member of this habilitated organisation.
pub fn may_work_for(
    conn: &mut DbConnection,
    aidant_id: &AidantId,
    organisation_id: &OrganisationId,
) -> Result<bool, AccountError> {
    let count: i64 = memberships::table
        .inner_join(organisations::table)
        .inner_join(aidants::table)
        .filter(memberships::aidant_id.eq(aidant_id))
        .filter(memberships::organisation_id.eq(organisation_id))
        .filter(working_membership())
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// The organisation with this SIRET.
pub fn organisation_by_siret(
    conn: &mut DbConnection,
    siret: &str,
) -> Result<Option<Organisation>, AccountError> {
    Ok(organisations::table
        .filter(organisations::siret.eq(siret.trim()))
        .select(Organisation::as_select())
        .first(conn)
        .optional()?)
}

/// The organisation a person names by its id or its SIRET.
pub fn organisation_named(
    conn: &mut DbConnection,
    typed: &str,
) -> Result<Option<Organisation>, AccountError> {
    let typed = typed.trim();
    match organisation(conn, &OrganisationId::from(typed))? {
        Some(found) => Ok(Some(found)),
        None => organisation_by_siret(conn, typed),
    }
}

/// An aidant as a member of one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The aidant.
    pub aidant: Aidant,
    /// Their role there.
    pub role: Role,
    /// Whether their membership is active (a référent can deactivate it).
    pub active: bool,
}

impl Member {
    /// Whether they can sign in and work for the organisation: activated by the national
    /// team and not deactivated by a référent.
    pub fn can_work(&self) -> bool {
        self.active && self.aidant.active
    }
}

/// The members of an organisation, by last and first name.
pub fn members(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
) -> Result<Vec<Member>, AccountError> {
    let rows: Vec<(Aidant, Role, bool)> = memberships::table
        .inner_join(aidants::table)
        .filter(memberships::organisation_id.eq(organisation_id))
        .order((aidants::last_name.asc(), aidants::first_name.asc()))
        .select((Aidant::as_select(), memberships::role, memberships::active))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(aidant, role, active)| Member {
            aidant,
            role,
            active,
        })
        .collect())
}

/// One aidant as a member of one organisation, if they are one (active or not).
pub fn member(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    aidant_id: &AidantId,
) -> Result<Option<Member>, AccountError> {
    let row: Option<(Aidant, Role, bool)> = memberships::table
        .inner_join(aidants::table)
        .filter(memberships::organisation_id.eq(organisation_id))
        .filter(memberships::aidant_id.eq(aidant_id))
        .select((Aidant::as_select(), memberships::role, memberships::active))
        .first(conn)
        .optional()?;
    Ok(row.map(|(aidant, role, active)| Member {
        aidant,
        role,
        active,
    }))
}

/// Whether the aidant is an active référent of this habilitated organisation.
pub fn is_referent(
    conn: &mut DbConnection,
    aidant_id: &AidantId,
    organisation_id: &OrganisationId,
) -> Result<bool, AccountError> {
    Ok(may_work_for(conn, aidant_id, organisation_id)?
        && member(conn, organisation_id, aidant_id)?.is_some_and(|m| m.role == Role::Referent))
}

/// The organisations where the aidant holds an active membership but `referent_id` is not an
/// active référent: a référent may act on what the aidant holds everywhere (their card) only
/// when this is empty.
pub fn memberships_outside_authority(
    conn: &mut DbConnection,
    aidant_id: &AidantId,
    referent_id: &AidantId,
) -> Result<Vec<String>, AccountError> {
    let managed: Vec<String> = memberships::table
        .filter(memberships::aidant_id.eq(referent_id))
        .filter(memberships::active.eq(true))
        .filter(memberships::role.eq(Role::Referent))
        .select(memberships::organisation_id)
        .load(conn)?;
    let held: Vec<String> = memberships::table
        .filter(memberships::aidant_id.eq(aidant_id))
        .filter(memberships::active.eq(true))
        .select(memberships::organisation_id)
        .order(memberships::organisation_id.asc())
        .load(conn)?;
    Ok(held.into_iter().filter(|o| !managed.contains(o)).collect())
}

/// Activates or deactivates a membership; returns whether it exists. A membership given back
/// restarts the aidant's inactivity.
pub fn set_membership_active(
    tx: &mut WriteTx<'_>,
    now: Timestamp,
    aidant_id: &AidantId,
    organisation_id: &OrganisationId,
    active: bool,
) -> Result<bool, AccountError> {
    let changed = diesel::update(memberships::table.find((aidant_id, organisation_id)))
        .set(memberships::active.eq(active))
        .execute(tx.conn())?;
    if changed == 1 && active {
        restart_idle(tx, aidant_id, now)?;
    }
    Ok(changed == 1)
}

/// Who does an action on accounts: a référent, a member of the national team (through the
/// back office), or no one in particular (the command line, a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By<'a> {
    /// A référent (the journal's `aidant_id`).
    Referent(&'a AidantId),
    /// A member of the national team (their id in the entry's details, `staff`).
    Staff(&'a StaffId),
    /// The command line or a rule.
    System,
}

impl By<'_> {
    /// `details` with the acting member of the national team, if one acts.
    pub fn tag(self, mut details: serde_json::Value) -> serde_json::Value {
        if let (By::Staff(id), Some(map)) = (self, details.as_object_mut()) {
            map.insert("staff".into(), serde_json::json!(id));
        }
        details
    }
}

/// Journals `action` about `aidant` by `by`, with `details`: on the structure's chain (the
/// national one when there is none), or on the national chain when a member of the national
/// team acts (the entry still names the structure, so a search by structure finds it).
#[allow(clippy::too_many_arguments)]
fn journal_about_member(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    action: journal::Action,
    organisation_id: Option<&OrganisationId>,
    by: By<'_>,
    aidant: &Aidant,
    details: serde_json::Value,
) -> Result<(), AccountError> {
    let referent = match by {
        By::Referent(id) => Some(id),
        By::Staff(_) | By::System => None,
    };
    journal::append(
        tx,
        rng,
        now,
        journal::NewEntry {
            chain: match (by, organisation_id) {
                (By::Staff(_), _) | (_, None) => journal::NATIONAL_CHAIN,
                (_, Some(organisation)) => organisation.as_str(),
            },
            action,
            aidant_id: referent,
            usager_id: None,
            organisation_id,
            subject: aidant.id.as_str(),
            details: by.tag(details),
        },
    )?;
    Ok(())
}

/// [`journal_about_member`] with the aidant's id as details.
fn journal_member_action(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    action: journal::Action,
    organisation_id: Option<&OrganisationId>,
    by: By<'_>,
    aidant: &Aidant,
) -> Result<(), AccountError> {
    journal_about_member(
        tx,
        rng,
        now,
        action,
        organisation_id,
        by,
        aidant,
        serde_json::json!({ "aidant": aidant.id }),
    )
}

/// Whether `aidant_id` may act for usagers (`acts` false for a structure's référent created by
/// its habilitation, true once trained when they will also be an aidant); in the transaction
/// of the action journaled that decides it.
pub fn set_acts_for_usagers(
    tx: &mut WriteTx<'_>,
    aidant_id: &AidantId,
    acts: bool,
) -> Result<(), AccountError> {
    diesel::update(aidants::table.find(aidant_id))
        .set(aidants::acts_for_usagers.eq(acts))
        .execute(tx.conn())?;
    Ok(())
}

/// Adds an aidant to an organisation, journaled as `add_aidant` on its chain: an aidant new to
/// the service is created pending activation (the national team activates them after their
/// training); one who already works elsewhere keeps their account and gains this membership.
pub fn add_member(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    organisation_id: &OrganisationId,
    new: NewAidant<'_>,
    role: Role,
    by: By<'_>,
) -> Result<Aidant, AccountError> {
    let aidant = match find_aidant_by_email(tx.conn(), new.email)? {
        Some(existing) => {
            if member(tx.conn(), organisation_id, &existing.id)?.is_some() {
                return Err(AccountError::AlreadyMember);
            }
            existing
        }
        None => create_aidant(tx, rng, now, new)?,
    };
    set_membership(tx, now, &aidant.id, organisation_id, role)?;
    restart_idle(tx, &aidant.id, now)?;
    journal_member_action(
        tx,
        rng,
        now,
        journal::Action::AddAidant,
        Some(organisation_id),
        by,
        &aidant,
    )?;
    if role == Role::Referent {
        journal_member_action(
            tx,
            rng,
            now,
            journal::Action::DesignateReferent,
            Some(organisation_id),
            by,
            &aidant,
        )?;
    }
    Ok(aidant)
}

/// A référent makes a member of the organisation a (co-)référent ([`set_role`]). Returns
/// `false` when the aidant is not a member.
pub fn designate_referent(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    organisation_id: &OrganisationId,
    aidant_id: &AidantId,
    by: &AidantId,
) -> Result<bool, AccountError> {
    match set_role(
        tx,
        rng,
        now,
        organisation_id,
        aidant_id,
        Role::Referent,
        By::Referent(by),
    ) {
        Ok(()) => Ok(true),
        Err(AccountError::NotMember) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The addresses of the working référents of `organisation_id`, but those of `except` (the
/// one acting, the aidant concerned): who is told of what happens to the structure's aidants.
pub fn referent_emails(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    except: &[&AidantId],
) -> Result<Vec<String>, AccountError> {
    Ok(members(conn, organisation_id)?
        .into_iter()
        .filter(|m| m.role == Role::Referent && m.can_work())
        .filter(|m| !except.contains(&&m.aidant.id))
        .map(|m| m.aidant.email)
        .collect())
}

/// The national team activates an aidant after their training (`activate_aidant` on the
/// national chain); the aidant is welcomed by e-mail and the référents of each structure they
/// work for are told. An active account that may not act for usagers (a référent made by his
/// structure's habilitation) may from then on (journaled the same, without e-mails: he has his
/// account already).
pub fn activate_aidant(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    email: &str,
    by: By<'_>,
) -> Result<Aidant, AccountError> {
    let Some(mut aidant) = find_aidant_by_email(tx.conn(), email)? else {
        return Err(AccountError::UnknownEmail(normalise_email(email)));
    };
    if !aidant.active {
        set_active(tx, &aidant.id, true)?;
        restart_idle(tx, &aidant.id, now)?;
        aidant.active = true;
        journal_member_action(
            tx,
            rng,
            now,
            journal::Action::ActivateAidant,
            None,
            by,
            &aidant,
        )?;
        let organisations = working_organisations(tx.conn(), &aidant.id)?;
        mail::enqueue(
            tx,
            rng,
            now,
            &aidant.email,
            &mail::Email::Welcome {
                aidant: aidant.full_name(),
                organisations: organisations.iter().map(|(o, _)| o.name.clone()).collect(),
            },
        )?;
        for (organisation, _) in &organisations {
            let told = mail::Email::MemberActivated {
                aidant: aidant.full_name(),
                organisation: organisation.name.clone(),
            };
            for referent in referent_emails(tx.conn(), &organisation.id, &[&aidant.id])? {
                mail::enqueue(tx, rng, now, &referent, &told)?;
            }
        }
    } else if !aidant.acts_for_usagers {
        set_acts_for_usagers(tx, &aidant.id, true)?;
        aidant.acts_for_usagers = true;
        journal_about_member(
            tx,
            rng,
            now,
            journal::Action::ActivateAidant,
            None,
            by,
            &aidant,
            serde_json::json!({ "aidant": aidant.id, "agit_pour_les_usagers": true }),
        )?;
    }
    Ok(aidant)
}

/// The national team creates an organisation (`create_organisation` on the national chain).
pub fn register_organisation(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    new: NewOrganisation<'_>,
    by: By<'_>,
) -> Result<Organisation, AccountError> {
    let organisation = create_organisation(tx, rng, now, new)?;
    journal::append(
        tx,
        rng,
        now,
        journal::NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action: journal::Action::CreateOrganisation,
            aidant_id: None,
            usager_id: None,
            organisation_id: Some(&organisation.id),
            subject: &organisation.siret,
            details: by.tag(serde_json::json!({ "name": organisation.name })),
        },
    )?;
    Ok(organisation)
}

/// Sets an organisation's habilitation (the national team closing it, `Closed`, or reopening
/// it, `Validated`), journaled `set_habilitation` on the national chain with the state before
/// and after; its members, mandates and journal are kept. `None`: no such organisation.
pub fn set_habilitation(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    id: &OrganisationId,
    habilitation: Habilitation,
    by: By<'_>,
) -> Result<Option<Organisation>, AccountError> {
    let Some(before) = organisation(tx.conn(), id)? else {
        return Ok(None);
    };
    diesel::update(organisations::table.find(id))
        .set(organisations::habilitation.eq(habilitation))
        .execute(tx.conn())?;
    journal::append(
        tx,
        rng,
        now,
        journal::NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action: journal::Action::SetHabilitation,
            aidant_id: None,
            usager_id: None,
            organisation_id: Some(id),
            subject: &before.siret,
            details: by.tag(serde_json::json!({
                "avant": before.habilitation.as_str(),
                "apres": habilitation.as_str(),
            })),
        },
    )?;
    Ok(Some(Organisation {
        habilitation,
        ..before
    }))
}

/// The national team sets the démarches an organisation may do (catalogue ids; `None`: all),
/// journaled as `set_allowed_demarches` on the national chain. The ids are the caller's to
/// check against the catalogue.
pub fn set_allowed_demarches(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    organisation_id: &OrganisationId,
    ids: Option<&[&str]>,
    by: By<'_>,
) -> Result<(), AccountError> {
    let stored = ids.map(|ids| serde_json::Value::from(ids.to_vec()).to_string());
    let changed = diesel::update(organisations::table.find(organisation_id))
        .set(organisations::allowed_demarches.eq(&stored))
        .execute(tx.conn())?;
    if changed != 1 {
        return Err(AccountError::UnknownOrganisation);
    }
    journal::append(
        tx,
        rng,
        now,
        journal::NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action: journal::Action::SetAllowedDemarches,
            aidant_id: None,
            usager_id: None,
            organisation_id: Some(organisation_id),
            subject: organisation_id.as_str(),
            details: by.tag(serde_json::json!({ "demarches": ids })),
        },
    )?;
    Ok(())
}

/// Records that mail to `address` is refused (message `message_id`, of `kind`), journaled
/// `email_undeliverable`: on the chain of each structure of the aidant who has this address
/// (their référents see it), or on the national chain when no aidant has it.
pub fn record_undeliverable(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    address: &str,
    kind: &str,
    message_id: &str,
) -> Result<(), AccountError> {
    let details = serde_json::json!({ "message": message_id, "kind": kind });
    let Some(aidant) = find_aidant_by_email(tx.conn(), address)? else {
        journal::append(
            tx,
            rng,
            now,
            journal::NewEntry {
                chain: journal::NATIONAL_CHAIN,
                action: journal::Action::EmailUndeliverable,
                aidant_id: None,
                usager_id: None,
                organisation_id: None,
                subject: kind,
                details,
            },
        )?;
        return Ok(());
    };
    let structures: Vec<OrganisationId> = memberships::table
        .filter(memberships::aidant_id.eq(&aidant.id))
        .order(memberships::organisation_id)
        .select(memberships::organisation_id)
        .load(tx.conn())?;
    let chains: Vec<Option<&OrganisationId>> = if structures.is_empty() {
        vec![None]
    } else {
        structures.iter().map(Some).collect()
    };
    for organisation_id in chains {
        journal_about_member(
            tx,
            rng,
            now,
            journal::Action::EmailUndeliverable,
            organisation_id,
            By::System,
            &aidant,
            serde_json::json!({ "aidant": aidant.id, "message": message_id, "kind": kind }),
        )?;
    }
    Ok(())
}

diesel::define_sql_function!(
    /// Lower case, the same on both backends (PostgreSQL's `LIKE` is case-sensitive).
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
);

/// The organisations whose name, SIRET, city or postcode (a département is its first digits)
/// holds `query`, by name, at most `limit`; every organisation when `query` is empty.
pub fn search_organisations(
    conn: &mut DbConnection,
    query: &str,
    limit: i64,
) -> Result<Vec<Organisation>, AccountError> {
    let term = query.trim().to_lowercase();
    let (anywhere, starts) = store::like_patterns(&term);
    Ok(organisations::table
        .filter(
            lower(organisations::name)
                .like(&anywhere)
                .escape('\\')
                .or(organisations::siret.like(&starts).escape('\\'))
                .or(lower(organisations::city).like(&anywhere).escape('\\'))
                .or(organisations::zipcode.like(&starts).escape('\\')),
        )
        .order((organisations::name.asc(), organisations::id))
        .limit(limit)
        .select(Organisation::as_select())
        .load(conn)?)
}

/// Habilitated organisations and active aidants (active account with an active membership),
/// for the public statistics.
pub fn totals(conn: &mut DbConnection) -> Result<(i64, i64), AccountError> {
    let organisations = organisations::table
        .filter(organisations::habilitation.eq(Habilitation::Validated))
        .count()
        .get_result(conn)?;
    let aidants = aidants::table
        .filter(aidants::active.eq(true))
        .filter(diesel::dsl::exists(
            memberships::table
                .filter(memberships::aidant_id.eq(aidants::id))
                .filter(memberships::active.eq(true)),
        ))
        .count()
        .get_result(conn)?;
    Ok((organisations, aidants))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono::Utc;
    use ring::rand::SystemRandom;
    use store::{write_transaction, Scratch};

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap().into()
    }

    fn structure(tx: &mut WriteTx<'_>, siret: &str, habilitation: Habilitation) -> Organisation {
        create_organisation(
            tx,
            &SystemRandom::new(),
            now(),
            NewOrganisation {
                name: "France Services de Test",
                siret,
                address: "1 place de la Mairie",
                zipcode: "59000",
                city: "Lille",
                kind: "France Services",
                habilitation,
                france_services: false,
            },
        )
        .unwrap()
    }

    fn new_aidant(email: &str) -> NewAidant<'_> {
        NewAidant {
            email,
            first_name: "Lou",
            last_name: "Martin",
            profession: "Conseillère numérique",
            phone: "",
            active: true,
        }
    }

    #[test]
    fn an_aidant_works_only_through_an_active_membership_of_a_habilitated_structure() {
        let db = Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let (open, pending, aidant) = write_transaction(&mut conn, |tx| {
            let open = structure(tx, "11111111100011", Habilitation::Validated);
            let pending = structure(tx, "22222222200022", Habilitation::Awaiting);
            let aidant = create_aidant(tx, &SystemRandom::new(), now(), new_aidant("lou@test.fr"))?;
            for o in [&open, &pending] {
                set_membership(tx, now(), &aidant.id, &o.id, Role::Aidant)?;
            }
            Ok::<_, AccountError>((open, pending, aidant))
        })
        .unwrap();
        assert!(may_work_for(&mut conn, &aidant.id, &open.id).unwrap());
        assert!(!may_work_for(&mut conn, &aidant.id, &pending.id).unwrap());
        write_transaction(&mut conn, |tx| {
            set_membership_active(tx, now(), &aidant.id, &open.id, false)
        })
        .unwrap();
        assert!(!may_work_for(&mut conn, &aidant.id, &open.id).unwrap());
        write_transaction(&mut conn, |tx| {
            set_membership_active(tx, now(), &aidant.id, &open.id, true)?;
            set_active(tx, &aidant.id, false)
        })
        .unwrap();
        assert!(!may_work_for(&mut conn, &aidant.id, &open.id).unwrap());
    }

    #[test]
    fn stored_states_are_read_as_enums_and_an_unknown_one_is_refused() {
        let db = Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let open = write_transaction(&mut conn, |tx| {
            Ok::<_, AccountError>(structure(tx, "11111111100011", Habilitation::Validated))
        })
        .unwrap();
        let read = organisation(&mut conn, &open.id).unwrap().unwrap();
        assert_eq!(read.habilitation, Habilitation::Validated);
        assert!(read.is_habilitated());
        diesel::update(organisations::table.find(&open.id))
            .set(organisations::habilitation.eq("en_cours"))
            .execute(&mut *conn)
            .unwrap();
        let refused = organisation(&mut conn, &open.id).unwrap_err();
        let mut causes = Vec::new();
        let mut cause: Option<&dyn std::error::Error> = Some(&refused);
        while let Some(e) = cause {
            causes.push(e.to_string());
            cause = e.source();
        }
        assert!(
            causes
                .iter()
                .any(|c| c == "état d'habilitation inconnu: en_cours"),
            "{causes:?}"
        );
    }

    #[test]
    fn an_aidant_joins_a_structure_once_and_the_structure_journals_it() {
        let db = Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let rng = SystemRandom::new();
        let open = write_transaction(&mut conn, |tx| {
            Ok::<_, AccountError>(structure(tx, "11111111100011", Habilitation::Validated))
        })
        .unwrap();
        let add = |conn: &mut store::PooledDb| {
            write_transaction(conn, |tx| {
                add_member(
                    tx,
                    &rng,
                    now(),
                    &open.id,
                    new_aidant("Lou@Test.fr "),
                    Role::Referent,
                    By::System,
                )
            })
        };
        let added = add(&mut conn).unwrap();
        assert_eq!(added.email, "lou@test.fr");
        assert!(matches!(add(&mut conn), Err(AccountError::AlreadyMember)));
        let actions: Vec<String> = journal::chain_entries(&mut conn, open.id.as_str())
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["add_aidant", "designate_referent"]);
        assert!(is_referent(&mut conn, &added.id, &open.id).unwrap());
    }
}
