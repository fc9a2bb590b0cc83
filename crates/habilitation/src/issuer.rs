//! Issuers (demandeurs) and how they come back without an account: a single-use link sent
//! by e-mail, signed when the message is rendered ([`mail::LinkKey`]), that expires after
//! [`LINK_HOURS`]; following it confirms the address and opens a session whose token is
//! stored hashed (journaled `connect_issuer`). Asking for a link never tells whether an
//! address is known.

use crate::request::checked_person;
use crate::{refuse_fields, FieldError, HabilitationError, PersonForm};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::{habilitation_issuers, issuer_links, issuer_sessions};
use store::{hash_secret, new_id, write_transaction, DbConnection, PooledDb, Timestamp};

/// How long a link works.
pub const LINK_HOURS: i64 = 24;
/// At most this many links are sent to one issuer per hour (the rest are silently dropped).
const LINKS_PER_HOUR: i64 = 5;
/// A session ends after this long without a request…
const SESSION_IDLE_MINUTES: i64 = 60;
/// …and after this long in any case.
const SESSION_HOURS: i64 = 12;

/// An issuer, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = habilitation_issuers)]
pub struct Issuer {
    /// Id.
    pub id: String,
    /// E-mail address (lower case).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Phone.
    pub phone: String,
    /// Profession.
    pub profession: String,
    /// When the address was confirmed (first link followed).
    pub email_confirmed_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
}

impl Issuer {
    /// "First Last".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A live session of an issuer who followed their link: what every issuer's action takes.
/// Built only by [`open_link`] and [`issuer_session`].
#[derive(Debug, Clone)]
pub struct IssuerSession {
    issuer: Issuer,
}

impl IssuerSession {
    /// The session of an issuer seeded without a link (the demo's).
    #[cfg(feature = "seed")]
    pub(crate) fn seeded(issuer: Issuer) -> IssuerSession {
        IssuerSession { issuer }
    }

    /// The issuer.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }
}

/// The secret a browser holds for an issuer's session; only its hash is stored.
pub struct IssuerToken(String);

impl IssuerToken {
    /// The token, to put in a cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for IssuerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuerToken(..)")
    }
}

/// An issuer begins: an unknown address becomes an issuer, to be confirmed by the link sent
/// to it; a known one is sent a link to come back (and keeps what it had). The answer is the
/// same either way.
pub fn begin(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    form: &PersonForm<'_>,
) -> Result<(), HabilitationError> {
    let (email, phone) = checked_person(form, true)?;
    write_transaction(conn, |tx| {
        let known = habilitation_issuers::table
            .filter(habilitation_issuers::email.eq(&email))
            .select(Issuer::as_select())
            .first(tx.conn())
            .optional()?;
        let issuer = match known {
            Some(issuer) => issuer,
            None => {
                let issuer = Issuer {
                    id: new_id(rng)?,
                    email: email.clone(),
                    first_name: form.first_name.trim().to_owned(),
                    last_name: form.last_name.trim().to_owned(),
                    phone,
                    profession: form.profession.trim().to_owned(),
                    email_confirmed_at: None,
                    created_at: now,
                };
                diesel::insert_into(habilitation_issuers::table)
                    .values((
                        habilitation_issuers::id.eq(&issuer.id),
                        habilitation_issuers::email.eq(&issuer.email),
                        habilitation_issuers::first_name.eq(&issuer.first_name),
                        habilitation_issuers::last_name.eq(&issuer.last_name),
                        habilitation_issuers::phone.eq(&issuer.phone),
                        habilitation_issuers::profession.eq(&issuer.profession),
                        habilitation_issuers::created_at.eq(now),
                    ))
                    .execute(tx.conn())?;
                issuer
            }
        };
        send_link(tx, rng, now, &issuer)
    })
}

/// An issuer asks for a link to come back: sent when the address is an issuer's, nothing
/// otherwise (the page says the same).
pub fn ask_link(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    email: &str,
) -> Result<(), HabilitationError> {
    let email = accounts::normalise_email(email);
    if !accounts::is_valid_email(&email) {
        return refuse_fields(vec![FieldError::new(
            "email",
            crate::request::INVALID_EMAIL,
        )]);
    }
    write_transaction(conn, |tx| {
        let known = habilitation_issuers::table
            .filter(habilitation_issuers::email.eq(&email))
            .select(Issuer::as_select())
            .first(tx.conn())
            .optional()?;
        match known {
            Some(issuer) => send_link(tx, rng, now, &issuer),
            None => Ok(()),
        }
    })
}

/// Writes a new link for `issuer` and its e-mail, unless they were sent
/// [`LINKS_PER_HOUR`] in the last hour.
fn send_link(
    tx: &mut store::WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    issuer: &Issuer,
) -> Result<(), HabilitationError> {
    let recent: i64 = issuer_links::table
        .filter(issuer_links::issuer_id.eq(&issuer.id))
        .filter(issuer_links::created_at.gt(now - Duration::hours(1)))
        .count()
        .get_result(tx.conn())?;
    if recent >= LINKS_PER_HOUR {
        return Ok(());
    }
    let id = new_id(rng)?;
    diesel::insert_into(issuer_links::table)
        .values((
            issuer_links::id.eq(&id),
            issuer_links::issuer_id.eq(&issuer.id),
            issuer_links::created_at.eq(now),
            issuer_links::expires_at.eq(now + Duration::hours(LINK_HOURS)),
        ))
        .execute(tx.conn())?;
    mail::enqueue(
        tx,
        rng,
        now,
        &issuer.email,
        &mail::Email::IssuerLink {
            issuer: issuer.full_name(),
            link_id: id,
            first: issuer.email_confirmed_at.is_none(),
            hours: LINK_HOURS,
        },
    )?;
    Ok(())
}

