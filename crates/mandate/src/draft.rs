//! The mandate wizard's drafts: what the aidant chose (démarches, duration, present or
//! remote), the FranceConnect request under way (hash of its state, its nonce), then the
//! identity FranceConnect returned. Nothing about the mandate is written until the aidant
//! confirms the recap: [`confirm_draft`] then writes the usager (found or created), the mandate,
//! its autorisations, its attestation and their journal entries in one transaction.

use crate::attestation::{
    insert_attestation, Attestation, AttestationKey, AttestationKind, Parties,
};
use crate::usager::{create_usager, usager_by_franceconnect_sub, NewUsager, Usager};
use crate::{
    create_mandate, Actor, Autorisation, Demarche, Mandate, MandateDuration, MandateError,
    MandateText, NewMandate,
};
use authenticator::VerifiedAidant;
use chrono::Duration;
use diesel::prelude::*;
use identity::IdentitePivot;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::schema::{mandate_drafts, mandates, usagers};
use store::{
    hash_secret, new_id, write_transaction, AidantId, DbConnection, MandateId, OrganisationId,
    PooledDb, Timestamp, UsagerId,
};

/// Why a draft cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    /// No such draft for this aidant, or it expired.
    #[error("la création de ce mandat a expiré")]
    Expired,
    /// FranceConnect has not identified the usager yet.
    #[error("l'usager ne s'est pas encore identifié")]
    NotIdentified,
    /// The draft was already confirmed into this mandate.
    #[error("ce mandat a déjà été créé")]
    AlreadyConfirmed(String),
    /// A renewal where FranceConnect identified someone else than the mandate's usager.
    #[error("l'identité FranceConnect ne correspond pas à l'usager du mandat renouvelé")]
    NotTheSameUsager,
    /// The usager read another version of the mandate's text than the one now in force (a new
    /// version applied between the recap and the confirmation).
    #[error("le texte du mandat a changé depuis que l'usager l'a lu")]
    TextChanged,
}

/// A draft of the wizard.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = mandate_drafts)]
pub struct MandateDraft {
    /// Id (in the wizard's URLs).
    pub id: String,
    /// The aidant creating the mandate.
    pub aidant_id: AidantId,
    /// Their organisation.
    pub organisation_id: OrganisationId,
    /// Démarche ids, comma-separated.
    pub demarches: String,
    /// Duration.
    pub duration: MandateDuration,
    /// Consent collected remotely by SMS.
    pub is_remote: bool,
    /// Usager's mobile (E.164) for a remote mandate, else empty.
    pub phone: String,
    /// The mandate being renewed.
    pub renews: Option<String>,
    /// SHA-256 of the FranceConnect `state`.
    pub fc_state_hash: String,
    /// The FranceConnect `nonce`.
    pub fc_nonce: String,
    /// FranceConnect's `sub`, once identified.
    pub franceconnect_sub: Option<String>,
    /// The identité pivot (JSON), once identified.
    pub identite: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Expires.
    pub expires_at: Timestamp,
    /// The mandate it became.
    pub mandate_id: Option<MandateId>,
}

impl MandateDraft {
    /// The démarches chosen.
    pub fn demarches(&self) -> Result<Vec<Demarche>, MandateError> {
        self.demarches.split(',').map(Demarche::parse).collect()
    }

    /// The identity FranceConnect returned, once identified.
    pub fn identite(&self) -> Result<Option<IdentitePivot>, MandateError> {
        self.identite
            .as_deref()
            .map(|text| {
                serde_json::from_str(text).map_err(|e| MandateError::Corrupt(e.to_string()))
            })
            .transpose()
    }
}

/// What the aidant chose on the wizard's first page.
#[derive(Debug, Clone)]
pub struct NewDraft<'a> {
    /// Démarches (at least one).
    pub demarches: &'a [Demarche],
    /// Duration.
    pub duration: MandateDuration,
    /// Normalised mobile number for a remote mandate.
    pub remote_phone: Option<&'a str>,
    /// The mandate being renewed.
    pub renews: Option<&'a str>,
    /// FranceConnect `state` of the request about to be sent.
    pub state: &'a str,
    /// FranceConnect `nonce`.
    pub nonce: &'a str,
    /// How long the draft lives.
    pub lifetime: Duration,
}

