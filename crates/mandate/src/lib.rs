//! Usagers, the catalogue of démarches, mandate durations, mandates and their autorisations
//! (create, revoke, expire), and **the coverage check**: [`check_coverage`] is the only way to
//! a [`Coverage`], the proof that an organisation holds an active, unrevoked, unexpired
//! autorisation for an usager and a démarche at a given time.
//!
//! It also holds the mandate wizard's drafts, remote consent by SMS, the attestations (their
//! canonical content, fingerprint and verification), the espace aidant's listings, and what an
//! usager does with their own mandates from their space (`own`: revoke, the e-mails they chose).
//!
//! This crate knows nothing of HTTP or tokens.

mod attestation;
mod consent;
mod demarche;
mod digest;
mod draft;
mod duration;
mod erasure;
mod listing;
mod own;
mod phone;
mod text;
mod transfer;
mod translation;
mod usager;

pub use attestation::{
    attestation, attestations_of_mandate, verify_attestation, Attestation, AttestationContent,
    AttestationKey, AttestationKind, AttestationSummary, Origin, Parties, Verification,
    CONSENT_STATEMENT,
};
pub use consent::{
    consent_message, mark_consent_requested, record_consent_sms_failure, record_sms_answer,
    SmsAnswer, SmsOutcome,
};
pub use demarche::Demarche;
pub use digest::expiring_mandates_digest;
pub use draft::{
    confirm_draft, create_draft, draft, draft_by_state, purge_drafts, record_identification,
    Confirmed, DraftError, MandateDraft, NewDraft,
};
pub use duration::MandateDuration;
pub use erasure::{erase_usager, find_usagers, ErasureRefusal, Found, ERASED_NAME};
pub use listing::{
    mandates_of_usager, usager_journal, usagers_of_organisation, MandateDetail, MandateState,
    UsagerFilter, UsagerListing, UsagerRow, EXPIRING_SOON,
};
pub use own::{
    notify_email, notify_use, own_attestation, revoke_own_autorisation, revoke_own_mandate,
    set_notify_email, RevokedDemarche,
};
pub use phone::normalise_mobile;
pub use text::{MandateText, MandateTexts};
pub use transfer::{
    mandate_counts, mandates_in_force, transfer_mandates, InForce, TransferRefusal, Transferred,
};
pub use translation::{language, Language, Translation, TranslationError, LANGUAGES};
pub use usager::{
    create_usager, normalise_search, usager, usager_by_franceconnect_sub, usager_by_sub,
    usagers_by_ids, usagers_named, NewUsager, Usager,
};

use authenticator::VerifiedAidant;
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::schema::{autorisations, mandates, organisation_usagers, organisations, usagers};
use store::{
    new_id, write_transaction, AidantId, AutorisationId, DbConnection, MandateId, OrganisationId,
    PooledDb, StoreError, Timestamp, UsagerId, WriteTx,
};

/// Errors of the mandate domain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MandateError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Journal failed.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// An e-mail could not be written to the outbox.
    #[error(transparent)]
    Mail(#[from] mail::MailError),
    /// A structure could not be read.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    /// The identité pivot is malformed.
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    /// A mandate must cover at least one démarche.
    #[error("un mandat doit couvrir au moins une démarche")]
    NoDemarche,
    /// Unknown démarche id.
    #[error("démarche inconnue: {0}")]
    UnknownDemarche(String),
    /// Unknown duration keyword.
    #[error("durée de mandat inconnue: {0}")]
    UnknownDuration(String),
    /// No such autorisation in this organisation.
    #[error("autorisation introuvable")]
    UnknownAutorisation,
    /// No such mandate in this organisation.
    #[error("mandat introuvable")]
    UnknownMandate,
    /// The wizard cannot go on.
    #[error(transparent)]
    Draft(#[from] DraftError),
    /// An attestation could not be encoded.
    #[error("attestation: {0}")]
    Attestation(String),
    /// A stored value could not be read back.
    #[error("donnée enregistrée illisible: {0}")]
    Corrupt(String),
    /// A structure's allowed démarches could not be read back.
    #[error("liste des démarches autorisées de la structure illisible")]
    AllowedDemarches,
    /// The structure is not allowed this démarche.
    #[error("la structure n'est pas habilitée pour la démarche {0}")]
    DemarcheNotAllowed(&'static str),
}

impl From<diesel::result::Error> for MandateError {
    fn from(e: diesel::result::Error) -> Self {
        MandateError::Store(StoreError::Query(e))
    }
}

/// A mandate between an organisation and an usager.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = mandates)]
pub struct Mandate {
    /// Id.
    pub id: MandateId,
    /// Organisation.
    pub organisation_id: OrganisationId,
    /// Usager.
    pub usager_id: UsagerId,
    /// Aidant who created it.
    pub created_by: AidantId,
    /// Creation time.
    pub created_at: Timestamp,
    /// End of validity.
    pub expires_at: Timestamp,
    /// Duration.
    pub duration: MandateDuration,
    /// Whether consent is collected remotely.
    pub is_remote: bool,
    /// When remote consent arrived.
    pub consent_received_at: Option<Timestamp>,
    /// When it was revoked as a whole.
    pub revoked_at: Option<Timestamp>,
    /// Who revoked it as a whole.
    pub revoked_by: Option<AidantId>,
    /// The mandate this one renews.
    pub renews: Option<MandateId>,
    /// Mobile number the consent request goes to (remote mandates), E.164.
    pub consent_phone: Option<String>,
    /// When the consent request was sent.
    pub consent_requested_at: Option<Timestamp>,
    /// When the usager refused by SMS.
    pub consent_denied_at: Option<Timestamp>,
    /// Whether the usager revoked it themselves, from their space.
    pub revoked_by_usager: bool,
    /// The version of the mandate's text it was made under (none before versioning).
    pub text_version: Option<i32>,
}

impl Mandate {
    /// Whether the mandate can be used at `now` (it may still have no active autorisation).
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none()
            && self.expires_at > now
            && (!self.is_remote || self.consent_received_at.is_some())
    }
}

/// One démarche covered by a mandate.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = autorisations)]
pub struct Autorisation {
    /// Id.
    pub id: AutorisationId,
    /// Mandate.
    pub mandate_id: MandateId,
    /// Démarche id.
    pub demarche: String,
    /// When revoked.
    pub revoked_at: Option<Timestamp>,
    /// Who revoked it.
    pub revoked_by: Option<AidantId>,
    /// Whether the usager revoked it themselves, from their space.
    pub revoked_by_usager: bool,
}

/// What it takes to create a mandate.
#[derive(Debug, Clone)]
pub struct NewMandate<'a> {
    /// Organisation.
    pub organisation_id: &'a OrganisationId,
    /// Usager.
    pub usager_id: &'a UsagerId,
    /// Aidant creating it.
    pub created_by: &'a AidantId,
    /// Duration.
    pub duration: MandateDuration,
    /// Démarches covered.
    pub demarches: &'a [Demarche],
    /// Consent to be collected remotely (unusable until it arrives).
    pub is_remote: bool,
    /// Mobile number (E.164) the remote consent request goes to.
    pub consent_phone: Option<&'a str>,
    /// The mandate this one renews.
    pub renews: Option<&'a MandateId>,
}

