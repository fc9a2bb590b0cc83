//! The national team's command-line administration: import OTP cards, list them, create an
//! organisation, create an aidant or a référent, activate an aidant after training. Each
//! command checks its input, writes in one transaction and prints what it did in French.

use authenticator::{CardState, ImportReport, SeedCipher};
use ring::rand::SecureRandom;
use std::fmt::Write as _;
use store::{write_transaction, PooledDb, Timestamp};

/// Why a command failed: a message for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input is wrong; nothing was written.
    #[error("{0}")]
    Refused(String),
    /// Storage or another component failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<accounts::AccountError> for AdminError {
    fn from(e: accounts::AccountError) -> Self {
        if e.is_refusal() {
            AdminError::Refused(e.to_string())
        } else {
            AdminError::Failed(e.into())
        }
    }
}

impl From<authenticator::AuthError> for AdminError {
    fn from(e: authenticator::AuthError) -> Self {
        AdminError::Failed(e.into())
    }
}

/// The report of an import, as printed.
pub fn import_report_text(report: &ImportReport) -> String {
    let mut out = String::new();
    if report.applied() {
        let _ = writeln!(
            out,
            "Import terminé : {} carte(s) ajoutée(s), {} mise(s) à jour, 0 rejetée.",
            report.added.len(),
            report.updated.len()
        );
    } else {
        let _ = writeln!(
            out,
            "Import refusé : {} ligne(s) rejetée(s), aucune carte importée ({} auraient été ajoutées, {} mises à jour).",
            report.rejected.len(),
            report.added.len(),
            report.updated.len()
        );
        for row in &report.rejected {
            let serial = if row.serial.is_empty() {
                String::new()
            } else {
                format!(" ({})", row.serial)
            };
            let _ = writeln!(out, "  ligne {}{serial} : {}", row.line, row.reason);
        }
    }
    out
}

/// `cards import FILE`.
pub fn import_cards(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    content: &[u8],
) -> Result<ImportReport, AdminError> {
    if content.iter().all(u8::is_ascii_whitespace) {
        return Err(AdminError::Refused(
            "fichier vide : une ligne « numéro de série,graine » par carte attendue".into(),
        ));
    }
    Ok(authenticator::import_cards(
        conn,
        rng,
        cipher,
        now,
        content,
        accounts::By::System,
    )?)
}

/// `cards list`: one line per card.
pub fn list_cards(conn: &mut PooledDb, now: Timestamp) -> Result<String, AdminError> {
    let cards = authenticator::list_cards(conn)?;
    let mut out = String::new();
    let _ = writeln!(out, "{:<16} {:<9} {:<14} aidant", "numéro", "type", "état");
    for (card, email) in &cards {
        let state = card.state(now);
        let kind = if card.is_physical() {
            "physique"
        } else {
            "numérique"
        };
        let holder = match (state, email) {
            (CardState::Free | CardState::OutOfService, _) | (_, None) => "-",
            (_, Some(email)) => email.as_str(),
        };
        let _ = writeln!(
            out,
            "{:<16} {:<9} {:<14} {holder}",
            card.serial,
            kind,
            state.label()
        );
    }
    let _ = writeln!(out, "{} carte(s).", cards.len());
    Ok(out)
}

/// What `organisation create` takes.
#[derive(Debug, Clone)]
pub struct OrganisationInput {
    /// Name.
    pub name: String,
    /// SIRET.
    pub siret: String,
    /// Street address.
    pub address: String,
    /// Postcode.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// Type.
    pub kind: String,
}

/// `organisation create`: a habilitated organisation.
pub fn create_organisation(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    input: &OrganisationInput,
) -> Result<accounts::Organisation, AdminError> {
    Ok(write_transaction(conn, |tx| {
        accounts::register_organisation(
            tx,
            rng,
            now,
            accounts::NewOrganisation {
                name: &input.name,
                siret: input.siret.trim(),
                address: &input.address,
                zipcode: &input.zipcode,
                city: &input.city,
                kind: &input.kind,
                habilitation: accounts::Habilitation::Validated,
                france_services: false,
            },
            accounts::By::System,
        )
    })?)
}

