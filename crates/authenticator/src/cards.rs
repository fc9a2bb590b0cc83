//! OTP cards and the verification of their codes.

use crate::{AuthError, SeedCipher};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::otp_cards;
use store::{new_id, to_db, DbConnection};
use subtle::ConstantTimeEq;

/// Digits of a code.
pub const TOTP_DIGITS: u32 = 6;
/// Seconds per step.
pub const TOTP_PERIOD: u64 = 30;
/// Steps tolerated on either side of the current one.
const DRIFT_STEPS: i64 = 1;

/// Physical card or TOTP application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    /// A physical card with a printed serial number.
    Physical,
    /// A "carte numérique": a TOTP application.
    Digital,
}

impl CardKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CardKind::Physical => "physical",
            CardKind::Digital => "digital",
        }
    }
}

/// A stored OTP card (its seed stays sealed).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = otp_cards)]
pub struct OtpCard {
    /// Id.
    pub id: String,
    /// Serial number (printed on a physical card).
    pub serial: String,
    /// Sealed seed.
    pub seed_encrypted: String,
    /// Kind (stored name).
    pub kind: String,
    /// Digits per code.
    pub digits: i32,
    /// Seconds per step.
    pub period: i32,
    /// The aidant holding it.
    pub aidant_id: Option<String>,
    /// When a référent validated it with a code.
    pub validated_at: Option<NaiveDateTime>,
    /// The last step whose code was accepted.
    pub last_used_step: Option<i64>,
    /// Consecutive failed codes.
    pub failures: i32,
    /// Locked until then after too many failures.
    pub locked_until: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// What it takes to register a card.
#[derive(Debug, Clone)]
pub struct NewCard<'a> {
    /// Serial number.
    pub serial: &'a str,
    /// Seed, hexadecimal.
    pub seed_hex: &'a str,
    /// Kind.
    pub kind: CardKind,
    /// Holder, if already associated.
    pub aidant_id: Option<&'a str>,
    /// Whether it is already validated (e.g. imported and checked by the national team).
    pub validated: bool,
}

/// Registers a card, sealing its seed.
pub fn create_card(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: DateTime<Utc>,
    new: NewCard<'_>,
) -> Result<OtpCard, AuthError> {
    let card = OtpCard {
        id: new_id(rng)?,
        serial: new.serial.trim().to_owned(),
        seed_encrypted: cipher.seal_hex(rng, new.seed_hex)?,
        kind: new.kind.as_str().to_owned(),
        digits: TOTP_DIGITS as i32,
        period: TOTP_PERIOD as i32,
        aidant_id: new.aidant_id.map(str::to_owned),
        validated_at: new.validated.then(|| to_db(now)),
        last_used_step: None,
        failures: 0,
        locked_until: None,
        created_at: to_db(now),
    };
    diesel::insert_into(otp_cards::table)
        .values((
            otp_cards::id.eq(&card.id),
            otp_cards::serial.eq(&card.serial),
            otp_cards::seed_encrypted.eq(&card.seed_encrypted),
            otp_cards::kind.eq(&card.kind),
            otp_cards::digits.eq(card.digits),
            otp_cards::period.eq(card.period),
            otp_cards::aidant_id.eq(&card.aidant_id),
            otp_cards::validated_at.eq(card.validated_at),
            otp_cards::failures.eq(0),
            otp_cards::created_at.eq(card.created_at),
        ))
        .execute(conn)?;
    Ok(card)
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpRefusal {
    /// The code matches no step in the drift window.
    WrongCode,
    /// The code was already used (or an older one than the last accepted).
    Replayed,
    /// Too many failures: the card is locked until then.
    Locked(DateTime<Utc>),
}

/// The code a card shows at `step`.
pub(crate) fn code_at_step(seed: &[u8], step: i64, period: u64, digits: u32) -> String {
    let time = u64::try_from(step).unwrap_or(0).saturating_mul(period);
    totp_lite::totp_custom::<totp_lite::Sha1>(period, digits, seed, time)
}

/// The code a standard card (6 digits, 30 s) with this seed shows at `now`: for the demo
/// card's helper and for tests that play the card.
pub fn card_code_at(seed: &[u8], now: DateTime<Utc>) -> String {
    code_at_step(seed, step_at(now, TOTP_PERIOD), TOTP_PERIOD, TOTP_DIGITS)
}

/// The step a card is on at `now`.
pub(crate) fn step_at(now: DateTime<Utc>, period: u64) -> i64 {
    now.timestamp().div_euclid(period.max(1) as i64)
}

/// Checks a code typed for a card at `now`. A matching code is accepted once: the step it
/// belongs to is recorded by a conditional update, so of two concurrent submissions of the
/// same code (on any number of server instances) exactly one succeeds. Failures are counted
/// and lock the card for `lock_for` after `max_failures`.
pub fn verify_code(
    conn: &mut DbConnection,
    cipher: &SeedCipher,
    card: &OtpCard,
    code: &str,
    now: DateTime<Utc>,
    max_failures: i32,
    lock_for: Duration,
) -> Result<Result<i64, OtpRefusal>, AuthError> {
    if let Some(until) = card.locked_until.map(store::from_db) {
        if until > now {
            return Ok(Err(OtpRefusal::Locked(until)));
        }
    }
    let seed = cipher.open(&card.seed_encrypted)?;
    let period = u64::try_from(card.period).unwrap_or(TOTP_PERIOD);
    let digits = u32::try_from(card.digits).unwrap_or(TOTP_DIGITS);
    let typed = code.trim().as_bytes();
    let current = step_at(now, period);
    let mut matched: Option<i64> = None;
    for step in (current - DRIFT_STEPS)..=(current + DRIFT_STEPS) {
        let expected = code_at_step(&seed, step, period, digits);
        let equal: bool = expected.as_bytes().ct_eq(typed).into();
        if equal && matched.is_none() {
            matched = Some(step);
        }
    }
    let Some(step) = matched else {
        let failures = card.failures.saturating_add(1);
        let locked_until = (failures >= max_failures).then(|| to_db(now + lock_for));
        diesel::update(otp_cards::table.find(&card.id))
            .set((
                otp_cards::failures.eq(otp_cards::failures + 1),
                otp_cards::locked_until.eq(locked_until),
            ))
            .execute(conn)?;
        return Ok(Err(match locked_until {
            Some(until) => OtpRefusal::Locked(store::from_db(until)),
            None => OtpRefusal::WrongCode,
        }));
    };
    let claimed = diesel::update(
        otp_cards::table.find(&card.id).filter(
            otp_cards::last_used_step
                .is_null()
                .or(otp_cards::last_used_step.lt(step)),
        ),
    )
    .set((
        otp_cards::last_used_step.eq(step),
        otp_cards::failures.eq(0),
        otp_cards::locked_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    if claimed == 1 {
        Ok(Ok(step))
    } else {
        Ok(Err(OtpRefusal::Replayed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows, truncated to 6 digits (the RFC lists 8).
    #[test]
    fn rfc6238_vectors() {
        let seed = b"12345678901234567890";
        let vectors: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected8) in vectors {
            let step = time.div_euclid(30);
            assert_eq!(code_at_step(seed, step, 30, 8), expected8, "t={time}");
            assert_eq!(code_at_step(seed, step, 30, 6), &expected8[2..], "t={time}");
        }
    }

    #[test]
    fn steps_follow_the_clock() {
        let at = |s| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
        assert_eq!(step_at(at(59), 30), 1);
        assert_eq!(step_at(at(60), 30), 2);
    }
}
