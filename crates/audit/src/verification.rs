//! The journal's verification report: every chain walked from its start, every signed daily
//! checkpoint checked against the chains — what `aidants-connect journal verify` prints. The
//! back office shows the last report the upkeep stored: it computes one each day and when a
//! member of the national team asks, outside any transaction (at national size a walk takes
//! minutes, too long for a request).

use crate::AuditError;
use authenticator::StaffSession;
use chrono::Duration;
use diesel::prelude::*;
use journal::{CheckpointReport, CheckpointSigner};
use ring::rand::SecureRandom;
use std::collections::HashMap;
use store::schema::journal_verifications;
use store::{
    new_id, write_transaction, DbConnection, OrganisationId, PooledDb, StaffId, Timestamp,
};

/// One chain as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainLine {
    /// The chain (a structure's id, or `national`).
    pub chain: String,
    /// Whose chain: the structure's name and SIRET, or the national team.
    pub name: String,
    /// Entries found.
    pub entries: i64,
    /// Its first break, described in French; `None` when intact.
    pub broken: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verification {
    /// Every chain, by id.
    pub chains: Vec<ChainLine>,
    /// The checkpoints.
    pub checkpoints: CheckpointReport,
}

impl Verification {
    /// Whether every chain and every checkpoint holds.
    pub fn intact(&self) -> bool {
        self.chains.iter().all(|c| c.broken.is_none()) && self.checkpoints.problems.is_empty()
    }

    /// How many chains are broken.
    pub fn broken(&self) -> usize {
        self.chains.iter().filter(|c| c.broken.is_some()).count()
    }

    /// The name of `chain` in this report.
    pub fn name_of(&self, chain: &str) -> &str {
        self.chains
            .iter()
            .find(|c| c.chain == chain)
            .map_or("structure inconnue", |c| c.name.as_str())
    }
}

/// Walks every chain, then checks every checkpoint's signature with `signer`.
pub fn verification(
    conn: &mut DbConnection,
    signer: &dyn CheckpointSigner,
) -> Result<Verification, AuditError> {
    let reports = journal::verify_all(conn)?;
    let ids: Vec<OrganisationId> = reports
        .iter()
        .filter(|r| r.chain != journal::NATIONAL_CHAIN)
        .map(|r| OrganisationId::from(r.chain.as_str()))
        .collect();
    let names: HashMap<OrganisationId, String> = accounts::organisations_by_ids(conn, &ids)?
        .into_iter()
        .map(|o| {
            let name = format!("{} (SIRET {})", o.name, o.siret);
            (o.id, name)
        })
        .collect();
    let chains = reports
        .into_iter()
        .map(|report| ChainLine {
            name: if report.chain == journal::NATIONAL_CHAIN {
                "équipe nationale".to_owned()
            } else {
                names
                    .get(&OrganisationId::from(report.chain.as_str()))
                    .cloned()
                    .unwrap_or_else(|| "structure inconnue".to_owned())
            },
            entries: report.entries,
            broken: report.broken.as_ref().map(journal::ChainBreak::describe),
            chain: report.chain,
        })
        .collect();
    Ok(Verification {
        chains,
        checkpoints: journal::verify_checkpoints(conn, signer)?,
    })
}

/// A walk unfinished this long after it started is taken as abandoned (its instance stopped)
/// and started again.
const ABANDONED_AFTER_HOURS: i64 = 6;

/// Asks for a verification (by a member of the national team, whatever their role, or `None`:
/// the daily one), unless one is already waiting; returns whether this asked.
pub fn request_verification(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    by: Option<&StaffSession>,
) -> Result<bool, AuditError> {
    let id = new_id(rng)?;
    let by: Option<&StaffId> = by.map(|session| &session.staff().id);
    Ok(write_transaction(conn, |tx| {
        let waiting: i64 = journal_verifications::table
            .filter(journal_verifications::finished_at.is_null())
            .count()
            .get_result(tx.conn())?;
        if waiting > 0 {
            return Ok::<_, diesel::result::Error>(false);
        }
        diesel::insert_into(journal_verifications::table)
            .values((
                journal_verifications::id.eq(id),
                journal_verifications::requested_at.eq(now),
                journal_verifications::requested_by.eq(by),
            ))
            .execute(tx.conn())?;
        Ok(true)
    })?)
}

