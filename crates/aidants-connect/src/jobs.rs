//! The upkeep's scheduled jobs: the weekly digest of mandates about to end (to aidants), the
//! weekly reminder of aidants without a card (to référents), the daily inactivity rule.
//!
//! Every instance's upkeep tries every job at each round; each is done **once per period**
//! whichever instances run. A job's row in `scheduled_jobs` is its lease: an instance claims
//! the period with a conditional `UPDATE` of the row in the same transaction as the job's
//! work, so a second instance waits for the first's commit and then finds the period done
//! (PostgreSQL re-reads the row; SQLite's `BEGIN IMMEDIATE` serialises them), and a run that
//! fails rolls back its claim with its work: the period stays to do, and the next round tries
//! again. Periods are in Paris time and begin at [`Schedule::hour`] (each day, or each
//! Monday). The row also keeps the last run's time and outcome, which every instance shows in
//! `/metrics`.

use anyhow::Context as _;
use chrono::{Datelike, Duration};
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::scheduled_jobs;
use store::{DbConnection, PooledDb, Timestamp, WriteTx};

/// A scheduled job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Weekly: to each aidant, the usagers whose last usable mandate ends within 30 days.
    ExpiringMandates,
    /// Weekly: to each référent, the structure's members without a card in service.
    AidantsWithoutCard,
    /// Daily: warns the aidants away for long, deactivates the memberships of those who stayed
    /// away after the warning.
    Inactivity,
}

/// How often a job is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Once a day.
    Daily,
    /// Once a week, from Monday.
    Weekly,
}

impl Job {
    /// Every job, in the order a round runs them.
    pub const ALL: [Job; 3] = [
        Job::ExpiringMandates,
        Job::AidantsWithoutCard,
        Job::Inactivity,
    ];

    /// Its name (its row, its `/metrics` label).
    pub fn name(self) -> &'static str {
        match self {
            Job::ExpiringMandates => "expiring_mandates",
            Job::AidantsWithoutCard => "aidants_without_card",
            Job::Inactivity => "inactivity",
        }
    }

    /// How often it is done.
    pub fn cadence(self) -> Cadence {
        match self {
            Job::ExpiringMandates | Job::AidantsWithoutCard => Cadence::Weekly,
            Job::Inactivity => Cadence::Daily,
        }
    }
}

/// Which jobs run, and when their periods begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The Paris hour at which periods begin (a daily job is done from then; a weekly one from
    /// then on Monday).
    pub hour: u32,
    /// The weekly digest of mandates about to end.
    pub expiring_mandates: bool,
    /// The weekly reminder of aidants without a card.
    pub aidants_without_card: bool,
    /// The inactivity rule, if applied.
    pub inactivity: Option<accounts::InactivityRule>,
}

impl Schedule {
    /// Whether `job` runs.
    pub fn runs(&self, job: Job) -> bool {
        match job {
            Job::ExpiringMandates => self.expiring_mandates,
            Job::AidantsWithoutCard => self.aidants_without_card,
            Job::Inactivity => self.inactivity.is_some(),
        }
    }
}

/// The period of `cadence` that `now` falls in, as stored: `2026-12-02` (daily) or
/// `2026-W49` (weekly, ISO weeks). Keys sort as their periods.
pub fn period(cadence: Cadence, hour: u32, now: Timestamp) -> String {
    let local = paris::local(now) - Duration::hours(i64::from(hour));
    match cadence {
        Cadence::Daily => local.format("%Y-%m-%d").to_string(),
        Cadence::Weekly => {
            let week = local.iso_week();
            format!("{}-W{:02}", week.year(), week.week())
        }
    }
}

/// One run of a job by this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// The job.
    pub job: Job,
    /// The period it did (or failed to do).
    pub period: String,
    /// What it did (e-mails written, memberships deactivated), or why it failed.
    pub outcome: Result<i32, String>,
}

/// Runs, at `now`, each job of `schedule` whose current period no instance has done yet.
/// Returns what this instance ran; a failed job is recorded and left to the next round.
pub fn run_due(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    schedule: &Schedule,
    now: Timestamp,
) -> anyhow::Result<Vec<JobRun>> {
    let mut runs = Vec::new();
    for job in Job::ALL.into_iter().filter(|job| schedule.runs(*job)) {
        let period = period(job.cadence(), schedule.hour, now);
        let done = store::write_transaction(conn, |tx| -> anyhow::Result<Option<i32>> {
            if !claim(tx, job, &period, now)? {
                return Ok(None);
            }
            let items = work(tx, rng, schedule, job, now)?;
            diesel::update(scheduled_jobs::table.find(job.name()))
                .set(scheduled_jobs::last_items.eq(items))
                .execute(tx.conn())?;
            Ok(Some(items))
        });
        match done {
            Ok(None) => {}
            Ok(Some(items)) => {
                tracing::info!(job = job.name(), %period, items, "scheduled job done");
                runs.push(JobRun {
                    job,
                    period,
                    outcome: Ok(items),
                });
            }
            Err(error) => {
                tracing::warn!(job = job.name(), %period, error = %error, "scheduled job failed");
                record_failure(conn, job, &period, now, &error)
                    .context("échec d'une tâche planifiée non enregistré")?;
                runs.push(JobRun {
                    job,
                    period,
                    outcome: Err(error.to_string()),
                });
            }
        }
    }
    Ok(runs)
}

