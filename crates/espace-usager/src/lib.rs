//! The usager's own space (`/mon-espace/`): an usager identifies through FranceConnect
//! (Aidants Connect as a service provider), is matched to their record on FranceConnect's
//! `sub`, or — for a record made before FranceConnect — on the identité pivot, which they
//! confirm; their session is their own (token hashed at rest, 15 minutes idle, one hour at
//! most, never an aidant's), the proof [`UsagerSession`], and shows what structures hold for
//! them; with it the usager revokes a démarche or a whole mandate, reads their attestations and
//! chooses to be told by e-mail of each mandate made or used in their name. Owns the tables
//! `usager_logins` and `usager_sessions`. Every sign-in and every attachment of an identity is
//! journaled on the national chain, naming the usager.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use diesel::prelude::*;
use identity::IdentitePivot;
use mandate::{Attestation, AttestationKey, MandateDetail, Usager};
use ring::rand::SecureRandom;
use store::schema::{mandates, usager_logins, usager_sessions, usagers};
use store::{hash_secret, write_transaction, DbConnection, OrganisationId, PooledDb, StoreError};
use store::{AutorisationId, MandateId, Timestamp, UsagerId};

/// How long a sign-in may wait for FranceConnect's answer and the usager's confirmation.
const LOGIN_MINUTES: i64 = 10;
/// A session ends after this long without a page.
const IDLE_MINUTES: i64 = 15;
/// And after this long at most.
const SESSION_MINUTES: i64 = 60;

/// Errors of the usager's space.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EspaceError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mandates.
    #[error(transparent)]
    Mandate(#[from] mandate::MandateError),
    /// The accounts.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    /// The journal.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
}

impl From<diesel::result::Error> for EspaceError {
    fn from(e: diesel::result::Error) -> Self {
        EspaceError::Store(StoreError::Query(e))
    }
}

/// A secret a browser holds (a sign-in's, or a session's); only its hash is stored.
pub struct BrowserToken(String);

impl BrowserToken {
    /// The token, to put in a cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn new(rng: &dyn SecureRandom) -> Result<BrowserToken, EspaceError> {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes).map_err(|_| StoreError::Random)?;
        Ok(BrowserToken(URL_SAFE_NO_PAD.encode(bytes)))
    }
}

impl std::fmt::Debug for BrowserToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrowserToken(..)")
    }
}

/// A sign-in begins: FranceConnect's `state` and `nonce` are kept (the state hashed) for the
/// browser that holds the returned token, ten minutes.
pub fn begin_login(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    state: &str,
    nonce: &str,
) -> Result<BrowserToken, EspaceError> {
    let browser = BrowserToken::new(rng)?;
    diesel::insert_into(usager_logins::table)
        .values((
            usager_logins::state_hash.eq(hash_secret(state)),
            usager_logins::browser_hash.eq(hash_secret(browser.expose())),
            usager_logins::nonce.eq(nonce),
            usager_logins::created_at.eq(now),
            usager_logins::expires_at.eq(now + Duration::minutes(LOGIN_MINUTES)),
        ))
        .execute(&mut **conn)?;
    Ok(browser)
}

/// A sign-in to the space that FranceConnect answers (its `state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// Waiting for this answer in this browser: its nonce.
    Waiting(String),
    /// Expired, already answered, or begun in another browser.
    Over,
}

/// The sign-in to the space FranceConnect answers with `state`, if `state` is one's (not a
/// mandate's creation); `browser` is the browser's sign-in cookie, if it has one.
pub fn login_of(
    conn: &mut DbConnection,
    now: Timestamp,
    state: &str,
    browser: Option<&str>,
) -> Result<Option<Login>, EspaceError> {
    let found: Option<(String, String, Timestamp, Option<String>)> = usager_logins::table
        .find(hash_secret(state))
        .select((
            usager_logins::browser_hash,
            usager_logins::nonce,
            usager_logins::expires_at,
            usager_logins::franceconnect_sub,
        ))
        .first(conn)
        .optional()?;
    Ok(found.map(|(browser_hash, nonce, expires_at, sub)| {
        let same_browser = browser.is_some_and(|b| hash_secret(b) == browser_hash);
        if same_browser && expires_at > now && sub.is_none() {
            Login::Waiting(nonce)
        } else {
            Login::Over
        }
    }))
}

