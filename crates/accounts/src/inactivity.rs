//! The inactivity rule: an aidant who has not signed in for long is warned by e-mail, then,
//! if they still do not sign in, loses their memberships (journaled, and told to them and to
//! the référents). Inactivity counts from the latest of: the account's creation, its
//! activation, a sign-in, a membership given or given back ([`restart_idle`]).

use crate::{journal_about_member, AccountError, Aidant};
use chrono::Duration;
use diesel::prelude::*;
use ring::rand::SecureRandom;
use std::collections::BTreeMap;
use store::schema::{aidants, memberships, organisations};
use store::{AidantId, OrganisationId, Timestamp, WriteTx};

/// How long an aidant may stay away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InactivityRule {
    /// Without a sign-in for this long, the aidant is warned…
    pub warn_after: Duration,
    /// …and for this long (and at least the difference after the warning), their memberships
    /// are deactivated.
    pub deactivate_after: Duration,
}

impl InactivityRule {
    /// The notice a warning gives: the time between warning and deactivation.
    pub fn notice(&self) -> Duration {
        self.deactivate_after - self.warn_after
    }
}

/// What one pass of the rule did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InactivityRound {
    /// Aidants warned.
    pub warned: usize,
    /// Memberships deactivated.
    pub deactivated: usize,
}

/// Restarts the aidant's inactivity at `now`: they signed in, were activated, or were given a
/// membership (again).
pub fn restart_idle(
    tx: &mut WriteTx<'_>,
    aidant_id: &AidantId,
    now: Timestamp,
) -> Result<(), AccountError> {
    diesel::update(aidants::table.find(aidant_id))
        .set(aidants::idle_since.eq(now))
        .execute(tx.conn())?;
    Ok(())
}

/// An aidant to whom the rule applies: active account, at least one active membership, away
/// for at least `warn_after`.
struct Idle {
    aidant: Aidant,
    since: Timestamp,
    warned_at: Option<Timestamp>,
}

/// Applies the rule at `now`, in the caller's transaction: warns those away for
/// `warn_after` who have not been warned since they were last active, and deactivates the
/// memberships of those away for `deactivate_after` who were warned at least
/// [`InactivityRule::notice`] ago.
pub fn apply_inactivity(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    rule: &InactivityRule,
) -> Result<InactivityRound, AccountError> {
    let cut = now - rule.warn_after;
    let rows: Vec<(Aidant, Option<Timestamp>, Option<Timestamp>)> = aidants::table
        .filter(aidants::active.eq(true))
        .filter(
            aidants::idle_since.le(cut).or(aidants::idle_since
                .is_null()
                .and(aidants::created_at.le(cut))),
        )
        .filter(diesel::dsl::exists(
            memberships::table
                .filter(memberships::aidant_id.eq(aidants::id))
                .filter(memberships::active.eq(true)),
        ))
        .order(aidants::id)
        .select((
            Aidant::as_select(),
            aidants::idle_since,
            aidants::idle_warned_at,
        ))
        .load(tx.conn())?;
    let mut round = InactivityRound::default();
    let mut to_warn = Vec::new();
    for (aidant, idle_since, warned_at) in rows {
        let idle = Idle {
            since: idle_since.unwrap_or(aidant.created_at),
            aidant,
            warned_at,
        };
        let warned = idle.warned_at.filter(|at| *at >= idle.since);
        match warned {
            None => to_warn.push(idle),
            Some(at) if idle.since + rule.deactivate_after <= now && at + rule.notice() <= now => {
                round.deactivated += deactivate(tx, rng, now, &idle)?;
            }
            Some(_) => {}
        }
    }
    round.warned = warn(tx, rng, now, rule, &to_warn)?;
    Ok(round)
}

/// Rows per statement when the rule reads or writes many aidants at once (well under the
/// backends' limits on bound parameters).
const CHUNK: usize = 1_000;

/// `at` as a Paris date, `31/12/2026`.
fn day(at: Timestamp) -> String {
    paris::local(at).format("%d/%m/%Y").to_string()
}

/// The active memberships of the aidant: the structures' ids and names.
fn active_memberships(
    tx: &mut WriteTx<'_>,
    aidant_id: &AidantId,
) -> Result<Vec<(OrganisationId, String)>, AccountError> {
    Ok(memberships::table
        .inner_join(organisations::table)
        .filter(memberships::aidant_id.eq(aidant_id))
        .filter(memberships::active.eq(true))
        .order(organisations::name.asc())
        .select((organisations::id, organisations::name))
        .load(tx.conn())?)
}

/// Warns each of `idle` by e-mail of the day their access ends, and records the warning, a
/// few statements for them all (on the first day of the rule, every aidant may be due).
/// Returns how many.
fn warn(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    rule: &InactivityRule,
    idle: &[Idle],
) -> Result<usize, AccountError> {
    let mut structures: BTreeMap<AidantId, Vec<String>> = BTreeMap::new();
    for chunk in idle.chunks(CHUNK) {
        let ids: Vec<&AidantId> = chunk.iter().map(|i| &i.aidant.id).collect();
        diesel::update(aidants::table.filter(aidants::id.eq_any(&ids)))
            .set(aidants::idle_warned_at.eq(now))
            .execute(tx.conn())?;
        let held: Vec<(AidantId, String)> = memberships::table
            .inner_join(organisations::table)
            .filter(memberships::aidant_id.eq_any(&ids))
            .filter(memberships::active.eq(true))
            .order((memberships::aidant_id, organisations::name.asc()))
            .select((memberships::aidant_id, organisations::name))
            .load(tx.conn())?;
        for (aidant_id, name) in held {
            structures.entry(aidant_id).or_default().push(name);
        }
    }
    let messages: Vec<(String, mail::Email)> = idle
        .iter()
        .map(|i| {
            let deactivation = (i.since + rule.deactivate_after).max(now + rule.notice());
            (
                i.aidant.email.clone(),
                mail::Email::InactivityWarning {
                    aidant: i.aidant.full_name(),
                    since: day(i.since),
                    deactivation: day(deactivation),
                    organisations: structures.remove(&i.aidant.id).unwrap_or_default(),
                },
            )
        })
        .collect();
    mail::enqueue_many(tx, rng, now, &messages)?;
    Ok(messages.len())
}

/// Deactivates every active membership of the aidant, each journaled `deactivate_aidant` on
/// its structure's chain (by nobody: the rule) and told; returns how many.
fn deactivate(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    idle: &Idle,
) -> Result<usize, AccountError> {
    let organisations = active_memberships(tx, &idle.aidant.id)?;
    for (organisation_id, organisation) in &organisations {
        crate::set_membership_active(tx, now, &idle.aidant.id, organisation_id, false)?;
        journal_about_member(
            tx,
            rng,
            now,
            journal::Action::DeactivateAidant,
            Some(organisation_id),
            crate::By::System,
            &idle.aidant,
            serde_json::json!({
                "aidant": idle.aidant.id,
                "reason": "inactivity",
                "idle_since": idle.since.to_rfc3339(),
            }),
        )?;
        let told = |to_referent| mail::Email::InactivityDeactivated {
            aidant: idle.aidant.full_name(),
            since: day(idle.since),
            organisation: organisation.clone(),
            to_referent,
        };
        mail::enqueue(tx, rng, now, &idle.aidant.email, &told(false))?;
        for referent in crate::referent_emails(tx.conn(), organisation_id, &[&idle.aidant.id])? {
            mail::enqueue(tx, rng, now, &referent, &told(true))?;
        }
    }
    Ok(organisations.len())
}
