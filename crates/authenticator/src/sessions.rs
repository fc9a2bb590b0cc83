//! Aidant sessions, sign-in with e-mail + OTP code, the activity check, and the
//! [`VerifiedAidant`] proof.
//!
//! Every failed sign-in gets the same answer, [`LoginRefusal::BadCredentials`], whether the
//! e-mail is unknown, the code wrong or used, or a wait or a lock is not over: nothing tells
//! an anonymous sender which e-mails are aidants' or which cards are locked. Its holder learns
//! what happened to their card at their next successful sign-in ([`CardAlert`]).

use crate::cards::{
    claim_step, matching_step, record_failure, untrusted_gate, Backoff, OtpCard, OtpRefusal,
};
use crate::devices::{self, DeviceToken};
use crate::throttle::{self, SourceWait};
use crate::{AuthError, SeedCipher};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::schema::{aidant_sessions, otp_cards};
use store::{
    hash_secret, new_id, write_transaction, AidantId, DbConnection, OrganisationId, PooledDb,
    StoreError, Timestamp, WriteTx,
};

/// Lifetimes and limits of sessions and codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
    /// A sensitive action needs an OTP code typed less than this long ago.
    pub activity_window: Duration,
    /// Wrong codes on one card from unrecognised browsers: delay, then locks that double;
    /// from one recognised browser: delay, then it is no longer recognised.
    pub card: Backoff,
    /// Failed sign-ins from one source address: delay, then lock.
    pub source: Backoff,
    /// A browser not used to sign in for this long is no longer recognised.
    pub device_lifetime: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::minutes(60),
            absolute: Duration::hours(12),
            activity_window: Duration::minutes(20),
            card: Backoff {
                max_failures: 5,
                lock_for: Duration::minutes(15),
                max_lock: Duration::days(7),
                forget_after: Duration::days(30),
                first_delay: Duration::seconds(1),
                max_delay: Duration::seconds(30),
            },
            source: Backoff {
                max_failures: 20,
                lock_for: Duration::minutes(15),
                max_lock: Duration::minutes(15),
                forget_after: Duration::minutes(15),
                first_delay: Duration::seconds(1),
                max_delay: Duration::seconds(30),
            },
            device_lifetime: Duration::days(90),
        }
    }
}

/// The secret a browser holds for its session. Only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// The token, to put in a cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// A live aidant session, as loaded from the database (never built by hand outside this crate).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = aidant_sessions)]
pub struct AidantSession {
    id: String,
    token_hash: String,
    aidant_id: AidantId,
    organisation_id: OrganisationId,
    created_at: Timestamp,
    last_seen_at: Timestamp,
    last_otp_at: Timestamp,
    expires_at: Timestamp,
    ended_at: Option<Timestamp>,
    #[diesel(select_expression = store::schema::aidants::acts_for_usagers)]
    acts_for_usagers: bool,
    #[diesel(select_expression = store::schema::aidants::cgu_version)]
    cgu_version: Option<i32>,
}

impl AidantSession {
    /// Whether the aidant may act for usagers (make mandates, use them): not a référent who
    /// is no aidant or not trained yet.
    pub fn acts_for_usagers(&self) -> bool {
        self.acts_for_usagers
    }
    /// Whether the aidant accepted the version of the CGU in force at `now`.
    pub fn accepted_cgu(&self, now: Timestamp) -> bool {
        let required = crate::cgu::in_force(now);
        self.cgu_version.is_some_and(|v| v >= required)
    }
    /// Whether the last code typed is within the activity window at `now`.
    pub fn code_is_fresh(&self, policy: &SessionPolicy, now: Timestamp) -> bool {
        self.last_otp_at <= now && self.last_otp_at + policy.activity_window > now
    }
    /// Session id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The aidant.
    pub fn aidant_id(&self) -> &AidantId {
        &self.aidant_id
    }
    /// The organisation the aidant works for in this session.
    pub fn organisation_id(&self) -> &OrganisationId {
        &self.organisation_id
    }
    /// When the aidant last typed an OTP code.
    pub fn last_otp_at(&self) -> Timestamp {
        self.last_otp_at
    }
}

