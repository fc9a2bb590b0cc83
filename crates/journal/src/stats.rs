//! Monthly aggregates of the journal, kept up to date by every append (same transaction), so
//! the public statistics read a few hundred aggregate rows instead of scanning the journal.
//!
//! Counters are kept per chain: an append only touches rows of its own chain, whose head it
//! already holds, so organisations never wait on each other. Distinct counts (usagers helped,
//! aidants who acted, mandates) are counters too: the first occurrence of a key in a month
//! adds 1 to its chain's `distinct_*` counter. Once a month is over its figures are summed once
//! into `journal_monthly_closed` ([`close_months`], run by the service's upkeep), so the page
//! reads 5 rows per past month and sums only the current month's counters. Months are calendar
//! months in Paris time.

use crate::{Action, JournalEntry, JournalError};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use store::schema::{journal_monthly, journal_monthly_closed, journal_monthly_distinct};
use store::{DbConnection, Timestamp, WriteTx};

/// What is counted once per month, whatever the number of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Distinct {
    /// An usager for whom a mandate was created or used.
    Usager,
    /// An aidant who signed in.
    Aidant,
    /// A mandate created (it holds one `create_autorisation` entry per démarche).
    Mandat,
}

impl Distinct {
    /// The stored kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Distinct::Usager => "usager",
            Distinct::Aidant => "aidant",
            Distinct::Mandat => "mandat",
        }
    }

    /// The counter its first occurrences add to.
    fn counter(self) -> &'static str {
        match self {
            Distinct::Usager => "distinct_usager",
            Distinct::Aidant => "distinct_aidant",
            Distinct::Mandat => "distinct_mandat",
        }
    }
}

/// The counters the statistics read.
const METRICS: [&str; 6] = [
    "use_autorisation",
    "create_organisation",
    "activate_aidant",
    "distinct_usager",
    "distinct_aidant",
    "distinct_mandat",
];

/// The `YYYY-MM` month of `at` in Paris.
pub fn month_of(at: Timestamp) -> String {
    paris::local(at).format("%Y-%m").to_string()
}

