//! The audit journal: append-only entries, hash-chained per chain (one chain per
//! organisation, plus the `national` chain for the national team's actions), and the
//! verification of a chain.
//!
//! Entries are only ever inserted: this crate offers no update and no delete. Each entry
//! carries the hash of the previous entry of its chain and its own hash over a canonical
//! encoding of its content, so an altered or removed entry breaks the chain. Signed daily
//! checkpoints of the chain heads ([`checkpoint`]) reveal a chain cut back at its end, and
//! monthly aggregates ([`stats`]) are kept with every append for the public statistics.

pub mod checkpoint;
pub mod search;
pub mod stats;

pub use checkpoint::{
    checkpoint_if_due, verify_checkpoints, Checkpoint, CheckpointProblem, CheckpointReport,
    CheckpointSigner, SignatureError,
};
pub use search::{search, Cursor, Filter};

use diesel::prelude::*;
use ring::digest;
use ring::rand::SecureRandom;
use serde::Serialize;
use store::schema::{journal, journal_heads};
use store::{
    new_id, AidantId, DbConnection, OrganisationId, StoreError, Timestamp, UsagerId, WriteTx,
};

/// The chain of the national team's actions (imports, habilitations).
pub const NATIONAL_CHAIN: &str = "national";
/// The `prev_hash` of a chain's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The actions the journal records, named as the service names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// An aidant signed in with their OTP card.
    ConnectAidant,
    /// An aidant typed a fresh OTP code before a sensitive action.
    ActivityCheckAidant,
    /// A mandate was created for an usager.
    CreateAutorisation,
    /// An aidant used an autorisation through FranceConnect.
    UseAutorisation,
    /// An autorisation was revoked.
    CancelAutorisation,
    /// A whole mandate was revoked.
    CancelMandat,
    /// An usager identified through FranceConnect while a mandate was created.
    FranceconnectUsager,
    /// An attestation was produced; its fingerprint is recorded.
    CreateAttestation,
    /// An aidant started renewing a mandate.
    InitRenewMandat,
    /// A consent request was sent to the usager by SMS.
    RemoteSmsConsentSent,
    /// The consent SMS could not be sent (the SMS provider refused it or was unreachable).
    RemoteSmsConsentFailed,
    /// The usager accepted the mandate by SMS.
    RemoteSmsConsentReceived,
    /// The usager refused the mandate by SMS.
    RemoteSmsDenial,
    /// The national team imported physical OTP cards.
    ImportTotpCards,
    /// A référent associated a card with an aidant.
    CardAssociation,
    /// A référent validated an aidant's card with a code it showed.
    CardValidation,
    /// A référent dissociated a card from an aidant, with a reason.
    CardDissociation,
    /// A card locked itself after too many wrong codes.
    LockOtpCard,
    /// A référent lifted a card's lock and forgot the wrong codes that caused it.
    UnlockOtpCard,
    /// Sign-ins from one source address were suspended after too many failures.
    ThrottleSource,
    /// The national team created an organisation.
    CreateOrganisation,
    /// An aidant was added to an organisation (by the national team or a référent).
    AddAidant,
    /// The national team activated an aidant after training.
    ActivateAidant,
    /// A référent deactivated an aidant in their organisation.
    DeactivateAidant,
    /// A référent reactivated an aidant in their organisation.
    ReactivateAidant,
    /// An aidant was made (co-)référent of an organisation.
    DesignateReferent,
    /// The national team set the démarches an organisation may do.
    SetAllowedDemarches,
    /// Mail to an address was refused by its server (the address does not exist).
    EmailUndeliverable,
    /// A member of the national team was created.
    CreateStaff,
    /// A member of the national team enrolled their card.
    EnrolStaff,
    /// A member of the national team signed in to the back office.
    ConnectStaff,
    /// The national team moved a mandate to another structure.
    TransferMandat,
    /// The national team erased an usager's identity on their request (RGPD).
    EraseUsager,
    /// The national team closed or reopened a structure's habilitation.
    SetHabilitation,
    /// The national team changed an aidant's identity or contact.
    EditAidant,
    /// An aidant stopped being a référent of a structure (remains its aidant).
    RemoveReferent,
    /// The national team changed a structure's address, type or label.
    EditOrganisation,
    /// The national team recorded physical cards sent to a structure.
    SendCards,
    /// An administrator changed a member of the national team's role or state, or gave them a
    /// new enrolment link.
    EditStaff,
    /// An issuer saved a step of a habilitation request (draft, or changes asked).
    EditHabilitationRequest,
    /// An issuer submitted a habilitation request (first time, or again after changes).
    SubmitHabilitationRequest,
    /// The national team changed a habilitation request's status (changes asked, validated,
    /// refused, closed).
    ReviewHabilitationRequest,
    /// A message was written on a habilitation request (by the team or its issuer).
    HabilitationMessage,
    /// The national team published a training session.
    CreateTrainingSession,
    /// A référent registered an aidant to train on a training session.
    RegisterTraining,
    /// The national team recorded who attended a training session.
    RecordAttendance,
    /// The national team imported Pix results.
    ImportPixResults,
    /// A référent asked the national team for an aidant: new, to train, or coming from another
    /// structure.
    RequestAidant,
    /// The national team validated or refused a référent's request for an aidant.
    ReviewAidantRequest,
    /// An usager signed in to their own space through FranceConnect.
    ConnectUsager,
    /// An usager confirmed that a record found on their identité pivot is theirs: their
    /// FranceConnect identity is attached to it.
    LinkUsagerFranceconnect,
    /// An usager chose, from their space, to be told by e-mail of the mandates made and used
    /// in their name, or no longer to be.
    NotifyUsager,
    /// An aidant accepted a version of the CGU.
    AcceptCgu,
    /// A référent withdrew his structure's request for an aidant before the team decided.
    WithdrawAidantRequest,
    /// The issuer of a habilitation request signed in by following their e-mailed link.
    ConnectIssuer,
}