/// The unused, unexpired link a token signs, if any (the link page shows its button).
fn live_link(
    conn: &mut DbConnection,
    key: &mail::LinkKey,
    now: Timestamp,
    token: &str,
) -> Result<Option<(String, String)>, HabilitationError> {
    let Some(id) = key.verify(token) else {
        return Ok(None);
    };
    Ok(issuer_links::table
        .find(id)
        .filter(issuer_links::used_at.is_null())
        .filter(issuer_links::expires_at.gt(now))
        .select((issuer_links::id, issuer_links::issuer_id))
        .first(conn)
        .optional()?)
}

/// Whether `token` is a link that still works.
pub fn link_works(
    conn: &mut DbConnection,
    key: &mail::LinkKey,
    now: Timestamp,
    token: &str,
) -> Result<bool, HabilitationError> {
    Ok(live_link(conn, key, now, token)?.is_some())
}

/// Follows a link: it is used up, the address confirmed, and a session opened
/// (`connect_issuer` on the national chain, whether the address was confirmed then in its
/// details). `None`: the link is unknown, forged, used or expired.
pub fn open_link(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    key: &mail::LinkKey,
    now: Timestamp,
    token: &str,
) -> Result<Option<(IssuerSession, IssuerToken)>, HabilitationError> {
    write_transaction(conn, |tx| {
        let Some((link_id, issuer_id)) = live_link(tx.conn(), key, now, token)? else {
            return Ok(None);
        };
        let claimed = diesel::update(
            issuer_links::table
                .find(&link_id)
                .filter(issuer_links::used_at.is_null()),
        )
        .set(issuer_links::used_at.eq(Some(now)))
        .execute(tx.conn())?;
        if claimed != 1 {
            return Ok(None);
        }
        let confirmed = diesel::update(
            habilitation_issuers::table
                .find(&issuer_id)
                .filter(habilitation_issuers::email_confirmed_at.is_null()),
        )
        .set(habilitation_issuers::email_confirmed_at.eq(Some(now)))
        .execute(tx.conn())?;
        let issuer = habilitation_issuers::table
            .find(&issuer_id)
            .select(Issuer::as_select())
            .first(tx.conn())?;
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes)
            .map_err(|_| HabilitationError::Store(store::StoreError::Random))?;
        let token = IssuerToken(URL_SAFE_NO_PAD.encode(bytes));
        diesel::insert_into(issuer_sessions::table)
            .values((
                issuer_sessions::token_hash.eq(hash_secret(token.expose())),
                issuer_sessions::issuer_id.eq(&issuer.id),
                issuer_sessions::created_at.eq(now),
                issuer_sessions::last_seen_at.eq(now),
                issuer_sessions::expires_at.eq(now + Duration::hours(SESSION_HOURS)),
            ))
            .execute(tx.conn())?;
        journal::append(
            tx,
            rng,
            now,
            journal::NewEntry {
                chain: journal::NATIONAL_CHAIN,
                action: journal::Action::ConnectIssuer,
                aidant_id: None,
                usager_id: None,
                organisation_id: None,
                subject: &issuer.id,
                details: serde_json::json!({ "adresse_confirmee": confirmed == 1 }),
            },
        )?;
        Ok(Some((IssuerSession { issuer }, token)))
    })
}

/// The live session of `token` (its last-seen time moved to `now`), if any.
pub fn issuer_session(
    conn: &mut DbConnection,
    now: Timestamp,
    token: &str,
) -> Result<Option<IssuerSession>, HabilitationError> {
    let hash = hash_secret(token);
    let found = issuer_sessions::table
        .inner_join(habilitation_issuers::table)
        .filter(issuer_sessions::token_hash.eq(&hash))
        .filter(issuer_sessions::expires_at.gt(now))
        .filter(issuer_sessions::last_seen_at.gt(now - Duration::minutes(SESSION_IDLE_MINUTES)))
        .select(Issuer::as_select())
        .first(conn)
        .optional()?;
    if found.is_some() {
        diesel::update(issuer_sessions::table.find(&hash))
            .set(issuer_sessions::last_seen_at.eq(now))
            .execute(conn)?;
    }
    Ok(found.map(|issuer| IssuerSession { issuer }))
}

/// Ends the session of `token`.
pub fn end_issuer_session(conn: &mut DbConnection, token: &str) -> Result<(), HabilitationError> {
    diesel::delete(issuer_sessions::table.find(hash_secret(token))).execute(conn)?;
    Ok(())
}

/// Deletes the links and sessions that no longer work (the upkeep); returns how many.
pub fn purge_expired(conn: &mut DbConnection, now: Timestamp) -> Result<usize, HabilitationError> {
    let links = diesel::delete(issuer_links::table.filter(issuer_links::expires_at.le(now)))
        .execute(conn)?;
    let sessions =
        diesel::delete(issuer_sessions::table.filter(
            issuer_sessions::expires_at.le(now).or(
                issuer_sessions::last_seen_at.le(now - Duration::minutes(SESSION_IDLE_MINUTES)),
            ),
        ))
        .execute(conn)?;
    Ok(links + sessions)
}
