//! Aidant sessions, sign-in with e-mail + OTP code, the activity check, and the
//! [`VerifiedAidant`] proof.

use crate::cards::{code_at_step, verify_code, OtpCard, OtpRefusal};
use crate::{AuthError, SeedCipher};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::schema::{aidant_sessions, otp_cards};
use store::{from_db, hash_secret, new_id, to_db, write_transaction, DbConnection, StoreError};

/// Lifetimes and limits of sessions and codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
    /// A sensitive action needs an OTP code typed less than this long ago.
    pub activity_window: Duration,
    /// Failed codes in a row before a card locks.
    pub max_failures: i32,
    /// How long a card stays locked.
    pub lock_for: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::minutes(60),
            absolute: Duration::hours(12),
            activity_window: Duration::minutes(20),
            max_failures: 5,
            lock_for: Duration::minutes(15),
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
    aidant_id: String,
    organisation_id: String,
    created_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    last_otp_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    ended_at: Option<NaiveDateTime>,
}

impl AidantSession {
    /// Session id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The aidant.
    pub fn aidant_id(&self) -> &str {
        &self.aidant_id
    }
    /// The organisation the aidant works for in this session.
    pub fn organisation_id(&self) -> &str {
        &self.organisation_id
    }
    /// When the aidant last typed an OTP code.
    pub fn last_otp_at(&self) -> DateTime<Utc> {
        from_db(self.last_otp_at)
    }
}

/// Proof that an aidant typed a valid OTP code within the activity window, in a live session,
/// for an organisation they may work for. Only [`verify_activity`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAidant {
    aidant_id: String,
    organisation_id: String,
    session_id: String,
    otp_at: DateTime<Utc>,
}

impl VerifiedAidant {
    /// The aidant.
    pub fn aidant_id(&self) -> &str {
        &self.aidant_id
    }
    /// The organisation.
    pub fn organisation_id(&self) -> &str {
        &self.organisation_id
    }
    /// The session.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }
    /// When the OTP code was last typed: the `auth_time` of tokens.
    pub fn otp_at(&self) -> DateTime<Utc> {
        self.otp_at
    }
}

/// Why a sign-in or a fresh code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown or inactive e-mail, no validated card, or wrong code (one answer for all).
    BadCredentials,
    /// The code was already used.
    Replayed,
    /// Too many failures: card locked until then.
    Locked(DateTime<Utc>),
    /// The aidant belongs to no habilitated organisation.
    NoOrganisation,
}

fn new_token(rng: &dyn SecureRandom) -> Result<SessionToken, AuthError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).map_err(|_| StoreError::Random)?;
    Ok(SessionToken(URL_SAFE_NO_PAD.encode(bytes)))
}

fn validated_cards(conn: &mut DbConnection, aidant_id: &str) -> Result<Vec<OtpCard>, AuthError> {
    Ok(otp_cards::table
        .filter(otp_cards::aidant_id.eq(aidant_id))
        .filter(otp_cards::validated_at.is_not_null())
        .order(otp_cards::created_at.asc())
        .select(OtpCard::as_select())
        .load(conn)?)
}

/// Checks `code` against the aidant's validated cards.
fn check_code(
    conn: &mut DbConnection,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    aidant_id: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), LoginRefusal>, AuthError> {
    let mut refusal = LoginRefusal::BadCredentials;
    for card in validated_cards(conn, aidant_id)? {
        match verify_code(
            conn,
            cipher,
            &card,
            code,
            now,
            policy.max_failures,
            policy.lock_for,
        )? {
            Ok(_) => return Ok(Ok(())),
            Err(OtpRefusal::Replayed) => refusal = LoginRefusal::Replayed,
            Err(OtpRefusal::Locked(until)) => refusal = LoginRefusal::Locked(until),
            Err(OtpRefusal::WrongCode) => {}
        }
    }
    Ok(Err(refusal))
}

