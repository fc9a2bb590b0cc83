//! The national team moves mandates from one structure to another (a merge, a move of
//! activity): the chosen mandates in force change structure in one transaction, each with a new
//! `transfert` attestation naming the structure that now holds it, journaled `transfer_mandat`
//! on both structures' chains with the administrator's id. Expired and revoked mandates stay
//! with their structure as its history. The attestations made before still verify, and the
//! verification says the mandate was transferred.

use crate::attestation::{insert_attestation, AttestationKey, AttestationKind, Origin};
use crate::{
    active_autorisations_query, allowed_demarches, list_in_organisation, Actor, Demarche, Mandate,
    MandateError,
};
use authenticator::AdminStaff;
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use std::collections::HashMap;
use store::schema::{autorisations, mandates, usagers};
use store::{write_transaction, MandateId, OrganisationId, PooledDb, Timestamp, UsagerId};

/// Why a transfer is refused (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferRefusal {
    /// The structure to transfer to is the one the mandates are in.
    #[error("Choisissez une autre structure que celle qui détient les mandats.")]
    SameStructure,
    /// No structure has this id.
    #[error("Aucune structure ne correspond.")]
    UnknownStructure,
    /// The structure to transfer to is not habilitated.
    #[error("La structure {0} n'est pas habilitée : ses aidants ne pourraient pas utiliser les mandats.")]
    NotHabilitated(String),
    /// Nothing in force to transfer.
    #[error("Aucun mandat en cours à transférer.")]
    Nothing,
    /// Some mandates were to be transferred, and none was chosen.
    #[error("Cochez les mandats à transférer, ou transférez-les tous.")]
    NoneChosen,
    /// A chosen mandate is not a mandate in force of the structure.
    #[error(
        "Un des mandats choisis n'est plus en cours dans cette structure : rechargez la page."
    )]
    NotInForce,
    /// The structure to transfer to may not do a démarche of a mandate.
    #[error("La structure {structure} n'est pas habilitée pour la démarche « {demarche} ».")]
    DemarcheNotAllowed {
        /// The structure.
        structure: String,
        /// The démarche's title.
        demarche: &'static str,
    },
    /// The usager already has a mandate in force for the démarche in the other structure.
    #[error("{usager} a déjà un mandat en cours pour la démarche « {demarche} » dans la structure {structure} : révoquez l'un des deux avant le transfert.")]
    AlreadyCovered {
        /// The usager's name.
        usager: String,
        /// The démarche's title.
        demarche: &'static str,
        /// The structure.
        structure: String,
    },
}

/// What a transfer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transferred {
    /// The mandates moved.
    pub mandates: Vec<MandateId>,
    /// Their new attestations' ids, in the same order.
    pub attestations: Vec<String>,
}