impl Action {
    /// Every action, in the order above.
    pub const ALL: [Action; 55] = [
        Action::ConnectAidant,
        Action::ActivityCheckAidant,
        Action::CreateAutorisation,
        Action::UseAutorisation,
        Action::CancelAutorisation,
        Action::CancelMandat,
        Action::FranceconnectUsager,
        Action::CreateAttestation,
        Action::InitRenewMandat,
        Action::RemoteSmsConsentSent,
        Action::RemoteSmsConsentFailed,
        Action::RemoteSmsConsentReceived,
        Action::RemoteSmsDenial,
        Action::ImportTotpCards,
        Action::CardAssociation,
        Action::CardValidation,
        Action::CardDissociation,
        Action::LockOtpCard,
        Action::UnlockOtpCard,
        Action::ThrottleSource,
        Action::CreateOrganisation,
        Action::AddAidant,
        Action::ActivateAidant,
        Action::DeactivateAidant,
        Action::ReactivateAidant,
        Action::DesignateReferent,
        Action::SetAllowedDemarches,
        Action::EmailUndeliverable,
        Action::CreateStaff,
        Action::EnrolStaff,
        Action::ConnectStaff,
        Action::TransferMandat,
        Action::EraseUsager,
        Action::SetHabilitation,
        Action::EditAidant,
        Action::RemoveReferent,
        Action::EditOrganisation,
        Action::SendCards,
        Action::EditStaff,
        Action::EditHabilitationRequest,
        Action::SubmitHabilitationRequest,
        Action::ReviewHabilitationRequest,
        Action::HabilitationMessage,
        Action::CreateTrainingSession,
        Action::RegisterTraining,
        Action::RecordAttendance,
        Action::ImportPixResults,
        Action::RequestAidant,
        Action::ReviewAidantRequest,
        Action::ConnectUsager,
        Action::LinkUsagerFranceconnect,
        Action::NotifyUsager,
        Action::AcceptCgu,
        Action::WithdrawAidantRequest,
        Action::ConnectIssuer,
    ];