/// A mandate made without the usager's identification or the aidant's proof, for the demo
/// seed, the national-scale volume and the test fixtures only: it exists with the feature
/// `seed`, which the production build (without `dev-tools`) does not enable. The service makes
/// mandates through [`confirm_draft`], which takes a `VerifiedAidant`.
#[cfg(feature = "seed")]
pub fn seed_mandate(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    new: NewMandate<'_>,
) -> Result<(Mandate, Vec<Autorisation>), MandateError> {
    let texts = MandateTexts::published();
    let text = texts
        .in_force(paris::local(now).date())
        .ok_or(MandateError::Corrupt("aucun texte de mandat publié".into()))?;
    create_mandate(tx, rng, now, new, text)
}

/// Creates a mandate under the version `text` of the mandate's text, with one autorisation per
/// démarche, with its journal entries, inside the caller's transaction. An active autorisation
/// of the same organisation and usager for one of these démarches is replaced (revoked).
pub(crate) fn create_mandate(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    new: NewMandate<'_>,
    text: &MandateText,
) -> Result<(Mandate, Vec<Autorisation>), MandateError> {
    let text_version = i32::try_from(text.version)
        .map_err(|_| MandateError::Corrupt("version du texte de mandat".into()))?;
    if new.demarches.is_empty() {
        return Err(MandateError::NoDemarche);
    }
    check_allowed(tx.conn(), new.organisation_id, new.demarches)?;
    // Two mandates made at once for the same usager must not both keep an autorisation for a
    // démarche: the second waits here until the first commits, then replaces what it wrote
    // (SQLite's write lock, taken at BEGIN IMMEDIATE, is database-wide already).
    if let DbConnection::Pg(pg) = tx.conn() {
        usagers::table
            .find(new.usager_id)
            .select(usagers::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    {
        let mandate = Mandate {
            id: new_id(rng)?.into(),
            organisation_id: new.organisation_id.to_owned(),
            usager_id: new.usager_id.to_owned(),
            created_by: new.created_by.to_owned(),
            created_at: now,
            expires_at: new.duration.expires_at(now),
            duration: new.duration,
            is_remote: new.is_remote,
            consent_received_at: None,
            revoked_at: None,
            revoked_by: None,
            renews: new.renews.cloned(),
            consent_phone: new.consent_phone.map(str::to_owned),
            consent_requested_at: None,
            consent_denied_at: None,
            revoked_by_usager: false,
            text_version: Some(text_version),
        };
        diesel::insert_into(mandates::table)
            .values((
                mandates::id.eq(&mandate.id),
                mandates::organisation_id.eq(&mandate.organisation_id),
                mandates::usager_id.eq(&mandate.usager_id),
                mandates::created_by.eq(&mandate.created_by),
                mandates::created_at.eq(mandate.created_at),
                mandates::expires_at.eq(mandate.expires_at),
                mandates::duration.eq(&mandate.duration),
                mandates::is_remote.eq(mandate.is_remote),
                mandates::renews.eq(&mandate.renews),
                mandates::consent_phone.eq(&mandate.consent_phone),
                mandates::text_version.eq(mandate.text_version),
            ))
            .execute(tx.conn())?;
        list_in_organisation(tx, new.organisation_id, new.usager_id)?;
        let mut created = Vec::with_capacity(new.demarches.len());
        for demarche in new.demarches {
            let previous: Vec<String> =
                active_autorisations_query(new.organisation_id, new.usager_id, now)
                    .filter(autorisations::demarche.eq(demarche.id()))
                    .select(autorisations::id)
                    .load(tx.conn())?;
            if !previous.is_empty() {
                diesel::update(autorisations::table.filter(autorisations::id.eq_any(&previous)))
                    .set((
                        autorisations::revoked_at.eq(Some(now)),
                        autorisations::revoked_by.eq(Some(new.created_by)),
                    ))
                    .execute(tx.conn())?;
            }
            let autorisation = Autorisation {
                id: new_id(rng)?.into(),
                mandate_id: mandate.id.clone(),
                demarche: demarche.id().to_owned(),
                revoked_at: None,
                revoked_by: None,
                revoked_by_usager: false,
            };
            diesel::insert_into(autorisations::table)
                .values((
                    autorisations::id.eq(&autorisation.id),
                    autorisations::mandate_id.eq(&autorisation.mandate_id),
                    autorisations::demarche.eq(&autorisation.demarche),
                ))
                .execute(tx.conn())?;
            journal::append(
                tx,
                rng,
                now,
                NewEntry {
                    chain: new.organisation_id.as_str(),
                    action: Action::CreateAutorisation,
                    aidant_id: Some(new.created_by),
                    usager_id: Some(new.usager_id),
                    organisation_id: Some(new.organisation_id),
                    subject: demarche.id(),
                    details: serde_json::json!({
                        "mandat": mandate.id,
                        "autorisation": autorisation.id,
                        "duree": mandate.duration.as_str(),
                        "expire": mandate.expires_at.to_rfc3339(),
                        "remplace": previous,
                    }),
                },
            )?;
            created.push(autorisation);
        }
        own::notify_made(tx, rng, now, &mandate, new.demarches)?;
        Ok((mandate, created))
    }
}

/// Revokes one autorisation of the verified aidant's structure, journaled as
/// `cancel_autorisation`.
pub fn revoke_autorisation(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &VerifiedAidant,
    autorisation_id: &AutorisationId,
) -> Result<(), MandateError> {
    write_transaction(conn, |tx| {
        let (autorisation, mandate) = autorisation_with_mandate(tx.conn(), autorisation_id, |m| {
            m.organisation_id == *who.organisation_id()
        })?;
        revoke_one(
            tx,
            rng,
            now,
            &mandate,
            &autorisation,
            Actor::Aidant(who.aidant_id()),
        )
    })
}

/// The autorisation `id` and its mandate, when `owns` the mandate; otherwise
/// [`MandateError::UnknownAutorisation`].
pub(crate) fn autorisation_with_mandate(
    conn: &mut DbConnection,
    id: &AutorisationId,
    owns: impl FnOnce(&Mandate) -> bool,
) -> Result<(Autorisation, Mandate), MandateError> {
    autorisations::table
        .inner_join(mandates::table)
        .filter(autorisations::id.eq(id))
        .select((Autorisation::as_select(), Mandate::as_select()))
        .first::<(Autorisation, Mandate)>(conn)
        .optional()?
        .filter(|(_, mandate)| owns(mandate))
        .ok_or(MandateError::UnknownAutorisation)
}

/// Who revokes a démarche or a mandate, or has an attestation produced.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Actor<'a> {
    /// An aidant (or, for a transfer's attestation, the aidant who made the mandate).
    Aidant(&'a AidantId),
    /// The usager, from their space.
    Usager,
}

impl<'a> Actor<'a> {
    /// The aidant, if one acts.
    fn aidant(self) -> Option<&'a AidantId> {
        match self {
            Actor::Aidant(id) => Some(id),
            Actor::Usager => None,
        }
    }

    /// A journal entry's `details`, saying when the usager acted (`"par": "usager"`).
    fn details(self, mut details: serde_json::Value) -> serde_json::Value {
        if let (Actor::Usager, Some(object)) = (self, details.as_object_mut()) {
            object.insert("par".into(), "usager".into());
        }
        details
    }
}

/// Revokes `autorisation` of `mandate` (nothing when it already is), journaled as
/// `cancel_autorisation` by `by`, inside the caller's transaction.
pub(crate) fn revoke_one(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    mandate: &Mandate,
    autorisation: &Autorisation,
    by: Actor<'_>,
) -> Result<(), MandateError> {
    let changed = diesel::update(autorisations::table.find(&autorisation.id))
        .filter(autorisations::revoked_at.is_null())
        .set((
            autorisations::revoked_at.eq(Some(now)),
            autorisations::revoked_by.eq(by.aidant()),
            autorisations::revoked_by_usager.eq(matches!(by, Actor::Usager)),
        ))
        .execute(tx.conn())?;
    if changed == 0 {
        return Ok(());
    }
    journal_cancel_autorisation(tx, rng, now, mandate, autorisation, by)
}

/// Journals `cancel_autorisation` for one autorisation of a mandate.
fn journal_cancel_autorisation(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    mandate: &Mandate,
    autorisation: &Autorisation,
    by: Actor<'_>,
) -> Result<(), MandateError> {
    journal::append(
        tx,
        rng,
        now,
        NewEntry {
            chain: mandate.organisation_id.as_str(),
            action: Action::CancelAutorisation,
            aidant_id: by.aidant(),
            usager_id: Some(&mandate.usager_id),
            organisation_id: Some(&mandate.organisation_id),
            subject: &autorisation.demarche,
            details: by.details(
                serde_json::json!({ "mandat": mandate.id, "autorisation": autorisation.id }),
            ),
        },
    )?;
    Ok(())
}

/// Revokes a whole mandate of the verified aidant's structure (`parties` must name it) and its
/// active autorisations, journaled as
/// `cancel_autorisation` for each and `cancel_mandat`, and produces the revocation attestation
/// — all in one transaction. Revoking an already revoked mandate changes nothing and returns
/// its existing revocation attestation.
pub fn revoke_mandate(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    key: &AttestationKey,
    parties: &Parties,
    who: &VerifiedAidant,
    mandate_id: &MandateId,
) -> Result<Attestation, MandateError> {
    if parties.organisation_id != *who.organisation_id() {
        return Err(MandateError::UnknownMandate);
    }
    write_transaction(conn, |tx| {
        let mandate = mandate_of_structure(tx.conn(), who, mandate_id)?;
        revoke_whole(
            tx,
            rng,
            now,
            key,
            parties,
            mandate,
            Actor::Aidant(who.aidant_id()),
        )
    })
}

/// Revokes `mandate` and its active autorisations, journaled by `by`, and produces its
/// revocation attestation, inside the caller's transaction; an already revoked mandate keeps
/// its revocation attestation, returned.
pub(crate) fn revoke_whole(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    key: &AttestationKey,
    parties: &Parties,
    mandate: Mandate,
    by: Actor<'_>,
) -> Result<Attestation, MandateError> {
    if mandate.revoked_at.is_some() {
        return attestations_of_mandate(tx.conn(), &mandate.id)?
            .into_iter()
            .find(|a| a.kind == AttestationKind::Revocation)
            .ok_or(MandateError::UnknownMandate);
    }
    let by_usager = matches!(by, Actor::Usager);
    let active: Vec<Autorisation> = autorisations::table
        .filter(autorisations::mandate_id.eq(&mandate.id))
        .filter(autorisations::revoked_at.is_null())
        .select(Autorisation::as_select())
        .load(tx.conn())?;
    diesel::update(autorisations::table.filter(autorisations::mandate_id.eq(&mandate.id)))
        .filter(autorisations::revoked_at.is_null())
        .set((
            autorisations::revoked_at.eq(Some(now)),
            autorisations::revoked_by.eq(by.aidant()),
            autorisations::revoked_by_usager.eq(by_usager),
        ))
        .execute(tx.conn())?;
    diesel::update(mandates::table.find(&mandate.id))
        .set((
            mandates::revoked_at.eq(Some(now)),
            mandates::revoked_by.eq(by.aidant()),
            mandates::revoked_by_usager.eq(by_usager),
        ))
        .execute(tx.conn())?;
    for autorisation in &active {
        journal_cancel_autorisation(tx, rng, now, &mandate, autorisation, by)?;
    }
    journal::append(
        tx,
        rng,
        now,
        NewEntry {
            chain: mandate.organisation_id.as_str(),
            action: Action::CancelMandat,
            aidant_id: by.aidant(),
            usager_id: Some(&mandate.usager_id),
            organisation_id: Some(&mandate.organisation_id),
            subject: mandate.id.as_str(),
            details: by.details(serde_json::json!({ "autorisations": active.iter().map(|a| &a.id).collect::<Vec<_>>() })),
        },
    )?;
    let revoked = Mandate {
        revoked_at: Some(now),
        revoked_by: by.aidant().cloned(),
        revoked_by_usager: by_usager,
        ..mandate
    };
    attestation::insert_attestation(
        tx,
        rng,
        now,
        key,
        parties,
        &revoked,
        AttestationKind::Revocation,
        by,
        None,
    )
}

/// The autorisations of a mandate, in catalogue order.
pub fn autorisations_of_mandate(
    conn: &mut DbConnection,
    mandate_id: &MandateId,
) -> Result<Vec<Autorisation>, MandateError> {
    let mut rows: Vec<Autorisation> = autorisations::table
        .filter(autorisations::mandate_id.eq(mandate_id))
        .select(Autorisation::as_select())
        .load(conn)?;
    rows.sort_by_key(|a| {
        Demarche::parse(&a.demarche)
            .map(|d| d.position())
            .unwrap_or(usize::MAX)
    });
    Ok(rows)
}

/// The mandate of an organisation's autorisation.
pub fn autorisation_mandate(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    autorisation_id: &AutorisationId,
) -> Result<Option<String>, MandateError> {
    Ok(autorisations::table
        .inner_join(mandates::table)
        .filter(autorisations::id.eq(autorisation_id))
        .filter(mandates::organisation_id.eq(organisation_id))
        .select(mandates::id)
        .first(conn)
        .optional()?)
}

/// A mandate of an organisation.
pub fn mandate_of_organisation(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    mandate_id: &MandateId,
) -> Result<Option<Mandate>, MandateError> {
    Ok(mandates::table
        .find(mandate_id)
        .filter(mandates::organisation_id.eq(organisation_id))
        .select(Mandate::as_select())
        .first(conn)
        .optional()?)
}

/// Proof that an organisation held an active autorisation for an usager and a démarche at
/// `checked_at`. Only [`check_coverage`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    organisation_id: OrganisationId,
    usager_id: UsagerId,
    demarche: Demarche,
    autorisation_id: AutorisationId,
    mandate_id: MandateId,
    expires_at: Timestamp,
    checked_at: Timestamp,
}

