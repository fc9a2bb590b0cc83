//! The national team's import of physical OTP cards from a CSV file (serial number, seed):
//! every row is checked first, and the file is imported whole or not at all.

use crate::cards::{create_card, CardKind, NewCard, OtpCard};
use crate::management::card_by_serial;
use crate::{AuthError, SeedCipher};
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::digest;
use ring::rand::SecureRandom;
use std::collections::HashMap;
use store::schema::otp_cards;
use store::{write_transaction, AidantId, DbConnection, PooledDb, Timestamp};

/// Longest serial number accepted.
const MAX_SERIAL: usize = 32;
/// Seeds are 16 to 20 bytes (RFC 4226 asks for at least 128 bits; cards carry 160).
const SEED_HEX_LENGTHS: std::ops::RangeInclusive<usize> = 32..=40;

/// A row that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// Line number in the file, from 1.
    pub line: u64,
    /// The serial number as read (may be empty).
    pub serial: String,
    /// Why, in French.
    pub reason: String,
}

/// What an import did, or would have done had no row been rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New cards.
    pub added: Vec<String>,
    /// Cards in stock whose seed was replaced.
    pub updated: Vec<String>,
    /// Rows refused; when there is any, nothing was imported.
    pub rejected: Vec<RejectedRow>,
}

impl ImportReport {
    /// Whether the file was imported.
    pub fn applied(&self) -> bool {
        self.rejected.is_empty()
    }
}

enum Plan {
    Add { serial: String, seed: String },
    Update { card: Box<OtpCard>, seed: String },
}

fn is_header(record: &csv::StringRecord) -> bool {
    let first = record.get(0).unwrap_or("").to_lowercase();
    ["serial", "série", "serie", "numero", "numéro"]
        .iter()
        .any(|w| first.contains(w))
}

fn delimiter(content: &[u8]) -> u8 {
    let first_line = content.split(|b| *b == b'\n').next().unwrap_or(&[]);
    if first_line.contains(&b';') && !first_line.contains(&b',') {
        b';'
    } else {
        b','
    }
}

fn check_row(record: &csv::StringRecord) -> Result<(String, String), String> {
    if record.len() != 2 {
        return Err(format!(
            "2 colonnes attendues (numéro de série, graine), {} trouvée(s)",
            record.len()
        ));
    }
    let serial = record[0].trim().to_uppercase();
    let seed = record[1].trim().to_lowercase();
    if serial.is_empty()
        || serial.len() > MAX_SERIAL
        || !serial
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!(
            "numéro de série invalide : lettres, chiffres ou tirets, {MAX_SERIAL} caractères au plus"
        ));
    }
    if serial.starts_with("NUM") {
        return Err("numéro de série réservé aux cartes numériques (NUM…)".to_owned());
    }
    if !SEED_HEX_LENGTHS.contains(&seed.len())
        || !seed.len().is_multiple_of(2)
        || !seed.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(format!(
            "graine invalide : {} à {} caractères hexadécimaux attendus",
            SEED_HEX_LENGTHS.start(),
            SEED_HEX_LENGTHS.end()
        ));
    }
    Ok((serial, seed))
}