/// Moves `chosen` (every mandate in force when `None`) from `from` to `to`, all or nothing.
#[allow(clippy::too_many_arguments)]
pub fn transfer_mandates(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    key: &AttestationKey,
    now: Timestamp,
    who: &AdminStaff<'_>,
    from: &OrganisationId,
    to: &OrganisationId,
    chosen: Option<&[MandateId]>,
) -> Result<Result<Transferred, TransferRefusal>, MandateError> {
    write_transaction(conn, |tx| {
        if from == to {
            return Ok(Err(TransferRefusal::SameStructure));
        }
        let (Some(source), Some(target)) = (
            accounts::organisation(tx.conn(), from)?,
            accounts::organisation(tx.conn(), to)?,
        ) else {
            return Ok(Err(TransferRefusal::UnknownStructure));
        };
        if !target.is_habilitated() {
            return Ok(Err(TransferRefusal::NotHabilitated(target.name)));
        }
        let in_force: Vec<Mandate> = in_force(from, now)
            .order(mandates::created_at.asc())
            .select(Mandate::as_select())
            .load(tx.conn())?;
        let moving: Vec<Mandate> = match chosen {
            None => in_force,
            Some([]) => return Ok(Err(TransferRefusal::NoneChosen)),
            Some(ids) => {
                if !ids.iter().all(|id| in_force.iter().any(|m| &m.id == id)) {
                    return Ok(Err(TransferRefusal::NotInForce));
                }
                in_force
                    .into_iter()
                    .filter(|m| ids.contains(&m.id))
                    .collect()
            }
        };
        if moving.is_empty() {
            return Ok(Err(TransferRefusal::Nothing));
        }
        let allowed = allowed_demarches(tx.conn(), to)?;
        for mandate in &moving {
            let demarches: Vec<String> = autorisations::table
                .filter(autorisations::mandate_id.eq(&mandate.id))
                .filter(autorisations::revoked_at.is_null())
                .select(autorisations::demarche)
                .load(tx.conn())?;
            for demarche in demarches {
                let demarche = Demarche::parse(&demarche)?;
                if !allowed.contains(&demarche) {
                    return Ok(Err(TransferRefusal::DemarcheNotAllowed {
                        structure: target.name,
                        demarche: demarche.title(),
                    }));
                }
                let covered = active_autorisations_query(to, &mandate.usager_id, now)
                    .filter(autorisations::demarche.eq(demarche.id()))
                    .count()
                    .get_result::<i64>(tx.conn())?
                    > 0;
                if covered {
                    let usager: crate::Usager = usagers::table
                        .find(&mandate.usager_id)
                        .select(crate::Usager::as_select())
                        .first(tx.conn())?;
                    return Ok(Err(TransferRefusal::AlreadyCovered {
                        usager: usager.display_name(),
                        demarche: demarche.title(),
                        structure: target.name,
                    }));
                }
            }
        }
        let ids: Vec<&MandateId> = moving.iter().map(|m| &m.id).collect();
        diesel::update(mandates::table.filter(mandates::id.eq_any(&ids)))
            .set(mandates::organisation_id.eq(to))
            .execute(tx.conn())?;
        let mut done = Transferred {
            mandates: Vec::with_capacity(moving.len()),
            attestations: Vec::with_capacity(moving.len()),
        };
        for mut mandate in moving {
            mandate.organisation_id = to.to_owned();
            list_in_organisation(tx, to, &mandate.usager_id)?;
            let parties = crate::own::parties_of_mandate(tx.conn(), &mandate)?;
            let attestation = insert_attestation(
                tx,
                rng,
                now,
                key,
                &parties,
                &mandate,
                AttestationKind::Transfer,
                Actor::Aidant(&mandate.created_by),
                Some(Origin {
                    organisation_name: source.name.clone(),
                    siret: source.siret.clone(),
                }),
            )?;
            for (chain, details) in [
                (
                    from,
                    serde_json::json!({ "mandat": mandate.id, "vers": to, "staff": who.id() }),
                ),
                (
                    to,
                    serde_json::json!({
                        "mandat": mandate.id,
                        "de": from,
                        "attestation": attestation.id,
                        "staff": who.id(),
                    }),
                ),
            ] {
                journal::append(
                    tx,
                    rng,
                    now,
                    NewEntry {
                        chain: chain.as_str(),
                        action: Action::TransferMandat,
                        aidant_id: None,
                        usager_id: Some(&mandate.usager_id),
                        organisation_id: Some(chain),
                        subject: mandate.id.as_str(),
                        details,
                    },
                )?;
            }
            done.mandates.push(mandate.id);
            done.attestations.push(attestation.id);
        }
        Ok(Ok(done))
    })
}

/// A mandate in force as the back office lists it before a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    /// The mandate.
    pub mandate: Mandate,
    /// The usager's name.
    pub usager: String,
    /// The démarches of its unrevoked autorisations.
    pub demarches: Vec<Demarche>,
}