/// Deletes the drafts that expired before `before`, with the identité pivot FranceConnect gave
/// for them (a confirmed draft's usager and mandate live on in their own tables); returns how
/// many.
pub fn purge_drafts(conn: &mut DbConnection, before: Timestamp) -> Result<usize, MandateError> {
    Ok(
        diesel::delete(mandate_drafts::table.filter(mandate_drafts::expires_at.lt(before)))
            .execute(conn)?,
    )
}

/// Records the wizard's choices before the usager is sent to FranceConnect. A renewal is
/// journaled (`init_renew_mandat`) and must name a mandate of the organisation.
pub fn create_draft(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &VerifiedAidant,
    new: NewDraft<'_>,
) -> Result<MandateDraft, MandateError> {
    let (aidant_id, organisation_id) = (who.aidant_id(), who.organisation_id());
    if new.demarches.is_empty() {
        return Err(MandateError::NoDemarche);
    }
    write_transaction(conn, |tx| {
        crate::check_allowed(tx.conn(), organisation_id, new.demarches)?;
        if let Some(renewed) = new.renews {
            let usager_id: UsagerId = mandates::table
                .find(renewed)
                .filter(mandates::organisation_id.eq(organisation_id))
                .select(mandates::usager_id)
                .first(tx.conn())
                .optional()?
                .ok_or(MandateError::UnknownMandate)?;
            journal::append(
                tx,
                rng,
                now,
                NewEntry {
                    chain: organisation_id.as_str(),
                    action: Action::InitRenewMandat,
                    aidant_id: Some(aidant_id),
                    usager_id: Some(&usager_id),
                    organisation_id: Some(organisation_id),
                    subject: renewed,
                    details: serde_json::json!({
                        "demarches": new.demarches.iter().map(|d| d.id()).collect::<Vec<_>>(),
                        "duree": new.duration.as_str(),
                    }),
                },
            )?;
        }
        let draft = MandateDraft {
            id: new_id(rng)?,
            aidant_id: aidant_id.to_owned(),
            organisation_id: organisation_id.to_owned(),
            demarches: new
                .demarches
                .iter()
                .map(|d| d.id())
                .collect::<Vec<_>>()
                .join(","),
            duration: new.duration,
            is_remote: new.remote_phone.is_some(),
            phone: new.remote_phone.unwrap_or_default().to_owned(),
            renews: new.renews.map(str::to_owned),
            fc_state_hash: hash_secret(new.state),
            fc_nonce: new.nonce.to_owned(),
            franceconnect_sub: None,
            identite: None,
            created_at: now,
            expires_at: now + new.lifetime,
            mandate_id: None,
        };
        diesel::insert_into(mandate_drafts::table)
            .values((
                mandate_drafts::id.eq(&draft.id),
                mandate_drafts::aidant_id.eq(&draft.aidant_id),
                mandate_drafts::organisation_id.eq(&draft.organisation_id),
                mandate_drafts::demarches.eq(&draft.demarches),
                mandate_drafts::duration.eq(&draft.duration),
                mandate_drafts::is_remote.eq(draft.is_remote),
                mandate_drafts::phone.eq(&draft.phone),
                mandate_drafts::renews.eq(&draft.renews),
                mandate_drafts::fc_state_hash.eq(&draft.fc_state_hash),
                mandate_drafts::fc_nonce.eq(&draft.fc_nonce),
                mandate_drafts::created_at.eq(draft.created_at),
                mandate_drafts::expires_at.eq(draft.expires_at),
            ))
            .execute(tx.conn())?;
        Ok(draft)
    })
}

