//! What a référent does to the aidants and cards of their organisation: associate a physical
//! card, validate it with a code it shows, dissociate it with a reason, enrol a digital card,
//! deactivate and reactivate an aidant. Each action checks that the aidant belongs to the
//! organisation, runs in one transaction, is journaled on the organisation's chain, and ends
//! the sessions it makes illegitimate.
//!
//! A card is the aidant's credential in every organisation they work for, so a référent acts
//! on an aidant's cards only when they are a référent of every organisation where the aidant
//! holds an active membership; otherwise only the national team may.

use crate::cards::{
    create_card, forget_failures, verify_code, CardKind, NewCard, OtpCard, OtpRefusal,
};
use crate::sessions::{end_sessions, SessionPolicy};
use crate::{AuthError, SeedCipher, VerifiedReferent};
use diesel::prelude::*;
use journal::{Action, NewEntry};
use mail::Email;
use ring::rand::SecureRandom;
use store::schema::otp_cards;
use store::{
    write_transaction, AidantId, CardId, DbConnection, OrganisationId, PooledDb, Timestamp, WriteTx,
};

/// Why a référent's action on a card or an aidant was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardRefusal {
    /// The aidant (or the card) does not belong to the organisation.
    NotMember,
    /// No card has this serial number.
    UnknownSerial,
    /// The card is already associated with an aidant.
    CardTaken,
    /// The card is out of service.
    OutOfService,
    /// The aidant already holds a physical card.
    AlreadyHasCard,
    /// No card of the aidant awaits validation.
    NoPendingCard,
    /// The code typed to validate the card was refused.
    Code(OtpRefusal),
    /// "Autre" needs a few words of explanation.
    ReasonMissing,
    /// A référent cannot deactivate themselves.
    SelfDeactivation,
    /// The aidant also works for an organisation the référent does not manage: their card
    /// is left to the national team.
    SharedAidant,
    /// The structure would be left without a working référent.
    LastReferent,
    /// A référent hands their role over to another member, not to themselves.
    SelfHandOver,
}

/// Why a card is taken away from its aidant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dissociation {
    /// Lost.
    Perte,
    /// Broken.
    Casse,
    /// Shows wrong codes.
    Dysfonctionnement,
    /// The aidant left the organisation.
    Depart,
    /// Associated by mistake.
    Erreur,
    /// Another reason, explained.
    Autre(String),
}

impl Dissociation {
    /// The reason from a form: its stored name, and the text for "autre".
    pub fn parse(reason: &str, detail: &str) -> Option<Dissociation> {
        Some(match reason {
            "perte" => Dissociation::Perte,
            "casse" => Dissociation::Casse,
            "dysfonctionnement" => Dissociation::Dysfonctionnement,
            "depart" => Dissociation::Depart,
            "erreur" => Dissociation::Erreur,
            "autre" => Dissociation::Autre(detail.trim().chars().take(300).collect()),
            _ => return None,
        })
    }

    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Dissociation::Perte => "perte",
            Dissociation::Casse => "casse",
            Dissociation::Dysfonctionnement => "dysfonctionnement",
            Dissociation::Depart => "depart",
            Dissociation::Erreur => "erreur",
            Dissociation::Autre(_) => "autre",
        }
    }

    /// The reason as a person reads it (in the e-mails that tell of it).
    pub fn label(&self) -> String {
        match self {
            Dissociation::Perte => "carte perdue".into(),
            Dissociation::Casse => "carte cassée".into(),
            Dissociation::Dysfonctionnement => "carte défectueuse".into(),
            Dissociation::Depart => "départ de la structure".into(),
            Dissociation::Erreur => "carte associée par erreur".into(),
            Dissociation::Autre(text) => text.clone(),
        }
    }

    /// Whether a physical card dissociated for this reason can never be used again (it is
    /// lost, broken or faulty); otherwise it goes back to stock.
    pub fn puts_out_of_service(&self) -> bool {
        matches!(
            self,
            Dissociation::Perte | Dissociation::Casse | Dissociation::Dysfonctionnement
        )
    }
}

/// Who acts, for whom, where: a verified référent of the structure, on one of its aidants.
/// Built only from a [`VerifiedReferent`].
#[derive(Debug, Clone, Copy)]
pub struct ReferentAction<'a> {
    organisation_id: &'a OrganisationId,
    referent_id: &'a AidantId,
    aidant_id: &'a AidantId,
}