/// What an identification leads to.
#[derive(Debug)]
pub enum Identified {
    /// The usager's record was found on FranceConnect's `sub`: their session is open.
    Session(BrowserToken),
    /// A record made before FranceConnect has their identité pivot: they are asked to
    /// confirm it is theirs (`confirm_login`), within the sign-in's ten minutes.
    Confirm,
    /// No structure holds a record of them.
    Nobody,
}

/// FranceConnect identified the usager of the sign-in `state` (in `browser`): the sign-in is
/// used up, and the usager matched to their record. `id_token` is kept for FranceConnect's
/// logout.
#[allow(clippy::too_many_arguments)]
pub fn identified(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    state: &str,
    browser: &str,
    franceconnect_sub: &str,
    pivot: &IdentitePivot,
    id_token: &str,
) -> Result<Option<Identified>, EspaceError> {
    write_transaction(conn, |tx| {
        let claimed = diesel::update(
            usager_logins::table
                .find(hash_secret(state))
                .filter(usager_logins::browser_hash.eq(hash_secret(browser)))
                .filter(usager_logins::expires_at.gt(now))
                .filter(usager_logins::franceconnect_sub.is_null()),
        )
        .set(usager_logins::franceconnect_sub.eq(Some(franceconnect_sub)))
        .execute(tx.conn())?;
        if claimed == 0 {
            return Ok(None);
        }
        let known = usagers::table
            .filter(usagers::franceconnect_sub.eq(franceconnect_sub))
            .filter(usagers::erased_at.is_null())
            .select(Usager::as_select())
            .first(tx.conn())
            .optional()?;
        let email = Some(pivot.email.as_str()).filter(|e| !e.is_empty());
        if let Some(usager) = known {
            diesel::delete(usager_logins::table.find(hash_secret(state))).execute(tx.conn())?;
            return Ok(Some(Identified::Session(open_session(
                tx, rng, now, &usager, id_token, email,
            )?)));
        }
        let Some(candidate) = same_pivot(tx.conn(), pivot)? else {
            diesel::delete(usager_logins::table.find(hash_secret(state))).execute(tx.conn())?;
            return Ok(Some(Identified::Nobody));
        };
        diesel::update(usager_logins::table.find(hash_secret(state)))
            .set((
                usager_logins::usager_id.eq(Some(&candidate.id)),
                usager_logins::id_token.eq(Some(id_token)),
                usager_logins::email.eq(email),
            ))
            .execute(tx.conn())?;
        Ok(Some(Identified::Confirm))
    })
}

/// The record without a FranceConnect identity that has exactly this identité pivot, if one
/// does (none when several do: a person is never shown another's record).
fn same_pivot(
    conn: &mut DbConnection,
    pivot: &IdentitePivot,
) -> Result<Option<Usager>, EspaceError> {
    let found: Vec<Usager> = usagers::table
        .filter(usagers::franceconnect_sub.is_null())
        .filter(usagers::erased_at.is_null())
        .filter(usagers::given_name.eq(&pivot.given_name))
        .filter(usagers::family_name.eq(&pivot.family_name))
        .filter(usagers::birthdate.eq(pivot.birthdate.to_string()))
        .filter(usagers::gender.eq(pivot.gender.as_str()))
        .filter(usagers::birthplace.eq(&pivot.birthplace))
        .filter(usagers::birthcountry.eq(&pivot.birthcountry))
        .limit(2)
        .select(Usager::as_select())
        .load(conn)?;
    Ok(match <[Usager; 1]>::try_from(found) {
        Ok([usager]) => Some(usager),
        Err(_) => None,
    })
}

/// The record awaiting the confirmation of the browser's sign-in, if any.
pub fn awaiting_confirmation(
    conn: &mut DbConnection,
    now: Timestamp,
    browser: &str,
) -> Result<Option<Usager>, EspaceError> {
    let usager_id: Option<Option<UsagerId>> = usager_logins::table
        .filter(usager_logins::browser_hash.eq(hash_secret(browser)))
        .filter(usager_logins::expires_at.gt(now))
        .filter(usager_logins::usager_id.is_not_null())
        .select(usager_logins::usager_id)
        .first(conn)
        .optional()?;
    match usager_id.flatten() {
        Some(id) => Ok(mandate::usager(conn, &id)?),
        None => Ok(None),
    }
}

