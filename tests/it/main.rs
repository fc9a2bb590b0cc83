//! End-to-end tests: the identity-provider flow against Aidants Connect served on loopback,
//! driven by an independent relying party, on SQLite and on PostgreSQL. One test binary
//! (each test file would otherwise be a separate, slow link).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod acting;
mod aidant_requests;
mod authorize_errors;
mod back_office_aidants;
mod back_office_cards;
mod back_office_journal;
mod back_office_mandates;
mod back_office_structures;
mod back_office_usagers;
mod cards;
mod cgu;
mod email;
mod espace_usager;
mod flow;
mod franceconnect;
mod habilitation;
mod hostile;
mod jobs;
mod journal_integrity;
mod legal;
mod load;
mod mandate_text;
mod mandates;
mod operations;
mod refusals;
mod sessions;
mod sign_in;
mod simulator;
mod staff;
mod storage;
mod usable;
mod volume;
