//! The aidants' conditions générales d'utilisation (CGU), versioned: each version applies from
//! a day (Paris time). An aidant acts for usagers — [`crate::verify_activity`] builds a
//! `VerifiedAidant` — only once they accepted the version in force, at their first sign-in and
//! again when a new version applies. The acceptance (version, time) is recorded on their
//! account and journaled `accept_cgu`. The wording of each version is the web's
//! (`crates/web/cgu/vN.md`); a version is never edited once published.

use crate::{AidantSession, AuthError};
use chrono::NaiveDate;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::{write_transaction, PooledDb, Timestamp};

/// The published versions: number and first day (year, month, day), oldest first.
pub const VERSIONS: &[(i32, (i32, u32, u32))] = &[(1, (2026, 1, 1))];

/// The version in force at `now` (the first for an earlier day).
pub fn in_force(now: Timestamp) -> i32 {
    let today = paris::local(now).date();
    VERSIONS
        .iter()
        .rev()
        .find(|(_, (y, m, d))| NaiveDate::from_ymd_opt(*y, *m, *d).is_some_and(|f| f <= today))
        .or(VERSIONS.first())
        .map_or(1, |(version, _)| *version)
}

/// The session's aidant accepts `version` of the CGU (the one they read: it must be the one in
/// force at `now`), journaled `accept_cgu` on the national chain. `false` for another version
/// (nothing is recorded). Accepting again changes nothing.
pub fn accept_cgu(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &AidantSession,
    version: i32,
) -> Result<bool, AuthError> {
    if version != in_force(now) {
        return Ok(false);
    }
    if session.accepted_cgu(now) {
        return Ok(true);
    }
    write_transaction(conn, |tx| {
        accounts::record_cgu_acceptance(tx, session.aidant_id(), version, now)?;
        journal::append(
            tx,
            rng,
            now,
            NewEntry {
                chain: journal::NATIONAL_CHAIN,
                action: Action::AcceptCgu,
                aidant_id: Some(session.aidant_id()),
                usager_id: None,
                organisation_id: Some(session.organisation_id()),
                subject: session.aidant_id().as_str(),
                details: serde_json::json!({ "version": version }),
            },
        )?;
        Ok(true)
    })
}