/// The usager confirms the record found on their identité pivot is theirs: their
/// FranceConnect identity is attached to it (`link_usager_franceconnect`) and their session
/// opens. `None` when nothing awaits (expired, used, another browser).
pub fn confirm_login(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    browser: &str,
) -> Result<Option<BrowserToken>, EspaceError> {
    write_transaction(conn, |tx| {
        let waiting: Option<AwaitingLogin> = usager_logins::table
            .filter(usager_logins::browser_hash.eq(hash_secret(browser)))
            .filter(usager_logins::expires_at.gt(now))
            .filter(usager_logins::usager_id.is_not_null())
            .select((
                usager_logins::state_hash,
                usager_logins::franceconnect_sub,
                usager_logins::usager_id,
                usager_logins::id_token,
                usager_logins::email,
            ))
            .first(tx.conn())
            .optional()?;
        let Some((state_hash, Some(sub), Some(usager_id), Some(id_token), email)) = waiting else {
            return Ok(None);
        };
        diesel::delete(usager_logins::table.find(&state_hash)).execute(tx.conn())?;
        // Attached only if still without an identity (another sign-in may have attached it).
        let attached = diesel::update(
            usagers::table
                .find(&usager_id)
                .filter(usagers::franceconnect_sub.is_null()),
        )
        .set(usagers::franceconnect_sub.eq(Some(&sub)))
        .execute(tx.conn())?;
        if attached == 0 {
            return Ok(None);
        }
        journal::append(
            tx,
            rng,
            now,
            journal::NewEntry {
                chain: journal::NATIONAL_CHAIN,
                action: journal::Action::LinkUsagerFranceconnect,
                aidant_id: None,
                usager_id: Some(&usager_id),
                organisation_id: None,
                subject: usager_id.as_str(),
                details: serde_json::json!({}),
            },
        )?;
        let Some(usager) = mandate::usager(tx.conn(), &usager_id)? else {
            return Ok(None);
        };
        Ok(Some(open_session(
            tx,
            rng,
            now,
            &usager,
            &id_token,
            email.as_deref(),
        )?))
    })
}

/// A sign-in awaiting its usager's confirmation: its state's hash, FranceConnect's `sub`, the
/// record found, FranceConnect's ID token, the e-mail address FranceConnect gave.
type AwaitingLogin = (
    String,
    Option<String>,
    Option<UsagerId>,
    Option<String>,
    Option<String>,
);

/// Opens the usager's session (`connect_usager`), which keeps the e-mail address FranceConnect
/// gave, if any, for the usager to choose to be told there.
fn open_session(
    tx: &mut store::WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    usager: &Usager,
    id_token: &str,
    email: Option<&str>,
) -> Result<BrowserToken, EspaceError> {
    let token = BrowserToken::new(rng)?;
    diesel::insert_into(usager_sessions::table)
        .values((
            usager_sessions::token_hash.eq(hash_secret(token.expose())),
            usager_sessions::usager_id.eq(&usager.id),
            usager_sessions::id_token.eq(id_token),
            usager_sessions::created_at.eq(now),
            usager_sessions::last_seen_at.eq(now),
            usager_sessions::expires_at.eq(now + Duration::minutes(SESSION_MINUTES)),
            usager_sessions::email.eq(email),
        ))
        .execute(tx.conn())?;
    journal::append(
        tx,
        rng,
        now,
        journal::NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action: journal::Action::ConnectUsager,
            aidant_id: None,
            usager_id: Some(&usager.id),
            organisation_id: None,
            subject: usager.id.as_str(),
            details: serde_json::json!({}),
        },
    )?;
    Ok(token)
}

/// Proof that the browser holds a live session of the usager's own space. Only
/// [`session_by_token`] builds one.
#[derive(Debug, Clone)]
pub struct UsagerSession {
    usager: Usager,
    email: Option<String>,
}

impl UsagerSession {
    /// The usager.
    pub fn usager(&self) -> &Usager {
        &self.usager
    }

