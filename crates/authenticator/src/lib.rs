//! The authenticator: OTP cards (seeds encrypted at rest, bound to their card), TOTP
//! verification with a ±1 step drift, single use of every code recorded atomically in the
//! database, one answer for every failed sign-in, failure counting per recognised browser, per
//! card for unrecognised browsers (locks that double) and per source address (keyed tags), the
//! card lifecycle (CSV import, association, validation, dissociation, digital enrolment,
//! unlocking, deactivation by a référent — of an aidant whose every structure they manage),
//! aidant sessions (tokens hashed at rest, idle and absolute lifetimes) and the activity check,
//! the aidants' CGU (`cgu`: the version in force, its acceptance, required by the activity
//! check), and the weekly reminder to référents of the aidants without a card in service.
//!
//! Its outputs that other crates rely on are proofs, which only this crate can construct (module
//! `authority`): [`VerifiedAidant`], that an aidant passed the OTP check within the activity
//! window for an organisation they may work for (what every mandate write takes), and the
//! référent's [`ReferentSession`] and [`VerifiedReferent`]. It knows nothing of mandates or
//! OpenID Connect.

mod authority;
mod back_office;
mod cards;
pub mod cgu;
mod devices;
mod import;
mod management;
mod reminder;
mod seed;
mod sessions;
mod staff;
mod throttle;

pub use authority::{referent_session, verify_referent, ReferentSession, VerifiedReferent};
pub use back_office::{
    card_history, cards_by_serial_prefix, deactivation_preview, join_in, leave_in, shipments_of,
    staff_deactivate_accounts, staff_dissociate_card, staff_edit_aidant, staff_edit_organisation,
    staff_import_cards, staff_move_member, staff_record_shipment, staff_set_member_active,
    staff_set_role, CardHistory, NewShipment, PastedAidant, Shipment, ShipmentRefusal,
    PASTED_ADDRESSES_MAX, SHIPMENT_MAX,
};
pub use cards::{
    bind_legacy_seeds, card_code_at, create_card, verify_code, Backoff, CardKind, CardState,
    NewCard, OtpCard, OtpRefusal, TOTP_DIGITS, TOTP_PERIOD,
};
pub use devices::{purge_devices, DeviceToken};
pub use import::{import_cards, list_cards, ImportReport, RejectedRow};
pub use management::{
    associate_card, begin_digital_card, card_by_serial, cards_of_aidant, cards_of_aidants,
    deactivate_member, designate_referent, dissociate_card, hand_over_referent, may_manage_cards,
    reactivate_member, remove_referent, unlock_card, validate_card, CardRefusal, Dissociation,
    Enrolment, ReferentAction,
};
pub use reminder::aidants_without_card_reminder;
pub use seed::{SeedCipher, SeedError};
pub use sessions::{
    end_session, end_sessions, login, purge_sessions, recheck, session_by_token,
    switch_organisation, verify_activity, AidantSession, CardAlert, Credentials, Failure,
    LoginRefusal, SessionPolicy, SessionToken, SignedIn, VerifiedAidant,
};
pub use staff::{
    complete_staff_enrolment, create_staff, end_staff_session, staff_activate_aidant,
    staff_add_member, staff_associate_card, staff_change_member, staff_create_member,
    staff_create_organisation, staff_enrolment, staff_login, staff_members, staff_session_by_token,
    staff_set_structure_open, staff_validate_card, AdminStaff, Created, EnrolmentRefusal, NewStaff,
    Staff, StaffCard, StaffCardRefusal, StaffChange, StaffChangeRefusal, StaffEnrolment,
    StaffLifetimes, StaffRefusal, StaffRole, StaffSession, StaffSignedIn, SupportStaff,
    TrainingStaff,
};
pub use throttle::purge_login_throttle;

use store::StoreError;

/// Errors of the authenticator that are not a refusal of the person (those are
/// [`LoginRefusal`] and [`OtpRefusal`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Account lookup failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    /// Journal failed.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// An e-mail could not be written to the outbox.
    #[error(transparent)]
    Mail(#[from] mail::MailError),
    /// A seed could not be decrypted or is malformed.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// A stored card kind is not one this version knows.
    #[error("type de carte inconnu: {0}")]
    CardKind(String),
    /// A stored staff role is not one this version knows.
    #[error("rôle inconnu dans l'équipe: {0}")]
    StaffRole(String),
}

impl From<diesel::result::Error> for AuthError {
    fn from(e: diesel::result::Error) -> Self {
        AuthError::Store(StoreError::Query(e))
    }
}
