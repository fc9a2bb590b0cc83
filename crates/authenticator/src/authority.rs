//! Proofs of authority for the référent's doors. Each type has private fields and is built
//! here only, after the check it stands for; a function that needs the authority takes the
//! proof, so a caller that forgot the check does not compile.
//!
//! - [`VerifiedAidant`](crate::VerifiedAidant) (built by
//!   [`verify_activity`](crate::verify_activity)): a code typed within the activity window in
//!   a live session, for a structure the aidant may work for.
//! - [`ReferentSession`]: a live session of an active référent of the session's structure,
//!   for what a référent may *see*.
//! - [`VerifiedReferent`]: the same, with a code typed within the activity window, for what a
//!   référent may *do* (a référent who may not act for usagers still may).

use crate::sessions::{AidantSession, SessionPolicy};
use crate::AuthError;
use store::{AidantId, DbConnection, OrganisationId, Timestamp};

/// Proof that the holder of a live session is an active référent of the session's structure.
/// Only [`referent_session`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferentSession {
    referent_id: AidantId,
    organisation_id: OrganisationId,
}

impl ReferentSession {
    /// The référent.
    pub fn referent_id(&self) -> &AidantId {
        &self.referent_id
    }
    /// Their structure.
    pub fn organisation_id(&self) -> &OrganisationId {
        &self.organisation_id
    }
}

/// Proof that an aidant who typed a code within the activity window is an active référent of
/// the structure they work for in this session (whether or not they may act for usagers).
/// Only [`verify_referent`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReferent {
    referent_id: AidantId,
    organisation_id: OrganisationId,
}

impl VerifiedReferent {
    /// The référent.
    pub fn referent_id(&self) -> &AidantId {
        &self.referent_id
    }
    /// Their structure.
    pub fn organisation_id(&self) -> &OrganisationId {
        &self.organisation_id
    }
}

/// The référent proof of a live session, when its aidant is an active référent of its
/// structure (the rule of `accounts::is_referent`).
pub fn referent_session(
    conn: &mut DbConnection,
    session: &AidantSession,
) -> Result<Option<ReferentSession>, AuthError> {
    Ok(
        accounts::is_referent(conn, session.aidant_id(), session.organisation_id())?.then(|| {
            ReferentSession {
                referent_id: session.aidant_id().to_owned(),
                organisation_id: session.organisation_id().to_owned(),
            }
        }),
    )
}

/// The référent proof of a live session whose code is within the activity window, when its
/// aidant is an active référent of its structure; `None` otherwise (a fresh code is asked
/// first when [`AidantSession::code_is_fresh`] is false).
pub fn verify_referent(
    conn: &mut DbConnection,
    session: &AidantSession,
    policy: &SessionPolicy,
    now: Timestamp,
) -> Result<Option<VerifiedReferent>, AuthError> {
    if !session.code_is_fresh(policy, now) {
        return Ok(None);
    }
    Ok(
        accounts::is_referent(conn, session.aidant_id(), session.organisation_id())?.then(|| {
            VerifiedReferent {
                referent_id: session.aidant_id().to_owned(),
                organisation_id: session.organisation_id().to_owned(),
            }
        }),
    )
}