/// What an entry adds to the distinct counts of its month.
fn distinct_keys(entry: &JournalEntry) -> Vec<(Distinct, String)> {
    let usager = entry
        .usager_id
        .clone()
        .map(|u| (Distinct::Usager, u.into()));
    match entry.action.as_str() {
        a if a == Action::CreateAutorisation.as_str() => {
            let mandat = serde_json::from_str::<serde_json::Value>(&entry.details)
                .ok()
                .and_then(|d| d.get("mandat").and_then(|m| m.as_str()).map(str::to_owned))
                .map(|m| (Distinct::Mandat, m));
            usager.into_iter().chain(mandat).collect()
        }
        a if a == Action::UseAutorisation.as_str() => usager.into_iter().collect(),
        a if a == Action::ConnectAidant.as_str() => entry
            .aidant_id
            .clone()
            .map(|a| (Distinct::Aidant, a.into()))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// Adds `n` to the counter `name` of `chain` for `month`.
fn add(
    conn: &mut DbConnection,
    chain: &str,
    month: &str,
    name: &str,
    n: i64,
) -> Result<(), JournalError> {
    let counter = diesel::insert_into(journal_monthly::table).values((
        journal_monthly::chain.eq(chain),
        journal_monthly::month.eq(month),
        journal_monthly::action.eq(name),
        journal_monthly::count.eq(n),
    ));
    let target = (
        journal_monthly::chain,
        journal_monthly::month,
        journal_monthly::action,
    );
    let plus_n = journal_monthly::count.eq(journal_monthly::count + n);
    match conn {
        DbConnection::Pg(c) => counter
            .on_conflict(target)
            .do_update()
            .set(plus_n)
            .execute(c)?,
        DbConnection::Sqlite(c) => counter
            .on_conflict(target)
            .do_update()
            .set(plus_n)
            .execute(c)?,
    };
    Ok(())
}

/// Records a key's occurrence in its month; answers whether it is the first one.
fn first_occurrence(
    conn: &mut DbConnection,
    month: &str,
    kind: Distinct,
    key: &str,
) -> Result<bool, JournalError> {
    let insert = diesel::insert_into(journal_monthly_distinct::table).values((
        journal_monthly_distinct::month.eq(month),
        journal_monthly_distinct::kind.eq(kind.as_str()),
        journal_monthly_distinct::key.eq(key),
    ));
    let inserted = match conn {
        DbConnection::Pg(c) => insert.on_conflict_do_nothing().execute(c)?,
        DbConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
    Ok(inserted == 1)
}

/// Counts a new entry in its month (called by `append`, inside its transaction).
pub(crate) fn record(conn: &mut DbConnection, entry: &JournalEntry) -> Result<(), JournalError> {
    let month = month_of(entry.at_utc());
    add(conn, &entry.chain, &month, &entry.action, 1)?;
    for (kind, key) in distinct_keys(entry) {
        if first_occurrence(conn, &month, kind, &key)? {
            add(conn, &entry.chain, &month, kind.counter(), 1)?;
        }
    }
    Ok(())
}

/// Writes `entry` (already chained), moves its chain's head to it and counts it in its month,
/// in one statement on PostgreSQL (data-modifying CTEs, each run once and to completion):
/// the same rows as the entry's `INSERT`, the head's `UPDATE` and [`record`], in one round trip
/// instead of five or six.
pub(crate) fn insert_counted_pg(
    conn: &mut diesel::PgConnection,
    entry: &JournalEntry,
) -> Result<(), JournalError> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    let keys = distinct_keys(entry);
    let mut sql = String::from(
        "WITH entry AS (INSERT INTO journal (id, chain, seq, at, action, aidant_id, usager_id, \
         organisation_id, subject, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)), \
         head AS (UPDATE journal_heads SET head_hash = $12 WHERE chain = $2), \
         counted AS (INSERT INTO journal_monthly (chain, month, action, count) \
         VALUES ($2, $13, $5, 1) ON CONFLICT (chain, month, action) \
         DO UPDATE SET count = journal_monthly.count + 1)",
    );
    for k in 0..keys.len() {
        let (kind, key, counter) = (14 + 3 * k, 15 + 3 * k, 16 + 3 * k);
        sql.push_str(&format!(
            ", first{k} AS (INSERT INTO journal_monthly_distinct (month, kind, key) \
             VALUES ($13, ${kind}, ${key}) ON CONFLICT DO NOTHING RETURNING 1), \
             distinct{k} AS (INSERT INTO journal_monthly (chain, month, action, count) \
             SELECT $2, $13, ${counter}, 1 FROM first{k} ON CONFLICT (chain, month, action) \
             DO UPDATE SET count = journal_monthly.count + 1)"
        ));
    }
    sql.push_str(" SELECT 1");
    let mut query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(&entry.id)
        .bind::<Text, _>(&entry.chain)
        .bind::<BigInt, _>(entry.seq)
        .bind::<Timestamp, _>(entry.at)
        .bind::<Text, _>(&entry.action)
        .bind::<Nullable<Text>, _>(&entry.aidant_id)
        .bind::<Nullable<Text>, _>(&entry.usager_id)
        .bind::<Nullable<Text>, _>(&entry.organisation_id)
        .bind::<Text, _>(&entry.subject)
        .bind::<Text, _>(&entry.details)
        .bind::<Text, _>(&entry.prev_hash)
        .bind::<Text, _>(&entry.hash)
        .bind::<Text, _>(month_of(entry.at_utc()));
    for (kind, key) in keys {
        query = query
            .bind::<Text, _>(kind.as_str())
            .bind::<Text, _>(key)
            .bind::<Text, _>(kind.counter());
    }
    query.execute(conn)?;
    Ok(())
}

/// Counts entries of one chain appended together (by `append_many`): one counter update per
/// month and action, and the distinct keys of a month inserted in batches.
pub(crate) fn record_many(
    conn: &mut DbConnection,
    chain: &str,
    entries: &[JournalEntry],
) -> Result<(), JournalError> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut keys: BTreeMap<(String, Distinct), BTreeSet<String>> = BTreeMap::new();
    for entry in entries {
        let month = month_of(entry.at_utc());
        for (kind, key) in distinct_keys(entry) {
            keys.entry((month.clone(), kind)).or_default().insert(key);
        }
        *counts.entry((month, entry.action.clone())).or_default() += 1;
    }
    for ((month, action), n) in &counts {
        add(conn, chain, month, action, *n)?;
    }
    for ((month, kind), keys) in &keys {
        let keys: Vec<&String> = keys.iter().collect();
        let mut firsts = 0i64;
        for batch in keys.chunks(DISTINCT_BATCH) {
            let rows: Vec<_> = batch
                .iter()
                .map(|key| {
                    (
                        journal_monthly_distinct::month.eq(month),
                        journal_monthly_distinct::kind.eq(kind.as_str()),
                        journal_monthly_distinct::key.eq(*key),
                    )
                })
                .collect();
            let insert = diesel::insert_into(journal_monthly_distinct::table).values(&rows);
            let inserted = match conn {
                DbConnection::Pg(c) => insert.on_conflict_do_nothing().execute(c)?,
                DbConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
            };
            firsts += i64::try_from(inserted).unwrap_or(i64::MAX);
        }
        if firsts > 0 {
            add(conn, chain, month, kind.counter(), firsts)?;
        }
    }
    Ok(())
}

/// Distinct keys inserted per statement (3 parameters each, well under both backends' limits).
const DISTINCT_BATCH: usize = 2_000;

/// One month of activity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
    /// Aidants who signed in at least once.
    pub aidants: i64,
    /// Organisations created by the national team (habilitated at once, or by validating a
    /// structure's request).
    pub organisations: i64,
    /// Aidants habilitated: accounts activated by the national team after their training.
    pub habilitated_aidants: i64,
    /// Distinct usagers for whom a mandate was created or used.
    pub usagers: i64,
    /// Mandates created.
    pub mandats: i64,
    /// Démarches done (autorisations used through FranceConnect).
    pub demarches: i64,
}