/// `organisation demarches --siret S (--set ids | --all)`: the démarches the organisation may
/// do (mandates, uses, `rep_scope`); `None` allows them all. Returns the organisation's name and
/// the démarches now allowed.
pub fn set_allowed_demarches(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    siret: &str,
    ids: Option<&str>,
) -> Result<(String, Vec<mandate::Demarche>), AdminError> {
    let demarches = match ids {
        None => None,
        Some(list) => {
            let mut demarches: Vec<mandate::Demarche> = Vec::new();
            for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let demarche = mandate::Demarche::parse(id).map_err(|_| {
                    AdminError::Refused(format!(
                        "démarche inconnue : {id} (attendu : {})",
                        mandate::Demarche::ALL.map(mandate::Demarche::id).join(", ")
                    ))
                })?;
                if !demarches.contains(&demarche) {
                    demarches.push(demarche);
                }
            }
            if demarches.is_empty() {
                return Err(AdminError::Refused(
                    "au moins une démarche attendue (ou --all)".into(),
                ));
            }
            Some(demarches)
        }
    };
    Ok(write_transaction(conn, |tx| {
        let organisation = accounts::organisation_by_siret(tx.conn(), siret)?
            .ok_or_else(|| accounts::AccountError::UnknownSiret(siret.trim().to_owned()))?;
        let ids: Option<Vec<&str>> = demarches
            .as_ref()
            .map(|d| d.iter().map(|d| d.id()).collect());
        accounts::set_allowed_demarches(
            tx,
            rng,
            now,
            &organisation.id,
            ids.as_deref(),
            accounts::By::System,
        )?;
        Ok::<_, accounts::AccountError>((
            organisation.name,
            demarches.unwrap_or_else(|| mandate::Demarche::ALL.to_vec()),
        ))
    })?)
}

/// What `aidant create` takes.
#[derive(Debug, Clone)]
pub struct AidantInput {
    /// E-mail address.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Profession.
    pub profession: String,
    /// Phone.
    pub phone: String,
    /// SIRET of the organisation.
    pub siret: String,
    /// Whether they are the organisation's référent.
    pub referent: bool,
}

/// `aidant create`: an aidant (or référent) of an organisation, pending activation.
pub fn create_aidant(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    input: &AidantInput,
) -> Result<accounts::Aidant, AdminError> {
    Ok(write_transaction(conn, |tx| {
        let organisation = accounts::organisation_by_siret(tx.conn(), &input.siret)?
            .ok_or_else(|| accounts::AccountError::UnknownSiret(input.siret.trim().to_owned()))?;
        let role = if input.referent {
            accounts::Role::Referent
        } else {
            accounts::Role::Aidant
        };
        accounts::add_member(
            tx,
            rng,
            now,
            &organisation.id,
            accounts::NewAidant {
                email: &input.email,
                first_name: &input.first_name,
                last_name: &input.last_name,
                profession: &input.profession,
                phone: &input.phone,
                active: false,
            },
            role,
            accounts::By::System,
        )
    })?)
}

/// `aidant activate EMAIL`.
pub fn activate_aidant(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    email: &str,
) -> Result<accounts::Aidant, AdminError> {
    Ok(write_transaction(conn, |tx| {
        accounts::activate_aidant(tx, rng, now, email, accounts::By::System)
    })?)
}

/// `staff create`: a member of the national team, with the token of their enrolment link.
#[allow(clippy::too_many_arguments)]
pub fn create_staff(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    link_lifetime: chrono::Duration,
    now: Timestamp,
    email: &str,
    first_name: &str,
    last_name: &str,
    role: &str,
) -> Result<authenticator::Created, AdminError> {
    let role = authenticator::StaffRole::parse(role).map_err(|_| {
        AdminError::Refused("rôle inconnu : admin, support, auditeur ou formateur".into())
    })?;
    authenticator::create_staff(
        conn,
        rng,
        cipher,
        now,
        authenticator::NewStaff {
            email,
            first_name,
            last_name,
            role,
        },
        authenticator::StaffCard::Enrol(link_lifetime),
        None,
    )?
    .map_err(|refusal| AdminError::Refused(refusal.to_string()))
}

/// `journal verify`: walks every chain, then checks every signed checkpoint against the
/// chains; the report, and whether everything holds.
pub fn verify_journal(
    conn: &mut PooledDb,
    signer: &dyn journal::CheckpointSigner,
) -> Result<(String, bool), AdminError> {
    let report = audit::verification(conn, signer).map_err(anyhow::Error::from)?;
    let mut out = String::new();
    for chain in &report.chains {
        let _ = match &chain.broken {
            None => writeln!(
                out,
                "intacte   {} — {} : {} entrée(s)",
                chain.chain, chain.name, chain.entries
            ),
            Some(broken) => writeln!(out, "ROMPUE    {} — {} : {broken}", chain.chain, chain.name),
        };
    }
    let _ = writeln!(
        out,
        "{} chaîne(s) vérifiée(s), {} rompue(s).",
        report.chains.len(),
        report.broken()
    );
    let checkpoints = &report.checkpoints;
    for problem in &checkpoints.problems {
        let chain = match problem.chain() {
            Some(chain) => format!("{chain} — {} : ", report.name_of(chain)),
            None => String::new(),
        };
        let _ = writeln!(out, "ANOMALIE  {chain}{}", problem.describe());
    }
    let _ = writeln!(
        out,
        "{} point(s) de contrôle signé(s) vérifié(s), {} tête(s) de chaîne contrôlée(s), {} anomalie(s).",
        checkpoints.checkpoints,
        checkpoints.heads,
        checkpoints.problems.len()
    );
    Ok((out, report.intact()))
}