impl<'a> ReferentAction<'a> {
    /// The référent's action on `aidant_id` (whose membership each action checks).
    pub fn on(referent: &'a VerifiedReferent, aidant_id: &'a AidantId) -> Self {
        ReferentAction {
            organisation_id: referent.organisation_id(),
            referent_id: referent.referent_id(),
            aidant_id,
        }
    }

    /// The aidant acted upon.
    pub fn aidant_id(&self) -> &'a AidantId {
        self.aidant_id
    }
}

impl ReferentAction<'_> {
    fn is_member(&self, conn: &mut DbConnection) -> Result<bool, AuthError> {
        Ok(accounts::member(conn, self.organisation_id, self.aidant_id)?.is_some())
    }

    /// Whether the référent may act on the aidant's cards: the aidant is a member of the
    /// organisation and works nowhere the référent is not a référent.
    fn card_authority(
        &self,
        conn: &mut DbConnection,
    ) -> Result<Result<(), CardRefusal>, AuthError> {
        if !self.is_member(conn)? {
            return Ok(Err(CardRefusal::NotMember));
        }
        if !may_manage_cards(conn, self.referent_id, self.aidant_id)? {
            return Ok(Err(CardRefusal::SharedAidant));
        }
        Ok(Ok(()))
    }

    /// The aidant's card `card_id`, when the référent may act on it.
    fn card(
        &self,
        conn: &mut DbConnection,
        card_id: &CardId,
    ) -> Result<Result<OtpCard, CardRefusal>, AuthError> {
        if let Err(refusal) = self.card_authority(conn)? {
            return Ok(Err(refusal));
        }
        Ok(cards_of_aidant(conn, self.aidant_id)?
            .into_iter()
            .find(|c| c.id == *card_id)
            .ok_or(CardRefusal::NotMember))
    }

    fn journal(
        &self,
        tx: &mut WriteTx<'_>,
        rng: &dyn SecureRandom,
        now: Timestamp,
        action: Action,
        details: serde_json::Value,
    ) -> Result<(), AuthError> {
        journal::append(
            tx,
            rng,
            now,
            NewEntry {
                chain: self.organisation_id.as_str(),
                action,
                aidant_id: Some(self.referent_id),
                usager_id: None,
                organisation_id: Some(self.organisation_id),
                subject: self.aidant_id.as_str(),
                details,
            },
        )?;
        Ok(())
    }

    /// The aidant acted upon and the structure's name, for the e-mails that tell of it.
    fn parties(&self, conn: &mut DbConnection) -> Result<(accounts::Aidant, String), AuthError> {
        let aidant =
            accounts::aidant(conn, self.aidant_id)?.ok_or(diesel::result::Error::NotFound)?;
        let organisation = accounts::organisation(conn, self.organisation_id)?
            .map(|o| o.name)
            .unwrap_or_default();
        Ok((aidant, organisation))
    }

    /// The structure's working référents other than the one acting (who sees the outcome on
    /// their screen) and the aidant acted upon (told in their own words).
    fn other_referents(&self, conn: &mut DbConnection) -> Result<Vec<String>, AuthError> {
        Ok(accounts::referent_emails(
            conn,
            self.organisation_id,
            &[self.referent_id, self.aidant_id],
        )?)
    }
}

/// Whether `referent_id` is a référent of every organisation where the aidant holds an
/// active membership, so that what they do to the aidant's cards stays within their remit.
pub fn may_manage_cards(
    conn: &mut DbConnection,
    referent_id: &AidantId,
    aidant_id: &AidantId,
) -> Result<bool, AuthError> {
    Ok(accounts::memberships_outside_authority(conn, aidant_id, referent_id)?.is_empty())
}

/// Every card an aidant holds or held back in service, newest first.
pub fn cards_of_aidant(
    conn: &mut DbConnection,
    aidant_id: &AidantId,
) -> Result<Vec<OtpCard>, AuthError> {
    Ok(otp_cards::table
        .filter(otp_cards::aidant_id.eq(aidant_id))
        .order(otp_cards::created_at.desc())
        .select(OtpCard::as_select())
        .load(conn)?)
}