/// Proof that an aidant who may act for usagers typed a valid OTP code within the activity
/// window, in a live session, for an organisation they may work for. Only [`verify_activity`]
/// builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAidant {
    aidant_id: AidantId,
    organisation_id: OrganisationId,
    session_id: String,
    otp_at: Timestamp,
}

impl VerifiedAidant {
    /// The aidant.
    pub fn aidant_id(&self) -> &AidantId {
        &self.aidant_id
    }
    /// The organisation.
    pub fn organisation_id(&self) -> &OrganisationId {
        &self.organisation_id
    }
    /// The session.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }
    /// When the OTP code was last typed: the `auth_time` of tokens.
    pub fn otp_at(&self) -> Timestamp {
        self.otp_at
    }
}

/// Why a sign-in or a fresh code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown or inactive e-mail, no usable card, a wrong or used code, a wait or a lock not
    /// over: one answer for all. What it was is for metrics and for the aidant already
    /// signed in (the activity check), never for an anonymous sender.
    BadCredentials(Failure),
    /// Too many failed sign-ins from this address (whatever the e-mails): suspended until
    /// then.
    SourceLocked(Timestamp),
    /// The right code, but the aidant belongs to no habilitated organisation.
    NoOrganisation,
}

/// What lies behind [`LoginRefusal::BadCredentials`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No active aidant has this e-mail, or they have no usable card.
    UnknownAccount,
    /// The code matches none of the aidant's cards.
    WrongCode,
    /// The code was already used.
    Replayed,
    /// A wrong code was typed a moment ago (from this browser, this address or an
    /// unrecognised browser): no code is checked before then.
    TooSoon(Timestamp),
    /// The card is locked for unrecognised browsers until then.
    Locked(Timestamp),
}

impl LoginRefusal {
    /// Whether this refusal counts as a failed attempt from its source address (everything
    /// but the address's own wait).
    fn counts_for_source(self) -> bool {
        !matches!(self, LoginRefusal::SourceLocked(_))
    }
}

/// What the holder of a card is told at their next successful sign-in after wrong codes from
/// unrecognised browsers locked it: how many were typed since they were last told, and until
/// when the lock lasts. (A few wrong codes that locked nothing, their own typos most often,
/// are not worth an alert.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardAlert {
    /// Wrong codes from unrecognised browsers since the holder was last told.
    pub failures: i32,
    /// Until when the card refuses unrecognised browsers, if it does.
    pub locked_until: Option<Timestamp>,
}

pub(crate) fn new_token(rng: &dyn SecureRandom) -> Result<SessionToken, AuthError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).map_err(|_| StoreError::Random)?;
    Ok(SessionToken(URL_SAFE_NO_PAD.encode(bytes)))
}

fn validated_cards(
    conn: &mut DbConnection,
    aidant_id: &AidantId,
) -> Result<Vec<OtpCard>, AuthError> {
    Ok(otp_cards::table
        .filter(otp_cards::aidant_id.eq(aidant_id))
        .filter(otp_cards::validated_at.is_not_null())
        .filter(otp_cards::disabled_reason.is_null())
        .order(otp_cards::created_at.asc())
        .select(OtpCard::as_select())
        .load(conn)?)
}

/// The code was accepted.
struct Accepted {
    /// Whether it was typed from a browser recognised for this aidant.
    recognised: bool,
}