impl Coverage {
    /// Organisation.
    pub fn organisation_id(&self) -> &OrganisationId {
        &self.organisation_id
    }
    /// Usager.
    pub fn usager_id(&self) -> &UsagerId {
        &self.usager_id
    }
    /// Démarche.
    pub fn demarche(&self) -> Demarche {
        self.demarche
    }
    /// The autorisation that covers it.
    pub fn autorisation_id(&self) -> &AutorisationId {
        &self.autorisation_id
    }
    /// Its mandate.
    pub fn mandate_id(&self) -> &MandateId {
        &self.mandate_id
    }
    /// When the mandate ends.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    /// When coverage was checked.
    pub fn checked_at(&self) -> Timestamp {
        self.checked_at
    }
}

/// The rule of a usable autorisation, as one SQL expression over an autorisation joined with
/// its mandate and the mandate's structure (see [`usable_at`]).
pub(crate) type UsableAt = diesel::dsl::And<
    diesel::dsl::And<
        diesel::dsl::And<
            diesel::dsl::And<
                diesel::dsl::IsNull<autorisations::revoked_at>,
                diesel::dsl::IsNull<mandates::revoked_at>,
            >,
            diesel::dsl::Gt<mandates::expires_at, Timestamp>,
        >,
        diesel::dsl::Or<
            diesel::dsl::Eq<mandates::is_remote, bool>,
            diesel::dsl::IsNotNull<mandates::consent_received_at>,
        >,
    >,
    diesel::dsl::Or<
        diesel::dsl::IsNull<organisations::allowed_demarches>,
        diesel::dsl::Like<
            diesel::dsl::AssumeNotNull<organisations::allowed_demarches>,
            Concat<Concat<QuotedText, autorisations::demarche>, QuotedText>,
        >,
    >,
