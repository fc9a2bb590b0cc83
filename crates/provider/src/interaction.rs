//! The interaction's state machine: what a pending authorization request needs next from the
//! browser that shows it — sign in, type a fresh code, choose the usager, choose the
//! démarche — and who owns the request. Computed from the request and the browser's session;
//! the web layer renders the step it is given.

use crate::{PendingRequest, Provider};
use authenticator::{AidantSession, SessionPolicy, VerifiedAidant};
use store::{Timestamp, UsagerId};

/// What the interaction shows next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// No live session in this browser: the aidant signs in.
    SignIn,
    /// Another aidant chose a usager for this request: it is theirs.
    OtherAidant,
    /// The signed-in account may not act for usagers (a référent who is no aidant, or not
    /// trained yet).
    NotActing,
    /// The aidant has not accepted the CGU in force: they read and accept them first.
    AcceptCgu(AidantSession),
    /// The aidant must type a code again: the activity window has passed, or the client asked
    /// for a newer authentication (`prompt=login`, `max_age`).
    Recheck(AidantSession),
    /// The aidant chooses the usager (with the proof they may act).
    ChooseUsager(VerifiedAidant),
    /// The aidant chooses the démarche for the usager already chosen in their structure.
    ChooseDemarche(VerifiedAidant, UsagerId),
}

impl NextStep {
    /// The proof the aidant may act on the request now (choose or change the usager, choose
    /// the démarche), if the step allows it.
    pub fn acting(self) -> Option<VerifiedAidant> {
        match self {
            NextStep::ChooseUsager(verified) | NextStep::ChooseDemarche(verified, _) => {
                Some(verified)
            }
            NextStep::SignIn
            | NextStep::OtherAidant
            | NextStep::NotActing
            | NextStep::AcceptCgu(_)
            | NextStep::Recheck(_) => None,
        }
    }
}

/// The next step of `request` for the browser's live session, if any, at `now`.
pub fn next_step(
    request: &PendingRequest,
    session: Option<AidantSession>,
    provider: &Provider,
    policy: &SessionPolicy,
    now: Timestamp,
) -> NextStep {
    let Some(session) = session else {
        return NextStep::SignIn;
    };
    if request
        .aidant_id
        .as_ref()
        .is_some_and(|a| a != session.aidant_id())
    {
        return NextStep::OtherAidant;
    }
    if !session.acts_for_usagers() {
        return NextStep::NotActing;
    }
    if !session.accepted_cgu(now) {
        return NextStep::AcceptCgu(session);
    }
    let verified = authenticator::verify_activity(&session, policy, now)
        .filter(|_| !request.needs_reauthentication(provider, session.last_otp_at()));
    let Some(verified) = verified else {
        return NextStep::Recheck(session);
    };
    match &request.usager_id {
        Some(usager) if request.organisation_id.as_ref() == Some(verified.organisation_id()) => {
            NextStep::ChooseDemarche(verified, usager.clone())
        }
        _ => NextStep::ChooseUsager(verified),
    }
}