/// The open draft of `aidant_id` whose FranceConnect request carried `state`, still waiting
/// for the identification.
pub fn draft_by_state(
    conn: &mut DbConnection,
    aidant_id: &AidantId,
    state: &str,
    now: Timestamp,
) -> Result<Option<MandateDraft>, MandateError> {
    Ok(mandate_drafts::table
        .filter(mandate_drafts::fc_state_hash.eq(hash_secret(state)))
        .filter(mandate_drafts::aidant_id.eq(aidant_id))
        .filter(mandate_drafts::expires_at.gt(now))
        .filter(mandate_drafts::mandate_id.is_null())
        .filter(mandate_drafts::franceconnect_sub.is_null())
        .select(MandateDraft::as_select())
        .first(conn)
        .optional()?)
}

/// An unexpired draft of `aidant_id`.
pub fn draft(
    conn: &mut DbConnection,
    aidant_id: &AidantId,
    id: &str,
    now: Timestamp,
) -> Result<Option<MandateDraft>, MandateError> {
    Ok(mandate_drafts::table
        .find(id)
        .filter(mandate_drafts::aidant_id.eq(aidant_id))
        .filter(mandate_drafts::expires_at.gt(now))
        .select(MandateDraft::as_select())
        .first(conn)
        .optional()?)
}

fn same_person(usager: &Usager, pivot: &IdentitePivot) -> bool {
    usager.given_name == pivot.given_name
        && usager.family_name == pivot.family_name
        && usager.birthdate == pivot.birthdate.to_string()
        && usager.birthplace == pivot.birthplace
        && usager.birthcountry == pivot.birthcountry
}

/// Records the identity FranceConnect returned for a draft.
/// For a renewal, the identity must be the renewed mandate's usager: same FranceConnect `sub`
/// when known, otherwise the same identité pivot.
pub fn record_identification(
    conn: &mut DbConnection,
    draft: &MandateDraft,
    franceconnect_sub: &str,
    pivot: &IdentitePivot,
) -> Result<(), MandateError> {
    if let Some(renewed) = &draft.renews {
        let usager: Usager = mandates::table
            .inner_join(usagers::table)
            .filter(mandates::id.eq(renewed))
            .select(Usager::as_select())
            .first(conn)?;
        let same = match &usager.franceconnect_sub {
            Some(sub) => sub == franceconnect_sub,
            None => same_person(&usager, pivot),
        };
        if !same {
            return Err(MandateError::Draft(DraftError::NotTheSameUsager));
        }
    }
    let identite =
        serde_json::to_string(pivot).map_err(|e| MandateError::Corrupt(e.to_string()))?;
    let updated = diesel::update(mandate_drafts::table.find(&draft.id))
        .filter(mandate_drafts::franceconnect_sub.is_null())
        .filter(mandate_drafts::mandate_id.is_null())
        .set((
            mandate_drafts::franceconnect_sub.eq(Some(franceconnect_sub)),
            mandate_drafts::identite.eq(Some(identite)),
        ))
        .execute(conn)?;
    if updated == 1 {
        Ok(())
    } else {
        Err(MandateError::Draft(DraftError::Expired))
    }
}

/// What a confirmation wrote.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// The usager (found or created).
    pub usager: Usager,
    /// The mandate.
    pub mandate: Mandate,
    /// Its autorisations.
    pub autorisations: Vec<Autorisation>,
    /// Its attestation.
    pub attestation: Attestation,
}

