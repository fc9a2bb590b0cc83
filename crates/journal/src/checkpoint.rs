//! Daily checkpoints: the heads of the chains that moved since the previous checkpoint, signed
//! with the service's signing key and chained to the previous checkpoint. A chain cut back
//! (its tail removed and its head row rewound) no longer holds the entry a checkpoint
//! recorded, which the verification reports. Each checkpoint is also written to the log, so
//! a copy lives outside the database.

use crate::{JournalError, GENESIS_HASH};
use diesel::prelude::*;
use ring::digest;
use serde_json::{json, Value};
use store::schema::{journal, journal_checkpoints, journal_heads};
use store::{DbConnection, Timestamp};

/// Signs and verifies checkpoints (the provider's signing keys, in the service).
pub trait CheckpointSigner: Send + Sync {
    /// A compact JWS of `claims`.
    fn sign(&self, claims: &Value) -> Result<String, SignatureError>;
    /// The claims of a JWS this service signed, if its signature holds.
    fn verify(&self, token: &str) -> Result<Value, SignatureError>;
}

/// Why a checkpoint could not be signed, or its signature does not hold: the signer's own
/// error, kept whole.
pub type SignatureError = Box<dyn std::error::Error + Send + Sync>;

/// A written checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The Paris day it covers, `YYYY-MM-DD`.
    pub day: String,
    /// Chain heads it records.
    pub heads: usize,
    /// The signed token.
    pub token: String,
}

/// The Paris day of `at`, `YYYY-MM-DD`.
pub fn day_of(at: Timestamp) -> String {
    paris::local(at).format("%Y-%m-%d").to_string()
}

fn token_hash(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// Writes the checkpoint of the day of `now` unless it exists. Runs in its own write
/// transaction; when another instance wrote it first, returns `None` as well.
pub fn checkpoint_if_due(
    conn: &mut store::PooledDb,
    signer: &dyn CheckpointSigner,
    now: Timestamp,
) -> Result<Option<Checkpoint>, JournalError> {
    let day = day_of(now);
    let written = store::write_transaction(conn, |tx| write(tx.conn(), signer, now, &day));
    match written {
        Err(JournalError::Store(store::StoreError::Query(
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ),
        ))) => Ok(None),
        other => other,
    }
}

fn write(
    conn: &mut DbConnection,
    signer: &dyn CheckpointSigner,
    now: Timestamp,
    day: &str,
) -> Result<Option<Checkpoint>, JournalError> {
    let done = journal_checkpoints::table
        .find(day)
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if done {
        return Ok(None);
    }
    let previous: Option<String> = journal_checkpoints::table
        .order(journal_checkpoints::day.desc())
        .select(journal_checkpoints::token)
        .first(conn)
        .optional()?;
    let prev_hash = previous
        .as_deref()
        .map_or_else(|| GENESIS_HASH.to_owned(), token_hash);
    let moved: Vec<(String, i64, String)> = journal_heads::table
        .filter(journal_heads::seq.gt(journal_heads::checkpointed_seq))
        .order(journal_heads::chain.asc())
        .select((
            journal_heads::chain,
            journal_heads::seq,
            journal_heads::head_hash,
        ))
        .load(conn)?;
    let claims = json!({
        "typ": "journal-checkpoint",
        "day": day,
        "at": now.timestamp(),
        "prev": prev_hash,
        "heads": moved,
    });
    let token = signer.sign(&claims).map_err(JournalError::Signature)?;
    diesel::insert_into(journal_checkpoints::table)
        .values((
            journal_checkpoints::day.eq(day),
            journal_checkpoints::at.eq(now),
            journal_checkpoints::prev_hash.eq(&prev_hash),
            journal_checkpoints::token.eq(&token),
        ))
        .execute(conn)?;
    for (chain, seq, _) in &moved {
        diesel::update(journal_heads::table.find(chain))
            .set(journal_heads::checkpointed_seq.eq(seq))
            .execute(conn)?;
    }
    Ok(Some(Checkpoint {
        day: day.to_owned(),
        heads: moved.len(),
        token,
    }))
}