/// Checks `code` against the aidant's validated cards, typed from a browser showing
/// `device_tokens`. From a browser recognised for this aidant, failures count against that
/// browser; from any other, against the cards (a lock this attempt causes is journaled,
/// `lock_otp_card`).
#[allow(clippy::too_many_arguments)]
fn check_code(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    aidant_id: &AidantId,
    code: &str,
    device_tokens: &[String],
    now: Timestamp,
) -> Result<Result<Accepted, Failure>, AuthError> {
    let cards = validated_cards(tx.conn(), aidant_id)?;
    if cards.is_empty() {
        return Ok(Err(Failure::UnknownAccount));
    }
    let device = devices::recognised(
        tx.conn(),
        aidant_id,
        device_tokens,
        policy.device_lifetime,
        now,
    )?;
    let usable: Vec<&OtpCard> = match &device {
        Some(device) => {
            if let Some(until) = devices::wait_until(device, &policy.card, now) {
                return Ok(Err(Failure::TooSoon(until)));
            }
            cards.iter().collect()
        }
        None => {
            let mut usable = Vec::new();
            let mut refusal = Failure::WrongCode;
            for card in &cards {
                match untrusted_gate(card, now, &policy.card) {
                    None => usable.push(card),
                    Some(OtpRefusal::Locked { until, .. }) => refusal = Failure::Locked(until),
                    Some(OtpRefusal::TooSoon(until)) => {
                        if !matches!(refusal, Failure::Locked(_)) {
                            refusal = Failure::TooSoon(until);
                        }
                    }
                    Some(_) => {}
                }
            }
            if usable.is_empty() {
                return Ok(Err(refusal));
            }
            usable
        }
    };
    for card in &usable {
        let Some(step) = matching_step(cipher, card, code, now)? else {
            continue;
        };
        if !claim_step(tx, card, step)? {
            return Ok(Err(Failure::Replayed));
        }
        if let Some(known) = &device {
            devices::used(tx, known, now)?;
        }
        return Ok(Ok(Accepted {
            recognised: device.is_some(),
        }));
    }
    if let Some(device) = &device {
        devices::failed(tx, device, &policy.card, now)?;
        return Ok(Err(Failure::WrongCode));
    }
    let mut failure = Failure::WrongCode;
    for card in usable {
        if let OtpRefusal::Locked { until, now_locked } =
            record_failure(tx, card, now, &policy.card)?
        {
            if now_locked {
                journal_card_lock(tx, rng, now, aidant_id, &card.serial, until)?;
            }
            failure = Failure::Locked(until);
        }
    }
    Ok(Err(failure))
}

/// What the holder of the aidant's cards has not been told yet, cleared once taken.
fn take_alert(
    tx: &mut WriteTx<'_>,
    aidant_id: &AidantId,
    now: Timestamp,
) -> Result<Option<CardAlert>, AuthError> {
    let cards = validated_cards(tx.conn(), aidant_id)?;
    if cards.iter().all(|c| c.unseen_locks == 0) {
        return Ok(None);
    }
    let failures = cards.iter().map(|c| c.unseen_failures).max().unwrap_or(0);
    let locked_until = cards
        .iter()
        .filter_map(|c| c.locked_until)
        .filter(|u| *u > now)
        .max();
    let ids: Vec<&str> = cards.iter().map(|c| c.id.as_str()).collect();
    diesel::update(otp_cards::table.filter(otp_cards::id.eq_any(ids)))
        .set((
            otp_cards::unseen_failures.eq(0),
            otp_cards::unseen_locks.eq(0),
        ))
        .execute(tx.conn())?;
    Ok(Some(CardAlert {
        failures,
        locked_until,
    }))
}

/// Journals that a card locked itself (`lock_otp_card`, national chain).
pub(crate) fn journal_card_lock(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    aidant_id: &AidantId,
    serial: &str,
    until: Timestamp,
) -> Result<(), AuthError> {
    journal::append(
        tx,
        rng,
        now,
        NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action: Action::LockOtpCard,
            aidant_id: Some(aidant_id),
            usager_id: None,
            organisation_id: None,
            subject: serial,
            details: serde_json::json!({ "until": until.to_rfc3339() }),
        },
    )?;
    tell_card_lock(tx, rng, now, aidant_id, serial, until)
}

