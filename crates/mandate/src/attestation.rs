//! Attestations: the printable record of a mandate (or of its revocation). Its canonical
//! content is stored, and its fingerprint — HMAC-SHA-256 of that content under a server-side
//! key, so the usager's identity cannot be guessed from it — is journaled as
//! `create_attestation`. A paper attestation carries its id and fingerprint (QR code); the
//! verification says whether they match what was journaled, without revealing the usager.

use crate::{Actor, Demarche, Mandate, MandateError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::hmac;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use store::schema::{attestations, autorisations, mandates, usagers};
use store::{
    new_id, AidantId, DbConnection, MandateId, OrganisationId, Timestamp, UsagerId, WriteTx,
};

/// The consent statement printed on every mandate attestation.
pub const CONSENT_STATEMENT: &str = "L'usager désigné ci-dessus autorise les aidants habilités de la structure à réaliser en son nom, \
avec ses identifiants FranceConnect, les démarches administratives listées, pendant la durée indiquée. \
Il a été informé qu'il peut révoquer ce mandat à tout moment auprès de la structure, et que chaque \
démarche réalisée en son nom est enregistrée au journal d'Aidants Connect.";

/// The server-side key of attestation fingerprints.
pub struct AttestationKey(hmac::Key);

impl std::fmt::Debug for AttestationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttestationKey(..)")
    }
}

impl AttestationKey {
    /// A key from at least 32 secret bytes.
    pub fn new(secret: &[u8]) -> Result<AttestationKey, MandateError> {
        if secret.len() < 32 {
            return Err(MandateError::Attestation(
                "la clé des attestations doit faire au moins 32 octets".into(),
            ));
        }
        Ok(AttestationKey(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    pub(crate) fn fingerprint(&self, content: &str) -> String {
        hex::encode(hmac::sign(&self.0, content.as_bytes()).as_ref())
    }

    fn matches(&self, content: &str, fingerprint: &str) -> bool {
        hex::decode(fingerprint)
            .map(|tag| hmac::verify(&self.0, content.as_bytes(), &tag).is_ok())
            .unwrap_or(false)
    }
}

store::text_enum! {
    /// What an attestation is about (stored as its name).
    pub enum AttestationKind(
        MandateError,
        |name| MandateError::Corrupt(format!("type d'attestation inconnu: {name}"))
    ) {
        /// A mandate was created.
        Mandat = "mandat",
        /// A mandate was revoked.
        Revocation = "revocation",
        /// A mandate was transferred to another structure by the national team.
        Transfer = "transfert",
    }
}

/// The structure a transferred mandate was made in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Its name.
    pub organisation_name: String,
    /// Its SIRET.
    pub siret: String,
}

/// The organisation and aidant as the attestation names them (read by the caller from the
/// accounts).
#[derive(Debug, Clone)]
pub struct Parties {
    /// Organisation id.
    pub organisation_id: OrganisationId,
    /// Organisation name.
    pub organisation_name: String,
    /// SIRET.
    pub siret: String,
    /// Postal address, one line.
    pub address: String,
    /// Name of the aidant acting.
    pub aidant_name: String,
}

/// The usager as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintedUsager {
    /// First names.
    pub given_name: String,
    /// Birth name.
    pub family_name: String,
    /// Usage name.
    pub preferred_username: String,
    /// `YYYY-MM-DD`.
    pub birthdate: String,
    /// COG code of the birth commune (empty abroad).
    pub birthplace: String,
    /// COG code of the birth country.
    pub birthcountry: String,
}

/// The canonical content of an attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationContent {
    /// Format version.
    pub version: u32,
    /// `mandat` or `revocation`.
    pub kind: String,
    /// Mandate id.
    pub mandate_id: MandateId,
    /// Organisation name.
    pub organisation_name: String,
    /// SIRET.
    pub siret: String,
    /// Address.
    pub address: String,
    /// Aidant who made (or revoked) the mandate.
    pub aidant_name: String,
    /// Usager.
    pub usager: PrintedUsager,
    /// Démarche ids covered at creation.
    pub demarches: Vec<String>,
    /// Duration keyword.
    pub duration: String,
    /// Start (RFC 3339).
    pub created_at: String,
    /// End (RFC 3339).
    pub expires_at: String,
    /// Whether consent was collected remotely.
    pub is_remote: bool,
    /// Consent statement.
    pub consent_statement: String,
    /// Revocation time (RFC 3339), for a revocation attestation.
    pub revoked_at: Option<String>,
    /// The structure the mandate was made in, for a transfer attestation (absent from the
    /// other kinds, so their stored content is what it always was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transferred_from: Option<Origin>,
    /// For a revocation attestation: the usager revoked the mandate themselves, from their
    /// space (`aidant_name` is then the aidant who made it). Absent from the other
    /// attestations, so their stored content is what it always was.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked_by_usager: bool,
    /// The version of the mandate's text the mandate was made under, which the attestation
    /// reproduces (absent from the attestations of mandates made before versioning, whose
    /// `consent_statement` is their text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandate_text: Option<u32>,
}

