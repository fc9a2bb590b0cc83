//! OTP cards and the verification of their codes.

use crate::{AuthError, SeedCipher};
use chrono::Duration;
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::otp_cards;
use store::{AidantId, CardId, PooledDb, StaffId, Timestamp, WriteTx};
use subtle::ConstantTimeEq;

/// Digits of a code.
pub const TOTP_DIGITS: u32 = 6;
/// Seconds per step.
pub const TOTP_PERIOD: u64 = 30;
/// Steps tolerated on either side of the current one.
const DRIFT_STEPS: i64 = 1;

store::text_enum! {
    /// Physical card or TOTP application (stored as its name).
    pub enum CardKind(AuthError, AuthError::CardKind) {
        /// A physical card with a printed serial number.
        Physical = "physical",
        /// A "carte numérique": a TOTP application.
        Digital = "digital",
    }
}

/// A stored OTP card (its seed stays sealed).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = otp_cards)]
pub struct OtpCard {
    /// Id.
    pub id: CardId,
    /// Serial number (printed on a physical card).
    pub serial: String,
    /// Sealed seed.
    pub seed_encrypted: String,
    /// Kind.
    pub kind: CardKind,
    /// Digits per code.
    pub digits: i32,
    /// Seconds per step.
    pub period: i32,
    /// The aidant holding it.
    pub aidant_id: Option<AidantId>,
    /// When a référent validated it with a code.
    pub validated_at: Option<Timestamp>,
    /// The last step whose code was accepted.
    pub last_used_step: Option<i64>,
    /// Failed codes in a row.
    pub failures: i32,
    /// Locked until then after too many failures.
    pub locked_until: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// When the last wrong code was typed.
    pub last_failure_at: Option<Timestamp>,
    /// Why the card is out of service (lost, broken…), if it is.
    pub disabled_reason: Option<String>,
    /// How many times wrong codes from unrecognised browsers locked it since they were last
    /// forgotten (each lock lasts twice the one before).
    pub locks: i32,
    /// Wrong codes from unrecognised browsers its holder has not been told about yet.
    pub unseen_failures: i32,
    /// Locks they caused that its holder has not been told about yet.
    pub unseen_locks: i32,
    /// The member of the national team holding it (then no aidant does).
    pub staff_id: Option<StaffId>,
}

impl OtpCard {
    /// Whether it is a physical card.
    pub fn is_physical(&self) -> bool {
        self.kind == CardKind::Physical
    }

    /// Where the card stands at `now`.
    pub fn state(&self, now: Timestamp) -> CardState {
        if self.disabled_reason.is_some() {
            CardState::OutOfService
        } else if self.locked_until.is_some_and(|u| u > now) {
            CardState::Locked
        } else if self.aidant_id.is_none() && self.staff_id.is_none() {
            CardState::Free
        } else if self.validated_at.is_none() {
            CardState::AwaitingValidation
        } else {
            CardState::Active
        }
    }
}

/// Where a card stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    /// In stock: associated with nobody.
    Free,
    /// Associated with an aidant, waiting for a référent to validate it with a code.
    AwaitingValidation,
    /// Validated: its holder signs in with it.
    Active,
    /// Too many wrong codes from unrecognised browsers: refuses their codes for a while (its
    /// holder still signs in from a recognised browser).
    Locked,
    /// Lost, broken, faulty or withdrawn: refuses every code.
    OutOfService,
}

impl CardState {
    /// The state as shown to a référent.
    pub fn label(self) -> &'static str {
        match self {
            CardState::Free => "non associée",
            CardState::AwaitingValidation => "à valider",
            CardState::Active => "active",
            CardState::Locked => "bloquée sur les postes non reconnus",
            CardState::OutOfService => "hors service",
        }
    }
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
    pub aidant_id: Option<&'a AidantId>,
    /// Whether it is already validated (e.g. imported and checked by the national team).
    pub validated: bool,
}

/// Registers a card, sealing its seed.
pub fn create_card(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    new: NewCard<'_>,
) -> Result<OtpCard, AuthError> {
    insert_card(tx, rng, cipher, now, new, None)
}