/// E-mails the card's holder, and the référents of every structure they work for, that wrong
/// codes from unrecognised browsers locked the card until `until`.
fn tell_card_lock(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    aidant_id: &AidantId,
    serial: &str,
    until: Timestamp,
) -> Result<(), AuthError> {
    let Some(aidant) = accounts::aidant(tx.conn(), aidant_id)? else {
        return Ok(());
    };
    let told = |to_referent| mail::Email::CardLocked {
        aidant: aidant.full_name(),
        serial: serial.to_owned(),
        until: paris::local(until).format("%d/%m/%Y à %H:%M").to_string(),
        to_referent,
    };
    mail::enqueue(tx, rng, now, &aidant.email, &told(false))?;
    let mut referents = std::collections::BTreeSet::new();
    for (organisation, _) in accounts::working_organisations(tx.conn(), aidant_id)? {
        referents.extend(accounts::referent_emails(
            tx.conn(),
            &organisation.id,
            &[aidant_id],
        )?);
    }
    for referent in referents {
        mail::enqueue(tx, rng, now, &referent, &told(true))?;
    }
    Ok(())
}

/// Runs a code check for a sign-in or an activity check from `source`: refused without
/// looking at the code while the address must wait, counted against the address when it
/// fails, clearing the address's count when it succeeds.
pub(crate) fn throttled<T>(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: Timestamp,
    source: &str,
    attempt: impl FnOnce(&mut WriteTx<'_>) -> Result<Result<T, LoginRefusal>, AuthError>,
) -> Result<Result<T, LoginRefusal>, AuthError> {
    let tag = cipher.address_tag(source);
    match throttle::wait(tx.conn(), &policy.source, now, &tag)? {
        Some(SourceWait::Locked(until)) => return Ok(Err(LoginRefusal::SourceLocked(until))),
        Some(SourceWait::TooSoon(until)) => {
            return Ok(Err(LoginRefusal::BadCredentials(Failure::TooSoon(until))))
        }
        None => {}
    }
    match attempt(tx)? {
        Ok(value) => {
            throttle::succeeded(tx, &tag)?;
            Ok(Ok(value))
        }
        Err(refusal) if refusal.counts_for_source() => {
            match throttle::failed(tx, rng, &policy.source, now, &tag)? {
                Some(until) => Ok(Err(LoginRefusal::SourceLocked(until))),
                None => Ok(Err(refusal)),
            }
        }
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// Journals an aidant's own authentication (`connect_aidant`, `activity_check_aidant`).
fn journal_aidant_action(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    action: Action,
    aidant_id: &AidantId,
    organisation_id: &OrganisationId,
) -> Result<(), AuthError> {
    journal::append(
        tx,
        rng,
        now,
        NewEntry {
            chain: organisation_id.as_str(),
            action,
            aidant_id: Some(aidant_id),
            usager_id: None,
            organisation_id: Some(organisation_id),
            subject: "",
            details: serde_json::Value::Null,
        },
    )?;
    Ok(())
}

/// What a sign-in attempt presents.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// E-mail address.
    pub email: &'a str,
    /// The code the card shows.
    pub code: &'a str,
    /// The address the attempt comes from (failures are counted per address).
    pub source: &'a str,
    /// The tokens the browser keeps of the aidants who signed in from it.
    pub devices: &'a [String],
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    /// The new session's token, for the browser.
    pub token: SessionToken,
    /// The session.
    pub session: AidantSession,
    /// A token the browser keeps from now on when it was not recognised.
    pub device: Option<DeviceToken>,
    /// What happened to the card since its holder was last told.
    pub alert: Option<CardAlert>,
}

/// Signs an aidant in with e-mail and OTP code: opens a session in their first habilitated
/// organisation and journals `connect_aidant`. Refusals are committed too (failure counts).
pub fn login(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: Timestamp,
    credentials: Credentials<'_>,
) -> Result<Result<SignedIn, LoginRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        throttled(tx, rng, cipher, policy, now, credentials.source, |tx| {
            open_session(tx, rng, cipher, policy, now, credentials)
        })
    })
}