>;

/// A text literal of the rule, bound as a parameter.
type QuotedText = diesel::dsl::AsExprOf<&'static str, diesel::sql_types::Text>;

// Text concatenation (`||`, the same on both backends), typed: the rule stays a statement the
// backends prepare once and cache, which a raw SQL fragment would prevent.
diesel::infix_operator!(Concat, " || ", diesel::sql_types::Text);

/// **The** rule of a usable autorisation at `now`, in SQL (the coverage check, the usager list
/// of the interaction, the espace aidant and the statistics all filter with it): the
/// autorisation is not revoked, its mandate is neither revoked nor expired, a remote mandate
/// has the usager's consent, and the démarche is allowed for the structure (its
/// `allowed_demarches`, a JSON list of ids, unset meaning all). It reads the three tables of
/// [`usable_join`]. [`is_usable`] is the same rule on loaded rows.
pub(crate) fn usable_at(now: Timestamp) -> UsableAt {
    autorisations::revoked_at
        .is_null()
        .and(mandates::revoked_at.is_null())
        .and(mandates::expires_at.gt(now))
        .and(
            mandates::is_remote
                .eq(false)
                .or(mandates::consent_received_at.is_not_null()),
        )
        .and(
            organisations::allowed_demarches
                .is_null()
                .or(organisations::allowed_demarches
                    .assume_not_null()
                    .like(Concat::new(
                        Concat::new(quoted("%\""), autorisations::demarche),
                        quoted("\"%"),
                    ))),
        )
}

