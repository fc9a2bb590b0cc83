//! E-mail the service owes people, never lost and never sent twice by mistake: the
//! transactional outbox, the messages and their French templates, the transports, and the
//! delivery the upkeep runs.
//!
//! - A message is written to the `outbox` table by [`enqueue`], inside the write transaction of
//!   the action that causes it: an action that rolls back sends nothing, and no action commits
//!   without its message. What is stored is the message's kind and data ([`Email`]); the text
//!   is rendered from its templates when it is sent, with every link absolute from the
//!   service's public address ([`Letterhead`]).
//! - [`deliver_due`] claims due messages one by one with a conditional `UPDATE` (any number of
//!   instances run it; each message is claimed by one), sends it through a [`Transport`], and
//!   marks it sent. A refused or unreachable server leaves it queued: it is tried again after
//!   a delay that doubles each time, up to [`RetryPolicy::max_attempts`]; then, or at once when
//!   the server says the address does not exist, it stays as failed ([`failed`], [`retry`]).
//!   A refused address is marked undeliverable: the upkeep reports it once
//!   ([`unreported_refusals`], [`mark_reported`]) and pages show it ([`refused_addresses`])
//!   until a later message to it goes through.
//! - Delivery is at least once: a crash between sending and marking sends the message again
//!   once its claim has lapsed (`docs/operations.md`).

mod links;
mod messages;
mod transport;

pub use links::LinkKey;
pub use messages::{Decision, Email, ExpiringMandate, Rendered};
pub use transport::{FileTransport, SendError, SmtpSettings, SmtpTransport, Transport};

use chrono::Duration;
use diesel::prelude::*;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use ring::rand::SecureRandom;
use store::schema::outbox;
use store::{DbConnection, StoreError, Timestamp, WriteTx};

/// Errors of the outbox (the database, the random generator). Sending failures are not
/// errors: they are recorded on the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A message's data could not be written as JSON.
    #[error("message illisible : {0}")]
    Payload(#[from] serde_json::Error),
}

impl From<diesel::result::Error> for MailError {
    fn from(e: diesel::result::Error) -> Self {
        MailError::Store(StoreError::Query(e))
    }
}

/// Who the service's e-mails come from, and where their links point.
#[derive(Debug, Clone)]
pub struct Letterhead {
    /// The sender (`From`).
    pub from: Mailbox,
    /// Where answers go (`Reply-To`), if not the sender.
    pub reply_to: Option<Mailbox>,
    /// The service's public address (`https://aidantsconnect.beta.gouv.fr`), links' base.
    pub public_url: String,
    /// Signs the links that open a door by themselves, as the message is rendered.
    pub links: LinkKey,
}

impl Letterhead {
    /// The absolute address of a path of the service.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.trim_end_matches('/'))
    }
}