fn open_session(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: Timestamp,
    credentials: Credentials<'_>,
) -> Result<Result<SignedIn, LoginRefusal>, AuthError> {
    let Some(aidant) =
        accounts::find_aidant_by_email(tx.conn(), credentials.email)?.filter(|a| a.active)
    else {
        return Ok(Err(LoginRefusal::BadCredentials(Failure::UnknownAccount)));
    };
    let accepted = match check_code(
        tx,
        rng,
        cipher,
        policy,
        &aidant.id,
        credentials.code,
        credentials.devices,
        now,
    )? {
        Ok(accepted) => accepted,
        Err(failure) => return Ok(Err(LoginRefusal::BadCredentials(failure))),
    };
    let Some((organisation, _role)) = accounts::working_organisations(tx.conn(), &aidant.id)?
        .into_iter()
        .next()
    else {
        return Ok(Err(LoginRefusal::NoOrganisation));
    };
    let token = new_token(rng)?;
    let session = AidantSession {
        id: new_id(rng)?,
        token_hash: hash_secret(token.expose()),
        aidant_id: aidant.id.clone(),
        organisation_id: organisation.id.clone(),
        created_at: now,
        last_seen_at: now,
        last_otp_at: now,
        expires_at: now + policy.absolute,
        ended_at: None,
        acts_for_usagers: aidant.acts_for_usagers,
        cgu_version: aidant.cgu_version,
    };
    diesel::insert_into(aidant_sessions::table)
        .values((
            aidant_sessions::id.eq(&session.id),
            aidant_sessions::token_hash.eq(&session.token_hash),
            aidant_sessions::aidant_id.eq(&session.aidant_id),
            aidant_sessions::organisation_id.eq(&session.organisation_id),
            aidant_sessions::created_at.eq(session.created_at),
            aidant_sessions::last_seen_at.eq(session.last_seen_at),
            aidant_sessions::last_otp_at.eq(session.last_otp_at),
            aidant_sessions::expires_at.eq(session.expires_at),
        ))
        .execute(tx.conn())?;
    journal_aidant_action(
        tx,
        rng,
        now,
        Action::ConnectAidant,
        &aidant.id,
        &organisation.id,
    )?;
    accounts::restart_idle(tx, &aidant.id, now)?;
    let device = if accepted.recognised {
        None
    } else {
        Some(devices::remember(tx, rng, &aidant.id, now)?)
    };
    Ok(Ok(SignedIn {
        token,
        session,
        device,
        alert: take_alert(tx, &aidant.id, now)?,
    }))
}

/// How stale `last_seen_at` may get before a request writes it again: a session in use is
/// written at most once a minute instead of at every request, so it may end up to this much
/// before its idle length, never after.
pub const SEEN_PRECISION: Duration = Duration::seconds(60);

/// The live session a browser token names, if any: not ended, within its idle and absolute
/// lifetimes, for an aidant still active in a habilitated organisation (the rule
/// `accounts::working_membership`, joined into the same query). Marks it as seen (to
/// [`SEEN_PRECISION`]).
pub fn session_by_token(
    conn: &mut DbConnection,
    policy: &SessionPolicy,
    now: Timestamp,
    token: &str,
) -> Result<Option<AidantSession>, AuthError> {
    use store::schema::{aidants, memberships, organisations};
    let found = aidant_sessions::table
        .inner_join(
            memberships::table.on(memberships::aidant_id
                .eq(aidant_sessions::aidant_id)
                .and(memberships::organisation_id.eq(aidant_sessions::organisation_id))),
        )
        .inner_join(organisations::table.on(organisations::id.eq(aidant_sessions::organisation_id)))
        .inner_join(aidants::table.on(aidants::id.eq(aidant_sessions::aidant_id)))
        .filter(aidant_sessions::token_hash.eq(hash_secret(token)))
        .filter(accounts::working_membership())
        .select(AidantSession::as_select())
        .first(conn)
        .optional()?;
    let Some(mut session) = found else {
        return Ok(None);
    };
    let last_seen = session.last_seen_at;
    let live =
        session.ended_at.is_none() && session.expires_at > now && last_seen + policy.idle > now;
    if !live {
        return Ok(None);
    }
    if last_seen + SEEN_PRECISION <= now {
        session.last_seen_at = now;
        diesel::update(aidant_sessions::table.find(&session.id))
            .set(aidant_sessions::last_seen_at.eq(session.last_seen_at))
            .execute(conn)?;
    }
    Ok(Some(session))
}