/// Imports the cards of a CSV file: one row per card, `serial,seed` (a header line and `;` as
/// separator are recognised). A new serial adds a card in stock; a known serial of a card in
/// stock gets the new seed. Any malformed row, duplicate serial, or serial of a card held by
/// an aidant rejects the whole file: the report then lists every rejected line and nothing is
/// written. A successful import is journaled as `import_totp_cards` on the national chain.
pub fn import_cards(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    content: &[u8],
    by: accounts::By<'_>,
) -> Result<ImportReport, AuthError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter(content))
        .from_reader(content);
    let mut report = ImportReport::default();
    let mut plans = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    write_transaction(conn, |tx| {
        for (index, record) in reader.records().enumerate() {
            let fallback_line = index as u64 + 1;
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(fallback_line);
                    report.rejected.push(RejectedRow {
                        line,
                        serial: String::new(),
                        reason: "ligne illisible (texte UTF-8 attendu)".to_owned(),
                    });
                    continue;
                }
            };
            let line = record.position().map(|p| p.line()).unwrap_or(fallback_line);
            if line == 1 && is_header(&record) {
                continue;
            }
            let (serial, seed) = match check_row(&record) {
                Ok(row) => row,
                Err(reason) => {
                    report.rejected.push(RejectedRow {
                        line,
                        serial: record.get(0).unwrap_or("").trim().to_owned(),
                        reason,
                    });
                    continue;
                }
            };
            if let Some(first) = seen.insert(serial.clone(), line) {
                report.rejected.push(RejectedRow {
                    line,
                    serial,
                    reason: format!("numéro de série en double (déjà ligne {first})"),
                });
                continue;
            }
            match card_by_serial(tx.conn(), &serial)? {
                None => {
                    report.added.push(serial.clone());
                    plans.push(Plan::Add { serial, seed });
                }
                Some(card) if card.aidant_id.is_some() => report.rejected.push(RejectedRow {
                    line,
                    serial,
                    reason:
                        "carte associée à un aidant : dissociez-la avant de remplacer sa graine"
                            .to_owned(),
                }),
                Some(card) => {
                    report.updated.push(serial);
                    plans.push(Plan::Update {
                        card: Box::new(card),
                        seed,
                    });
                }
            }
        }
        if !report.rejected.is_empty() {
            return Ok(());
        }
        for plan in &plans {
            match plan {
                Plan::Add { serial, seed } => {
                    create_card(
                        tx,
                        rng,
                        cipher,
                        now,
                        NewCard {
                            serial,
                            seed_hex: seed,
                            kind: CardKind::Physical,
                            aidant_id: None,
                            validated: false,
                        },
                    )?;
                }
                Plan::Update { card, seed } => {
                    diesel::update(otp_cards::table.find(&card.id))
                        .set((
                            otp_cards::seed_encrypted.eq(cipher.seal_hex(rng, &card.id, seed)?),
                            otp_cards::last_used_step.eq(None::<i64>),
                            otp_cards::failures.eq(0),
                            otp_cards::locked_until.eq(None::<Timestamp>),
                            otp_cards::last_failure_at.eq(None::<Timestamp>),
                            otp_cards::disabled_reason.eq(None::<String>),
                        ))
                        .execute(tx.conn())?;
                }
            }
        }
        journal::append(
            tx,
            rng,
            now,
            NewEntry {
                chain: journal::NATIONAL_CHAIN,
                action: Action::ImportTotpCards,
                aidant_id: None,
                usager_id: None,
                organisation_id: None,
                subject: "",
                details: by.tag(serde_json::json!({
                    "added": report.added.len(),
                    "updated": report.updated.len(),
                    "file_sha256": hex::encode(digest::digest(&digest::SHA256, content)),
                })),
            },
        )?;
        Ok::<(), AuthError>(())
    })?;
    Ok(report)
}

/// Every card with the e-mail address of its holder, by serial number (for the national team).
pub fn list_cards(conn: &mut DbConnection) -> Result<Vec<(OtpCard, Option<String>)>, AuthError> {
    use store::schema::aidants;
    let cards: Vec<OtpCard> = otp_cards::table
        .order(otp_cards::serial.asc())
        .select(OtpCard::as_select())
        .load(conn)?;
    let holders: HashMap<AidantId, String> = aidants::table
        .filter(
            aidants::id.eq_any(
                cards
                    .iter()
                    .filter_map(|c| c.aidant_id.clone())
                    .collect::<Vec<_>>(),
            ),
        )
        .select((aidants::id, aidants::email))
        .load::<(AidantId, String)>(conn)?
        .into_iter()
        .collect();
    Ok(cards
        .into_iter()
        .map(|c| {
            let email = c.aidant_id.as_ref().and_then(|id| holders.get(id).cloned());
            (c, email)
        })
        .collect())
}