/// How failed sends are tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay after the first failure; it doubles at each further failure…
    pub first_delay: Duration,
    /// …up to this.
    pub max_delay: Duration,
    /// Attempts after which a message stays failed.
    pub max_attempts: i32,
    /// How long an instance owns a message it claimed (longer than a send may take).
    pub lease: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`, after `attempts` failures (≥ 1).
    pub fn delay_after(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let delay = self
            .first_delay
            .checked_mul(1 << doublings)
            .unwrap_or(self.max_delay);
        delay.min(self.max_delay)
    }
}

/// A message as first written to the outbox.
#[derive(Insertable)]
#[diesel(table_name = outbox)]
#[diesel(treat_none_as_default_value = false)]
struct NewMessage {
    id: String,
    recipient: String,
    kind: &'static str,
    payload: String,
    created_at: Timestamp,
    attempts: i32,
    next_attempt_at: Timestamp,
    undeliverable: bool,
}

impl NewMessage {
    fn new(
        rng: &dyn SecureRandom,
        now: Timestamp,
        to: &str,
        email: &Email,
    ) -> Result<NewMessage, MailError> {
        Ok(NewMessage {
            id: store::new_id(rng)?,
            recipient: to.to_owned(),
            kind: email.kind(),
            payload: serde_json::to_string(email)?,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            undeliverable: false,
        })
    }
}

/// Writes `email` to `to` in the outbox, in the caller's transaction. An address that is not
/// one is written too: its delivery fails and says so, the action is not refused for it.
pub fn enqueue(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    to: &str,
    email: &Email,
) -> Result<(), MailError> {
    diesel::insert_into(outbox::table)
        .values(NewMessage::new(rng, now, to, email)?)
        .execute(tx.conn())?;
    Ok(())
}

/// Writes each `(to, email)` to the outbox in the caller's transaction, as [`enqueue`] does,
/// in as few statements as the backend allows (the upkeep's jobs write thousands at once).
pub fn enqueue_many(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    messages: &[(String, Email)],
) -> Result<(), MailError> {
    let rows = messages
        .iter()
        .map(|(to, email)| NewMessage::new(rng, now, to, email))
        .collect::<Result<Vec<_>, _>>()?;
    store::bulk_insert!(tx.conn(), outbox::table, &rows);
    Ok(())
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct QueuedEmail {
    /// Id.
    pub id: String,
    /// Recipient's address, as written.
    pub recipient: String,
    /// The message's kind ([`Email::kind`]).
    pub kind: String,
    /// Its data, JSON.
    pub payload: String,
    /// When it was written.
    pub created_at: Timestamp,
    /// Failed sends so far.
    pub attempts: i32,
    /// Not sent before then.
    pub next_attempt_at: Timestamp,
    /// When it was sent.
    pub sent_at: Option<Timestamp>,
    /// When it was given up.
    pub failed_at: Option<Timestamp>,
    /// Why the last send failed.
    pub last_error: Option<String>,
    /// Whether the recipient's server refused the address.
    pub undeliverable: bool,
}

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Messages sent.
    pub sent: usize,
    /// Messages that failed and will be tried again.
    pub deferred: usize,
    /// Messages given up (address refused, or too many attempts).
    pub failed: usize,
}

/// What an instance sends with: the transport, the letterhead, the retry rules, and the
/// instance's own name (written on the messages it claims).
pub struct Mailer {
    /// Where messages go.
    pub transport: Box<dyn Transport>,
    /// Sender and links.
    pub letterhead: Letterhead,
    /// Retries.
    pub policy: RetryPolicy,
    /// This instance's name, unique among the running instances.
    pub instance: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("letterhead", &self.letterhead)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// Sends the messages due at `now`, at most `batch`.
pub fn deliver_due(
    conn: &mut DbConnection,
    mailer: &Mailer,
    now: Timestamp,
    batch: i64,
) -> Result<Delivery, MailError> {
    let (transport, letterhead, policy, instance) = (
        mailer.transport.as_ref(),
        &mailer.letterhead,
        &mailer.policy,
        mailer.instance.as_str(),
    );
    let due: Vec<QueuedEmail> = outbox::table
        .filter(due_at(now))
        .order((outbox::next_attempt_at, outbox::id))
        .limit(batch)
        .select(QueuedEmail::as_select())
        .load(conn)?;
    let mut delivery = Delivery::default();
    for message in due {
        if !claim(conn, &message.id, instance, now, policy.lease)? {
            continue;
        }
        match send(transport, letterhead, &message) {
            Ok(()) => {
                diesel::update(mine(&message.id, instance))
                    .set((
                        outbox::sent_at.eq(Some(now)),
                        outbox::claimed_by.eq(None::<String>),
                        outbox::claimed_until.eq(None::<Timestamp>),
                    ))
                    .execute(conn)?;
                delivery.sent += 1;
            }
            Err(error) => {
                let attempts = message.attempts.saturating_add(1);
                let give_up = error.is_permanent() || attempts >= policy.max_attempts;
                tracing::warn!(
                    id = %message.id,
                    kind = %message.kind,
                    attempts,
                    given_up = give_up,
                    error = %error,
                    "e-mail not sent"
                );
                diesel::update(mine(&message.id, instance))
                    .set((
                        outbox::attempts.eq(attempts),
                        outbox::next_attempt_at.eq(now + policy.delay_after(attempts)),
                        outbox::failed_at.eq(give_up.then_some(now)),
                        outbox::undeliverable.eq(error.is_undeliverable()),
                        outbox::last_error.eq(Some(error.to_string())),
                        outbox::claimed_by.eq(None::<String>),
                        outbox::claimed_until.eq(None::<Timestamp>),
                    ))
                    .execute(conn)?;
                if give_up {
                    delivery.failed += 1;
                } else {
                    delivery.deferred += 1;
                }
            }
        }
    }
    Ok(delivery)
}

/// A message due at `now`: unsent, not given up, its next attempt come, and claimed by no
/// live instance (a claim that lapsed is as none).
#[diesel::dsl::auto_type]
fn due_at(now: Timestamp) -> _ {
    outbox::sent_at
        .is_null()
        .and(outbox::failed_at.is_null())
        .and(outbox::next_attempt_at.le(now))
        .and(
            outbox::claimed_until
                .is_null()
                .or(outbox::claimed_until.le(now)),
        )
}

type Mine = diesel::dsl::Filter<
    diesel::dsl::Find<outbox::table, String>,
    diesel::dsl::Eq<outbox::claimed_by, String>,
>;

/// The message `id` while `instance` holds its claim.
fn mine(id: &str, instance: &str) -> Mine {
    outbox::table
        .find(id.to_owned())
        .filter(outbox::claimed_by.eq(instance.to_owned()))
}

/// Claims message `id` for `instance` until `now + lease`, if it is still due and unclaimed
/// (or its claim lapsed): one conditional UPDATE, so two instances never both win.
fn claim(
    conn: &mut DbConnection,
    id: &str,
    instance: &str,
    now: Timestamp,
    lease: Duration,
) -> Result<bool, MailError> {
    let claimed = diesel::update(outbox::table.find(id).filter(due_at(now)))
        .set((
            outbox::claimed_by.eq(instance),
            outbox::claimed_until.eq(now + lease),
        ))
        .execute(conn)?;
    Ok(claimed == 1)
}

/// Renders and sends one message.
fn send(
    transport: &dyn Transport,
    letterhead: &Letterhead,
    message: &QueuedEmail,
) -> Result<(), SendError> {
    let to: Mailbox = message
        .recipient
        .parse()
        .map_err(|e| SendError::Undeliverable(Box::new(e)))?;
    let email: Email =
        serde_json::from_str(&message.payload).map_err(|e| SendError::Permanent(Box::new(e)))?;
    let rendered = email
        .render(letterhead)
        .map_err(|e| SendError::Permanent(Box::new(e)))?;
    transport.send(&compose(letterhead, to, &rendered)?)
}

/// The MIME message: plain text and HTML alternatives.
fn compose(
    letterhead: &Letterhead,
    to: Mailbox,
    rendered: &Rendered,
) -> Result<lettre::Message, SendError> {
    let mut builder = lettre::Message::builder()
        .from(letterhead.from.clone())
        .to(to)
        .subject(&rendered.subject);
    if let Some(reply_to) = &letterhead.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(rendered.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(rendered.html.clone()),
                ),
        )
        .map_err(|e| SendError::Permanent(Box::new(e)))
}

/// The messages given up, newest first, at most `limit`.
pub fn failed(conn: &mut DbConnection, limit: i64) -> Result<Vec<QueuedEmail>, MailError> {
    Ok(outbox::table
        .filter(outbox::failed_at.is_not_null())
        .order((outbox::failed_at.desc(), outbox::id))
        .limit(limit)
        .select(QueuedEmail::as_select())
        .load(conn)?)
}

/// Puts failed messages back in the queue, due at `now` with their attempts reset: the one
/// named `id`, or every failed message. Returns how many.
pub fn retry(
    conn: &mut DbConnection,
    now: Timestamp,
    id: Option<&str>,
) -> Result<usize, MailError> {
    let reset = (
        outbox::failed_at.eq(None::<Timestamp>),
        outbox::attempts.eq(0),
        outbox::next_attempt_at.eq(now),
    );
    let failed = outbox::table.filter(outbox::failed_at.is_not_null());
    Ok(match id {
        Some(id) => diesel::update(failed.filter(outbox::id.eq(id)))
            .set(reset)
            .execute(conn)?,
        None => diesel::update(failed).set(reset).execute(conn)?,
    })
}

/// Messages whose address was refused and not yet reported, oldest first, at most `limit`.
pub fn unreported_refusals(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<Vec<QueuedEmail>, MailError> {
    Ok(outbox::table
        .filter(outbox::undeliverable.eq(true))
        .filter(outbox::reported_at.is_null())
        .order((outbox::failed_at.asc(), outbox::id))
        .limit(limit)
        .select(QueuedEmail::as_select())
        .load(conn)?)
}

/// Marks the refusal of message `id` as reported, in the transaction that reports it;
/// returns whether it was still unreported (another instance may have done it first).
pub fn mark_reported(tx: &mut WriteTx<'_>, id: &str, now: Timestamp) -> Result<bool, MailError> {
    let marked = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::undeliverable.eq(true))
            .filter(outbox::reported_at.is_null()),
    )
    .set(outbox::reported_at.eq(now))
    .execute(tx.conn())?;
    Ok(marked == 1)
}

/// Among `addresses`, those whose last message was refused (no later one went through), each
/// with when it was refused.
pub fn refused_addresses(
    conn: &mut DbConnection,
    addresses: &[&str],
) -> Result<Vec<(String, Timestamp)>, MailError> {
    use diesel::dsl::max;
    let refused: Vec<(String, Option<Timestamp>)> = outbox::table
        .filter(outbox::recipient.eq_any(addresses))
        .filter(outbox::undeliverable.eq(true))
        .group_by(outbox::recipient)
        .select((outbox::recipient, max(outbox::failed_at)))
        .load(conn)?;
    let sent: Vec<(String, Option<Timestamp>)> = outbox::table
        .filter(outbox::recipient.eq_any(addresses))
        .filter(outbox::sent_at.is_not_null())
        .group_by(outbox::recipient)
        .select((outbox::recipient, max(outbox::sent_at)))
        .load(conn)?;
    Ok(refused
        .into_iter()
        .filter_map(|(address, at)| {
            let at = at?;
            let later = sent
                .iter()
                .any(|(other, sent_at)| *other == address && sent_at.is_some_and(|s| s > at));
            (!later).then_some((address, at))
        })
        .collect())
}

/// Deletes the messages sent or given up before `before` (a refusal only once reported):
/// what they say names people. Returns how many. A refusal is always older than the message
/// that went through after it, so it is deleted first and never shows again on its own.
pub fn purge(conn: &mut DbConnection, before: Timestamp) -> Result<usize, MailError> {
    let sent = diesel::delete(outbox::table.filter(outbox::sent_at.lt(before))).execute(conn)?;
    let given_up = diesel::delete(
        outbox::table.filter(outbox::failed_at.lt(before)).filter(
            outbox::undeliverable
                .eq(false)
                .or(outbox::reported_at.is_not_null()),
        ),
    )
    .execute(conn)?;
    Ok(sent + given_up)
}

/// How many messages wait to be sent, and how many were given up (for `/metrics`).
pub fn counts(conn: &mut DbConnection) -> Result<(i64, i64), MailError> {
    let pending = outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::failed_at.is_null())
        .count()
        .get_result(conn)?;
    let failed = outbox::table
        .filter(outbox::failed_at.is_not_null())
        .count()
        .get_result(conn)?;
    Ok((pending, failed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use ring::rand::SystemRandom;
    use store::{write_transaction, Scratch};

    fn email() -> Email {
        Email::MadeReferent {
            aidant: "Léa Martin".into(),
            organisation: "CCAS".into(),
        }
    }

    #[test]
    fn an_action_that_rolls_back_leaves_no_message() {
        let db = Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let rng = SystemRandom::new();
        let now: Timestamp = chrono::Utc
            .with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
            .unwrap()
            .into();
        let refused: Result<(), MailError> = write_transaction(&mut conn, |tx| {
            enqueue(tx, &rng, now, "lea@exemple.fr", &email())?;
            Err(MailError::Store(StoreError::Random))
        });
        assert!(refused.is_err());
        assert_eq!(counts(&mut conn).unwrap(), (0, 0));
        write_transaction(&mut conn, |tx| {
            enqueue(tx, &rng, now, "lea@exemple.fr", &email())
        })
        .unwrap();
        assert_eq!(counts(&mut conn).unwrap(), (1, 0));
    }

    /// Refuses `refused` as a mailbox that does not exist, accepts every other address.
    struct Refusing {
        refused: &'static str,
    }

    impl Transport for Refusing {
        fn send(&self, message: &lettre::Message) -> Result<(), SendError> {
            let to = message.envelope().to().iter().map(ToString::to_string);
            if to.into_iter().any(|a| a == self.refused) {
                Err(SendError::Undeliverable("550 mailbox unavailable".into()))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn a_refused_address_is_reported_once_and_shown_until_mail_goes_through() {
        let db = Scratch::new().unwrap();
        let mut conn = db.conn().unwrap();
        let rng = SystemRandom::new();
        let mut now: Timestamp = chrono::Utc
            .with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
            .unwrap()
            .into();
        let mut mailer = Mailer {
            transport: Box::new(Refusing {
                refused: "lea@exemple.fr",
            }),
            letterhead: Letterhead {
                from: "Aidants Connect <nepasrepondre@exemple.fr>"
                    .parse()
                    .unwrap(),
                reply_to: None,
                public_url: "https://aidants.example".into(),
                links: LinkKey::derive(b"test").unwrap(),
            },
            policy: RetryPolicy {
                first_delay: Duration::seconds(60),
                max_delay: Duration::minutes(5),
                max_attempts: 8,
                lease: Duration::minutes(1),
            },
            instance: "a".into(),
        };
        for to in ["lea@exemple.fr", "paul@exemple.fr"] {
            write_transaction(&mut conn, |tx| enqueue(tx, &rng, now, to, &email())).unwrap();
        }
        let delivery = deliver_due(&mut conn, &mailer, now, 10).unwrap();
        assert_eq!(
            (delivery.sent, delivery.failed),
            (1, 1),
            "one refusal blocks nothing"
        );
        let addresses = ["lea@exemple.fr", "paul@exemple.fr"];
        assert_eq!(
            refused_addresses(&mut conn, &addresses).unwrap(),
            [("lea@exemple.fr".to_owned(), now)]
        );
        let unreported = unreported_refusals(&mut conn, 10).unwrap();
        assert_eq!(unreported.len(), 1);
        assert!(unreported[0].undeliverable);
        let id = unreported[0].id.clone();
        assert!(write_transaction(&mut conn, |tx| mark_reported(tx, &id, now)).unwrap());
        assert!(!write_transaction(&mut conn, |tx| mark_reported(tx, &id, now)).unwrap());
        assert!(unreported_refusals(&mut conn, 10).unwrap().is_empty());

        // The address is fixed on the recipient's side: the next message goes through.
        now += Duration::hours(1);
        mailer.transport = Box::new(Refusing { refused: "" });
        write_transaction(&mut conn, |tx| {
            enqueue(tx, &rng, now, "lea@exemple.fr", &email())
        })
        .unwrap();
        assert_eq!(deliver_due(&mut conn, &mailer, now, 10).unwrap().sent, 1);
        assert!(refused_addresses(&mut conn, &addresses).unwrap().is_empty());

        // Past the retention, what was sent or given up and reported goes; what waits stays.
        write_transaction(&mut conn, |tx| {
            enqueue(tx, &rng, now, "paul@exemple.fr", &email())
        })
        .unwrap();
        assert_eq!(purge(&mut conn, now).unwrap(), 2, "the first two");
        assert_eq!(purge(&mut conn, now + Duration::seconds(1)).unwrap(), 1);
        assert_eq!(counts(&mut conn).unwrap(), (1, 0));
        assert!(refused_addresses(&mut conn, &addresses).unwrap().is_empty());
    }

    #[test]
    fn delays_double_up_to_the_limit() {
        let policy = RetryPolicy {
            first_delay: Duration::seconds(60),
            max_delay: Duration::minutes(5),
            max_attempts: 8,
            lease: Duration::minutes(1),
        };
        let delays: Vec<i64> = (1..=5)
            .map(|n| policy.delay_after(n).num_seconds())
            .collect();
        assert_eq!(delays, [60, 120, 240, 300, 300]);
    }
}