/// Confirms a draft after the recap: in one transaction, finds or creates the usager (by
/// FranceConnect `sub`), writes the mandate under `text` (the version of the mandate's text in
/// force, which must be the version `read` the usager read and consented to) and its
/// autorisations (replacing the
/// organisation's active autorisations for the same démarches), its attestation, and their
/// journal entries. A draft is confirmed at most once, even when submitted twice at once.
#[allow(clippy::too_many_arguments)]
pub fn confirm_draft(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    key: &AttestationKey,
    text: &MandateText,
    read: u32,
    parties: &Parties,
    who: &VerifiedAidant,
    draft_id: &str,
) -> Result<Confirmed, MandateError> {
    if parties.organisation_id != *who.organisation_id() {
        return Err(MandateError::Draft(DraftError::Expired));
    }
    let aidant_id = who.aidant_id();
    write_transaction(conn, |tx| {
        let draft: MandateDraft = mandate_drafts::table
            .find(draft_id)
            .filter(mandate_drafts::aidant_id.eq(aidant_id))
            .filter(mandate_drafts::organisation_id.eq(&parties.organisation_id))
            .filter(mandate_drafts::expires_at.gt(now))
            .select(MandateDraft::as_select())
            .first(tx.conn())
            .optional()?
            .ok_or(MandateError::Draft(DraftError::Expired))?;
        if let Some(mandate_id) = draft.mandate_id.clone() {
            return Err(MandateError::Draft(DraftError::AlreadyConfirmed(
                mandate_id.to_string(),
            )));
        }
        if read != text.version {
            return Err(MandateError::Draft(DraftError::TextChanged));
        }
        let (Some(fc_sub), Some(pivot)) = (draft.franceconnect_sub.clone(), draft.identite()?)
        else {
            return Err(MandateError::Draft(DraftError::NotIdentified));
        };
        let (usager, created) = match usager_by_franceconnect_sub(tx.conn(), &fc_sub)? {
            Some(found) => (found, false),
            None => match draft.renews.as_ref() {
                Some(renewed) => {
                    let usager: Usager = mandates::table
                        .inner_join(usagers::table)
                        .filter(mandates::id.eq(renewed))
                        .select(Usager::as_select())
                        .first(tx.conn())?;
                    diesel::update(usagers::table.find(&usager.id))
                        .set(usagers::franceconnect_sub.eq(Some(&fc_sub)))
                        .execute(tx.conn())?;
                    (usager, false)
                }
                None => (
                    create_usager(
                        tx,
                        rng,
                        now,
                        NewUsager {
                            identite: &pivot,
                            franceconnect_sub: Some(&fc_sub),
                            phone: &draft.phone,
                        },
                    )?,
                    true,
                ),
            },
        };
        journal::append(
            tx,
            rng,
            now,
            NewEntry {
                chain: draft.organisation_id.as_str(),
                action: Action::FranceconnectUsager,
                aidant_id: Some(aidant_id),
                usager_id: Some(&usager.id),
                organisation_id: Some(&draft.organisation_id),
                subject: usager.id.as_str(),
                details: serde_json::json!({ "nouvel_usager": created }),
            },
        )?;
        let demarches = draft.demarches()?;
        let (mandate, autorisations) = create_mandate(
            tx,
            rng,
            now,
            NewMandate {
                organisation_id: &draft.organisation_id,
                usager_id: &usager.id,
                created_by: aidant_id,
                duration: draft.duration,
                demarches: &demarches,
                is_remote: draft.is_remote,
                consent_phone: draft.is_remote.then_some(draft.phone.as_str()),
                renews: draft.renews.as_ref().map(MandateId::from).as_ref(),
            },
            text,
        )?;
        let claimed = diesel::update(mandate_drafts::table.find(&draft.id))
            .filter(mandate_drafts::mandate_id.is_null())
            .set((
                mandate_drafts::mandate_id.eq(Some(&mandate.id)),
                mandate_drafts::identite.eq(None::<String>),
            ))
            .execute(tx.conn())?;
        if claimed != 1 {
            let winner: Option<String> = mandate_drafts::table
                .find(&draft.id)
                .select(mandate_drafts::mandate_id)
                .first(tx.conn())?;
            return Err(MandateError::Draft(DraftError::AlreadyConfirmed(
                winner.unwrap_or_default(),
            )));
        }
        let attestation = insert_attestation(
            tx,
            rng,
            now,
            key,
            parties,
            &mandate,
            AttestationKind::Mandat,
            Actor::Aidant(aidant_id),
            None,
        )?;
        Ok(Confirmed {
            usager,
            mandate,
            autorisations,
            attestation,
        })
    })
}