/// `text` as a bound parameter of the rule.
fn quoted(text: &'static str) -> QuotedText {
    diesel::IntoSql::into_sql::<diesel::sql_types::Text>(text)
}

pub(crate) type UsableJoin = diesel::dsl::InnerJoinOn<
    diesel::dsl::InnerJoin<autorisations::table, mandates::table>,
    organisations::table,
    diesel::dsl::Eq<organisations::id, mandates::organisation_id>,
>;

/// The backend of [`store::DbConnection`], for boxed queries.
pub(crate) type Db = <DbConnection as diesel::Connection>::Backend;

/// The mandates in force at `now`: neither revoked nor expired, with an autorisation not
/// revoked (what a transfer moves, and what forbids an erasure).
pub(crate) fn in_force<'a>(now: Timestamp) -> mandates::BoxedQuery<'a, Db> {
    mandates::table
        .filter(mandates::revoked_at.is_null())
        .filter(mandates::expires_at.gt(now))
        .filter(diesel::dsl::exists(
            autorisations::table
                .filter(autorisations::mandate_id.eq(mandates::id))
                .filter(autorisations::revoked_at.is_null()),
        ))
        .into_boxed()
}

/// Autorisations with their mandate and the mandate's structure: what [`usable_at`] reads.
pub(crate) fn usable_join() -> UsableJoin {
    autorisations::table
        .inner_join(mandates::table)
        .inner_join(organisations::table.on(organisations::id.eq(mandates::organisation_id)))
}