    /// The action of a stored name.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// What the action is, in French, for the people who read the journal.
    pub fn label(self) -> &'static str {
        match self {
            Action::ConnectAidant => "connexion d'un aidant",
            Action::ActivityCheckAidant => "code de vérification avant une action sensible",
            Action::CreateAutorisation => "création d'une autorisation",
            Action::UseAutorisation => "utilisation d'une autorisation",
            Action::CancelAutorisation => "révocation d'une autorisation",
            Action::CancelMandat => "révocation d'un mandat",
            Action::FranceconnectUsager => "identification FranceConnect d'un usager",
            Action::CreateAttestation => "attestation de mandat produite",
            Action::InitRenewMandat => "renouvellement de mandat commencé",
            Action::RemoteSmsConsentSent => "demande de consentement envoyée par SMS",
            Action::RemoteSmsConsentFailed => "échec d'envoi du SMS de consentement",
            Action::RemoteSmsConsentReceived => "consentement reçu par SMS",
            Action::RemoteSmsDenial => "refus reçu par SMS",
            Action::ImportTotpCards => "import de cartes OTP",
            Action::CardAssociation => "association d'une carte",
            Action::CardValidation => "validation d'une carte",
            Action::CardDissociation => "dissociation d'une carte",
            Action::LockOtpCard => "blocage d'une carte",
            Action::UnlockOtpCard => "déblocage d'une carte",
            Action::ThrottleSource => "suspension des connexions d'une adresse",
            Action::CreateOrganisation => "création d'une structure",
            Action::AddAidant => "ajout d'un aidant",
            Action::ActivateAidant => "activation d'un aidant",
            Action::DeactivateAidant => "désactivation d'un aidant",
            Action::ReactivateAidant => "réactivation d'un aidant",
            Action::DesignateReferent => "désignation d'un référent",
            Action::SetAllowedDemarches => "démarches autorisées modifiées",
            Action::EmailUndeliverable => "adresse électronique refusée",
            Action::CreateStaff => "création d'un membre de l'équipe nationale",
            Action::EnrolStaff => "enrôlement d'un membre de l'équipe nationale",
            Action::ConnectStaff => "connexion d'un membre de l'équipe nationale",
            Action::TransferMandat => "transfert d'un mandat vers une autre structure",
            Action::EraseUsager => "effacement de l'identité d'un usager à sa demande (RGPD)",
            Action::SetHabilitation => "habilitation d'une structure fermée ou rouverte",
            Action::EditAidant => "modification d'un aidant",
            Action::RemoveReferent => "retrait d'un référent",
            Action::EditOrganisation => "modification d'une structure",
            Action::SendCards => "envoi de cartes à une structure",
            Action::EditStaff => "modification d'un membre de l'équipe nationale",
            Action::EditHabilitationRequest => "demande d'habilitation complétée",
            Action::SubmitHabilitationRequest => "demande d'habilitation soumise",
            Action::ReviewHabilitationRequest => "décision sur une demande d'habilitation",
            Action::HabilitationMessage => "message sur une demande d'habilitation",
            Action::CreateTrainingSession => "session de formation publiée",
            Action::RegisterTraining => "inscription d'un aidant en formation",
            Action::RecordAttendance => "présence à une formation enregistrée",
            Action::ImportPixResults => "import de résultats Pix",
            Action::RequestAidant => "demande d'ajout d'un aidant",
            Action::ReviewAidantRequest => "décision sur une demande d'ajout d'aidant",
            Action::ConnectUsager => "connexion d'un usager à son espace",
            Action::LinkUsagerFranceconnect => "identité FranceConnect rattachée par l'usager",
            Action::NotifyUsager => "choix des e-mails de l'usager",
            Action::AcceptCgu => "acceptation des CGU par un aidant",
            Action::WithdrawAidantRequest => "retrait d'une demande d'ajout d'aidant",
            Action::ConnectIssuer => "connexion d'un demandeur d'habilitation par son lien",
        }
    }

    /// The stored name of the action.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ConnectAidant => "connect_aidant",
            Action::ActivityCheckAidant => "activity_check_aidant",
            Action::CreateAutorisation => "create_autorisation",
            Action::UseAutorisation => "use_autorisation",
            Action::CancelAutorisation => "cancel_autorisation",
            Action::CancelMandat => "cancel_mandat",
            Action::FranceconnectUsager => "franceconnect_usager",
            Action::CreateAttestation => "create_attestation",
            Action::InitRenewMandat => "init_renew_mandat",
            Action::RemoteSmsConsentSent => "remote_sms_consent_sent",
            Action::RemoteSmsConsentFailed => "remote_sms_consent_failed",
            Action::RemoteSmsConsentReceived => "remote_sms_consent_received",
            Action::RemoteSmsDenial => "remote_sms_denial",
            Action::ImportTotpCards => "import_totp_cards",
            Action::CardAssociation => "card_association",
            Action::CardValidation => "card_validation",
            Action::CardDissociation => "card_dissociation",
            Action::LockOtpCard => "lock_otp_card",
            Action::UnlockOtpCard => "unlock_otp_card",
            Action::ThrottleSource => "throttle_source",
            Action::CreateOrganisation => "create_organisation",
            Action::AddAidant => "add_aidant",
            Action::ActivateAidant => "activate_aidant",
            Action::DeactivateAidant => "deactivate_aidant",
            Action::ReactivateAidant => "reactivate_aidant",
            Action::DesignateReferent => "designate_referent",
            Action::SetAllowedDemarches => "set_allowed_demarches",
            Action::EmailUndeliverable => "email_undeliverable",
            Action::CreateStaff => "create_staff",
            Action::EnrolStaff => "enrol_staff",
            Action::ConnectStaff => "connect_staff",
            Action::TransferMandat => "transfer_mandat",
            Action::EraseUsager => "erase_usager",
            Action::SetHabilitation => "set_habilitation",
            Action::EditAidant => "edit_aidant",
            Action::RemoveReferent => "remove_referent",
            Action::EditOrganisation => "edit_organisation",
            Action::SendCards => "send_cards",
            Action::EditStaff => "edit_staff",
            Action::EditHabilitationRequest => "edit_habilitation_request",
            Action::SubmitHabilitationRequest => "submit_habilitation_request",
            Action::ReviewHabilitationRequest => "review_habilitation_request",
            Action::HabilitationMessage => "habilitation_message",
            Action::CreateTrainingSession => "create_training_session",
            Action::RegisterTraining => "register_training",
            Action::RecordAttendance => "record_attendance",
            Action::ImportPixResults => "import_pix_results",
            Action::RequestAidant => "request_aidant",
            Action::ReviewAidantRequest => "review_aidant_request",
            Action::ConnectUsager => "connect_usager",
            Action::LinkUsagerFranceconnect => "link_usager_franceconnect",
            Action::NotifyUsager => "notify_usager",
            Action::AcceptCgu => "accept_cgu",
            Action::WithdrawAidantRequest => "withdraw_aidant_request",
            Action::ConnectIssuer => "connect_issuer",
        }
    }
}

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain has not been opened (its organisation does not exist).
    #[error("chaîne de journal inconnue: {0}")]
    UnknownChain(String),
    /// A checkpoint could not be signed.
    #[error("signature du point de contrôle: {0}")]
    Signature(#[source] checkpoint::SignatureError),
}

