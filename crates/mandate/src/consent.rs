//! Remote consent by SMS: a remote mandate is unusable until its usager answers "Oui" to the
//! consent request; "Non" revokes it.

use crate::phone::normalise_mobile;
use crate::usager::normalise_search;
use crate::{Demarche, Mandate, MandateDuration, MandateError};
use authenticator::VerifiedAidant;
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::schema::{autorisations, mandates};
use store::{write_transaction, MandateId, PooledDb, Timestamp};

/// The text of the consent request. It names the organisation, the démarches and the
/// duration, never the usager.
pub fn consent_message(
    organisation_name: &str,
    demarches: &[Demarche],
    duration: MandateDuration,
) -> String {
    let titles: Vec<&str> = demarches.iter().map(|d| d.title()).collect();
    format!(
        "Aidants Connect : {organisation_name} vous demande votre accord pour réaliser en votre nom \
         ces démarches : {} ; durée : {}. Répondez Oui pour accepter ou Non pour refuser.",
        titles.join(", "),
        duration.label()
    )
}

/// Records that the consent SMS of a remote mandate of the verified aidant's structure could
/// not be sent (`remote_sms_consent_failed`, with the provider's answer) and tells the national
/// team at `national_team` by e-mail, naming the structure, never the usager.
pub fn record_consent_sms_failure(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &VerifiedAidant,
    mandate_id: &MandateId,
    failure: &str,
    national_team: &str,
) -> Result<(), MandateError> {
    write_transaction(conn, |tx| {
        let mandate = crate::mandate_of_structure(tx.conn(), who, mandate_id)?;
        journal::append(
            tx,
            rng,
            now,
            NewEntry {
                chain: mandate.organisation_id.as_str(),
                action: Action::RemoteSmsConsentFailed,
                aidant_id: Some(who.aidant_id()),
                usager_id: Some(&mandate.usager_id),
                organisation_id: Some(&mandate.organisation_id),
                subject: mandate.id.as_str(),
                details: serde_json::json!({ "erreur": failure }),
            },
        )?;
        let organisation = accounts::organisation(tx.conn(), &mandate.organisation_id)?
            .map(|o| format!("{} (SIRET {})", o.name, o.siret))
            .unwrap_or_default();
        mail::enqueue(
            tx,
            rng,
            now,
            national_team,
            &mail::Email::SmsFailed {
                organisation,
                failure: failure.to_owned(),
            },
        )?;
        Ok(())
    })
}

/// Records that the verified aidant sent the consent request of a remote mandate of their
/// structure (`remote_sms_consent_sent`).
pub fn mark_consent_requested(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &VerifiedAidant,
    mandate_id: &MandateId,
) -> Result<(), MandateError> {
    let aidant_id = who.aidant_id();
    write_transaction(conn, |tx| {
        let mandate = crate::mandate_of_structure(tx.conn(), who, mandate_id)?;
        if !mandate.is_remote {
            return Err(MandateError::UnknownMandate);
        }
        diesel::update(mandates::table.find(mandate_id))
            .set(mandates::consent_requested_at.eq(Some(now)))
            .execute(tx.conn())?;
        journal::append(
            tx,
            rng,
            now,
            NewEntry {
                chain: mandate.organisation_id.as_str(),
                action: Action::RemoteSmsConsentSent,
                aidant_id: Some(aidant_id),
                usager_id: Some(&mandate.usager_id),
                organisation_id: Some(&mandate.organisation_id),
                subject: mandate.id.as_str(),
                details: serde_json::json!({}),
            },
        )?;
        Ok(())
    })
}

/// What an usager's SMS says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsAnswer {
    /// "Oui".
    Yes,
    /// "Non".
    No,
}

impl SmsAnswer {
    /// Reads an answer: "Oui"/"Non" in any case, with spaces or punctuation around.
    pub fn parse(text: &str) -> Option<SmsAnswer> {
        let words = normalise_search(text);
        let word = words.trim_matches(|c: char| !c.is_alphanumeric());
        match word {
            "oui" => Some(SmsAnswer::Yes),
            "non" => Some(SmsAnswer::No),
            _ => None,
        }
    }
}

