//! The habilitation journey: a structure's online request, from its issuer (demandeur, who
//! has no account) to the national team's decision. An issuer confirms their address and
//! comes back through single-use signed links sent by e-mail ([`issuer`]), fills a request as
//! a draft saved step by step and submits it ([`request`]); the team reviews the queue,
//! writes to the issuer, asks for changes, validates — creating the structure, its référent
//! and its aidants to train in one transaction — refuses or closes ([`review`]). Then the
//! aidants to train are registered on training sessions, their attendance and Pix results
//! recorded, and those who passed activated ([`training`]). Later, a référent asks the team
//! for new aidants to train, or for aidants of other structures to join theirs ([`aidants`]).
//! Owns the tables `aidant_requests`,
//! `habilitation_issuers`, `issuer_links`, `issuer_sessions`, `habilitation_requests`,
//! `habilitation_people`, `habilitation_messages`, `training_sessions`,
//! `training_registrations`, `trainees`, `pix_results`. Every change is journaled.

pub mod aidants;
pub mod checks;
pub mod issuer;
pub mod request;
pub mod review;
#[cfg(feature = "seed")]
pub mod seed;
pub mod training;

pub use issuer::{IssuerSession, IssuerToken, LINK_HOURS};
pub use request::{
    Commitments, Person, PersonForm, Request, RequestFile, StructureForm, KINDS, OTHER_KIND,
};
pub use review::{Message, QueueRow};

use store::StoreError;

store::text_enum! {
    /// Where a habilitation request stands (stored as its name).
    pub enum Status(HabilitationError, HabilitationError::Status) {
        /// Being filled by its issuer.
        Draft = "draft",
        /// Submitted, awaiting the national team.
        Awaiting = "awaiting",
        /// The team asked for changes; the issuer may edit and submit again.
        ChangesRequired = "changes_required",
        /// Validated: the structure exists.
        Validated = "validated",
        /// Refused.
        Refused = "refused",
        /// Closed without a decision.
        Closed = "closed",
    }
}

impl Status {
    /// Every status, in the order of the journey.
    pub const ALL: [Status; 6] = [
        Status::Draft,
        Status::Awaiting,
        Status::ChangesRequired,
        Status::Validated,
        Status::Refused,
        Status::Closed,
    ];

    /// What the issuer and the team read.
    pub fn label(self) -> &'static str {
        match self {
            Status::Draft => "brouillon",
            Status::Awaiting => "en attente de validation",
            Status::ChangesRequired => "modifications demandées",
            Status::Validated => "validée",
            Status::Refused => "refusée",
            Status::Closed => "clôturée",
        }
    }

    /// Whether the issuer may still change the request.
    pub fn is_editable(self) -> bool {
        matches!(self, Status::Draft | Status::ChangesRequired)
    }

    /// Whether the request is still open (no decision yet).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::Draft | Status::Awaiting | Status::ChangesRequired
        )
    }
}

/// A field of a form refused, with why (in French).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name in the form.
    pub field: &'static str,
    /// Why, for the person who typed it.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// Why an action was refused; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Fields of the form are refused.
    #[error("le formulaire contient des erreurs")]
    Fields(Vec<FieldError>),
    /// No such request for this person (or not theirs).
    #[error("demande introuvable")]
    UnknownRequest,
    /// The request can no longer be changed by its issuer.
    #[error("cette demande est {} : elle ne peut plus être modifiée", .0.label())]
    NotEditable(Status),
    /// The status cannot go from `from` to `to`.
    #[error("une demande {} ne peut pas être {}", .from.label(), target(*.to))]
    Transition {
        /// The status now.
        from: Status,
        /// The status asked.
        to: Status,
    },
    /// Creating the structure or its people was refused (the accounts' reason).
    #[error("{0}")]
    Accounts(String),
}

/// The participle of a decision, for [`Refusal::Transition`].
fn target(to: Status) -> &'static str {
    match to {
        Status::Draft => "remise en brouillon",
        Status::Awaiting => "soumise",
        Status::ChangesRequired => "renvoyée pour modifications",
        Status::Validated => "validée",
        Status::Refused => "refusée",
        Status::Closed => "clôturée",
    }
}

/// Errors of the habilitation journey.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HabilitationError {
    /// Refused, nothing written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The accounts failed (not a refusal).
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    /// The journal.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// The outbox.
    #[error(transparent)]
    Mail(#[from] mail::MailError),
    /// The authenticator failed (not a refusal).
    #[error(transparent)]
    Authenticator(#[from] authenticator::AuthError),
    /// A stored status is unknown.
    #[error("statut de demande inconnu : {0}")]
    Status(String),
    /// A stored role is unknown.
    #[error("rôle de personne inconnu : {0}")]
    Role(String),
    /// Stored démarches are not a JSON list.
    #[error("démarches illisibles : {0}")]
    Demarches(#[from] serde_json::Error),
}

impl From<diesel::result::Error> for HabilitationError {
    fn from(e: diesel::result::Error) -> Self {
        HabilitationError::Store(StoreError::Query(e))
    }
}

impl HabilitationError {
    /// The refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            HabilitationError::Refused(r) => Some(r),
            _ => None,
        }
    }
}

/// Refuses with the field errors, if any.
pub(crate) fn refuse_fields(errors: Vec<FieldError>) -> Result<(), HabilitationError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Fields(errors).into())
    }
}
