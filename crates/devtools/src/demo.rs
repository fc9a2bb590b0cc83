//! The demo seed: one habilitated organisation, a référent-aidant with a known OTP card, a
//! second card in stock, a second aidant who has no card yet (the référent's weekly reminder
//! names them), fictional usagers and their mandates, an administrator of the national team
//! with a known card (the back office at `/administration`), and a structure's habilitation
//! request awaiting the team's review. Idempotent.

use accounts::{Habilitation, NewAidant, NewOrganisation, Role};
use authenticator::{CardKind, NewCard, SeedCipher};
use identity::{Gender, IdentitePivot};
use mandate::{Demarche, MandateDuration, NewMandate, NewUsager};
use ring::rand::SecureRandom;
use store::{write_transaction, AidantId, OrganisationId, PooledDb, Timestamp};

/// The demo aidant's e-mail address.
pub const DEMO_EMAIL: &str = "camille.durand@france-services-demo.fr";
/// The demo card's serial number.
pub const DEMO_CARD_SERIAL: &str = "GADT0000001";
/// The demo card's seed (public on purpose: it is a demonstration card).
pub const DEMO_CARD_SEED_HEX: &str = "4a6f6b65725f64656d6f5f6361727465313233";
/// The demo aidant who has no card yet: associate the card in stock to them.
pub const DEMO_CARDLESS_EMAIL: &str = "leo.petit@france-services-demo.fr";
/// A demo card in stock, for trying association and validation in the espace référent.
pub const DEMO_STOCK_CARD_SERIAL: &str = "GADT0000002";
/// Its seed (public on purpose too).
const DEMO_STOCK_CARD_SEED_HEX: &str = "53746f636b5f64656d6f5f6361727465343536";
/// The demo administrator of the national team.
pub const DEMO_STAFF_EMAIL: &str = "equipe.demo@aidantsconnect.beta.gouv.fr";
/// Their card's serial.
pub const DEMO_STAFF_CARD_SERIAL: &str = "EQDEMO0000001";
/// Its seed (public on purpose: a demonstration card).
const DEMO_STAFF_CARD_SEED_HEX: &str = "4571756970655f64656d6f5f6361727465373839";
/// The demo's training body member (the training pages only).
pub const DEMO_TRAINER_EMAIL: &str = "formation.demo@pix-formation.fr";
/// Their card.
pub const DEMO_TRAINER_CARD_SERIAL: &str = "EQFORM0000001";
/// Its seed (public on purpose: a demonstration card).
const DEMO_TRAINER_CARD_SEED_HEX: &str = "466f726d6174696f6e5f64656d6f5f6361727465";
/// The aidant the demo's référent asked the national team for (awaiting its decision).
pub const DEMO_REQUESTED_EMAIL: &str = "sami.nouveau@france-services-demo.fr";
/// The issuer of the demo's habilitation request (their link comes to `data/emails`).
pub const DEMO_ISSUER_EMAIL: &str = "ines.demandeuse@mairie-demo.fr";

/// What the seed created (or found).
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// Whether it was created now.
    pub created: bool,
    /// Organisation id.
    pub organisation_id: OrganisationId,
    /// Aidant id.
    pub aidant_id: AidantId,
}

/// The demo's habilitation request: a town hall, its référent who will also be an aidant,
/// and one aidant to train, submitted and awaiting the national team.
fn demo_request(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    team_email: &str,
) -> anyhow::Result<()> {
    use habilitation::{PersonForm, StructureForm};
    let person = |first_name, last_name, email, profession| PersonForm {
        first_name,
        last_name,
        email,
        phone: "01 42 76 40 40",
        profession,
        also_aidant: true,
    };
    habilitation::seed::seed_submitted_request(
        conn,
        rng,
        now,
        &habilitation::seed::SeedRequest {
            issuer: person(
                "Inès",
                "Demandeuse",
                DEMO_ISSUER_EMAIL,
                "Directrice des services",
            ),
            siret: "21750001600019",
            structure: StructureForm {
                name: "Mairie de Démonstration",
                kind: "Municipalités",
                private: Some(false),
                address: "4 place de l'Hôtel de Ville",
                zipcode: "75004",
                city: "Paris",
                mission: "Accueil des habitants et aide aux démarches en ligne.",
                demarches: vec!["papiers", "social", "logement"],
                weekly_volume: "30",
                ..StructureForm::default()
            },
            referent: person(
                "Rémi",
                "Référent",
                "remi.referent@mairie-demo.fr",
                "Responsable de l'accueil",
            ),
            aidants: vec![PersonForm {
                phone: "",
                also_aidant: false,
                ..person(
                    "Anna",
                    "Aidante",
                    "anna.aidante@mairie-demo.fr",
                    "Agent d'accueil",
                )
            }],
        },
        team_email,
    )?;
    Ok(())
}