impl AttestationContent {
    /// The démarches, as the catalogue knows them.
    pub fn demarches(&self) -> Vec<Demarche> {
        self.demarches
            .iter()
            .filter_map(|d| Demarche::parse(d).ok())
            .collect()
    }
}

/// A stored attestation.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = attestations)]
pub struct Attestation {
    /// Id (printed).
    pub id: String,
    /// Mandate.
    pub mandate_id: MandateId,
    /// What it attests.
    pub kind: AttestationKind,
    /// Canonical content (JSON).
    pub content: String,
    /// Fingerprint (printed), hex.
    pub fingerprint: String,
    /// When produced.
    pub created_at: Timestamp,
    /// By whom: the aidant, or none when produced at the usager's request (their revocation).
    pub created_by: Option<AidantId>,
    /// Once the usager's identity was erased: the fingerprint of the redacted content
    /// (journaled with the erasure).
    pub erased_fingerprint: Option<String>,
}

impl Attestation {
    /// The content, parsed.
    pub fn parsed(&self) -> Result<AttestationContent, MandateError> {
        serde_json::from_str(&self.content).map_err(|e| MandateError::Corrupt(e.to_string()))
    }
}

/// Writes the attestation of `mandate` and its `create_attestation` journal entry, inside the
/// caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_attestation(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    key: &AttestationKey,
    parties: &Parties,
    mandate: &Mandate,
    kind: AttestationKind,
    by: Actor<'_>,
    transferred_from: Option<Origin>,
) -> Result<Attestation, MandateError> {
    let usager: crate::Usager = usagers::table
        .find(&mandate.usager_id)
        .select(crate::Usager::as_select())
        .first(tx.conn())?;
    let mut demarches: Vec<Demarche> = autorisations::table
        .filter(autorisations::mandate_id.eq(&mandate.id))
        .select(autorisations::demarche)
        .load::<String>(tx.conn())?
        .iter()
        .map(|d| Demarche::parse(d))
        .collect::<Result<_, _>>()?;
    demarches.sort_by_key(|d| d.position());
    let content = AttestationContent {
        version: 1,
        kind: kind.as_str().to_owned(),
        mandate_id: mandate.id.clone(),
        organisation_name: parties.organisation_name.clone(),
        siret: parties.siret.clone(),
        address: parties.address.clone(),
        aidant_name: parties.aidant_name.clone(),
        usager: PrintedUsager {
            given_name: usager.given_name,
            family_name: usager.family_name,
            preferred_username: usager.preferred_username,
            birthdate: usager.birthdate,
            birthplace: usager.birthplace,
            birthcountry: usager.birthcountry,
        },
        demarches: demarches.iter().map(|d| d.id().to_owned()).collect(),
        duration: mandate.duration.as_str().to_owned(),
        created_at: mandate.created_at.to_rfc3339(),
        expires_at: mandate.expires_at.to_rfc3339(),
        is_remote: mandate.is_remote,
        // A versioned mandate's text is its version's; the statement stays for the others.
        consent_statement: if mandate.text_version.is_some() {
            String::new()
        } else {
            CONSENT_STATEMENT.to_owned()
        },
        revoked_at: mandate.revoked_at.map(|t| t.to_rfc3339()),
        transferred_from,
        revoked_by_usager: kind == AttestationKind::Revocation && mandate.revoked_by_usager,
        mandate_text: mandate.text_version.and_then(|v| u32::try_from(v).ok()),
    };
    let text =
        serde_json::to_string(&content).map_err(|e| MandateError::Attestation(e.to_string()))?;
    let attestation = Attestation {
        id: new_id(rng)?,
        mandate_id: mandate.id.clone(),
        kind,
        fingerprint: key.fingerprint(&text),
        content: text,
        created_at: now,
        created_by: by.aidant().cloned(),
        erased_fingerprint: None,
    };
    diesel::insert_into(attestations::table)
        .values((
            attestations::id.eq(&attestation.id),
            attestations::mandate_id.eq(&attestation.mandate_id),
            attestations::kind.eq(&attestation.kind),
            attestations::content.eq(&attestation.content),
            attestations::fingerprint.eq(&attestation.fingerprint),
            attestations::created_at.eq(attestation.created_at),
            attestations::created_by.eq(&attestation.created_by),
        ))
        .execute(tx.conn())?;
    journal::append(
        tx,
        rng,
        now,
        NewEntry {
            chain: mandate.organisation_id.as_str(),
            action: Action::CreateAttestation,
            aidant_id: by.aidant(),
            usager_id: Some(&mandate.usager_id),
            organisation_id: Some(&mandate.organisation_id),
            subject: &attestation.id,
            details: by.details(serde_json::json!({
                "mandat": mandate.id,
                "type": attestation.kind.as_str(),
                "empreinte": attestation.fingerprint,
            })),
        },
    )?;
    Ok(attestation)
}