/// The cards in service these aidants hold.
pub fn cards_of_aidants(
    conn: &mut DbConnection,
    ids: &[AidantId],
) -> Result<Vec<OtpCard>, AuthError> {
    Ok(otp_cards::table
        .filter(otp_cards::aidant_id.eq_any(ids))
        .filter(otp_cards::disabled_reason.is_null())
        .order(otp_cards::created_at.asc())
        .select(OtpCard::as_select())
        .load(conn)?)
}

/// The card with this serial number.
pub fn card_by_serial(conn: &mut DbConnection, serial: &str) -> Result<Option<OtpCard>, AuthError> {
    Ok(otp_cards::table
        .filter(otp_cards::serial.eq(serial.trim().to_uppercase()))
        .select(OtpCard::as_select())
        .first(conn)
        .optional()?)
}

/// Associates the physical card `serial` with the aidant; it must then be validated.
pub fn associate_card(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: ReferentAction<'_>,
    serial: &str,
) -> Result<Result<OtpCard, CardRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        if let Err(refusal) = who.card_authority(tx.conn())? {
            return Ok(Err(refusal));
        }
        let card = match take_card(tx, who.aidant_id, serial)? {
            Ok(card) => card,
            Err(refusal) => return Ok(Err(refusal)),
        };
        who.journal(
            tx,
            rng,
            now,
            Action::CardAssociation,
            serde_json::json!({ "card": card.serial }),
        )?;
        Ok(Ok(card))
    })
}

/// Associates the free physical card `serial` with the aidant, to validate next (who may do
/// it is the caller's to check, and the journal entry the caller's to write).
pub(crate) fn take_card(
    tx: &mut WriteTx<'_>,
    aidant_id: &AidantId,
    serial: &str,
) -> Result<Result<OtpCard, CardRefusal>, AuthError> {
    let Some(card) = card_by_serial(tx.conn(), serial)?.filter(OtpCard::is_physical) else {
        return Ok(Err(CardRefusal::UnknownSerial));
    };
    if card.disabled_reason.is_some() {
        return Ok(Err(CardRefusal::OutOfService));
    }
    if card.aidant_id.is_some() || card.staff_id.is_some() {
        return Ok(Err(CardRefusal::CardTaken));
    }
    if cards_of_aidant(tx.conn(), aidant_id)?
        .iter()
        .any(|c| c.is_physical() && c.disabled_reason.is_none())
    {
        return Ok(Err(CardRefusal::AlreadyHasCard));
    }
    let taken = diesel::update(
        otp_cards::table
            .find(&card.id)
            .filter(otp_cards::aidant_id.is_null())
            .filter(otp_cards::staff_id.is_null()),
    )
    .set((
        otp_cards::aidant_id.eq(aidant_id),
        otp_cards::validated_at.eq(None::<Timestamp>),
    ))
    .execute(tx.conn())?;
    if taken != 1 {
        return Ok(Err(CardRefusal::CardTaken));
    }
    Ok(Ok(OtpCard {
        aidant_id: Some(aidant_id.to_owned()),
        validated_at: None,
        ..card
    }))
}

/// Validates the aidant's card awaiting validation with a code it shows now (the code is
/// then used: it cannot sign in).
pub fn validate_card(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: Timestamp,
    who: ReferentAction<'_>,
    code: &str,
) -> Result<Result<OtpCard, CardRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        if let Err(refusal) = who.card_authority(tx.conn())? {
            return Ok(Err(refusal));
        }
        let card = match check_pending_card(tx, rng, cipher, policy, now, who.aidant_id, code)? {
            Ok(card) => card,
            Err(refusal) => return Ok(Err(refusal)),
        };
        who.journal(
            tx,
            rng,
            now,
            Action::CardValidation,
            serde_json::json!({ "card": card.serial, "kind": card.kind.as_str() }),
        )?;
        Ok(Ok(card))
    })
}

/// Validates the aidant's card awaiting validation with `code` (a lock it causes is
/// journaled; who may do it is the caller's to check, and the entry the caller's to write).
pub(crate) fn check_pending_card(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: Timestamp,
    aidant_id: &AidantId,
    code: &str,
) -> Result<Result<OtpCard, CardRefusal>, AuthError> {
    let Some(card) = cards_of_aidant(tx.conn(), aidant_id)?
        .into_iter()
        .find(|c| c.validated_at.is_none() && c.disabled_reason.is_none())
    else {
        return Ok(Err(CardRefusal::NoPendingCard));
    };
    if let Err(refusal) = verify_code(tx, cipher, &card, code, now, &policy.card)? {
        if let OtpRefusal::Locked {
            until,
            now_locked: true,
        } = refusal
        {
            crate::sessions::journal_card_lock(tx, rng, now, aidant_id, &card.serial, until)?;
        }
        return Ok(Err(CardRefusal::Code(refusal)));
    }
    diesel::update(otp_cards::table.find(&card.id))
        .set(otp_cards::validated_at.eq(Some(now)))
        .execute(tx.conn())?;
    // The one validating holds the card: the codes typed to validate it count for nothing now.
    forget_failures(tx, &card.id)?;
    Ok(Ok(OtpCard {
        validated_at: Some(now),
        ..card
    }))
}

