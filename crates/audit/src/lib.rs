//! What the national team and the administrative authorities read across the whole service:
//! the journal searched (by structure, aidant, usager, action and period) and exported as CSV,
//! the journal's verification report, and the national exports (structures, aidants, mandates
//! per département). A read takes the staff proof ([`authenticator::StaffSession`]) whatever
//! the member's role. It writes only its own table, the journal's verification reports
//! (`journal_verifications`), which the upkeep computes.
//!
//! Exports are written batch by batch to a sink (the web layer streams each batch to the
//! browser), so no whole file is ever held in memory.

mod csv_cells;
mod exports;
mod search;
mod verification;

pub use exports::{departement, export_aidants, export_departements, export_structures};
pub use search::{export_journal, journal_page, resolve, JournalSearch, Line, Page, Resolved};
pub use verification::{
    request_daily_verification, request_verification, run_requested_verification, verification,
    verifications, ChainLine, Verification, Verifications,
};

/// Errors of the reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// Accounts could not be read.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    /// Cards could not be read.
    #[error(transparent)]
    Auth(#[from] authenticator::AuthError),
    /// Usagers could not be read.
    #[error(transparent)]
    Mandate(#[from] mandate::MandateError),
    /// A CSV line could not be written.
    #[error("écriture CSV : {0}")]
    Csv(#[from] csv::Error),
    /// The verification reports could not be stored or read.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A stored verification report could not be written or read back.
    #[error("rapport de vérification : {0}")]
    Report(#[source] serde_json::Error),
}

impl From<diesel::result::Error> for AuditError {
    fn from(e: diesel::result::Error) -> Self {
        AuditError::Store(store::StoreError::Query(e))
    }
}

/// Where an export's batches go: `false` when the reader has gone (the export stops).
pub type Sink<'a> = dyn FnMut(Vec<u8>) -> bool + 'a;
