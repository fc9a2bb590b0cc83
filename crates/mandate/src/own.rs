//! What an usager does with their own mandates, from their space: revoke one démarche or a
//! whole mandate (journaled as the usager's, `"par": "usager"`, on the structure's chain, so
//! its aidants see it; a whole mandate gets its revocation attestation, produced at the
//! usager's request), read their attestations, and choose to be told by e-mail each time a
//! mandate is made or used in their name.
//!
//! The writes take the caller's [`WriteTx`]: `espace-usager`, which holds the proof of the
//! usager's session, opens it (the web layer cannot open one).

use crate::attestation::{attestation, Attestation, AttestationKey, Parties};
use crate::{
    autorisation_with_mandate, revoke_one, revoke_whole, Actor, Demarche, Mandate, MandateError,
};
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::schema::{mandates, usagers};
use store::{
    AutorisationId, DbConnection, MandateId, OrganisationId, Timestamp, UsagerId, WriteTx,
};

/// A démarche the usager revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedDemarche {
    /// The structure whose aidants may no longer do it.
    pub organisation_id: OrganisationId,
    /// The démarche.
    pub demarche: Demarche,
}

/// The usager `usager_id` revokes one of their autorisations (nothing changes when it already
/// is revoked). Another person's autorisation is [`MandateError::UnknownAutorisation`].
pub fn revoke_own_autorisation(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    usager_id: &UsagerId,
    autorisation_id: &AutorisationId,
) -> Result<RevokedDemarche, MandateError> {
    let (autorisation, mandate) =
        autorisation_with_mandate(tx.conn(), autorisation_id, |m| m.usager_id == *usager_id)?;
    revoke_one(tx, rng, now, &mandate, &autorisation, Actor::Usager)?;
    Ok(RevokedDemarche {
        organisation_id: mandate.organisation_id,
        demarche: Demarche::parse(&autorisation.demarche)?,
    })
}

/// The usager `usager_id` revokes one of their mandates as a whole: its revocation attestation
/// (an already revoked mandate's, unchanged). Another person's mandate is
/// [`MandateError::UnknownMandate`].
pub fn revoke_own_mandate(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    key: &AttestationKey,
    usager_id: &UsagerId,
    mandate_id: &MandateId,
) -> Result<Attestation, MandateError> {
    let mandate: Mandate = mandates::table
        .find(mandate_id)
        .filter(mandates::usager_id.eq(usager_id))
        .select(Mandate::as_select())
        .first(tx.conn())
        .optional()?
        .ok_or(MandateError::UnknownMandate)?;
    let parties = parties_of_mandate(tx.conn(), &mandate)?;
    revoke_whole(tx, rng, now, key, &parties, mandate, Actor::Usager)
}

/// The structure that holds `mandate` and the aidant who made it, as its attestations name
/// them.
pub(crate) fn parties_of_mandate(
    conn: &mut DbConnection,
    mandate: &Mandate,
) -> Result<Parties, MandateError> {
    let organisation = accounts::organisation(conn, &mandate.organisation_id)?
        .ok_or(MandateError::UnknownMandate)?;
    let aidant_name = accounts::aidant(conn, &mandate.created_by)?
        .map(|a| a.full_name())
        .unwrap_or_default();
    Ok(Parties {
        organisation_id: organisation.id,
        organisation_name: organisation.name,
        siret: organisation.siret,
        address: format!(
            "{}, {} {}",
            organisation.address, organisation.zipcode, organisation.city
        ),
        aidant_name,
    })
}

/// The attestation `id`, with its mandate, when the mandate is the usager's.
pub fn own_attestation(
    conn: &mut DbConnection,
    usager_id: &UsagerId,
    id: &str,
) -> Result<Option<(Attestation, Mandate)>, MandateError> {
    let Some(attestation) = attestation(conn, id)? else {
        return Ok(None);
    };
    let mandate = mandates::table
        .find(&attestation.mandate_id)
        .filter(mandates::usager_id.eq(usager_id))
        .select(Mandate::as_select())
        .first(conn)
        .optional()?;
    Ok(mandate.map(|m| (attestation, m)))
}

/// Where the usager is told of the mandates made and used in their name, if they chose to be.
pub fn notify_email(
    conn: &mut DbConnection,
    usager_id: &UsagerId,
) -> Result<Option<String>, MandateError> {
    Ok(usagers::table
        .find(usager_id)
        .select(usagers::notify_email)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// The usager chooses to be told by e-mail at `email` each time a mandate is made or used in
/// their name, or (`None`) no longer to be; journaled `notify_usager` on the national chain
/// (the address is not journaled). Choosing what is already chosen changes nothing.
pub fn set_notify_email(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    usager_id: &UsagerId,
    email: Option<&str>,
) -> Result<(), MandateError> {
    if notify_email(tx.conn(), usager_id)?.as_deref() == email {
        return Ok(());
    }
    diesel::update(usagers::table.find(usager_id))
        .set(usagers::notify_email.eq(email))
        .execute(tx.conn())?;
    journal::append(
        tx,
        rng,
        now,
        NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action: Action::NotifyUsager,
            aidant_id: None,
            usager_id: Some(usager_id),
            organisation_id: None,
            subject: usager_id.as_str(),
            details: serde_json::json!({ "e_mail": email.is_some() }),
        },
    )?;
    Ok(())
}

/// Tells the usager, if they chose to be, that `mandate` was made in their name for
/// `demarches`, in the caller's transaction (the e-mail is written to the outbox).
pub(crate) fn notify_made(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    mandate: &Mandate,
    demarches: &[Demarche],
) -> Result<(), MandateError> {
    let Some(to) = notify_email(tx.conn(), &mandate.usager_id)? else {
        return Ok(());
    };
    let (organisation, aidant) = names(tx.conn(), &mandate.organisation_id, &mandate.created_by)?;
    let email = mail::Email::MandateMade {
        organisation,
        aidant,
        demarches: demarches.iter().map(|d| d.title().to_owned()).collect(),
        until: paris::local(mandate.expires_at)
            .format("%d/%m/%Y")
            .to_string(),
        remote: mandate.is_remote,
    };
    Ok(mail::enqueue(tx, rng, now, &to, &email)?)
}

/// Tells `usager`, the usager of `coverage`, if they chose to be, that the aidant `aidant_id`
/// used it, in the caller's transaction (the identity provider's, when it issues the tokens,
/// with the usager it read for the ID token: nothing more is read when they did not choose).
pub fn notify_use(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    coverage: &crate::Coverage,
    usager: &crate::Usager,
    aidant_id: &store::AidantId,
) -> Result<(), MandateError> {
    let Some(to) = usager
        .notify_email
        .as_deref()
        .filter(|_| usager.id == *coverage.usager_id())
    else {
        return Ok(());
    };
    let (organisation, aidant) = names(tx.conn(), coverage.organisation_id(), aidant_id)?;
    let email = mail::Email::MandateUsed {
        organisation,
        aidant,
        demarche: coverage.demarche().title().to_owned(),
        at: paris::local(now).format("%d/%m/%Y à %H:%M").to_string(),
    };
    Ok(mail::enqueue(tx, rng, now, to, &email)?)
}

/// A structure's name, and an aidant's as the usager reads it (« Prénom N. »).
fn names(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    aidant_id: &store::AidantId,
) -> Result<(String, String), MandateError> {
    let organisation = accounts::organisation(conn, organisation_id)?
        .map(|o| o.name)
        .unwrap_or_default();
    let aidant = accounts::aidant(conn, aidant_id)?
        .map(|a| a.first_name_and_initial())
        .unwrap_or_default();
    Ok((organisation, aidant))
}
