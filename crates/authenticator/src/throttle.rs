//! Failed sign-ins counted per source address: a progressive delay then a temporary lock, so
//! that guessing codes for many e-mails (known to be aidants' or not) from one place is slowed
//! down too. Addresses are stored as a keyed tag (HMAC, [`crate::SeedCipher::address_tag`]):
//! without the server's key, the table does not tell which addresses tried.

use crate::cards::Backoff;
use crate::AuthError;
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::schema::login_throttle;
use store::{DbConnection, Timestamp, WriteTx};

/// Why attempts from a source address are not checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceWait {
    /// A failure happened a moment ago: wait until then.
    TooSoon(Timestamp),
    /// Too many failures: locked until then.
    Locked(Timestamp),
}

type Row = (i32, Timestamp, Option<Timestamp>);

fn row(conn: &mut DbConnection, key: &str) -> Result<Option<Row>, AuthError> {
    Ok(login_throttle::table
        .find(key)
        .select((
            login_throttle::failures,
            login_throttle::last_failure_at,
            login_throttle::locked_until,
        ))
        .first(conn)
        .optional()?)
}

/// Whether attempts from the address tagged `tag` must wait at `now`.
pub(crate) fn wait(
    conn: &mut DbConnection,
    backoff: &Backoff,
    now: Timestamp,
    tag: &str,
) -> Result<Option<SourceWait>, AuthError> {
    let Some((failures, last, locked_until)) = row(conn, tag)? else {
        return Ok(None);
    };
    if let Some(until) = locked_until.filter(|u| *u > now) {
        return Ok(Some(SourceWait::Locked(until)));
    }
    Ok(backoff
        .wait_until(failures, Some(last), now)
        .map(SourceWait::TooSoon))
}

/// Counts a failed attempt from the address tagged `tag`; returns the end of the lock when this failure
/// locks the address (journaled as `throttle_source` on the national chain).
pub(crate) fn failed(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    backoff: &Backoff,
    now: Timestamp,
    tag: &str,
) -> Result<Option<Timestamp>, AuthError> {
    let key = tag.to_owned();
    let failures = match row(tx.conn(), &key)? {
        None => {
            let insert = diesel::insert_into(login_throttle::table).values((
                login_throttle::source.eq(&key),
                login_throttle::failures.eq(1),
                login_throttle::last_failure_at.eq(now),
            ));
            // Two first failures at once from one address: the second one counts below.
            let inserted = match tx.conn() {
                DbConnection::Pg(c) => insert.on_conflict_do_nothing().execute(c)?,
                DbConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
            };
            if inserted == 1 {
                1
            } else {
                increment(tx, &key, now)?
            }
        }
        Some((_, last, _)) if backoff.forgotten(Some(last), now) => {
            diesel::update(login_throttle::table.find(&key))
                .set((
                    login_throttle::failures.eq(1),
                    login_throttle::last_failure_at.eq(now),
                    login_throttle::locked_until.eq(None::<Timestamp>),
                ))
                .execute(tx.conn())?;
            1
        }
        Some(_) => increment(tx, &key, now)?,
    };
    if failures < backoff.max_failures {
        return Ok(None);
    }
    let until = now + backoff.lock_for;
    diesel::update(login_throttle::table.find(&key))
        .set((
            login_throttle::locked_until.eq(until),
            login_throttle::failures.eq(0),
        ))
        .execute(tx.conn())?;
    journal::append(
        tx,
        rng,
        now,
        NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action: Action::ThrottleSource,
            aidant_id: None,
            usager_id: None,
            organisation_id: None,
            subject: &key,
            details: serde_json::json!({ "failures": failures, "until": until.to_rfc3339() }),
        },
    )?;
    Ok(Some(until))
}

fn increment(tx: &mut WriteTx<'_>, key: &str, now: Timestamp) -> Result<i32, AuthError> {
    diesel::update(login_throttle::table.find(key))
        .set((
            login_throttle::failures.eq(login_throttle::failures + 1),
            login_throttle::last_failure_at.eq(now),
        ))
        .execute(tx.conn())?;
    Ok(login_throttle::table
        .find(key)
        .select(login_throttle::failures)
        .first(tx.conn())?)
}

/// A successful sign-in from the address tagged `tag` clears its count.
pub(crate) fn succeeded(tx: &mut WriteTx<'_>, tag: &str) -> Result<(), AuthError> {
    diesel::delete(login_throttle::table.find(tag)).execute(tx.conn())?;
    Ok(())
}

/// Forgets the addresses whose failures are all older than the lock length and that are not
/// locked any more: they would be ignored anyway. Returns how many were removed.
pub fn purge_login_throttle(
    conn: &mut DbConnection,
    backoff: &Backoff,
    now: Timestamp,
) -> Result<usize, AuthError> {
    let forgotten = now - backoff.lock_for;
    Ok(diesel::delete(
        login_throttle::table
            .filter(login_throttle::last_failure_at.lt(forgotten))
            .filter(
                login_throttle::locked_until
                    .is_null()
                    .or(login_throttle::locked_until.lt(now)),
            ),
    )
    .execute(conn)?)
}