/// The sums of the counters of `months`, straight from the per-chain counters.
fn live_sums(
    conn: &mut DbConnection,
    months: &[String],
) -> Result<Vec<(String, String, i64)>, JournalError> {
    if months.is_empty() {
        return Ok(Vec::new());
    }
    Ok(journal_monthly::table
        .filter(journal_monthly::action.eq_any(METRICS))
        .filter(journal_monthly::month.eq_any(months))
        .group_by((journal_monthly::month, journal_monthly::action))
        .select((
            journal_monthly::month,
            journal_monthly::action,
            sql::<BigInt>("CAST(SUM(count) AS BIGINT)"),
        ))
        .load(conn)?)
}

/// The `count` months up to the month of `now`, oldest first, every month present (zeros
/// where nothing happened).
pub fn monthly(
    conn: &mut DbConnection,
    now: Timestamp,
    count: u32,
) -> Result<Vec<Month>, JournalError> {
    let months = last_months(now, count);
    let first = months.first().cloned().unwrap_or_default();
    let closed: Vec<(String, String, i64)> = journal_monthly_closed::table
        .filter(journal_monthly_closed::month.ge(&first))
        .select((
            journal_monthly_closed::month,
            journal_monthly_closed::metric,
            journal_monthly_closed::value,
        ))
        .load(conn)?;
    let open: Vec<String> = months
        .iter()
        .filter(|m| !closed.iter().any(|(c, _, _)| c == *m))
        .cloned()
        .collect();
    let live = live_sums(conn, &open)?;
    let mut out: Vec<Month> = months
        .into_iter()
        .map(|month| Month {
            month,
            ..Month::default()
        })
        .collect();
    for (month, name, n) in closed.into_iter().chain(live) {
        let Some(m) = out.iter_mut().find(|m| m.month == month) else {
            continue;
        };
        match name.as_str() {
            "use_autorisation" => m.demarches = n,
            "create_organisation" => m.organisations = n,
            "activate_aidant" => m.habilitated_aidants = n,
            "distinct_usager" => m.usagers = n,
            "distinct_aidant" => m.aidants = n,
            "distinct_mandat" => m.mandats = n,
            _ => {}
        }
    }
    Ok(out)
}

/// Sums once the figures of every month before the month of `now` that is not summed yet (a
/// month that is over gets no more entries). Returns how many months were closed.
pub fn close_months(tx: &mut WriteTx<'_>, now: Timestamp) -> Result<usize, JournalError> {
    let conn = tx.conn();
    let current = month_of(now);
    let closed: Vec<String> = journal_monthly_closed::table
        .select(journal_monthly_closed::month)
        .distinct()
        .load(conn)?;
    let pending: Vec<String> = journal_monthly::table
        .filter(journal_monthly::month.lt(&current))
        .filter(journal_monthly::month.ne_all(&closed))
        .select(journal_monthly::month)
        .distinct()
        .load(conn)?;
    for month in &pending {
        let sums = live_sums(conn, std::slice::from_ref(month))?;
        for metric in METRICS {
            let value = sums
                .iter()
                .find(|(_, name, _)| name == metric)
                .map_or(0, |(_, _, n)| *n);
            let insert = diesel::insert_into(journal_monthly_closed::table).values((
                journal_monthly_closed::month.eq(month),
                journal_monthly_closed::metric.eq(metric),
                journal_monthly_closed::value.eq(value),
            ));
            match conn {
                DbConnection::Pg(c) => insert.on_conflict_do_nothing().execute(c)?,
                DbConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
            };
        }
    }
    Ok(pending.len())
}

