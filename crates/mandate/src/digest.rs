//! The weekly digest of mandates about to end: each aidant of a structure learns which of its
//! usagers will soon have no usable mandate, so that they renew it with them in time.

use crate::{usable_at, usable_join, MandateError};
use chrono::Duration;
use diesel::dsl::max;
use diesel::prelude::*;
use ring::rand::SecureRandom;
use std::collections::BTreeMap;
use store::schema::{mandates, usagers};
use store::{AidantId, OrganisationId, Timestamp, UsagerId, WriteTx};

/// Writes to the outbox, in the caller's transaction, one e-mail per aidant who may work for
/// a structure holding usagers whose last usable mandate ends within `within` of `now` (a
/// mandate already renewed is not listed: the renewal outlasts it). Returns how many e-mails.
pub fn expiring_mandates_digest(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    within: Duration,
) -> Result<usize, MandateError> {
    let soon = now + within;
    let ending: Vec<(OrganisationId, UsagerId, Option<Timestamp>)> = usable_join()
        .filter(usable_at(now))
        .group_by((mandates::organisation_id, mandates::usager_id))
        .having(max(mandates::expires_at).le(soon))
        .select((
            mandates::organisation_id,
            mandates::usager_id,
            max(mandates::expires_at),
        ))
        .load(tx.conn())?;
    let mut by_structure: BTreeMap<OrganisationId, Vec<(UsagerId, Timestamp)>> = BTreeMap::new();
    for (organisation_id, usager_id, ends) in ending {
        if let Some(ends) = ends {
            by_structure
                .entry(organisation_id)
                .or_default()
                .push((usager_id, ends));
        }
    }
    type Digest = (String, String, Vec<(Timestamp, mail::ExpiringMandate)>);
    let mut digests: BTreeMap<AidantId, Digest> = BTreeMap::new();
    for (organisation_id, usagers_ending) in by_structure {
        let Some(organisation) = accounts::organisation(tx.conn(), &organisation_id)? else {
            continue;
        };
        if !organisation.is_habilitated() {
            continue;
        }
        let ids: Vec<&UsagerId> = usagers_ending.iter().map(|(id, _)| id).collect();
        let names: BTreeMap<UsagerId, String> = usagers::table
            .filter(usagers::id.eq_any(ids))
            .select((usagers::id, usagers::given_name, usagers::family_name))
            .load::<(UsagerId, String, String)>(tx.conn())?
            .into_iter()
            .map(|(id, given, family)| (id, format!("{given} {family}")))
            .collect();
        let lines: Vec<(Timestamp, mail::ExpiringMandate)> = usagers_ending
            .iter()
            .filter_map(|(id, ends)| {
                Some((
                    *ends,
                    mail::ExpiringMandate {
                        organisation: organisation.name.clone(),
                        usager: names.get(id)?.clone(),
                        expires: paris::local(*ends).format("%d/%m/%Y").to_string(),
                    },
                ))
            })
            .collect();
        for member in accounts::members(tx.conn(), &organisation_id)? {
            if !member.can_work() {
                continue;
            }
            let digest = digests.entry(member.aidant.id.clone()).or_insert_with(|| {
                (
                    member.aidant.full_name(),
                    member.aidant.email.clone(),
                    Vec::new(),
                )
            });
            digest.2.extend(lines.iter().cloned());
        }
    }
    let messages: Vec<(String, mail::Email)> = digests
        .into_values()
        .map(|(aidant, email, mut lines)| {
            lines.sort_by(|(a, la), (b, lb)| a.cmp(b).then_with(|| la.usager.cmp(&lb.usager)));
            (
                email,
                mail::Email::ExpiringMandates {
                    aidant,
                    mandates: lines.into_iter().map(|(_, line)| line).collect(),
                },
            )
        })
        .collect();
    mail::enqueue_many(tx, rng, now, &messages)?;
    Ok(messages.len())
}