/// An attestation by id.
pub fn attestation(conn: &mut DbConnection, id: &str) -> Result<Option<Attestation>, MandateError> {
    Ok(attestations::table
        .find(id)
        .select(Attestation::as_select())
        .first(conn)
        .optional()?)
}

/// The attestations of a mandate, oldest first.
pub fn attestations_of_mandate(
    conn: &mut DbConnection,
    mandate_id: &MandateId,
) -> Result<Vec<Attestation>, MandateError> {
    Ok(attestations::table
        .filter(attestations::mandate_id.eq(mandate_id))
        .order(attestations::created_at.asc())
        .select(Attestation::as_select())
        .load(conn)?)
}

/// What a verification may show: nothing that identifies the usager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationSummary {
    /// Mandate or revocation.
    pub kind: AttestationKind,
    /// Organisation name.
    pub organisation_name: String,
    /// Start of the mandate.
    pub created_at: Timestamp,
    /// End of the mandate.
    pub expires_at: Timestamp,
    /// Démarches covered at creation.
    pub demarches: Vec<Demarche>,
    /// When the attestation was produced.
    pub issued_at: Timestamp,
    /// Whether the mandate is revoked now.
    pub revoked_now: bool,
    /// Whether the mandate is usable now.
    pub usable_now: bool,
    /// The structure holding the mandate now, when it was transferred after this attestation.
    pub transferred_to: Option<String>,
    /// Whether the usager's identity was erased (on their request) since.
    pub erased: bool,
}

/// The outcome of verifying a paper attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Matches what was journaled.
    Genuine(AttestationSummary),
    /// The id exists, but the fingerprint does not match what was journaled.
    Altered,
    /// No attestation has this id.
    Unknown,
}