/// Forgets the sums of finished months, for the next upkeep to sum them again: after a bulk
/// load wrote entries into past months (the service itself only ever writes into the current
/// one, so a finished month never changes).
pub fn reopen_months(tx: &mut WriteTx<'_>) -> Result<usize, JournalError> {
    Ok(diesel::delete(journal_monthly_closed::table).execute(tx.conn())?)
}

/// Démarches done since the journal began: the closed months' sums, plus the counters of the
/// months after the last closed one.
pub fn demarches_total(conn: &mut DbConnection) -> Result<i64, JournalError> {
    let last_closed: Option<String> = journal_monthly_closed::table
        .select(diesel::dsl::max(journal_monthly_closed::month))
        .first(conn)?;
    let closed: i64 = journal_monthly_closed::table
        .filter(journal_monthly_closed::metric.eq(Action::UseAutorisation.as_str()))
        .select(sql::<BigInt>("CAST(COALESCE(SUM(value), 0) AS BIGINT)"))
        .first(conn)?;
    let open: i64 = journal_monthly::table
        .filter(journal_monthly::action.eq(Action::UseAutorisation.as_str()))
        .filter(journal_monthly::month.gt(last_closed.unwrap_or_default()))
        .select(sql::<BigInt>("CAST(COALESCE(SUM(count), 0) AS BIGINT)"))
        .first(conn)?;
    Ok(closed + open)
}

/// The `count` months ending with the month of `now`, as `YYYY-MM`, oldest first.
fn last_months(now: Timestamp, count: u32) -> Vec<String> {
    use chrono::Datelike;
    let local = paris::local(now);
    let index = local.year() * 12 + local.month0() as i32;
    (0..count as i32)
        .rev()
        .map(|back| {
            let i = index - back;
            format!("{:04}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1)
        })
        .collect()
}

/// Whether the aggregates are missing while the journal has entries (a journal written before
/// they existed).
pub fn is_missing(conn: &mut DbConnection) -> Result<bool, JournalError> {
    use store::schema::journal;
    let counted = journal_monthly::table
        .select(journal_monthly::chain)
        .first::<String>(conn)
        .optional()?
        .is_some();
    let written = journal::table
        .select(journal::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    Ok(written && !counted)
}

/// Rebuilds every aggregate from the journal itself (after a migration, or to check them).
pub fn rebuild(tx: &mut WriteTx<'_>) -> Result<u64, JournalError> {
    use store::schema::journal;
    reopen_months(tx)?;
    let conn = tx.conn();
    diesel::delete(journal_monthly::table).execute(conn)?;
    diesel::delete(journal_monthly_distinct::table).execute(conn)?;
    let mut last_id: Option<String> = None;
    let mut counted = 0u64;
    loop {
        let mut query = journal::table
            .order(journal::id.asc())
            .limit(5_000)
            .select(JournalEntry::as_select())
            .into_boxed();
        if let Some(id) = &last_id {
            query = query.filter(journal::id.gt(id.clone()));
        }
        let batch: Vec<JournalEntry> = query.load(conn)?;
        let Some(last) = batch.last() else {
            break;
        };
        last_id = Some(last.id.clone());
        for entry in &batch {
            record(conn, entry)?;
            counted += 1;
        }
    }
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn utc(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Utc)
            .into()
    }

    #[test]
    fn months_are_paris_months() {
        // 23:30 UTC on 31 January is already February in Paris.
        assert_eq!(month_of(utc("2026-01-31T23:30:00Z")), "2026-02");
        assert_eq!(month_of(utc("2026-01-31T22:30:00Z")), "2026-01");
    }

    #[test]
    fn the_window_crosses_years() {
        assert_eq!(
            last_months(utc("2026-02-10T12:00:00Z"), 4),
            ["2025-11", "2025-12", "2026-01", "2026-02"]
        );
    }
}