/// What a checkpoint shows wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CheckpointProblem {
    /// The signature does not hold, or the signed content differs from the row.
    BadSignature {
        /// Day.
        day: String,
        /// Why.
        reason: String,
    },
    /// The checkpoint does not follow the previous one (a checkpoint was removed or replaced).
    BrokenSequence {
        /// Day.
        day: String,
    },
    /// A recorded head is no longer in its chain: the chain was cut back.
    MissingEntry {
        /// Day.
        day: String,
        /// Chain.
        chain: String,
        /// Position.
        seq: i64,
    },
    /// The entry at a recorded head is not the one the checkpoint signed.
    DifferentEntry {
        /// Day.
        day: String,
        /// Chain.
        chain: String,
        /// Position.
        seq: i64,
    },
}

impl CheckpointProblem {
    /// The chain concerned, if any.
    pub fn chain(&self) -> Option<&str> {
        match self {
            CheckpointProblem::MissingEntry { chain, .. }
            | CheckpointProblem::DifferentEntry { chain, .. } => Some(chain),
            _ => None,
        }
    }

    /// What is wrong, in French, for the operator.
    pub fn describe(&self) -> String {
        match self {
            CheckpointProblem::BadSignature { day, reason } => {
                format!("point de contrôle du {day} : signature invalide ({reason})")
            }
            CheckpointProblem::BrokenSequence { day } => format!(
                "point de contrôle du {day} : il ne suit pas le précédent (point de contrôle supprimé ou remplacé)"
            ),
            CheckpointProblem::MissingEntry { day, seq, .. } => format!(
                "chaîne tronquée : l'entrée n° {seq}, enregistrée par le point de contrôle du {day}, a disparu"
            ),
            CheckpointProblem::DifferentEntry { day, seq, .. } => format!(
                "chaîne réécrite : l'entrée n° {seq} n'est plus celle signée par le point de contrôle du {day}"
            ),
        }
    }
}

/// The checkpoints as `verify_checkpoints` found them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointReport {
    /// Checkpoints read.
    pub checkpoints: usize,
    /// Heads checked against the chains.
    pub heads: usize,
    /// Every problem found.
    pub problems: Vec<CheckpointProblem>,
}

/// Checks every checkpoint: its signature, its place after the previous one, and that every
/// head it recorded is still in its chain with the same hash.
pub fn verify_checkpoints(
    conn: &mut DbConnection,
    signer: &dyn CheckpointSigner,
) -> Result<CheckpointReport, JournalError> {
    let rows: Vec<(String, String, String)> = journal_checkpoints::table
        .order(journal_checkpoints::day.asc())
        .select((
            journal_checkpoints::day,
            journal_checkpoints::prev_hash,
            journal_checkpoints::token,
        ))
        .load(conn)?;
    let mut report = CheckpointReport {
        checkpoints: rows.len(),
        ..CheckpointReport::default()
    };
    let mut expected_prev = GENESIS_HASH.to_owned();
    for (day, prev_hash, token) in rows {
        if prev_hash != expected_prev {
            report
                .problems
                .push(CheckpointProblem::BrokenSequence { day: day.clone() });
        }
        expected_prev = token_hash(&token);
        let claims = match signer.verify(&token) {
            Ok(claims) => claims,
            Err(reason) => {
                report.problems.push(CheckpointProblem::BadSignature {
                    day,
                    reason: reason.to_string(),
                });
                continue;
            }
        };
        if claims["day"] != day.as_str() || claims["prev"] != prev_hash.as_str() {
            report.problems.push(CheckpointProblem::BadSignature {
                day,
                reason: "le contenu signé diffère de la ligne".into(),
            });
            continue;
        }
        let heads: Vec<(String, i64, String)> =
            serde_json::from_value(claims["heads"].clone()).unwrap_or_default();
        for (chain, seq, hash) in heads {
            report.heads += 1;
            let found: Option<String> = journal::table
                .filter(journal::chain.eq(&chain))
                .filter(journal::seq.eq(seq))
                .select(journal::hash)
                .first(conn)
                .optional()?;
            match found {
                None => report.problems.push(CheckpointProblem::MissingEntry {
                    day: day.clone(),
                    chain,
                    seq,
                }),
                Some(h) if h != hash => report.problems.push(CheckpointProblem::DifferentEntry {
                    day: day.clone(),
                    chain,
                    seq,
                }),
                Some(_) => {}
            }
        }
    }
    Ok(report)
}