/// What an inbound SMS did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsOutcome {
    /// Consent recorded: the mandate is usable.
    Accepted(String),
    /// Refusal recorded: the mandate is revoked.
    Denied(String),
    /// No consent request awaits an answer from this number.
    NoPendingRequest,
    /// Neither "Oui" nor "Non".
    NotUnderstood,
}

/// Records an inbound SMS from `from`: the answer to the most recent consent request still
/// awaiting one from that number.
pub fn record_sms_answer(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    from: &str,
    text: &str,
) -> Result<SmsOutcome, MandateError> {
    let Some(phone) = normalise_mobile(from) else {
        return Ok(SmsOutcome::NoPendingRequest);
    };
    write_transaction(conn, |tx| {
        let pending: Option<Mandate> = mandates::table
            .filter(mandates::consent_phone.eq(&phone))
            .filter(mandates::is_remote.eq(true))
            .filter(mandates::consent_requested_at.is_not_null())
            .filter(mandates::consent_received_at.is_null())
            .filter(mandates::consent_denied_at.is_null())
            .filter(mandates::revoked_at.is_null())
            .filter(mandates::expires_at.gt(now))
            .order(mandates::consent_requested_at.desc())
            .select(Mandate::as_select())
            .first(tx.conn())
            .optional()?;
        let Some(mandate) = pending else {
            return Ok(SmsOutcome::NoPendingRequest);
        };
        let Some(answer) = SmsAnswer::parse(text) else {
            return Ok(SmsOutcome::NotUnderstood);
        };
        let entry = |action| NewEntry {
            chain: mandate.organisation_id.as_str(),
            action,
            aidant_id: None,
            usager_id: Some(&mandate.usager_id),
            organisation_id: Some(&mandate.organisation_id),
            subject: mandate.id.as_str(),
            details: serde_json::json!({}),
        };
        match answer {
            SmsAnswer::Yes => {
                diesel::update(mandates::table.find(&mandate.id))
                    .set(mandates::consent_received_at.eq(Some(now)))
                    .execute(tx.conn())?;
                journal::append(tx, rng, now, entry(Action::RemoteSmsConsentReceived))?;
                Ok(SmsOutcome::Accepted(mandate.id.to_string()))
            }
            SmsAnswer::No => {
                diesel::update(mandates::table.find(&mandate.id))
                    .set((
                        mandates::consent_denied_at.eq(Some(now)),
                        mandates::revoked_at.eq(Some(now)),
                    ))
                    .execute(tx.conn())?;
                diesel::update(
                    autorisations::table.filter(autorisations::mandate_id.eq(&mandate.id)),
                )
                .filter(autorisations::revoked_at.is_null())
                .set(autorisations::revoked_at.eq(Some(now)))
                .execute(tx.conn())?;
                journal::append(tx, rng, now, entry(Action::RemoteSmsDenial))?;
                Ok(SmsOutcome::Denied(mandate.id.to_string()))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_leniently() {
        assert_eq!(SmsAnswer::parse("Oui"), Some(SmsAnswer::Yes));
        assert_eq!(SmsAnswer::parse("  OUI ! "), Some(SmsAnswer::Yes));
        assert_eq!(SmsAnswer::parse("non."), Some(SmsAnswer::No));
        assert_eq!(SmsAnswer::parse("Oui non"), None);
        assert_eq!(SmsAnswer::parse("peut-être"), None);
        assert_eq!(SmsAnswer::parse(""), None);
    }

    #[test]
    fn the_message_names_no_usager() {
        let text = consent_message(
            "CCAS de Lyon",
            &[Demarche::Argent, Demarche::Logement],
            MandateDuration::Month,
        );
        assert!(text.contains("CCAS de Lyon"));
        assert!(text.contains("Argent, Logement"));
        assert!(text.contains("Répondez Oui"));
    }
}