/// Registers a card held by `new.aidant_id` or by the national team's member `staff_id`.
pub(crate) fn insert_card(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    new: NewCard<'_>,
    staff_id: Option<&StaffId>,
) -> Result<OtpCard, AuthError> {
    let id = CardId::generate(rng)?;
    let card = OtpCard {
        seed_encrypted: cipher.seal_hex(rng, &id, new.seed_hex)?,
        id,
        serial: new.serial.trim().to_uppercase(),
        kind: new.kind,
        digits: TOTP_DIGITS as i32,
        period: TOTP_PERIOD as i32,
        aidant_id: new.aidant_id.cloned(),
        validated_at: new.validated.then_some(now),
        last_used_step: None,
        failures: 0,
        locked_until: None,
        created_at: now,
        last_failure_at: None,
        disabled_reason: None,
        locks: 0,
        unseen_failures: 0,
        unseen_locks: 0,
        staff_id: staff_id.cloned(),
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
            otp_cards::staff_id.eq(&card.staff_id),
            otp_cards::validated_at.eq(card.validated_at),
            otp_cards::failures.eq(0),
            otp_cards::created_at.eq(card.created_at),
        ))
        .execute(tx.conn())?;
    Ok(card)
}

/// Seals again, bound to their card, the seeds stored before seeds were bound to their card
/// (a storage format change, run at start-up; nothing else changes); returns how many.
pub fn bind_legacy_seeds(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
) -> Result<usize, AuthError> {
    store::write_transaction(conn, |tx| {
        let legacy: Vec<(CardId, String)> = otp_cards::table
            .filter(otp_cards::seed_encrypted.not_like("v2.%"))
            .select((otp_cards::id, otp_cards::seed_encrypted))
            .load(tx.conn())?;
        for (id, sealed) in &legacy {
            if let Some(bound) = cipher.rebind(rng, id, sealed)? {
                diesel::update(otp_cards::table.find(id))
                    .set(otp_cards::seed_encrypted.eq(bound))
                    .execute(tx.conn())?;
            }
        }
        Ok(legacy.len())
    })
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpRefusal {
    /// The code matches no step in the drift window.
    WrongCode,
    /// The code was already used (or an older one than the last accepted).
    Replayed,
    /// A wrong code was typed a moment ago: no code is checked before then.
    TooSoon(Timestamp),
    /// Too many failures: the card is locked until then; `now_locked` when this very
    /// attempt locked it.
    Locked {
        /// End of the lock.
        until: Timestamp,
        /// Whether this attempt locked the card.
        now_locked: bool,
    },
    /// The card is out of service (lost, broken, withdrawn).
    OutOfService,
}

/// How failed attempts are slowed down then locked out, for a card, a recognised browser or a
/// source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures in a row that lock.
    pub max_failures: i32,
    /// How long the first lock lasts; each further lock lasts twice the one before…
    pub lock_for: Duration,
    /// …up to this.
    pub max_lock: Duration,
    /// Failures are forgotten this long after the last one.
    pub forget_after: Duration,
    /// Wait after the first failure; it doubles with each further failure.
    pub first_delay: Duration,
    /// The longest wait between two attempts before the lock.
    pub max_delay: Duration,
}

impl Backoff {
    /// How long to wait after `failures` failures in a row before the next attempt.
    pub fn delay_after(&self, failures: i32) -> Duration {
        if failures <= 0 {
            return Duration::zero();
        }
        let doublings = u32::try_from(failures - 1).unwrap_or(0).min(20);
        let delay = self.first_delay * 2i32.saturating_pow(doublings);
        delay.min(self.max_delay)
    }

    /// How long the lock number `locks` (the first is 1) lasts: it doubles each time, up to
    /// the longest lock.
    pub fn lock_length(&self, locks: i32) -> Duration {
        let doublings = u32::try_from(locks - 1).unwrap_or(0).min(30);
        let length = self.lock_for * 2i32.saturating_pow(doublings);
        length.clamp(self.lock_for, self.max_lock.max(self.lock_for))
    }

    /// Whether failures whose last one happened at `last` are forgotten at `now`.
    pub fn forgotten(&self, last: Option<Timestamp>, now: Timestamp) -> bool {
        last.is_none_or(|l| l + self.forget_after <= now)
    }

    /// The end of the wait imposed at `now` by `failures` failures whose last was at `last`,
    /// if it has not passed.
    pub fn wait_until(
        &self,
        failures: i32,
        last: Option<Timestamp>,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let last = last?;
        if self.forgotten(Some(last), now) {
            return None;
        }
        let until = last + self.delay_after(failures);
        (until > now).then_some(until)
    }
}

/// Why a card refuses, at `now`, to check codes typed from a browser it does not recognise,
/// if it does: out of service, locked, or a wait after a wrong code.
pub(crate) fn untrusted_gate(
    card: &OtpCard,
    now: Timestamp,
    backoff: &Backoff,
) -> Option<OtpRefusal> {
    if card.disabled_reason.is_some() {
        return Some(OtpRefusal::OutOfService);
    }
    if let Some(until) = card.locked_until.filter(|u| *u > now) {
        return Some(OtpRefusal::Locked {
            until,
            now_locked: false,
        });
    }
    let last_failure = card.last_failure_at;
    backoff
        .wait_until(card.failures, last_failure, now)
        .map(OtpRefusal::TooSoon)
}