/// A demo usager, the démarches of their mandate and its duration.
type DemoUsager = (IdentitePivot, &'static [Demarche], MandateDuration);

/// The fictional usagers of the demo: one without an e-mail (FranceConnect is sent a
/// placeholder), one born abroad with a presumed birth date (the day and month unknown).
pub fn demo_usagers() -> Result<Vec<DemoUsager>, identity::IdentityError> {
    let date = IdentitePivot::parse_birthdate;
    Ok(vec![
        (
            IdentitePivot {
                given_name: "Angela Claire Louise".into(),
                family_name: "DUBOIS".into(),
                preferred_username: String::new(),
                birthdate: date("1962-08-24")?,
                gender: Gender::Female,
                birthplace: "75107".into(),
                birthcountry: identity::FRANCE_COG.into(),
                email: "angela.dubois@exemple.fr".into(),
            },
            &Demarche::ALL,
            MandateDuration::Long,
        ),
        (
            IdentitePivot {
                given_name: "Jean-Pierre".into(),
                family_name: "MARTIN".into(),
                preferred_username: "MARTIN-LEROY".into(),
                birthdate: date("1948-02-11")?,
                gender: Gender::Male,
                birthplace: "69123".into(),
                birthcountry: identity::FRANCE_COG.into(),
                email: String::new(),
            },
            &[Demarche::Argent, Demarche::Logement],
            MandateDuration::Month,
        ),
        (
            IdentitePivot {
                given_name: "Fatou".into(),
                family_name: "DIALLO".into(),
                preferred_username: String::new(),
                birthdate: date("1985-00-00")?,
                gender: Gender::Female,
                birthplace: String::new(),
                birthcountry: "99341".into(),
                email: "fatou.diallo@exemple.fr".into(),
            },
            &[Demarche::Etranger, Demarche::Social],
            MandateDuration::Semester,
        ),
    ])
}

/// Seeds the demo data unless the demo aidant already exists.
pub fn seed_demo(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    team_email: &str,
) -> anyhow::Result<DemoSummary> {
    if let Some(aidant) = accounts::find_aidant_by_email(conn, DEMO_EMAIL)? {
        let organisation_id = accounts::working_organisations(conn, &aidant.id)?
            .into_iter()
            .next()
            .map(|(o, _)| o.id)
            .ok_or_else(|| anyhow::anyhow!("l'aidant de démonstration n'a plus de structure"))?;
        return Ok(DemoSummary {
            created: false,
            organisation_id,
            aidant_id: aidant.id,
        });
    }
    let (organisation, aidant) = write_transaction(conn, |tx| -> anyhow::Result<_> {
        let organisation = accounts::create_organisation(
            tx,
            rng,
            now,
            NewOrganisation {
                name: "France Services de Démonstration",
                siret: "99999999900019",
                address: "1 place de la République",
                zipcode: "75003",
                city: "Paris",
                kind: "France Services",
                habilitation: Habilitation::Validated,
                france_services: true,
            },
        )?;
        let aidant = accounts::create_aidant(
            tx,
            rng,
            now,
            NewAidant {
                email: DEMO_EMAIL,
                first_name: "Camille",
                last_name: "Durand",
                profession: "Conseillère France Services",
                phone: "01 23 45 67 89",
                active: true,
            },
        )?;
        accounts::set_membership(tx, now, &aidant.id, &organisation.id, Role::Referent)?;
        accounts::record_cgu_acceptance(tx, &aidant.id, authenticator::cgu::in_force(now), now)?;
        let cardless = accounts::create_aidant(
            tx,
            rng,
            now,
            NewAidant {
                email: DEMO_CARDLESS_EMAIL,
                first_name: "Léo",
                last_name: "Petit",
                profession: "Conseiller numérique",
                phone: "",
                active: true,
            },
        )?;
        accounts::set_membership(tx, now, &cardless.id, &organisation.id, Role::Aidant)?;
        authenticator::create_card(
            tx,
            rng,
            cipher,
            now,
            NewCard {
                serial: DEMO_CARD_SERIAL,
                seed_hex: DEMO_CARD_SEED_HEX,
                kind: CardKind::Physical,
                aidant_id: Some(&aidant.id),
                validated: true,
            },
        )?;
        authenticator::create_card(
            tx,
            rng,
            cipher,
            now,
            NewCard {
                serial: DEMO_STOCK_CARD_SERIAL,
                seed_hex: DEMO_STOCK_CARD_SEED_HEX,
                kind: CardKind::Physical,
                aidant_id: None,
                validated: false,
            },
        )?;
        Ok((organisation, aidant))
    })?;
    for (email, (first_name, last_name), role, serial, seed_hex) in [
        (
            DEMO_STAFF_EMAIL,
            ("Dominique", "Équipe"),
            authenticator::StaffRole::Admin,
            DEMO_STAFF_CARD_SERIAL,
            DEMO_STAFF_CARD_SEED_HEX,
        ),
        (
            DEMO_TRAINER_EMAIL,
            ("Florence", "Formatrice"),
            authenticator::StaffRole::Trainer,
            DEMO_TRAINER_CARD_SERIAL,
            DEMO_TRAINER_CARD_SEED_HEX,
        ),
    ] {
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
            authenticator::StaffCard::Known { serial, seed_hex },
            None,
        )?
        .map_err(|refusal| anyhow::anyhow!(refusal))?;
    }
    for (identite, demarches, duration) in demo_usagers().map_err(mandate::MandateError::from)? {
        write_transaction(conn, |tx| {
            let usager = mandate::create_usager(
                tx,
                rng,
                now,
                NewUsager {
                    identite: &identite,
                    franceconnect_sub: None,
                    phone: "",
                },
            )?;
            mandate::seed_mandate(
                tx,
                rng,
                now,
                NewMandate {
                    organisation_id: &organisation.id,
                    usager_id: &usager.id,
                    created_by: &aidant.id,
                    duration,
                    demarches,
                    is_remote: false,
                    consent_phone: None,
                    renews: None,
                },
            )
        })?;
    }
    demo_request(conn, rng, now, team_email)?;
    // Camille, référent, asked the national team for a new aidant to train.
    habilitation::seed::seed_aidant_request(
        conn,
        rng,
        now,
        &organisation.id,
        &aidant.id,
        habilitation::aidants::AidantForm {
            person: habilitation::PersonForm {
                first_name: "Sami",
                last_name: "Nouveau",
                email: DEMO_REQUESTED_EMAIL,
                phone: "",
                profession: "Conseiller numérique",
                also_aidant: false,
            },
            leaves: false,
        },
        team_email,
    )?;
    Ok(DemoSummary {
        created: true,
        organisation_id: organisation.id,
        aidant_id: aidant.id,
    })
}

/// The code a demo card (the demo aidant's, or the one in stock) shows at `now`.
pub fn demo_code(serial: &str, now: Timestamp) -> Option<String> {
    let seed = match serial.trim().to_uppercase().as_str() {
        DEMO_CARD_SERIAL => DEMO_CARD_SEED_HEX,
        DEMO_STOCK_CARD_SERIAL => DEMO_STOCK_CARD_SEED_HEX,
        DEMO_STAFF_CARD_SERIAL => DEMO_STAFF_CARD_SEED_HEX,
        DEMO_TRAINER_CARD_SERIAL => DEMO_TRAINER_CARD_SEED_HEX,
        _ => return None,
    };
    Some(authenticator::card_code_at(
        &hex::decode(seed).unwrap_or_default(),
        now,
    ))
}