/// Journals an aidant's own authentication (`connect_aidant`, `activity_check_aidant`).
fn journal_aidant_action(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    now: DateTime<Utc>,
    action: Action,
    aidant_id: &str,
    organisation_id: &str,
) -> Result<(), AuthError> {
    journal::append(
        conn,
        rng,
        now,
        NewEntry {
            chain: organisation_id,
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

/// Signs an aidant in with e-mail and OTP code: opens a session in their first habilitated
/// organisation and journals `connect_aidant`. Refusals are committed too (failure counts).
pub fn login(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
    email: &str,
    code: &str,
) -> Result<Result<(SessionToken, AidantSession), LoginRefusal>, AuthError> {
    write_transaction(conn, |conn| {
        let aidant = match accounts::find_aidant_by_email(conn, email)? {
            Some(a) if a.active => a,
            _ => {
                // Same work as a real check, so that timing does not tell which e-mails exist.
                let _ = code_at_step(&[0u8; 20], 0, 30, 6);
                return Ok(Err(LoginRefusal::BadCredentials));
            }
        };
        if let Err(refusal) = check_code(conn, cipher, policy, &aidant.id, code, now)? {
            return Ok(Err(refusal));
        }
        let Some((organisation, _role)) = accounts::working_organisations(conn, &aidant.id)?
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
            created_at: to_db(now),
            last_seen_at: to_db(now),
            last_otp_at: to_db(now),
            expires_at: to_db(now + policy.absolute),
            ended_at: None,
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
            .execute(conn)?;
        journal_aidant_action(
            conn,
            rng,
            now,
            Action::ConnectAidant,
            &aidant.id,
            &organisation.id,
        )?;
        Ok(Ok((token, session)))
    })
}

/// The live session a browser token names, if any: not ended, within its idle and absolute
/// lifetimes, for an aidant still active in a habilitated organisation. Marks it as seen.
pub fn session_by_token(
    conn: &mut DbConnection,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
    token: &str,
) -> Result<Option<AidantSession>, AuthError> {
    let found = aidant_sessions::table
        .filter(aidant_sessions::token_hash.eq(hash_secret(token)))
        .select(AidantSession::as_select())
        .first(conn)
        .optional()?;
    let Some(mut session) = found else {
        return Ok(None);
    };
    let live = session.ended_at.is_none()
        && from_db(session.expires_at) > now
        && from_db(session.last_seen_at) + policy.idle > now;
    if !live || !accounts::may_work_for(conn, &session.aidant_id, &session.organisation_id)? {
        return Ok(None);
    }
    session.last_seen_at = to_db(now);
    diesel::update(aidant_sessions::table.find(&session.id))
        .set(aidant_sessions::last_seen_at.eq(session.last_seen_at))
        .execute(conn)?;
    Ok(Some(session))
}

/// The proof that the session's aidant typed a code within the activity window, or `None`
/// when a fresh code must be asked first.
pub fn verify_activity(
    session: &AidantSession,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
) -> Option<VerifiedAidant> {
    let otp_at = session.last_otp_at();
    (otp_at <= now && otp_at + policy.activity_window > now).then(|| VerifiedAidant {
        aidant_id: session.aidant_id.clone(),
        organisation_id: session.organisation_id.clone(),
        session_id: session.id.clone(),
        otp_at,
    })
}

/// Records a fresh code typed in a live session (the activity check), journaled as
/// `activity_check_aidant`. Returns the updated session.
pub fn recheck(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
    session: &AidantSession,
    code: &str,
) -> Result<Result<AidantSession, LoginRefusal>, AuthError> {
    write_transaction(conn, |conn| {
        if let Err(refusal) = check_code(conn, cipher, policy, &session.aidant_id, code, now)? {
            return Ok(Err(refusal));
        }
        diesel::update(aidant_sessions::table.find(&session.id))
            .set(aidant_sessions::last_otp_at.eq(to_db(now)))
            .execute(conn)?;
        journal_aidant_action(
            conn,
            rng,
            now,
            Action::ActivityCheckAidant,
            &session.aidant_id,
            &session.organisation_id,
        )?;
        let mut updated = session.clone();
        updated.last_otp_at = to_db(now);
        Ok(Ok(updated))
    })
}

/// Ends a session (logout).
pub fn end_session(
    conn: &mut DbConnection,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    diesel::update(aidant_sessions::table.find(session_id))
        .set(aidant_sessions::ended_at.eq(Some(to_db(now))))
        .execute(conn)?;
    Ok(())
}
