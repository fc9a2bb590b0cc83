//! The weekly reminder of the aidants who cannot sign in for want of a card: each référent of
//! a habilitated structure learns which of its members have no card in service (none
//! associated, or one still to validate, or every one out of service).

use crate::AuthError;
use diesel::prelude::*;
use ring::rand::SecureRandom;
use std::collections::{BTreeMap, HashSet};
use store::schema::{aidants, memberships, organisations, otp_cards};
use store::{AidantId, OrganisationId, Timestamp, WriteTx};

/// Writes to the outbox, in the caller's transaction, one e-mail per référent of each
/// habilitated structure with active members (activated or not yet) who hold no validated
/// card in service. Returns how many e-mails.
pub fn aidants_without_card_reminder(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
) -> Result<usize, AuthError> {
    let holders: HashSet<AidantId> = otp_cards::table
        .filter(otp_cards::aidant_id.is_not_null())
        .filter(otp_cards::validated_at.is_not_null())
        .filter(otp_cards::disabled_reason.is_null())
        .select(otp_cards::aidant_id.assume_not_null())
        .load::<AidantId>(tx.conn())?
        .into_iter()
        .collect();
    let members: Vec<(OrganisationId, String, AidantId, String, String)> = memberships::table
        .inner_join(aidants::table)
        .inner_join(organisations::table)
        .filter(memberships::active.eq(true))
        .filter(organisations::habilitation.eq(accounts::Habilitation::Validated))
        .order((
            organisations::id,
            aidants::last_name.asc(),
            aidants::first_name.asc(),
        ))
        .select((
            organisations::id,
            organisations::name,
            aidants::id,
            aidants::first_name,
            aidants::last_name,
        ))
        .load(tx.conn())?;
    let mut without: BTreeMap<OrganisationId, (String, Vec<String>)> = BTreeMap::new();
    for (organisation_id, organisation, aidant_id, first, last) in members {
        if !holders.contains(&aidant_id) {
            without
                .entry(organisation_id)
                .or_insert_with(|| (organisation, Vec::new()))
                .1
                .push(format!("{first} {last}"));
        }
    }
    let mut messages = Vec::new();
    for (organisation_id, (organisation, aidants)) in without {
        let email = mail::Email::AidantsWithoutCard {
            organisation,
            aidants,
        };
        for referent in accounts::referent_emails(tx.conn(), &organisation_id, &[])? {
            messages.push((referent, email.clone()));
        }
    }
    mail::enqueue_many(tx, rng, now, &messages)?;
    Ok(messages.len())
}
