//! Periodic upkeep of a running service: the day's signed journal checkpoint, the statistics
//! of the months that are over summed once, and forgetting failed sign-in counts that expired. Every instance runs it; the checkpoint is written once
//! per day whichever instance comes first.

use authenticator::SessionPolicy;
use chrono::{DateTime, Utc};
use provider::KeySet;
use store::DbConnection;

/// What one round of upkeep did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upkeep {
    /// The checkpoint written, if the day had none yet.
    pub checkpoint: Option<journal::Checkpoint>,
    /// Months whose statistics were summed.
    pub closed_months: usize,
    /// Expired source-address counts removed.
    pub purged: usize,
}

/// One round of upkeep at `now`.
pub fn run_once(
    conn: &mut DbConnection,
    keys: &KeySet,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
) -> anyhow::Result<Upkeep> {
    let checkpoint = journal::checkpoint_if_due(conn, keys, now)?;
    if let Some(c) = &checkpoint {
        tracing::info!(day = %c.day, heads = c.heads, token = %c.token, "journal checkpoint written");
    }
    let closed_months =
        store::write_transaction(conn, |conn| journal::stats::close_months(conn, now))?;
    let purged = store::write_transaction(conn, |conn| {
        authenticator::purge_login_throttle(conn, &policy.source, now)
    })?;
    if purged > 0 {
        tracing::info!(purged, "expired failed sign-in counts removed");
    }
    Ok(Upkeep {
        checkpoint,
        closed_months,
        purged,
    })
}

/// Runs [`run_once`] now and then every `every`, on the current actix system (it stops with it).
pub fn spawn(state: actix_web::web::Data<web::AppState>, every: std::time::Duration) {
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(every);
        loop {
            interval.tick().await;
            let state = state.clone();
            let done = actix_web::web::block(move || {
                let mut conn = state.pool.get()?;
                run_once(
                    &mut conn,
                    state.provider.keys(),
                    &state.policy,
                    state.clock.now(),
                )
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
