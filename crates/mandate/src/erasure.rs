//! The usager's right to erasure (RGPD, article 17), carried out by an administrator of the
//! national team on the usager's request, once no mandate of theirs is in force anywhere.
//!
//! The usager's row keeps its id — random, it was always the only way the journal names them,
//! so it becomes their pseudonym — and loses everything else that identifies them: names,
//! birth, contact, the `sub` relying parties know them by (replaced by a new random one) and
//! FranceConnect's `sub` (a later identification makes a new usager). Their attestations keep
//! what they attest (structure, démarches, dates) but lose the identity they printed; the
//! redacted content gets a new fingerprint, journaled with the erasure, so an attestation still
//! verifies, as erased. The journal itself is never touched: no entry holds an identity, so every
//! entry's hash and every signed checkpoint still hold (see `docs/architecture.md`).

use crate::attestation::{Attestation, AttestationKey, PrintedUsager};
use crate::{Mandate, MandateError};
use authenticator::AdminStaff;
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::schema::{attestations, mandate_drafts, mandates, organisation_usagers, usagers};
use store::{write_transaction, PooledDb, Timestamp, UsagerId};

/// The family name an erased usager is shown under.
pub const ERASED_NAME: &str = "Usager effacé";

/// Why an erasure is refused (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErasureRefusal {
    /// No usager has this id.
    #[error("Aucun usager ne correspond.")]
    Unknown,
    /// Already erased.
    #[error("L'identité de cet usager a déjà été effacée.")]
    AlreadyErased,
    /// A mandate of theirs is in force.
    #[error("Un mandat de cet usager est encore en cours : il doit être révoqué ou arriver à son terme avant l'effacement.")]
    MandateInForce,
    /// The request's reference is missing.
    #[error(
        "Indiquez la référence de la demande de l'usager (numéro de ticket, date du courrier)."
    )]
    NoReference,
}

/// Erases `usager_id`'s identity on their request `reference`, journaled `erase_usager` on
/// the national chain with the administrator's id; the attestations redacted.
#[allow(clippy::too_many_arguments)]
pub fn erase_usager(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    key: &AttestationKey,
    now: Timestamp,
    who: &AdminStaff<'_>,
    usager_id: &UsagerId,
    reference: &str,
) -> Result<Result<usize, ErasureRefusal>, MandateError> {
    let reference = reference.trim();
    if reference.is_empty() {
        return Ok(Err(ErasureRefusal::NoReference));
    }
    write_transaction(conn, |tx| {
        let found: Option<(Option<String>, Option<Timestamp>)> = usagers::table
            .find(usager_id)
            .select((usagers::franceconnect_sub, usagers::erased_at))
            .first(tx.conn())
            .optional()?;
        let Some((franceconnect_sub, erased_at)) = found else {
            return Ok(Err(ErasureRefusal::Unknown));
        };
        if erased_at.is_some() {
            return Ok(Err(ErasureRefusal::AlreadyErased));
        }
        let of_usager: Vec<Mandate> = mandates::table
            .filter(mandates::usager_id.eq(usager_id))
            .select(Mandate::as_select())
            .load(tx.conn())?;
        let in_force = crate::in_force(now)
            .filter(mandates::usager_id.eq(usager_id))
            .count()
            .get_result::<i64>(tx.conn())?;
        if in_force > 0 {
            return Ok(Err(ErasureRefusal::MandateInForce));
        }
        diesel::update(usagers::table.find(usager_id))
            .set((
                usagers::sub.eq(crate::usager::new_sub(rng)?),
                usagers::franceconnect_sub.eq(None::<String>),
                usagers::given_name.eq(""),
                usagers::family_name.eq(ERASED_NAME),
                usagers::preferred_username.eq(""),
                usagers::birthdate.eq(""),
                usagers::gender.eq(""),
                usagers::birthplace.eq(""),
                usagers::birthcountry.eq(""),
                usagers::email.eq(""),
                usagers::phone.eq(""),
                usagers::search_name.eq(""),
                usagers::notify_email.eq(None::<String>),
                usagers::erased_at.eq(Some(now)),
            ))
            .execute(tx.conn())?;
        diesel::update(
            organisation_usagers::table.filter(organisation_usagers::usager_id.eq(usager_id)),
        )
        .set(organisation_usagers::search_name.eq(""))
        .execute(tx.conn())?;
        diesel::update(mandates::table.filter(mandates::usager_id.eq(usager_id)))
            .set(mandates::consent_phone.eq(None::<String>))
            .execute(tx.conn())?;
        if let Some(sub) = franceconnect_sub {
            diesel::update(mandate_drafts::table.filter(mandate_drafts::franceconnect_sub.eq(sub)))
                .set((
                    mandate_drafts::franceconnect_sub.eq(None::<String>),
                    mandate_drafts::identite.eq(None::<String>),
                ))
                .execute(tx.conn())?;
        }
        let ids: Vec<_> = of_usager.iter().map(|m| &m.id).collect();
        let printed: Vec<Attestation> = attestations::table
            .filter(attestations::mandate_id.eq_any(&ids))
            .select(Attestation::as_select())
            .load(tx.conn())?;
        let mut redacted = Vec::with_capacity(printed.len());
        for attestation in &printed {
            let mut content = attestation.parsed()?;
            content.usager = PrintedUsager {
                given_name: String::new(),
                family_name: ERASED_NAME.to_owned(),
                preferred_username: String::new(),
                birthdate: String::new(),
                birthplace: String::new(),
                birthcountry: String::new(),
            };
            let text = serde_json::to_string(&content)
                .map_err(|e| MandateError::Attestation(e.to_string()))?;
            let fingerprint = key.fingerprint(&text);
            diesel::update(attestations::table.find(&attestation.id))
                .set((
                    attestations::content.eq(&text),
                    attestations::erased_fingerprint.eq(Some(&fingerprint)),
                ))
                .execute(tx.conn())?;
            redacted.push(serde_json::json!({ "id": attestation.id, "empreinte": fingerprint }));
        }
        journal::append(
            tx,
            rng,
            now,
            NewEntry {
                chain: journal::NATIONAL_CHAIN,
                action: Action::EraseUsager,
                aidant_id: None,
                usager_id: Some(usager_id),
                organisation_id: None,
                subject: usager_id.as_str(),
                details: serde_json::json!({
                    "staff": who.id(),
                    "demande": reference,
                    "attestations": redacted,
                }),
            },
        )?;
        Ok(Ok(printed.len()))
    })
}

/// An usager as the back office finds them before an erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The usager.
    pub usager: crate::Usager,
    /// Whether a mandate of theirs is in force (erasure refused).
    pub mandate_in_force: bool,
}

/// The usagers with this id, or whose name holds `query`, at most `limit`, by name.
pub fn find_usagers(
    conn: &mut store::DbConnection,
    query: &str,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<Found>, MandateError> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = crate::usagers_named(conn, query, limit)?;
    if ids.is_empty() {
        ids.push(UsagerId::from(query));
    }
    let mut found = crate::usagers_by_ids(conn, &ids)?;
    found.sort_by(|a, b| a.search_name.cmp(&b.search_name));
    let in_force: Vec<UsagerId> = crate::in_force(now)
        .filter(mandates::usager_id.eq_any(&ids))
        .select(mandates::usager_id)
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|usager| Found {
            mandate_in_force: in_force.contains(&usager.id),
            usager,
        })
        .collect())
}