/// How many mandates `organisation_id` has in force (not revoked, not expired), and the first
/// `limit` of those whose usager's name holds `usager` (all when empty), by usager.
pub fn mandates_in_force(
    conn: &mut store::DbConnection,
    organisation_id: &OrganisationId,
    usager: &str,
    now: Timestamp,
    limit: i64,
) -> Result<(i64, Vec<InForce>), MandateError> {
    let total = in_force(organisation_id, now)
        .count()
        .get_result::<i64>(conn)?;
    let mut query = in_force(organisation_id, now);
    let term = crate::normalise_search(usager);
    if !term.is_empty() {
        query = query.filter(
            mandates::usager_id.eq_any(
                usagers::table
                    .filter(
                        usagers::search_name
                            .like(crate::usager::search_pattern(&term))
                            .escape('\\'),
                    )
                    .select(usagers::id),
            ),
        );
    }
    let found: Vec<Mandate> = query
        .order(mandates::created_at.desc())
        .limit(limit)
        .select(Mandate::as_select())
        .load(conn)?;
    let usager_ids: Vec<UsagerId> = found.iter().map(|m| m.usager_id.clone()).collect();
    let names: HashMap<UsagerId, String> = crate::usagers_by_ids(conn, &usager_ids)?
        .into_iter()
        .map(|u| {
            let name = u.display_name();
            (u.id, name)
        })
        .collect();
    let ids: Vec<&MandateId> = found.iter().map(|m| &m.id).collect();
    let autorisations: Vec<(MandateId, String)> = autorisations::table
        .filter(autorisations::mandate_id.eq_any(&ids))
        .filter(autorisations::revoked_at.is_null())
        .select((autorisations::mandate_id, autorisations::demarche))
        .load(conn)?;
    let mut listed: Vec<InForce> = found
        .into_iter()
        .map(|mandate| {
            let mut demarches: Vec<Demarche> = autorisations
                .iter()
                .filter(|(id, _)| id == &mandate.id)
                .filter_map(|(_, d)| Demarche::parse(d).ok())
                .collect();
            demarches.sort_by_key(|d| d.position());
            InForce {
                usager: names.get(&mandate.usager_id).cloned().unwrap_or_default(),
                mandate,
                demarches,
            }
        })
        .collect();
    listed.sort_by(|a, b| a.usager.cmp(&b.usager));
    Ok((total, listed))
}

/// Per structure among `ids` that has mandates: its mandates in force, all its mandates, and
/// the distinct usagers of those in force.
pub fn mandate_counts(
    conn: &mut store::DbConnection,
    ids: &[OrganisationId],
    now: Timestamp,
) -> Result<HashMap<OrganisationId, (i64, i64, i64)>, MandateError> {
    let totals: Vec<(OrganisationId, i64)> = mandates::table
        .filter(mandates::organisation_id.eq_any(ids))
        .group_by(mandates::organisation_id)
        .select((mandates::organisation_id, diesel::dsl::count_star()))
        .load(conn)?;
    let in_force: Vec<(OrganisationId, UsagerId)> = crate::in_force(now)
        .filter(mandates::organisation_id.eq_any(ids))
        .select((mandates::organisation_id, mandates::usager_id))
        .load(conn)?;
    let mut counts: HashMap<OrganisationId, (i64, i64, i64)> = totals
        .into_iter()
        .map(|(id, total)| (id, (0, total, 0)))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (organisation, usager) in &in_force {
        if let Some(entry) = counts.get_mut(organisation) {
            entry.0 += 1;
            if seen.insert((organisation, usager)) {
                entry.2 += 1;
            }
        }
    }
    Ok(counts)
}

/// The mandates of `organisation_id` in force at `now`.
fn in_force(
    organisation_id: &OrganisationId,
    now: Timestamp,
) -> mandates::BoxedQuery<'_, crate::Db> {
    crate::in_force(now).filter(mandates::organisation_id.eq(organisation_id))
}