/// The rule of [`usable_at`], on an autorisation and its mandate already loaded, for a
/// structure allowed `allowed`.
pub fn is_usable(
    autorisation: &Autorisation,
    mandate: &Mandate,
    allowed: &[Demarche],
    now: Timestamp,
) -> bool {
    autorisation.revoked_at.is_none()
        && mandate.revoked_at.is_none()
        && mandate.expires_at > now
        && (!mandate.is_remote || mandate.consent_received_at.is_some())
        && Demarche::parse(&autorisation.demarche).is_ok_and(|d| allowed.contains(&d))
}

type UsableAutorisations<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            UsableJoin,
            diesel::dsl::Eq<mandates::organisation_id, &'a OrganisationId>,
        >,
        diesel::dsl::Eq<mandates::usager_id, &'a UsagerId>,
    >,
    UsableAt,
>;

/// The mandate `mandate_id` when it is one of the verified aidant's structure; otherwise, as
/// for a mandate that does not exist, `UnknownMandate`.
pub(crate) fn mandate_of_structure(
    conn: &mut DbConnection,
    who: &VerifiedAidant,
    mandate_id: &MandateId,
) -> Result<Mandate, MandateError> {
    mandates::table
        .find(mandate_id)
        .filter(mandates::organisation_id.eq(who.organisation_id()))
        .select(Mandate::as_select())
        .first(conn)
        .optional()?
        .ok_or(MandateError::UnknownMandate)
}

/// The autorisations of (organisation, usager) usable at `now`.
fn active_autorisations_query<'a>(
    organisation_id: &'a OrganisationId,
    usager_id: &'a UsagerId,
    now: Timestamp,
) -> UsableAutorisations<'a> {
    usable_join()
        .filter(mandates::organisation_id.eq(organisation_id))
        .filter(mandates::usager_id.eq(usager_id))
        .filter(usable_at(now))
}

/// The coverage check: the proof that `organisation_id` may act for `usager_id` on
/// `demarche` at `now`, or `None`.
pub fn check_coverage(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    usager_id: &UsagerId,
    demarche: Demarche,
    now: Timestamp,
) -> Result<Option<Coverage>, MandateError> {
    Ok(
        check_coverage_with_usager(conn, organisation_id, usager_id, demarche, now)?
            .map(|(coverage, _)| coverage),
    )
}

/// The coverage check and the usager it covers, read together (one query where the token and
/// userinfo endpoints need both).
pub fn check_coverage_with_usager(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    usager_id: &UsagerId,
    demarche: Demarche,
    now: Timestamp,
) -> Result<Option<(Coverage, Usager)>, MandateError> {
    let found: Option<(String, String, Timestamp, Usager)> =
        active_autorisations_query(organisation_id, usager_id, now)
            .inner_join(usagers::table.on(usagers::id.eq(mandates::usager_id)))
            .filter(autorisations::demarche.eq(demarche.id()))
            .order(mandates::expires_at.desc())
            .select((
                autorisations::id,
                mandates::id,
                mandates::expires_at,
                Usager::as_select(),
            ))
            .first(conn)
            .optional()?;
    Ok(
        found.map(|(autorisation_id, mandate_id, expires_at, usager)| {
            (
                Coverage {
                    organisation_id: organisation_id.to_owned(),
                    usager_id: usager_id.to_owned(),
                    demarche,
                    autorisation_id: autorisation_id.into(),
                    mandate_id: mandate_id.into(),
                    expires_at,
                    checked_at: now,
                },
                usager,
            )
        }),
    )
}

/// Refuses démarches the structure is not allowed.
pub(crate) fn check_allowed(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    demarches: &[Demarche],
) -> Result<(), MandateError> {
    let allowed = allowed_demarches(conn, organisation_id)?;
    match demarches.iter().find(|d| !allowed.contains(d)) {
        Some(refused) => Err(MandateError::DemarcheNotAllowed(refused.title())),
        None => Ok(()),
    }
}

/// The démarches a structure's stored `allowed_demarches` names (all when unset).
pub fn parse_allowed(stored: Option<&str>) -> Result<Vec<Demarche>, MandateError> {
    let Some(stored) = stored else {
        return Ok(Demarche::ALL.to_vec());
    };
    let ids: Vec<String> =
        serde_json::from_str(stored).map_err(|_| MandateError::AllowedDemarches)?;
    ids.iter().map(|id| Demarche::parse(id)).collect()
}

/// The démarches a structure may do: those the national team allowed it (all by default).
pub fn allowed_demarches(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
) -> Result<Vec<Demarche>, MandateError> {
    let stored: Option<Option<String>> = organisations::table
        .find(organisation_id)
        .select(organisations::allowed_demarches)
        .first(conn)
        .optional()?;
    parse_allowed(stored.flatten().as_deref())
}

