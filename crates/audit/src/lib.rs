//! What the national team and the administrative authorities read across the whole service:
//! the journal searched (by structure, aidant, usager, action and period) and exported as CSV,
//! the journal's verification report, and the national exports (structures, aidants, mandates
//! per département). A read takes the staff proof ([`authenticator::StaffSession`]) whatever
//! the member's role; nothing here writes.
//!
//! Exports are written batch by batch to a sink (the web layer streams each batch to the
//! browser), so no whole file is ever held in memory.

mod csv_cells;
mod exports;
mod search;
mod verification;

pub use exports::{departement, export_aidants, export_departements, export_structures};
pub use search::{export_journal, journal_page, resolve, JournalSearch, Line, Page, Resolved};
pub use verification::{verification, ChainLine, Verification};

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
}

/// Where an export's batches go: `false` when the reader has gone (the export stops).
pub type Sink<'a> = dyn FnMut(Vec<u8>) -> bool + 'a;