impl From<diesel::result::Error> for JournalError {
    fn from(e: diesel::result::Error) -> Self {
        JournalError::Store(StoreError::Query(e))
    }
}

/// What an entry says, before it is chained.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    /// The chain: an organisation id, or [`NATIONAL_CHAIN`].
    pub chain: &'a str,
    /// What happened.
    pub action: Action,
    /// The aidant who acted, if any.
    pub aidant_id: Option<&'a AidantId>,
    /// The usager concerned, if any.
    pub usager_id: Option<&'a UsagerId>,
    /// The organisation concerned, if any.
    pub organisation_id: Option<&'a OrganisationId>,
    /// A short subject (e.g. the démarche).
    pub subject: &'a str,
    /// Further details (never a secret in clear: hashes only).
    pub details: serde_json::Value,
}

/// A stored journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = journal)]
#[diesel(treat_none_as_default_value = false)]
pub struct JournalEntry {
    /// Row id.
    pub id: String,
    /// Chain.
    pub chain: String,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When.
    pub at: Timestamp,
    /// Action name.
    pub action: String,
    /// Aidant.
    pub aidant_id: Option<AidantId>,
    /// Usager.
    pub usager_id: Option<UsagerId>,
    /// Organisation.
    pub organisation_id: Option<OrganisationId>,
    /// Subject.
    pub subject: String,
    /// Details, as stored JSON text.
    pub details: String,
    /// Hash of the previous entry of the chain.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

impl JournalEntry {
    /// When the entry was written, in UTC.
    pub fn at_utc(&self) -> Timestamp {
        self.at
    }