    /// The e-mail address FranceConnect gave at this sign-in, if any.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

/// The live session of `token` (its last page moved to `now`), if any.
pub fn session_by_token(
    conn: &mut DbConnection,
    now: Timestamp,
    token: &str,
) -> Result<Option<UsagerSession>, EspaceError> {
    let hash = hash_secret(token);
    let found = usager_sessions::table
        .inner_join(usagers::table)
        .filter(usager_sessions::token_hash.eq(&hash))
        .filter(usager_sessions::expires_at.gt(now))
        .filter(usager_sessions::last_seen_at.gt(now - Duration::minutes(IDLE_MINUTES)))
        .filter(usagers::erased_at.is_null())
        .select((Usager::as_select(), usager_sessions::email))
        .first(conn)
        .optional()?;
    if found.is_some() {
        diesel::update(usager_sessions::table.find(&hash))
            .set(usager_sessions::last_seen_at.eq(now))
            .execute(conn)?;
    }
    Ok(found.map(|(usager, email)| UsagerSession { usager, email }))
}

/// Ends the session of `token`; returns FranceConnect's ID token for its logout, when the
/// session existed.
pub fn end_session(conn: &mut DbConnection, token: &str) -> Result<Option<String>, EspaceError> {
    Ok(
        diesel::delete(usager_sessions::table.find(hash_secret(token)))
            .returning(usager_sessions::id_token)
            .get_result(conn)
            .optional()?,
    )
}

/// Deletes the sign-ins and sessions that no longer work (the upkeep); returns how many.
pub fn purge_expired(conn: &mut DbConnection, now: Timestamp) -> Result<usize, EspaceError> {
    let logins = diesel::delete(usager_logins::table.filter(usager_logins::expires_at.le(now)))
        .execute(conn)?;
    let sessions = diesel::delete(
        usager_sessions::table.filter(
            usager_sessions::expires_at
                .le(now)
                .or(usager_sessions::last_seen_at.le(now - Duration::minutes(IDLE_MINUTES))),
        ),
    )
    .execute(conn)?;
    Ok(logins + sessions)
}

/// Uses shown on a page.
pub const USES_PER_PAGE: i64 = 20;

/// One use of a mandate, as the usager reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseLine {
    /// When.
    pub at: Timestamp,
    /// The structure whose aidant used it.
    pub organisation: String,
    /// The démarche.
    pub demarche: mandate::Demarche,
    /// The aidant, « Prénom N. ».
    pub aidant: String,
}

/// A page of uses, and how many pages there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uses {
    /// This page's, newest first.
    pub lines: Vec<UseLine>,
    /// The page, from 1.
    pub page: i64,
    /// How many pages (at least 1).
    pub pages: i64,
}

