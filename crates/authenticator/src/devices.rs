//! Recognised browsers ("appareils reconnus"): after a successful sign-in the browser keeps a
//! random token (in a cookie; only its hash is stored). Codes typed from a browser that shows
//! a token of this aidant are counted against that browser alone — too many wrong ones and it
//! is no longer recognised — while codes typed anywhere else are counted against the card.
//! A stranger's wrong codes can therefore lock the card for unrecognised browsers only: its
//! holder keeps signing in from the browsers they use.

use crate::cards::Backoff;
use crate::AuthError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::trusted_devices;
use store::{hash_secret, AidantId, DbConnection, StoreError, Timestamp, WriteTx};

/// The secret a recognised browser keeps. Only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken(String);

impl DeviceToken {
    /// The token, to put in a cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceToken(..)")
    }
}

/// A browser this aidant signed in from, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = trusted_devices)]
pub(crate) struct Device {
    pub token_hash: String,
    pub aidant_id: AidantId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub failures: i32,
    pub last_failure_at: Option<Timestamp>,
}

/// The first of `tokens` that names a browser recognised for this aidant at `now` (used
/// within `lifetime`).
pub(crate) fn recognised(
    conn: &mut DbConnection,
    aidant_id: &AidantId,
    tokens: &[String],
    lifetime: Duration,
    now: Timestamp,
) -> Result<Option<Device>, AuthError> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let hashes: Vec<String> = tokens.iter().map(|t| hash_secret(t)).collect();
    Ok(trusted_devices::table
        .filter(trusted_devices::token_hash.eq_any(&hashes))
        .filter(trusted_devices::aidant_id.eq(aidant_id))
        .filter(trusted_devices::last_used_at.gt(now - lifetime))
        .select(Device::as_select())
        .first(conn)
        .optional()?)
}

/// Recognises the browser from now on: a new token for it.
pub(crate) fn remember(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    aidant_id: &AidantId,
    now: Timestamp,
) -> Result<DeviceToken, AuthError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).map_err(|_| StoreError::Random)?;
    let token = DeviceToken(URL_SAFE_NO_PAD.encode(bytes));
    diesel::insert_into(trusted_devices::table)
        .values((
            trusted_devices::token_hash.eq(hash_secret(token.expose())),
            trusted_devices::aidant_id.eq(aidant_id),
            trusted_devices::created_at.eq(now),
            trusted_devices::last_used_at.eq(now),
            trusted_devices::failures.eq(0),
        ))
        .execute(tx.conn())?;
    Ok(token)
}

/// The end of the wait before the browser's next code is checked, if it has not passed.
pub(crate) fn wait_until(device: &Device, backoff: &Backoff, now: Timestamp) -> Option<Timestamp> {
    backoff.wait_until(device.failures, device.last_failure_at, now)
}

/// A code typed from the browser was accepted: its failures are forgotten.
pub(crate) fn used(tx: &mut WriteTx<'_>, device: &Device, now: Timestamp) -> Result<(), AuthError> {
    diesel::update(trusted_devices::table.find(&device.token_hash))
        .set((
            trusted_devices::last_used_at.eq(now),
            trusted_devices::failures.eq(0),
            trusted_devices::last_failure_at.eq(None::<Timestamp>),
        ))
        .execute(tx.conn())?;
    Ok(())
}

/// Counts a wrong code typed from the browser; at `backoff.max_failures` it is no longer
/// recognised (its next codes count against the card). Returns whether it still is.
pub(crate) fn failed(
    tx: &mut WriteTx<'_>,
    device: &Device,
    backoff: &Backoff,
    now: Timestamp,
) -> Result<bool, AuthError> {
    let target = trusted_devices::table.find(&device.token_hash);
    diesel::update(target)
        .set((
            trusted_devices::failures.eq(trusted_devices::failures + 1),
            trusted_devices::last_failure_at.eq(now),
        ))
        .execute(tx.conn())?;
    let failures: i32 = target.select(trusted_devices::failures).first(tx.conn())?;
    if failures < backoff.max_failures {
        return Ok(true);
    }
    diesel::delete(target).execute(tx.conn())?;
    Ok(false)
}

/// Deletes the browsers last used before `before` (they are no longer recognised); returns
/// how many.
pub fn purge_devices(conn: &mut DbConnection, before: Timestamp) -> Result<usize, AuthError> {
    Ok(
        diesel::delete(trusted_devices::table.filter(trusted_devices::last_used_at.lt(before)))
            .execute(conn)?,
    )
}