    /// The hash this entry must carry, recomputed from its content.
    pub fn computed_hash(&self) -> String {
        let canonical = serde_json::json!([
            self.chain,
            self.seq,
            self.at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            self.action,
            self.aidant_id,
            self.usager_id,
            self.organisation_id,
            self.subject,
            self.details,
            self.prev_hash,
        ]);
        hex::encode(digest::digest(
            &digest::SHA256,
            canonical.to_string().as_bytes(),
        ))
    }
}

/// Opens the chain of a new organisation. Idempotent.
pub fn open_chain(tx: &mut WriteTx<'_>, chain: &str) -> Result<(), JournalError> {
    let conn = tx.conn();
    let exists = journal_heads::table
        .find(chain)
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !exists {
        diesel::insert_into(journal_heads::table)
            .values((
                journal_heads::chain.eq(chain),
                journal_heads::seq.eq(0i64),
                journal_heads::head_hash.eq(GENESIS_HASH),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Appends an entry at the end of its chain, inside the caller's transaction (so the entry
/// and what it records move together): the head row is locked by the first statement, so
/// appends to one chain are serialised on both backends while other chains proceed.
pub fn append(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    entry: NewEntry<'_>,
) -> Result<JournalEntry, JournalError> {
    let conn = tx.conn();
    let (seq, prev_hash): (i64, String) = diesel::update(journal_heads::table.find(entry.chain))
        .set(journal_heads::seq.eq(journal_heads::seq + 1))
        .returning((journal_heads::seq, journal_heads::head_hash))
        .get_result(conn)
        .optional()?
        .ok_or_else(|| JournalError::UnknownChain(entry.chain.to_owned()))?;
    let stored = chained(rng, now, &entry, seq, prev_hash)?;
    match conn {
        DbConnection::Pg(pg) => stats::insert_counted_pg(pg, &stored)?,
        DbConnection::Sqlite(_) => {
            diesel::insert_into(journal::table)
                .values(&stored)
                .execute(conn)?;
            diesel::update(journal_heads::table.find(entry.chain))
                .set(journal_heads::head_hash.eq(&stored.hash))
                .execute(conn)?;
            stats::record(conn, &stored)?;
        }
    }
    Ok(stored)
}

/// Appends `entries` at the end of `chain`, in the order given (`at` never going back):
/// the same rows, hashes, head and monthly aggregates as one [`append`] per entry, written in
/// a few bulk statements (COPY on PostgreSQL). For loading volume, not for the service's own
/// actions. Answers the chain's new length.
pub fn append_many(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    chain: &str,
    entries: &[(Timestamp, NewEntry<'_>)],
) -> Result<i64, JournalError> {
    let conn = tx.conn();
    let (mut seq, mut prev_hash): (i64, String) = journal_heads::table
        .find(chain)
        .select((journal_heads::seq, journal_heads::head_hash))
        .first(conn)
        .optional()?
        .ok_or_else(|| JournalError::UnknownChain(chain.to_owned()))?;
    let mut rows = Vec::with_capacity(entries.len());
    for (at, entry) in entries {
        if entry.chain != chain {
            return Err(JournalError::UnknownChain(entry.chain.to_owned()));
        }
        seq += 1;
        let stored = chained(rng, *at, entry, seq, prev_hash)?;
        prev_hash = stored.hash.clone();
        rows.push(stored);
    }
    store::bulk_insert!(conn, journal::table, &rows);
    diesel::update(journal_heads::table.find(chain))
        .set((
            journal_heads::seq.eq(seq),
            journal_heads::head_hash.eq(&prev_hash),
        ))
        .execute(conn)?;
    stats::record_many(conn, chain, &rows)?;
    Ok(seq)
}

/// The stored form of `entry` at position `seq`, after `prev_hash`, with its hash.
fn chained(
    rng: &dyn SecureRandom,
    now: Timestamp,
    entry: &NewEntry<'_>,
    seq: i64,
    prev_hash: String,
) -> Result<JournalEntry, JournalError> {
    let mut stored = JournalEntry {
        id: new_id(rng)?,
        chain: entry.chain.to_owned(),
        seq,
        at: now,
        action: entry.action.as_str().to_owned(),
        aidant_id: entry.aidant_id.cloned(),
        usager_id: entry.usager_id.cloned(),
        organisation_id: entry.organisation_id.cloned(),
        subject: entry.subject.to_owned(),
        details: entry.details.to_string(),
        prev_hash,
        hash: String::new(),
    };
    stored.hash = stored.computed_hash();
    Ok(stored)
}

/// The entries of a chain, in order.
pub fn chain_entries(
    conn: &mut DbConnection,
    chain: &str,
) -> Result<Vec<JournalEntry>, JournalError> {
    Ok(journal::table
        .filter(journal::chain.eq(chain))
        .order(journal::seq.asc())
        .select(JournalEntry::as_select())
        .load(conn)?)
}

/// The entries recording `action`, newest first (for operators and tests).
pub fn entries_by_action(
    conn: &mut DbConnection,
    action: Action,
) -> Result<Vec<JournalEntry>, JournalError> {
    Ok(journal::table
        .filter(journal::action.eq(action.as_str()))
        .order((journal::at.desc(), journal::seq.desc()))
        .select(JournalEntry::as_select())
        .load(conn)?)
}

/// The entries recording `action` about `subject`, oldest first.
pub fn entries_about(
    conn: &mut DbConnection,
    action: Action,
    subject: &str,
) -> Result<Vec<JournalEntry>, JournalError> {
    Ok(journal::table
        .filter(journal::action.eq(action.as_str()))
        .filter(journal::subject.eq(subject))
        .order((journal::at.asc(), journal::seq.asc()))
        .select(JournalEntry::as_select())
        .load(conn)?)
}

/// When each of these aidants last did `action` (those who ever did).
pub fn last_by_aidant(
    conn: &mut DbConnection,
    action: Action,
    ids: &[AidantId],
) -> Result<Vec<(AidantId, Timestamp)>, JournalError> {
    let rows: Vec<(Option<AidantId>, Option<Timestamp>)> = journal::table
        .filter(journal::action.eq(action.as_str()))
        .filter(journal::aidant_id.eq_any(ids))
        .group_by(journal::aidant_id)
        .select((journal::aidant_id, diesel::dsl::max(journal::at)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, at)| Some((id?, at?)))
        .collect())
}

/// Everything the journal holds about one usager, oldest first (right of access).
pub fn entries_of_usager(
    conn: &mut DbConnection,
    usager_id: &UsagerId,
) -> Result<Vec<JournalEntry>, JournalError> {
    Ok(journal::table
        .filter(journal::usager_id.eq(usager_id))
        .order((journal::at.asc(), journal::chain.asc(), journal::seq.asc()))
        .select(JournalEntry::as_select())
        .load(conn)?)
}

/// How many times the usager's mandates were used (`use_autorisation`).
pub fn count_uses_of_usager(
    conn: &mut DbConnection,
    usager_id: &UsagerId,
) -> Result<i64, JournalError> {
    Ok(journal::table
        .filter(journal::usager_id.eq(usager_id))
        .filter(journal::action.eq(Action::UseAutorisation.as_str()))
        .count()
        .get_result(conn)?)
}

/// The uses of the usager's mandates (`use_autorisation`), newest first: `limit` from
/// `offset`.
pub fn uses_of_usager(
    conn: &mut DbConnection,
    usager_id: &UsagerId,
    offset: i64,
    limit: i64,
) -> Result<Vec<JournalEntry>, JournalError> {
    Ok(journal::table
        .filter(journal::usager_id.eq(usager_id))
        .filter(journal::action.eq(Action::UseAutorisation.as_str()))
        .order((
            journal::at.desc(),
            journal::chain.asc(),
            journal::seq.desc(),
        ))
        .offset(offset)
        .limit(limit)
        .select(JournalEntry::as_select())
        .load(conn)?)
}

/// Where a chain stops holding together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// An entry's content no longer matches its hash.
    AlteredEntry {
        /// Position.
        seq: i64,
    },
    /// An entry does not point at its predecessor (one was removed or reordered).
    BrokenLink {
        /// Position.
        seq: i64,
    },
    /// The chain head names an end the entries do not reach (tail removed).
    HeadMismatch {
        /// Last position found.
        last_seq: i64,
    },
}

impl ChainBreak {
    /// What is wrong, in French, for the operator.
    pub fn describe(&self) -> String {
        match self {
            ChainBreak::AlteredEntry { seq } => format!(
                "entrée n° {seq} altérée : son contenu ne correspond plus à son empreinte"
            ),
            ChainBreak::BrokenLink { seq } => format!(
                "lien rompu à l'entrée n° {seq} : elle ne suit pas l'entrée précédente (entrée supprimée, insérée ou déplacée)"
            ),
            ChainBreak::HeadMismatch { last_seq } => format!(
                "fin de chaîne manquante : la dernière entrée trouvée est la n° {last_seq}, la tête de chaîne en annonce une autre"
            ),
        }
    }
}

/// Walks a chain from its start and returns the first break, if any.
pub fn verify_chain(
    conn: &mut DbConnection,
    chain: &str,
) -> Result<Option<ChainBreak>, JournalError> {
    Ok(walk_chain(conn, chain)?.1)
}

/// Walks a chain: how many entries it holds, and its first break.
fn walk_chain(
    conn: &mut DbConnection,
    chain: &str,
) -> Result<(i64, Option<ChainBreak>), JournalError> {
    let head: (i64, String) = journal_heads::table
        .find(chain)
        .select((journal_heads::seq, journal_heads::head_hash))
        .first(conn)
        .optional()?
        .ok_or_else(|| JournalError::UnknownChain(chain.to_owned()))?;
    walk_to_head(conn, chain, head)
}

/// Walks a chain up to `head` (its sequence number and hash, read before): the entries
/// appended since (the head moves with them in one transaction) are the next walk's, so a walk
/// outside any transaction is not misled by the service's own writes.
fn walk_to_head(
    conn: &mut DbConnection,
    chain: &str,
    (head_seq, head_hash): (i64, String),
) -> Result<(i64, Option<ChainBreak>), JournalError> {
    let mut prev = GENESIS_HASH.to_owned();
    let mut expected_seq = 1;
    let entries: Vec<JournalEntry> = journal::table
        .filter(journal::chain.eq(chain))
        .filter(journal::seq.le(head_seq))
        .order(journal::seq.asc())
        .select(JournalEntry::as_select())
        .load(conn)?;
    let count = entries.len() as i64;
    for entry in entries {
        if entry.seq != expected_seq || entry.prev_hash != prev {
            return Ok((count, Some(ChainBreak::BrokenLink { seq: entry.seq })));
        }
        if entry.computed_hash() != entry.hash {
            return Ok((count, Some(ChainBreak::AlteredEntry { seq: entry.seq })));
        }
        prev = entry.hash;
        expected_seq += 1;
    }
    if head_seq != expected_seq - 1 || head_hash != prev {
        return Ok((
            count,
            Some(ChainBreak::HeadMismatch {
                last_seq: expected_seq - 1,
            }),
        ));
    }
    Ok((count, None))
}

/// One chain as `verify_all` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The chain (an organisation id, or [`NATIONAL_CHAIN`]).
    pub chain: String,
    /// Entries found.
    pub entries: i64,
    /// Its first break, if any.
    pub broken: Option<ChainBreak>,
}

/// Walks every chain, by name.
pub fn verify_all(conn: &mut DbConnection) -> Result<Vec<ChainReport>, JournalError> {
    let chains: Vec<String> = journal_heads::table
        .order(journal_heads::chain.asc())
        .select(journal_heads::chain)
        .load(conn)?;
    chains
        .into_iter()
        .map(|chain| {
            let (entries, broken) = walk_chain(conn, &chain)?;
            Ok(ChainReport {
                chain,
                entries,
                broken,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use ring::rand::SystemRandom;
    use store::{write_transaction, Scratch};

    fn entry<'a>(chain: &'a str, subject: &'static str) -> NewEntry<'a> {
        NewEntry {
            chain,
            action: Action::ConnectAidant,
            aidant_id: None,
            usager_id: None,
            organisation_id: None,
            subject,
            details: serde_json::json!({}),
        }
    }

    #[test]
    fn every_action_reads_back_from_its_stored_name() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                serde_json::json!(action.as_str())
            );
        }
        assert_eq!(Action::parse("drop_table"), None);
    }

    #[test]
    fn entries_chain_in_order_and_an_unknown_chain_is_refused() {
        let db = Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let rng = SystemRandom::new();
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap().into();
        let (first, second) = write_transaction(&mut conn, |tx| {
            open_chain(tx, "s1")?;
            let first = append(tx, &rng, at, entry("s1", "un"))?;
            Ok::<_, JournalError>((first, append(tx, &rng, at, entry("s1", "deux"))?))
        })
        .unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(first.prev_hash, GENESIS_HASH);
        assert_eq!(second.prev_hash, first.hash);
        assert_eq!(verify_chain(&mut conn, "s1").unwrap(), None);
        let unknown = write_transaction(&mut conn, |tx| append(tx, &rng, at, entry("s2", "x")));
        assert!(matches!(unknown, Err(JournalError::UnknownChain(c)) if c == "s2"));
        // Nothing of the refused append was written.
        assert_eq!(chain_entries(&mut conn, "s1").unwrap().len(), 2);
    }

    #[test]
    fn an_entry_appended_during_a_walk_is_left_to_the_next_one() {
        let db = Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let rng = SystemRandom::new();
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap().into();
        let first = write_transaction(&mut conn, |tx| {
            open_chain(tx, "s1")?;
            append(tx, &rng, at, entry("s1", "un"))
        })
        .unwrap();
        // The walk read the head, then an aidant's action was journaled before it read the
        // entries.
        write_transaction(&mut conn, |tx| append(tx, &rng, at, entry("s1", "deux"))).unwrap();
        let walked = walk_to_head(&mut conn, "s1", (first.seq, first.hash)).unwrap();
        assert_eq!(walked, (1, None));
        assert_eq!(walk_chain(&mut conn, "s1").unwrap(), (2, None));
    }
}