/// The démarches a structure may do now for an usager, among `within` when given (what the
/// administrative site accepts), with the end of the mandate covering each (in catalogue
/// order). A démarche the structure is not allowed is never offered.
pub fn active_demarches(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    usager_id: &UsagerId,
    within: Option<&[Demarche]>,
    now: Timestamp,
) -> Result<Vec<(Demarche, Timestamp)>, MandateError> {
    let offered = offered_ids(within);
    let rows: Vec<(String, Timestamp)> =
        active_autorisations_query(organisation_id, usager_id, now)
            .filter(autorisations::demarche.eq_any(&offered))
            .select((autorisations::demarche, mandates::expires_at))
            .load(conn)?;
    let mut out: Vec<(Demarche, Timestamp)> = Vec::new();
    for (id, expires) in rows {
        let demarche = Demarche::parse(&id)?;
        match out.iter_mut().find(|(d, _)| *d == demarche) {
            Some(entry) => entry.1 = entry.1.max(expires),
            None => out.push((demarche, expires)),
        }
    }
    out.sort_by_key(|(d, _)| d.position());
    Ok(out)
}

/// The ids of the démarches of the catalogue, among `within` when given (the structure's own
/// limits are in the rule, [`usable_at`]).
fn offered_ids(within: Option<&[Demarche]>) -> Vec<&'static str> {
    Demarche::ALL
        .iter()
        .filter(|d| within.is_none_or(|w| w.contains(d)))
        .map(|d| d.id())
        .collect()
}

/// Lists the usager among the structure's (once, with their search name), for the usager list.
fn list_in_organisation(
    tx: &mut WriteTx<'_>,
    organisation_id: &OrganisationId,
    usager_id: &UsagerId,
) -> Result<(), MandateError> {
    let search_name: String = usagers::table
        .find(usager_id)
        .select(usagers::search_name)
        .first(tx.conn())?;
    let insert = diesel::insert_into(organisation_usagers::table).values((
        organisation_usagers::organisation_id.eq(organisation_id),
        organisation_usagers::usager_id.eq(usager_id),
        organisation_usagers::search_name.eq(search_name),
    ));
    match tx.conn() {
        DbConnection::Pg(c) => insert.on_conflict_do_nothing().execute(c)?,
        DbConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
    Ok(())
}

/// The usagers an organisation holds an active mandate for at `now`, optionally filtered by a
/// name search, in name order, at most `limit`.
pub fn usagers_with_active_mandates(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    within: Option<&[Demarche]>,
    now: Timestamp,
    search: Option<&str>,
    limit: i64,
) -> Result<Vec<Usager>, MandateError> {
    // Walks the structure's usagers in name order (index `organisation_usagers_name`), a batch
    // at a time, keeping those with an active mandate, until `limit`: the cost follows the page,
    // not the structure's number of mandates. Batches double when few are active, so a
    // structure of mostly expired mandates is walked in a few queries.
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let offered = offered_ids(within);
    if offered.is_empty() {
        return Ok(Vec::new());
    }
    let term = search.map(normalise_search).filter(|t| !t.is_empty());
    let mut batch_size = limit + 16;
    let mut found: Vec<Usager> = Vec::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let mut query = organisation_usagers::table
            .inner_join(usagers::table.on(usagers::id.eq(organisation_usagers::usager_id)))
            .filter(organisation_usagers::organisation_id.eq(organisation_id))
            .select((organisation_usagers::search_name, Usager::as_select()))
            .order((
                organisation_usagers::search_name.asc(),
                organisation_usagers::usager_id.asc(),
            ))
            .limit(batch_size)
            .into_boxed();
        if let Some(term) = &term {
            query = query.filter(
                organisation_usagers::search_name
                    .like(usager::search_pattern(term))
                    .escape('\\'),
            );
        }
        if let Some((name, id)) = &after {
            query = query.filter(
                organisation_usagers::search_name.gt(name.clone()).or(
                    organisation_usagers::search_name
                        .eq(name.clone())
                        .and(organisation_usagers::usager_id.gt(id.clone())),
                ),
            );
        }
        let batch: Vec<(String, Usager)> = query.load(conn)?;
        let full = batch.len() as i64 == batch_size;
        let ids: Vec<&str> = batch.iter().map(|(_, u)| u.id.as_str()).collect();
        let active: std::collections::HashSet<UsagerId> = usable_join()
            .filter(mandates::organisation_id.eq(organisation_id))
            .filter(mandates::usager_id.eq_any(&ids))
            .filter(autorisations::demarche.eq_any(&offered))
            .filter(usable_at(now))
            .select(mandates::usager_id)
            .distinct()
            .load::<UsagerId>(conn)?
            .into_iter()
            .collect();
        for (name, usager) in batch {
            after = Some((name, usager.id.to_string()));
            if active.contains(&usager.id) {
                found.push(usager);
                if found.len() as i64 >= limit {
                    return Ok(found);
                }
            }
        }
        if !full {
            return Ok(found);
        }
        batch_size = batch_size.saturating_mul(2);
    }
}