/// The proof that the session's aidant may act for usagers, accepted the CGU in force and
/// typed a code within the activity window, or `None`: a fresh code or the CGU's acceptance
/// must be asked first, or (when [`AidantSession::acts_for_usagers`] is false) they may not
/// act.
pub fn verify_activity(
    session: &AidantSession,
    policy: &SessionPolicy,
    now: Timestamp,
) -> Option<VerifiedAidant> {
    let otp_at = session.last_otp_at();
    (session.acts_for_usagers && session.accepted_cgu(now) && session.code_is_fresh(policy, now))
        .then(|| VerifiedAidant {
            aidant_id: session.aidant_id.clone(),
            organisation_id: session.organisation_id.clone(),
            session_id: session.id.clone(),
            otp_at,
        })
}

/// Records a fresh code typed in a live session from `source`, in a browser showing
/// `devices` (the activity check), journaled as `activity_check_aidant`. Returns the updated
/// session.
#[allow(clippy::too_many_arguments)]
pub fn recheck(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: Timestamp,
    session: &AidantSession,
    code: &str,
    source: &str,
    devices: &[String],
) -> Result<Result<AidantSession, LoginRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        throttled(tx, rng, cipher, policy, now, source, |tx| {
            if let Err(failure) = check_code(
                tx,
                rng,
                cipher,
                policy,
                &session.aidant_id,
                code,
                devices,
                now,
            )? {
                return Ok(Err(LoginRefusal::BadCredentials(failure)));
            }
            diesel::update(aidant_sessions::table.find(&session.id))
                .set(aidant_sessions::last_otp_at.eq(now))
                .execute(tx.conn())?;
            journal_aidant_action(
                tx,
                rng,
                now,
                Action::ActivityCheckAidant,
                &session.aidant_id,
                &session.organisation_id,
            )?;
            let mut updated = session.clone();
            updated.last_otp_at = now;
            Ok(Ok(updated))
        })
    })
}

/// Ends every live session of an aidant, or only those in one organisation; returns how
/// many ended. Deactivating an aidant or taking their card away signs them out at once.
pub fn end_sessions(
    tx: &mut WriteTx<'_>,
    aidant_id: &AidantId,
    organisation_id: Option<&OrganisationId>,
    now: Timestamp,
) -> Result<usize, AuthError> {
    let live = aidant_sessions::table
        .filter(aidant_sessions::aidant_id.eq(aidant_id))
        .filter(aidant_sessions::ended_at.is_null());
    let ended = match organisation_id {
        Some(organisation) => {
            diesel::update(live.filter(aidant_sessions::organisation_id.eq(organisation)))
                .set(aidant_sessions::ended_at.eq(Some(now)))
                .execute(tx.conn())?
        }
        None => diesel::update(live)
            .set(aidant_sessions::ended_at.eq(Some(now)))
            .execute(tx.conn())?,
    };
    Ok(ended)
}

/// Moves a session to another organisation the aidant works for; `None` when they may not.
pub fn switch_organisation(
    conn: &mut DbConnection,
    session: &AidantSession,
    organisation_id: &OrganisationId,
) -> Result<Option<AidantSession>, AuthError> {
    if !accounts::may_work_for(conn, &session.aidant_id, organisation_id)? {
        return Ok(None);
    }
    diesel::update(aidant_sessions::table.find(&session.id))
        .set(aidant_sessions::organisation_id.eq(organisation_id))
        .execute(conn)?;
    let mut moved = session.clone();
    moved.organisation_id = organisation_id.to_owned();
    Ok(Some(moved))
}

/// Deletes the sessions whose absolute end came before `before` (ended or expired since);
/// returns how many.
pub fn purge_sessions(conn: &mut DbConnection, before: Timestamp) -> Result<usize, AuthError> {
    Ok(
        diesel::delete(aidant_sessions::table.filter(aidant_sessions::expires_at.lt(before)))
            .execute(conn)?,
    )
}

/// Ends a session (logout).
pub fn end_session(
    conn: &mut DbConnection,
    session_id: &str,
    now: Timestamp,
) -> Result<(), AuthError> {
    diesel::update(aidant_sessions::table.find(session_id))
        .set(aidant_sessions::ended_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}
