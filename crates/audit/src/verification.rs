//! The journal's verification report: every chain walked from its start, every signed daily
//! checkpoint checked against the chains — what `aidants-connect journal verify` prints and
//! the back office shows.

use crate::AuditError;
use journal::{CheckpointReport, CheckpointSigner};
use std::collections::HashMap;
use store::{DbConnection, OrganisationId};

/// One chain as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLine {
    /// The chain (a structure's id, or `national`).
    pub chain: String,
    /// Whose chain: the structure's name and SIRET, or the national team.
    pub name: String,
    /// Entries found.
    pub entries: i64,
    /// Its first break, described in French; `None` when intact.
    pub broken: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Every chain, by id.
    pub chains: Vec<ChainLine>,
    /// The checkpoints.
    pub checkpoints: CheckpointReport,
}

impl Verification {
    /// Whether every chain and every checkpoint holds.
    pub fn intact(&self) -> bool {
        self.chains.iter().all(|c| c.broken.is_none()) && self.checkpoints.problems.is_empty()
    }

    /// How many chains are broken.
    pub fn broken(&self) -> usize {
        self.chains.iter().filter(|c| c.broken.is_some()).count()
    }

    /// The name of `chain` in this report.
    pub fn name_of(&self, chain: &str) -> &str {
        self.chains
            .iter()
            .find(|c| c.chain == chain)
            .map_or("structure inconnue", |c| c.name.as_str())
    }
}

/// Walks every chain, then checks every checkpoint's signature with `signer`.
pub fn verification(
    conn: &mut DbConnection,
    signer: &dyn CheckpointSigner,
) -> Result<Verification, AuditError> {
    let reports = journal::verify_all(conn)?;
    let ids: Vec<OrganisationId> = reports
        .iter()
        .filter(|r| r.chain != journal::NATIONAL_CHAIN)
        .map(|r| OrganisationId::from(r.chain.as_str()))
        .collect();
    let names: HashMap<OrganisationId, String> = accounts::organisations_by_ids(conn, &ids)?
        .into_iter()
        .map(|o| {
            let name = format!("{} (SIRET {})", o.name, o.siret);
            (o.id, name)
        })
        .collect();
    let chains = reports
        .into_iter()
        .map(|report| ChainLine {
            name: if report.chain == journal::NATIONAL_CHAIN {
                "équipe nationale".to_owned()
            } else {
                names
                    .get(&OrganisationId::from(report.chain.as_str()))
                    .cloned()
                    .unwrap_or_else(|| "structure inconnue".to_owned())
            },
            entries: report.entries,
            broken: report.broken.as_ref().map(journal::ChainBreak::describe),
            chain: report.chain,
        })
        .collect();
    Ok(Verification {
        chains,
        checkpoints: journal::verify_checkpoints(conn, signer)?,
    })
}
