//! Periodic upkeep of a running service: the day's signed journal checkpoint, the statistics
//! of the months that are over summed once, and deleting what expired — failed sign-in
//! counts, authorization requests, sessions, the mandate wizard's drafts, browsers no longer
//! recognised, e-mails sent or given up — past its retention.
//! Every instance runs it; the checkpoint is written once per day whichever instance comes
//! first, and so is each scheduled job's period ([`crate::jobs`]). After them, the journal's
//! verification asked (daily, or by the national team) is computed ([`verify_journal`]). Nothing personal is
//! journaled or logged about what is deleted: counts only.
//!
//! Beside it, each instance delivers the e-mail of the outbox ([`deliver_mail`]) and reports
//! the addresses refused by their servers.

use authenticator::SessionPolicy;
use chrono::Duration;
use provider::KeySet;
use store::{PooledDb, Timestamp};

/// How long what expired is kept before the upkeep deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Authorization requests, after their creation.
    pub oidc_requests: Duration,
    /// Aidant sessions, after their absolute end.
    pub sessions: Duration,
    /// Mandate drafts, after they expire.
    pub mandate_drafts: Duration,
    /// E-mails, after they were sent or given up.
    pub emails: Duration,
}

/// What the upkeep follows: the session rules (for throttle counts) and the retention.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Sessions, codes and their throttling.
    pub policy: SessionPolicy,
    /// Retention of what expired.
    pub retention: Retention,
}

/// Rows one round of upkeep deleted, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Expired failed sign-in counts of source addresses.
    pub throttle: usize,
    /// Authorization requests past their retention.
    pub oidc_requests: usize,
    /// Sessions past their retention.
    pub sessions: usize,
    /// Mandate drafts past their retention.
    pub mandate_drafts: usize,
    /// Browsers no longer recognised.
    pub devices: usize,
    /// E-mails sent or given up past their retention.
    pub emails: usize,
    /// Habilitation issuers' links and sessions that no longer work.
    pub issuer_links: usize,
    /// Usagers' sign-ins and sessions of their own space that no longer work.
    pub usager_sessions: usize,
}

/// What one round of upkeep did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upkeep {
    /// The checkpoint written, if the day had none yet.
    pub checkpoint: Option<journal::Checkpoint>,
    /// Months whose statistics were summed.
    pub closed_months: usize,
    /// What was deleted.
    pub purged: Purged,
}

/// One round of upkeep at `now`.
pub fn run_once(
    conn: &mut PooledDb,
    keys: &KeySet,
    rules: &Rules,
    now: Timestamp,
) -> anyhow::Result<Upkeep> {
    let checkpoint = journal::checkpoint_if_due(conn, keys, now)?;
    if let Some(c) = &checkpoint {
        tracing::info!(day = %c.day, heads = c.heads, token = %c.token, "journal checkpoint written");
    }
    let closed_months = store::write_transaction(conn, |tx| journal::stats::close_months(tx, now))?;
    let retention = &rules.retention;
    let purged = Purged {
        throttle: store::write_transaction(conn, |tx| {
            authenticator::purge_login_throttle(tx.conn(), &rules.policy.source, now)
        })?,
        oidc_requests: store::write_transaction(conn, |tx| {
            provider::purge_requests(tx.conn(), now - retention.oidc_requests)
        })?,
        sessions: store::write_transaction(conn, |tx| {
            authenticator::purge_sessions(tx.conn(), now - retention.sessions)
        })?,
        mandate_drafts: store::write_transaction(conn, |tx| {
            mandate::purge_drafts(tx.conn(), now - retention.mandate_drafts)
        })?,
        devices: store::write_transaction(conn, |tx| {
            authenticator::purge_devices(tx.conn(), now - rules.policy.device_lifetime)
        })?,
        emails: mail::purge(conn, now - retention.emails)?,
        issuer_links: habilitation::issuer::purge_expired(conn, now)?,
        usager_sessions: espace_usager::purge_expired(conn, now)?,
    };
    if purged != Purged::default() {
        tracing::info!(
            throttle = purged.throttle,
            oidc_requests = purged.oidc_requests,
            sessions = purged.sessions,
            mandate_drafts = purged.mandate_drafts,
            devices = purged.devices,
            emails = purged.emails,
            issuer_links = purged.issuer_links,
            usager_sessions = purged.usager_sessions,
            "expired rows deleted"
        );
    }
    Ok(Upkeep {
        checkpoint,
        closed_months,
        purged,
    })
}