/// The step whose code `code` is, within one step of drift, if any (compared in constant time;
/// nothing is written).
pub(crate) fn matching_step(
    cipher: &SeedCipher,
    card: &OtpCard,
    code: &str,
    now: Timestamp,
) -> Result<Option<i64>, AuthError> {
    let seed = cipher.open(&card.id, &card.seed_encrypted)?;
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
    Ok(matched)
}

/// Records that the code of `step` was used, by a conditional update: of two concurrent
/// submissions of the same code (on any number of server instances) exactly one claims it.
/// Returns whether this one did.
pub(crate) fn claim_step(
    tx: &mut WriteTx<'_>,
    card: &OtpCard,
    step: i64,
) -> Result<bool, AuthError> {
    let claimed = diesel::update(
        otp_cards::table.find(&card.id).filter(
            otp_cards::last_used_step
                .is_null()
                .or(otp_cards::last_used_step.lt(step)),
        ),
    )
    .set(otp_cards::last_used_step.eq(step))
    .execute(tx.conn())?;
    Ok(claimed == 1)
}

/// Checks a code typed for a card at `now` from a browser the card does not recognise. A
/// matching code is accepted once (see [`claim_step`]). An out-of-service or locked card
/// refuses every code; after a wrong code the next one is not even checked before a delay
/// that doubles with each failure; `backoff.max_failures` wrong codes lock the card, for
/// longer each time, until failures are forgotten (`backoff.forget_after` after the last).
/// An accepted code does not forget earlier failures: whoever guesses codes gets no new
/// attempts when the holder signs in.
pub fn verify_code(
    tx: &mut WriteTx<'_>,
    cipher: &SeedCipher,
    card: &OtpCard,
    code: &str,
    now: Timestamp,
    backoff: &Backoff,
) -> Result<Result<i64, OtpRefusal>, AuthError> {
    if let Some(refusal) = untrusted_gate(card, now, backoff) {
        return Ok(Err(refusal));
    }
    let Some(step) = matching_step(cipher, card, code, now)? else {
        return Ok(Err(record_failure(tx, card, now, backoff)?));
    };
    if claim_step(tx, card, step)? {
        Ok(Ok(step))
    } else {
        Ok(Err(OtpRefusal::Replayed))
    }
}

/// Counts a wrong code from an unrecognised browser on a card (atomically: concurrent
/// failures all count), and locks it when the count reaches the limit: the first lock for
/// `lock_for`, each further one twice as long, up to `max_lock`.
pub(crate) fn record_failure(
    tx: &mut WriteTx<'_>,
    card: &OtpCard,
    now: Timestamp,
    backoff: &Backoff,
) -> Result<OtpRefusal, AuthError> {
    let forget = backoff.forgotten(card.last_failure_at, now);
    let target = otp_cards::table.find(&card.id);
    if forget {
        diesel::update(target)
            .set((
                otp_cards::failures.eq(1),
                otp_cards::locks.eq(0),
                otp_cards::last_failure_at.eq(now),
                otp_cards::unseen_failures.eq(otp_cards::unseen_failures + 1),
            ))
            .execute(tx.conn())?;
    } else {
        diesel::update(target)
            .set((
                otp_cards::failures.eq(otp_cards::failures + 1),
                otp_cards::last_failure_at.eq(now),
                otp_cards::unseen_failures.eq(otp_cards::unseen_failures + 1),
            ))
            .execute(tx.conn())?;
    }
    let (failures, locks): (i32, i32) = target
        .select((otp_cards::failures, otp_cards::locks))
        .first(tx.conn())?;
    if failures < backoff.max_failures {
        return Ok(OtpRefusal::WrongCode);
    }
    let locks = locks + 1;
    let until = now + backoff.lock_length(locks);
    diesel::update(target)
        .set((
            otp_cards::locked_until.eq(until),
            otp_cards::locks.eq(locks),
            otp_cards::unseen_locks.eq(otp_cards::unseen_locks + 1),
        ))
        .execute(tx.conn())?;
    Ok(OtpRefusal::Locked {
        until,
        now_locked: true,
    })
}