/// Takes a card away from the aidant for `reason`: a lost, broken or faulty physical card and
/// any digital card go out of service, others back to stock. The aidant's sessions end.
pub fn dissociate_card(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: ReferentAction<'_>,
    card_id: &CardId,
    reason: &Dissociation,
) -> Result<Result<(), CardRefusal>, AuthError> {
    if matches!(reason, Dissociation::Autre(text) if text.is_empty()) {
        return Ok(Err(CardRefusal::ReasonMissing));
    }
    write_transaction(conn, |tx| {
        let card = match who.card(tx.conn(), card_id)? {
            Ok(card) => card,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let details = take_away(tx, &card, reason)?;
        who.journal(tx, rng, now, Action::CardDissociation, details)?;
        let (aidant, organisation) = who.parties(tx.conn())?;
        let told = |to_referent| Email::CardDissociated {
            aidant: aidant.full_name(),
            organisation: organisation.clone(),
            serial: card.serial.clone(),
            reason: reason.label(),
            to_referent,
            by_team: false,
        };
        mail::enqueue(tx, rng, now, &aidant.email, &told(false))?;
        for referent in who.other_referents(tx.conn())? {
            mail::enqueue(tx, rng, now, &referent, &told(true))?;
        }
        end_sessions(tx, who.aidant_id, None, now)?;
        Ok(Ok(()))
    })
}

/// Takes the card away from its holder for `reason` (a lost, broken or faulty physical card
/// and any digital card go out of service, others back to stock); returns what the journal
/// says of it.
pub(crate) fn take_away(
    tx: &mut WriteTx<'_>,
    card: &OtpCard,
    reason: &Dissociation,
) -> Result<serde_json::Value, AuthError> {
    let out_of_service = reason.puts_out_of_service() || !card.is_physical();
    let disabled = out_of_service.then(|| reason.as_str().to_owned());
    diesel::update(otp_cards::table.find(&card.id))
        .set((
            otp_cards::aidant_id.eq(None::<String>),
            otp_cards::validated_at.eq(None::<Timestamp>),
            otp_cards::disabled_reason.eq(disabled),
        ))
        .execute(tx.conn())?;
    let detail = match reason {
        Dissociation::Autre(text) => text.as_str(),
        _ => "",
    };
    Ok(serde_json::json!({
        "card": card.serial,
        "reason": reason.as_str(),
        "detail": detail,
        "out_of_service": out_of_service,
    }))
}

/// Lifts the lock that wrong codes from unrecognised browsers put on the aidant's card and
/// forgets those codes (the référent has checked with the aidant), journaled as
/// `unlock_otp_card`.
pub fn unlock_card(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: ReferentAction<'_>,
    card_id: &CardId,
) -> Result<Result<(), CardRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        let card = match who.card(tx.conn(), card_id)? {
            Ok(card) => card,
            Err(refusal) => return Ok(Err(refusal)),
        };
        forget_failures(tx, &card.id)?;
        who.journal(
            tx,
            rng,
            now,
            Action::UnlockOtpCard,
            serde_json::json!({ "card": card.serial, "failures": card.failures }),
        )?;
        Ok(Ok(()))
    })
}

/// A digital card being enrolled: the card and its seed, to show once as a QR code.
pub struct Enrolment {
    /// The card, awaiting validation.
    pub card: OtpCard,
    /// The raw seed (20 bytes).
    seed: Vec<u8>,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("card", &self.card.serial)
            .finish_non_exhaustive()
    }
}

impl Enrolment {
    /// The card and its raw seed.
    pub(crate) fn new(card: OtpCard, seed: Vec<u8>) -> Enrolment {
        Enrolment { card, seed }
    }