/// Usagers known (each came with a mandate) and mandates in force at `now` (with at least one
/// usable autorisation), for the public statistics.
pub fn totals(conn: &mut DbConnection, now: Timestamp) -> Result<(i64, i64), MandateError> {
    let usagers = usagers::table.count().get_result(conn)?;
    let active = usable_join()
        .filter(usable_at(now))
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "COUNT(DISTINCT mandates.id)",
        ))
        .get_result(conn)?;
    Ok((usagers, active))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use chrono::{Duration, TimeZone};
    use ring::rand::SystemRandom;
    use store::{write_transaction, Scratch};

    fn at() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap().into()
    }

    /// A structure, its aidant and a usager, in a scratch database.
    fn seeded(conn: &mut store::PooledDb) -> (OrganisationId, AidantId, Usager) {
        let rng = SystemRandom::new();
        write_transaction(conn, |tx| -> Result<_, Box<dyn std::error::Error>> {
            let o = accounts::create_organisation(
                tx,
                &rng,
                at(),
                accounts::NewOrganisation {
                    name: "CCAS de Test",
                    siret: "11111111100011",
                    address: "1 rue de la Paix",
                    zipcode: "75002",
                    city: "Paris",
                    kind: "CCAS",
                    habilitation: accounts::Habilitation::Validated,
                    france_services: false,
                },
            )?;
            let a = accounts::create_aidant(
                tx,
                &rng,
                at(),
                accounts::NewAidant {
                    email: "lou@test.fr",
                    first_name: "Lou",
                    last_name: "Martin",
                    profession: "Travailleuse sociale",
                    phone: "",
                    active: true,
                },
            )?;
            let identite = identity::IdentitePivot {
                given_name: "Angela".into(),
                family_name: "DUBOIS".into(),
                preferred_username: String::new(),
                birthdate: identity::IdentitePivot::parse_birthdate("1962-08-24")?,
                gender: identity::Gender::Female,
                birthplace: "75107".into(),
                birthcountry: identity::FRANCE_COG.into(),
                email: String::new(),
            };
            let u = create_usager(
                tx,
                &rng,
                at(),
                NewUsager {
                    identite: &identite,
                    franceconnect_sub: None,
                    phone: "",
                },
            )?;
            Ok((o.id, a.id, u))
        })
        .unwrap()
    }

    fn mandate_for(
        conn: &mut store::PooledDb,
        (organisation, aidant, usager): &(OrganisationId, AidantId, Usager),
        demarches: &[Demarche],
        duration: MandateDuration,
        now: Timestamp,
    ) -> (Mandate, Vec<Autorisation>) {
        write_transaction(conn, |tx| {
            create_mandate(
                tx,
                &SystemRandom::new(),
                now,
                NewMandate {
                    organisation_id: organisation,
                    usager_id: &usager.id,
                    created_by: aidant,
                    duration,
                    demarches,
                    is_remote: false,
                    consent_phone: None,
                    renews: None,
                },
                MandateTexts::published().version(1).unwrap(),
            )
        })
        .unwrap()
    }

    #[test]
    fn a_new_mandate_replaces_the_autorisation_for_the_same_demarche() {
        let db = Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let parties = seeded(&mut conn);
        let (organisation, _, usager) = &parties;
        let (first, _) = mandate_for(
            &mut conn,
            &parties,
            &[Demarche::Argent, Demarche::Famille],
            MandateDuration::Long,
            at(),
        );
        let later = at() + Duration::days(1);
        let (second, _) = mandate_for(
            &mut conn,
            &parties,
            &[Demarche::Argent],
            MandateDuration::Month,
            later,
        );
        let argent = check_coverage(&mut conn, organisation, &usager.id, Demarche::Argent, later)
            .unwrap()
            .unwrap();
        assert_eq!(argent.mandate_id(), &second.id);
        let famille = check_coverage(
            &mut conn,
            organisation,
            &usager.id,
            Demarche::Famille,
            later,
        )
        .unwrap()
        .unwrap();
        assert_eq!(famille.mandate_id(), &first.id, "the other démarche stays");
        let allowed = Demarche::ALL.to_vec();
        let usable: Vec<bool> = autorisations_of_mandate(&mut conn, &first.id)
            .unwrap()
            .iter()
            .map(|a| is_usable(a, &first, &allowed, later))
            .collect();
        assert_eq!(usable.iter().filter(|u| **u).count(), 1);
    }

    #[test]
    fn an_expired_mandate_covers_nothing() {
        let db = Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let parties = seeded(&mut conn);
        let (organisation, _, usager) = &parties;
        mandate_for(
            &mut conn,
            &parties,
            &[Demarche::Argent],
            MandateDuration::Short,
            at(),
        );
        let covered = |conn: &mut store::PooledDb, now| {
            check_coverage(conn, organisation, &usager.id, Demarche::Argent, now).unwrap()
        };
        assert!(covered(&mut conn, at()).is_some());
        // A mandate for the day ends at midnight in Paris (22:00 UTC in June).
        assert!(covered(
            &mut conn,
            at() + Duration::hours(12) + Duration::minutes(59)
        )
        .is_some());
        assert!(covered(&mut conn, at() + Duration::hours(13)).is_none());
        assert_eq!(
            totals(&mut conn, at() + Duration::hours(13)).unwrap(),
            (1, 0)
        );
    }

    #[test]
    fn demarche_catalogue_is_complete_and_stable() {
        let ids: Vec<&str> = Demarche::ALL.iter().map(|d| d.id()).collect();
        assert_eq!(
            ids,
            [
                "papiers",
                "famille",
                "social",
                "travail",
                "logement",
                "transports",
                "argent",
                "justice",
                "etranger",
                "loisirs"
            ]
        );
        for d in Demarche::ALL {
            assert_eq!(Demarche::parse(d.id()).ok(), Some(d));
        }
        assert!(Demarche::parse("impots").is_err());
        assert_eq!(Demarche::Etranger.title(), "Étranger");
    }
}