/// Forgets the wrong codes from unrecognised browsers and lifts the lock they caused (a
/// référent vouches for the card, and has talked with its holder).
pub(crate) fn forget_failures(tx: &mut WriteTx<'_>, card_id: &CardId) -> Result<(), AuthError> {
    diesel::update(otp_cards::table.find(card_id))
        .set((
            otp_cards::failures.eq(0),
            otp_cards::locks.eq(0),
            otp_cards::locked_until.eq(None::<Timestamp>),
            otp_cards::last_failure_at.eq(None::<Timestamp>),
            otp_cards::unseen_failures.eq(0),
            otp_cards::unseen_locks.eq(0),
        ))
        .execute(tx.conn())?;
    Ok(())
}

/// The code a card shows at `step`.
pub(crate) fn code_at_step(seed: &[u8], step: i64, period: u64, digits: u32) -> String {
    let time = u64::try_from(step).unwrap_or(0).saturating_mul(period);
    totp_lite::totp_custom::<totp_lite::Sha1>(period, digits, seed, time)
}

/// The code a standard card (6 digits, 30 s) with this seed shows at `now`: for the demo
/// card's helper and for tests that play the card.
pub fn card_code_at(seed: &[u8], now: Timestamp) -> String {
    code_at_step(seed, step_at(now, TOTP_PERIOD), TOTP_PERIOD, TOTP_DIGITS)
}

/// The step a card is on at `now`.
pub(crate) fn step_at(now: Timestamp, period: u64) -> i64 {
    now.timestamp().div_euclid(period.max(1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn a_code_is_accepted_once_then_refused_as_replayed() {
        use chrono::TimeZone;
        use ring::rand::SystemRandom;
        let db = store::Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let cipher = SeedCipher::new(&[7u8; 32]).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap();
        let seed = "3132333435363738393031323334353637383930";
        let card = store::write_transaction(&mut conn, |tx| {
            create_card(
                tx,
                &SystemRandom::new(),
                &cipher,
                now.into(),
                NewCard {
                    serial: "GADT0000900",
                    seed_hex: seed,
                    kind: CardKind::Physical,
                    aidant_id: None,
                    validated: true,
                },
            )
        })
        .unwrap();
        let code = card_code_at(&hex::decode(seed).unwrap(), now.into());
        let backoff = crate::SessionPolicy::default().card;
        let mut check = |at| {
            store::write_transaction(&mut conn, |tx| {
                verify_code(tx, &cipher, &card, &code, at, &backoff)
            })
            .unwrap()
        };
        assert!(check(now.into()).is_ok());
        // The card as first read: the database refuses the step already used.
        let card_now = now + chrono::Duration::seconds(1);
        assert_eq!(check(card_now.into()), Err(OtpRefusal::Replayed));
    }

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
    fn the_delay_doubles_up_to_its_ceiling_and_failures_are_forgotten() {
        let backoff = Backoff {
            max_failures: 5,
            lock_for: Duration::minutes(15),
            max_lock: Duration::minutes(15),
            forget_after: Duration::minutes(15),
            first_delay: Duration::seconds(1),
            max_delay: Duration::seconds(10),
        };
        let delays: Vec<i64> = (0..7)
            .map(|n| backoff.delay_after(n).num_seconds())
            .collect();
        assert_eq!(delays, [0, 1, 2, 4, 8, 10, 10]);
        let at = |s| Timestamp::from_timestamp(s).unwrap();
        assert_eq!(backoff.wait_until(3, Some(at(100)), at(102)), Some(at(104)));
        assert_eq!(backoff.wait_until(3, Some(at(100)), at(104)), None);
        assert!(!backoff.forgotten(Some(at(100)), at(100 + 899)));
        assert!(backoff.forgotten(Some(at(100)), at(100 + 900)));
        assert_eq!(backoff.wait_until(3, Some(at(100)), at(100 + 900)), None);
    }

    #[test]
    fn each_lock_lasts_twice_the_one_before_up_to_the_longest() {
        let backoff = Backoff {
            max_failures: 5,
            lock_for: Duration::minutes(15),
            max_lock: Duration::days(7),
            forget_after: Duration::days(30),
            first_delay: Duration::seconds(1),
            max_delay: Duration::seconds(30),
        };
        let minutes: Vec<i64> = (1..=12)
            .map(|n| backoff.lock_length(n).num_minutes())
            .collect();
        assert_eq!(
            minutes,
            [15, 30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 10080, 10080]
        );
        assert_eq!(backoff.lock_length(1000), Duration::days(7));
    }

    #[test]
    fn steps_follow_the_clock() {
        let at = |s| Timestamp::from_timestamp(s).unwrap();
        assert_eq!(step_at(at(59), 30), 1);
        assert_eq!(step_at(at(60), 30), 2);
    }
}