/// Writes the job's row if it has none yet (a standalone statement: two instances doing it at
/// once leave one row).
fn ensure_row(conn: &mut DbConnection, job: Job) -> Result<(), diesel::result::Error> {
    let insert = diesel::insert_into(scheduled_jobs::table).values((
        scheduled_jobs::name.eq(job.name()),
        scheduled_jobs::last_items.eq(0),
    ));
    match conn {
        DbConnection::Pg(c) => insert.on_conflict_do_nothing().execute(c)?,
        DbConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
    Ok(())
}

/// The job's row while `period` is still to do.
type Undone<'a> = diesel::dsl::Filter<
    diesel::dsl::Find<scheduled_jobs::table, &'static str>,
    diesel::dsl::Or<
        diesel::dsl::IsNull<scheduled_jobs::period>,
        diesel::dsl::Lt<scheduled_jobs::period, &'a str>,
    >,
>;

fn undone(job: Job, period: &str) -> Undone<'_> {
    scheduled_jobs::table.find(job.name()).filter(
        scheduled_jobs::period
            .is_null()
            .or(scheduled_jobs::period.lt(period)),
    )
}

/// Claims `period` for this transaction when no one did it yet.
fn claim(tx: &mut WriteTx<'_>, job: Job, period: &str, now: Timestamp) -> anyhow::Result<bool> {
    ensure_row(tx.conn(), job)?;
    let claimed = diesel::update(undone(job, period))
        .set((
            scheduled_jobs::period.eq(period),
            scheduled_jobs::last_run_at.eq(now),
            scheduled_jobs::last_outcome.eq("ok"),
            scheduled_jobs::last_error.eq(None::<String>),
        ))
        .execute(tx.conn())?;
    Ok(claimed == 1)
}

/// The job's work, in the claiming transaction; returns what it did.
fn work(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    schedule: &Schedule,
    job: Job,
    now: Timestamp,
) -> anyhow::Result<i32> {
    let items = match job {
        Job::ExpiringMandates => {
            mandate::expiring_mandates_digest(tx, rng, now, Duration::days(mandate::EXPIRING_SOON))?
        }
        Job::AidantsWithoutCard => authenticator::aidants_without_card_reminder(tx, rng, now)?,
        Job::Inactivity => match &schedule.inactivity {
            Some(rule) => {
                let round = accounts::apply_inactivity(tx, rng, now, rule)?;
                round.warned + round.deactivated
            }
            None => 0,
        },
    };
    Ok(i32::try_from(items).unwrap_or(i32::MAX))
}

/// Records that the job failed at `now` (its period stays to do), unless another instance
/// has done the period since.
fn record_failure(
    conn: &mut PooledDb,
    job: Job,
    period: &str,
    now: Timestamp,
    error: &anyhow::Error,
) -> anyhow::Result<()> {
    store::write_transaction(conn, |tx| -> anyhow::Result<()> {
        ensure_row(tx.conn(), job)?;
        diesel::update(undone(job, period))
            .set((
                scheduled_jobs::last_run_at.eq(now),
                scheduled_jobs::last_outcome.eq("failed"),
                scheduled_jobs::last_error.eq(Some(format!("{error:#}"))),
            ))
            .execute(tx.conn())?;
        Ok(())
    })
}

/// A job's row: the period last done, the last run and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = scheduled_jobs)]
pub struct JobState {
    /// The job's name.
    pub name: String,
    /// The period last done.
    pub period: Option<String>,
    /// When it last ran (done or failed).
    pub last_run_at: Option<Timestamp>,
    /// `ok` or `failed`.
    pub last_outcome: Option<String>,
    /// What the last successful run did.
    pub last_items: i32,
    /// Why the last run failed.
    pub last_error: Option<String>,
}

/// Every job's row, by name.
pub fn states(conn: &mut DbConnection) -> Result<Vec<JobState>, diesel::result::Error> {
    scheduled_jobs::table
        .order(scheduled_jobs::name)
        .select(JobState::as_select())
        .load(conn)
}

/// Shows every job's last run in `/metrics` (the database's record: the same on every
/// instance, whichever ran it).
pub fn publish(conn: &mut DbConnection, metrics: &web::Metrics) -> anyhow::Result<()> {
    for state in states(conn)? {
        if let Some(at) = state.last_run_at {
            metrics.job_state(
                &state.name,
                at.timestamp(),
                state.last_outcome.as_deref() == Some("ok"),
                i64::from(state.last_items),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .into()
    }

    #[test]
    fn periods_begin_at_the_paris_hour() {
        // Monday 7 December 2026, 07:59 and 08:00 in Paris (UTC+1).
        assert_eq!(
            period(Cadence::Weekly, 8, at(2026, 12, 7, 6, 59)),
            "2026-W49"
        );
        assert_eq!(
            period(Cadence::Weekly, 8, at(2026, 12, 7, 7, 0)),
            "2026-W50"
        );
        assert_eq!(
            period(Cadence::Daily, 8, at(2026, 12, 7, 6, 59)),
            "2026-12-06"
        );
        assert_eq!(
            period(Cadence::Daily, 8, at(2026, 12, 7, 7, 0)),
            "2026-12-07"
        );
        // Summer time (UTC+2): 08:00 in Paris is 06:00 UTC.
        assert_eq!(
            period(Cadence::Daily, 8, at(2026, 7, 1, 6, 0)),
            "2026-07-01"
        );
        // Weeks sort as they follow each other, across years.
        assert!(
            period(Cadence::Weekly, 8, at(2026, 12, 28, 12, 0))
                < period(Cadence::Weekly, 8, at(2027, 1, 4, 12, 0))
        );
    }
}