/// The journal's verification at `now`: the day's is asked if none was asked in the last day,
/// then the oldest one asked (by the upkeep or a member of the national team) is computed and
/// stored (`audit::run_requested_verification`). Returns whether the journal is intact, when a
/// verification ran.
pub fn verify_journal(
    conn: &mut PooledDb,
    rng: &dyn ring::rand::SecureRandom,
    keys: &KeySet,
    now: Timestamp,
) -> anyhow::Result<Option<bool>> {
    audit::request_daily_verification(conn, rng, now)?;
    let verified = audit::run_requested_verification(conn, keys, now)?;
    match verified {
        Some(true) => tracing::info!("journal verified: intact"),
        Some(false) => {
            tracing::error!("journal verified: ALTERED, see /administration/journal/verification")
        }
        None => {}
    }
    Ok(verified)
}

/// Runs [`run_once`] and the scheduled jobs due now and then every `every`, on the current
/// actix system (it stops with it); every round shows the jobs' last runs in `/metrics`.
pub fn spawn(
    state: actix_web::web::Data<web::AppState>,
    rules: Rules,
    schedule: crate::jobs::Schedule,
    every: std::time::Duration,
) {
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(every);
        loop {
            interval.tick().await;
            let state = state.clone();
            let done = actix_web::web::block(move || -> anyhow::Result<()> {
                let mut conn = state.pool.get()?;
                let now = state.clock.now();
                run_once(&mut conn, state.provider.keys(), &rules, now)?;
                crate::jobs::run_due(&mut conn, &state.rng, &schedule, now)?;
                crate::jobs::publish(&mut conn, &state.metrics)?;
                verify_journal(&mut conn, &state.rng, state.provider.keys(), now).map(|_| ())
            })
            .await;
            match done {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "upkeep failed"),
                Err(e) => tracing::warn!(error = %e, "upkeep interrupted"),
            }
        }
    });
}

/// Messages sent per round of delivery, at most.
const MAIL_BATCH: i64 = 200;

/// One round of e-mail delivery at `now`; the outcome and the queue's size go to `/metrics`.
/// Then each address refused since is reported once (journal, state shown to référents).
pub fn deliver_mail(
    conn: &mut PooledDb,
    rng: &dyn ring::rand::SecureRandom,
    mailer: &mail::Mailer,
    metrics: &web::Metrics,
    now: Timestamp,
) -> anyhow::Result<mail::Delivery> {
    let delivery = mail::deliver_due(conn, mailer, now, MAIL_BATCH)?;
    for refused in mail::unreported_refusals(conn, MAIL_BATCH)? {
        store::write_transaction(conn, |tx| -> anyhow::Result<()> {
            if mail::mark_reported(tx, &refused.id, now)? {
                accounts::record_undeliverable(
                    tx,
                    rng,
                    now,
                    &refused.recipient,
                    &refused.kind,
                    &refused.id,
                )?;
            }
            Ok(())
        })?;
    }
    let (pending, failed) = mail::counts(conn)?;
    metrics.email_round(
        delivery.sent as u64,
        delivery.deferred as u64,
        delivery.failed as u64,
        pending,
        failed,
    );
    if delivery != mail::Delivery::default() {
        tracing::info!(
            sent = delivery.sent,
            deferred = delivery.deferred,
            failed = delivery.failed,
            pending,
            "e-mail delivery"
        );
    }
    Ok(delivery)
}

/// Runs [`deliver_mail`] every `every` on the current actix system (it stops with it).
pub fn spawn_mail(
    state: actix_web::web::Data<web::AppState>,
    mailer: std::sync::Arc<mail::Mailer>,
    every: std::time::Duration,
) {
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(every);
        loop {
            interval.tick().await;
            let (state, mailer) = (state.clone(), mailer.clone());
            let done = actix_web::web::block(move || {
                let mut conn = state.pool.get()?;
                deliver_mail(
                    &mut conn,
                    &state.rng,
                    &mailer,
                    &state.metrics,
                    state.clock.now(),
                )
            })
            .await;
            match done {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "e-mail delivery failed"),
                Err(e) => tracing::warn!(error = %e, "e-mail delivery interrupted"),
            }
        }
    });
}