/// Every use made of the session's usager's mandates, newest first, page `page` (from 1; a
/// page beyond the last shows the last).
pub fn uses(
    conn: &mut DbConnection,
    session: &UsagerSession,
    page: i64,
) -> Result<Uses, EspaceError> {
    let usager_id = &session.usager.id;
    let total = journal::count_uses_of_usager(conn, usager_id)?;
    let pages = ((total + USES_PER_PAGE - 1) / USES_PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    let entries =
        journal::uses_of_usager(conn, usager_id, (page - 1) * USES_PER_PAGE, USES_PER_PAGE)?;
    let organisation_ids: Vec<OrganisationId> = entries
        .iter()
        .filter_map(|e| e.organisation_id.clone())
        .collect();
    let organisations = accounts::organisations_by_ids(conn, &organisation_ids)?;
    let aidant_ids: Vec<store::AidantId> =
        entries.iter().filter_map(|e| e.aidant_id.clone()).collect();
    let aidants = accounts::aidants_by_ids(conn, &aidant_ids)?;
    let mut lines = Vec::with_capacity(entries.len());
    for entry in entries {
        let organisation = organisations
            .iter()
            .find(|o| Some(&o.id) == entry.organisation_id.as_ref())
            .map(|o| o.name.clone())
            .unwrap_or_default();
        let aidant = aidants
            .iter()
            .find(|a| Some(&a.id) == entry.aidant_id.as_ref())
            .map(accounts::Aidant::first_name_and_initial)
            .unwrap_or_default();
        lines.push(UseLine {
            at: entry.at,
            organisation,
            demarche: mandate::Demarche::parse(&entry.subject)?,
            aidant,
        });
    }
    Ok(Uses { lines, page, pages })
}

/// Everything the journal holds about the session's usager, oldest first: their right of
/// access (RGPD), read by themselves.
pub fn journal_statement(
    conn: &mut DbConnection,
    session: &UsagerSession,
) -> Result<Vec<journal::JournalEntry>, EspaceError> {
    Ok(journal::entries_of_usager(conn, &session.usager.id)?)
}

/// What one structure holds for the usager.
#[derive(Debug, Clone)]
pub struct HeldBy {
    /// The structure's name.
    pub organisation: String,
    /// Its mandates for them, newest first.
    pub mandates: Vec<MandateDetail>,
}

/// Each structure that holds or held a mandate for the session's usager, with those mandates.
pub fn mandates(
    conn: &mut DbConnection,
    session: &UsagerSession,
    now: Timestamp,
) -> Result<Vec<HeldBy>, EspaceError> {
    let organisations: Vec<OrganisationId> = mandates::table
        .filter(mandates::usager_id.eq(&session.usager.id))
        .select(mandates::organisation_id)
        .distinct()
        .load(conn)?;
    let names = accounts::organisations_by_ids(conn, &organisations)?;
    let mut held = Vec::with_capacity(organisations.len());
    for organisation_id in &organisations {
        held.push(HeldBy {
            organisation: names
                .iter()
                .find(|o| o.id == *organisation_id)
                .map(|o| o.name.clone())
                .unwrap_or_default(),
            mandates: mandate::mandates_of_usager(conn, organisation_id, &session.usager.id, now)?,
        });
    }
    held.sort_by(|a, b| a.organisation.cmp(&b.organisation));
    Ok(held)
}

/// The session's usager revokes one démarche of theirs: the structure's aidants can no longer
/// do it for them (journaled as the usager's). Another person's is
/// [`mandate::MandateError::UnknownAutorisation`].
pub fn revoke_demarche(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &UsagerSession,
    autorisation_id: &AutorisationId,
) -> Result<mandate::RevokedDemarche, EspaceError> {
    Ok(write_transaction(conn, |tx| {
        mandate::revoke_own_autorisation(tx, rng, now, &session.usager.id, autorisation_id)
    })?)
}

/// The session's usager revokes a whole mandate of theirs: its revocation attestation.
/// Another person's is [`mandate::MandateError::UnknownMandate`].
pub fn revoke_mandate(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    key: &AttestationKey,
    session: &UsagerSession,
    mandate_id: &MandateId,
) -> Result<Attestation, EspaceError> {
    Ok(write_transaction(conn, |tx| {
        mandate::revoke_own_mandate(tx, rng, now, key, &session.usager.id, mandate_id)
    })?)
}

/// One of the session's usager's attestations (of a mandate, its revocation or transfer), with
/// its mandate; `None` for another person's.
pub fn attestation(
    conn: &mut DbConnection,
    session: &UsagerSession,
    id: &str,
) -> Result<Option<(Attestation, mandate::Mandate)>, EspaceError> {
    Ok(mandate::own_attestation(conn, &session.usager.id, id)?)
}

/// Whether the session's usager is told by e-mail of the mandates made and used in their
/// name, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifications {
    /// The address e-mails go to, when they chose to be told.
    pub to: Option<String>,
    /// The address FranceConnect gave at this sign-in, the one they may choose.
    pub offered: Option<String>,
}

/// The session's usager's choice of e-mails.
pub fn notifications(
    conn: &mut DbConnection,
    session: &UsagerSession,
) -> Result<Notifications, EspaceError> {
    Ok(Notifications {
        to: mandate::notify_email(conn, &session.usager.id)?,
        offered: session.email.clone(),
    })
}

/// The session's usager chooses to be told by e-mail (at the address FranceConnect gave at this
/// sign-in) or no longer to be. `false` when they want e-mails and FranceConnect gave no
/// address (nothing changes).
pub fn choose_notifications(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &UsagerSession,
    wanted: bool,
) -> Result<bool, EspaceError> {
    let email = match (wanted, session.email()) {
        (true, None) => return Ok(false),
        (true, Some(email)) => Some(email),
        (false, _) => None,
    };
    write_transaction(conn, |tx| {
        mandate::set_notify_email(tx, rng, now, &session.usager.id, email)
    })?;
    Ok(true)
}