/// Verifies the id and fingerprint printed on an attestation against the stored content and
/// the journal.
pub fn verify_attestation(
    conn: &mut DbConnection,
    key: &AttestationKey,
    id: &str,
    fingerprint: &str,
    now: Timestamp,
) -> Result<Verification, MandateError> {
    let Some(attestation) = attestation(conn, id)? else {
        return Ok(Verification::Unknown);
    };
    let fingerprint = fingerprint.trim().to_ascii_lowercase();
    let journaled = journal::entries_about(conn, Action::CreateAttestation, &attestation.id)?
        .iter()
        .any(|entry| {
            serde_json::from_str::<serde_json::Value>(&entry.details)
                .ok()
                .and_then(|d| {
                    d.get("empreinte")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                })
                .is_some_and(|journaled| journaled == fingerprint)
        });
    let content_holds = match &attestation.erased_fingerprint {
        None => key.matches(&attestation.content, &fingerprint),
        Some(erased) => {
            key.matches(&attestation.content, erased)
                && erasure_journaled(conn, &attestation, erased)?
        }
    };
    if !journaled || attestation.fingerprint != fingerprint || !content_holds {
        return Ok(Verification::Altered);
    }
    let content = attestation.parsed()?;
    let mandate: Mandate = mandates::table
        .find(&attestation.mandate_id)
        .select(Mandate::as_select())
        .first(conn)?;
    let parse_time = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| MandateError::Corrupt(e.to_string()))
    };
    let transferred = journal::entries_about(conn, Action::TransferMandat, mandate.id.as_str())?
        .iter()
        .any(|entry| entry.at > attestation.created_at);
    let transferred_to = if transferred {
        accounts::organisation(conn, &mandate.organisation_id)?.map(|o| o.name)
    } else {
        None
    };
    Ok(Verification::Genuine(AttestationSummary {
        kind: attestation.kind,
        organisation_name: content.organisation_name.clone(),
        created_at: parse_time(&content.created_at)?.into(),
        expires_at: parse_time(&content.expires_at)?.into(),
        demarches: content.demarches(),
        issued_at: attestation.created_at,
        revoked_now: mandate.revoked_at.is_some(),
        usable_now: mandate.is_usable(now),
        transferred_to,
        erased: attestation.erased_fingerprint.is_some(),
    }))
}

/// Whether the erasure of the attestation's usager journaled `erased` as its new fingerprint.
fn erasure_journaled(
    conn: &mut DbConnection,
    attestation: &Attestation,
    erased: &str,
) -> Result<bool, MandateError> {
    let usager: UsagerId = mandates::table
        .find(&attestation.mandate_id)
        .select(mandates::usager_id)
        .first(conn)?;
    Ok(
        journal::entries_about(conn, Action::EraseUsager, usager.as_str())?
            .iter()
            .any(|entry| {
                serde_json::from_str::<serde_json::Value>(&entry.details)
                    .ok()
                    .and_then(|d| d.get("attestations").cloned())
                    .and_then(|a| a.as_array().cloned())
                    .is_some_and(|list| {
                        list.iter().any(|a| {
                            a.get("id").and_then(|v| v.as_str()) == Some(&attestation.id)
                                && a.get("empreinte").and_then(|v| v.as_str()) == Some(erased)
                        })
                    })
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_key_and_content() {
        let key = AttestationKey::new(&[7u8; 32]).unwrap();
        let other = AttestationKey::new(&[8u8; 32]).unwrap();
        let f = key.fingerprint("{\"a\":1}");
        assert_eq!(f.len(), 64);
        assert!(key.matches("{\"a\":1}", &f));
        assert!(!key.matches("{\"a\":2}", &f));
        assert!(!other.matches("{\"a\":1}", &f));
        assert!(!key.matches("{\"a\":1}", "zz"));
        assert!(AttestationKey::new(&[1u8; 16]).is_err());
    }
}