/// The daily verification: asked when none was asked in the last day.
pub fn request_daily_verification(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
) -> Result<bool, AuditError> {
    let last: Option<Timestamp> = journal_verifications::table
        .select(diesel::dsl::max(journal_verifications::requested_at))
        .first(&mut **conn)?;
    if last.is_some_and(|at| at > now - Duration::days(1)) {
        return Ok(false);
    }
    request_verification(conn, rng, now, None)
}

/// Runs the oldest verification asked (or one abandoned), if any: claims it, walks the journal
/// outside any transaction, stores the report. Returns whether the journal is intact, or
/// `None` when nothing was waiting (or another instance took it).
pub fn run_requested_verification(
    conn: &mut PooledDb,
    signer: &dyn CheckpointSigner,
    now: Timestamp,
) -> Result<Option<bool>, AuditError> {
    let abandoned = now - Duration::hours(ABANDONED_AFTER_HOURS);
    let claimed = write_transaction(conn, |tx| {
        let next: Option<String> = journal_verifications::table
            .filter(journal_verifications::finished_at.is_null())
            .filter(
                journal_verifications::started_at
                    .is_null()
                    .or(journal_verifications::started_at.lt(abandoned)),
            )
            .order(journal_verifications::requested_at.asc())
            .select(journal_verifications::id)
            .first(tx.conn())
            .optional()?;
        let Some(id) = next else {
            return Ok::<_, diesel::result::Error>(None);
        };
        let taken = diesel::update(
            journal_verifications::table
                .find(&id)
                .filter(journal_verifications::finished_at.is_null()),
        )
        .set(journal_verifications::started_at.eq(now))
        .execute(tx.conn())?;
        Ok((taken == 1).then_some(id))
    })?;
    let Some(id) = claimed else {
        return Ok(None);
    };
    let report = verification(conn, signer)?;
    let intact = report.intact();
    let stored = serde_json::to_string(&report).map_err(AuditError::Report)?;
    write_transaction(conn, |tx| {
        diesel::update(journal_verifications::table.find(&id))
            .set((
                journal_verifications::finished_at.eq(now),
                journal_verifications::intact.eq(intact),
                journal_verifications::report.eq(stored),
            ))
            .execute(tx.conn())
    })?;
    Ok(Some(intact))
}

/// What the back office shows of the verifications: the last report stored, when it was
/// computed, and whether one is waiting (since when).
#[derive(Debug, Clone)]
pub struct Verifications {
    /// The last report and the time it was computed.
    pub last: Option<(Timestamp, Verification)>,
    /// When the verification waiting was asked, if one is.
    pub waiting_since: Option<Timestamp>,
}

/// The last stored report and the one waiting, if any, for a member of the national team.
pub fn verifications(
    conn: &mut DbConnection,
    _member: &StaffSession,
) -> Result<Verifications, AuditError> {
    let last: Option<(Option<Timestamp>, Option<String>)> = journal_verifications::table
        .filter(journal_verifications::finished_at.is_not_null())
        .order(journal_verifications::finished_at.desc())
        .select((
            journal_verifications::finished_at,
            journal_verifications::report,
        ))
        .first(conn)
        .optional()?;
    let waiting_since: Option<Timestamp> = journal_verifications::table
        .filter(journal_verifications::finished_at.is_null())
        .select(journal_verifications::requested_at)
        .first(conn)
        .optional()?;
    let last = match last {
        Some((Some(at), Some(report))) => Some((
            at,
            serde_json::from_str(&report).map_err(AuditError::Report)?,
        )),
        _ => None,
    };
    Ok(Verifications {
        last,
        waiting_since,
    })
}