    /// The `otpauth://` URI a TOTP application scans (RFC 6238 parameters, seed in base32).
    pub fn otpauth_uri(&self, account: &str) -> String {
        let label: String =
            url::form_urlencoded::byte_serialize(format!("Aidants Connect:{account}").as_bytes())
                .collect();
        format!(
            "otpauth://totp/{}?secret={}&issuer=Aidants%20Connect&algorithm=SHA1&digits={}&period={}",
            label.replace('+', "%20"),
            data_encoding::BASE32_NOPAD.encode(&self.seed),
            self.card.digits,
            self.card.period
        )
    }
}

/// Starts enrolling a digital card ("carte numérique") for the aidant: a new random seed,
/// sealed at rest, shown once. An earlier enrolment never validated is dropped.
pub fn begin_digital_card(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    who: ReferentAction<'_>,
) -> Result<Result<Enrolment, CardRefusal>, AuthError> {
    let mut seed = vec![0u8; 20];
    rng.fill(&mut seed).map_err(|_| store::StoreError::Random)?;
    let seed_hex = hex::encode(&seed);
    write_transaction(conn, |tx| {
        if let Err(refusal) = who.card_authority(tx.conn())? {
            return Ok(Err(refusal));
        }
        diesel::delete(
            otp_cards::table
                .filter(otp_cards::aidant_id.eq(who.aidant_id))
                .filter(otp_cards::kind.eq(CardKind::Digital))
                .filter(otp_cards::validated_at.is_null())
                .filter(otp_cards::last_used_step.is_null()),
        )
        .execute(tx.conn())?;
        let id = store::new_id(rng)?;
        let serial = format!("NUM{}", id[..12].to_uppercase());
        let card = create_card(
            tx,
            rng,
            cipher,
            now,
            NewCard {
                serial: &serial,
                seed_hex: &seed_hex,
                kind: CardKind::Digital,
                aidant_id: Some(who.aidant_id),
                validated: false,
            },
        )?;
        Ok(Ok(Enrolment {
            card,
            seed: seed.clone(),
        }))
    })
}

/// Deactivates the aidant in the organisation and ends their sessions there.
pub fn deactivate_member(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: ReferentAction<'_>,
) -> Result<Result<(), CardRefusal>, AuthError> {
    if who.aidant_id == who.referent_id {
        return Ok(Err(CardRefusal::SelfDeactivation));
    }
    write_transaction(conn, |tx| {
        if !accounts::set_membership_active(tx, now, who.aidant_id, who.organisation_id, false)? {
            return Ok(Err(CardRefusal::NotMember));
        }
        end_sessions(tx, who.aidant_id, Some(who.organisation_id), now)?;
        who.journal(
            tx,
            rng,
            now,
            Action::DeactivateAidant,
            serde_json::Value::Null,
        )?;
        let (aidant, organisation) = who.parties(tx.conn())?;
        let told = Email::MemberDeactivated {
            aidant: aidant.full_name(),
            organisation,
        };
        for referent in who.other_referents(tx.conn())? {
            mail::enqueue(tx, rng, now, &referent, &told)?;
        }
        Ok(Ok(()))
    })
}

/// Reactivates the aidant in the organisation.
pub fn reactivate_member(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: ReferentAction<'_>,
) -> Result<Result<(), CardRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        if !accounts::set_membership_active(tx, now, who.aidant_id, who.organisation_id, true)? {
            return Ok(Err(CardRefusal::NotMember));
        }
        who.journal(
            tx,
            rng,
            now,
            Action::ReactivateAidant,
            serde_json::Value::Null,
        )?;
        Ok(Ok(()))
    })
}

/// Makes a member of the structure a (co-)référent (`designate_referent`) and tells them by
/// e-mail (not when they already were one).
pub fn designate_referent(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: ReferentAction<'_>,
) -> Result<Result<(), CardRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        let already = accounts::member(tx.conn(), who.organisation_id, who.aidant_id)?
            .is_some_and(|m| m.role == accounts::Role::Referent);
        let designated = accounts::designate_referent(
            tx,
            rng,
            now,
            who.organisation_id,
            who.aidant_id,
            who.referent_id,
        )?;
        if !designated {
            return Ok(Err(CardRefusal::NotMember));
        }
        if already {
            return Ok(Ok(()));
        }
        let (aidant, organisation) = who.parties(tx.conn())?;
        let told = Email::MadeReferent {
            aidant: aidant.full_name(),
            organisation,
        };
        mail::enqueue(tx, rng, now, &aidant.email, &told)?;
        Ok(Ok(()))
    })
}

/// A référent takes the référent's role off a co-référent, who stays an aidant of the
/// structure (`remove_referent`); never off the structure's last working référent.
pub fn remove_referent(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: ReferentAction<'_>,
) -> Result<Result<(), CardRefusal>, AuthError> {
    role_refusal(write_transaction(conn, |tx| {
        set_role_by(tx, rng, now, &who, who.aidant_id, accounts::Role::Aidant)
    }))
}

/// A leaving référent hands their role over to a working member of the structure, in one
/// transaction: the member becomes référent (told by e-mail), the référent stays an aidant.
/// Refused (nothing written) when the structure would be left without a working référent.
pub fn hand_over_referent(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: ReferentAction<'_>,
) -> Result<Result<(), CardRefusal>, AuthError> {
    if who.aidant_id == who.referent_id {
        return Ok(Err(CardRefusal::SelfHandOver));
    }
    role_refusal(write_transaction(conn, |tx| {
        set_role_by(tx, rng, now, &who, who.aidant_id, accounts::Role::Referent)?;
        set_role_by(tx, rng, now, &who, who.referent_id, accounts::Role::Aidant)?;
        let (aidant, organisation) = who.parties(tx.conn())?;
        mail::enqueue(
            tx,
            rng,
            now,
            &aidant.email,
            &Email::MadeReferent {
                aidant: aidant.full_name(),
                organisation,
            },
        )?;
        Ok(())
    }))
}

/// Gives `aidant_id`, a member of the référent's structure, the role `role`, journaled by the
/// référent.
fn set_role_by(
    tx: &mut store::WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &ReferentAction<'_>,
    aidant_id: &AidantId,
    role: accounts::Role,
) -> Result<(), AuthError> {
    Ok(accounts::set_role(
        tx,
        rng,
        now,
        who.organisation_id,
        aidant_id,
        role,
        accounts::By::Referent(who.referent_id),
    )?)
}

/// A change of roles refused by the accounts (its transaction rolled back), as the référent
/// reads it.
fn role_refusal(done: Result<(), AuthError>) -> Result<Result<(), CardRefusal>, AuthError> {
    match done {
        Ok(()) => Ok(Ok(())),
        Err(AuthError::Accounts(accounts::AccountError::NotMember)) => {
            Ok(Err(CardRefusal::NotMember))
        }
        Err(AuthError::Accounts(accounts::AccountError::LastReferent)) => {
            Ok(Err(CardRefusal::LastReferent))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enrolment_uri_follows_the_key_uri_format() {
        let card = OtpCard {
            id: "c".into(),
            serial: "NUM0123456789AB".into(),
            seed_encrypted: String::new(),
            kind: CardKind::Digital,
            digits: 6,
            period: 30,
            aidant_id: Some("a".into()),
            validated_at: None,
            last_used_step: None,
            failures: 0,
            locked_until: None,
            created_at: Timestamp::from_timestamp(0).unwrap(),
            last_failure_at: None,
            disabled_reason: None,
            locks: 0,
            unseen_failures: 0,
            unseen_locks: 0,
            staff_id: None,
        };
        let enrolment = Enrolment {
            card,
            seed: b"12345678901234567890".to_vec(),
        };
        assert_eq!(
            enrolment.otpauth_uri("lea.martin@fs-brest.fr"),
            "otpauth://totp/Aidants%20Connect%3Alea.martin%40fs-brest.fr\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Aidants%20Connect\
             &algorithm=SHA1&digits=6&period=30"
        );
        assert!(!format!("{enrolment:?}").contains("GEZDG"));
    }

    #[test]
    fn dissociation_reasons_are_read_from_the_form() {
        assert_eq!(Dissociation::parse("perte", ""), Some(Dissociation::Perte));
        assert!(Dissociation::parse("casse", "")
            .unwrap()
            .puts_out_of_service());
        assert!(!Dissociation::parse("depart", "")
            .unwrap()
            .puts_out_of_service());
        assert_eq!(
            Dissociation::parse("autre", "  carte prêtée  "),
            Some(Dissociation::Autre("carte prêtée".into()))
        );
        assert_eq!(Dissociation::parse("volée", ""), None);
    }
}
