//! A habilitation request as its issuer fills it: the SIRET first (Luhn-checked, refused when
//! a structure or an open request already has it), then the structure, the référent, the
//! aidants to train — each step saved as a draft when its fields hold, refused field by field
//! otherwise (nothing saved, the page keeps what was typed) — and the commitments, ticked to
//! submit. Only a draft, or a request whose changes were asked, can be changed.

use crate::checks::{compact, is_valid_postcode, is_valid_siret, looks_shared, normalise_phone};
use crate::issuer::IssuerSession;
use crate::review::{messages_of, Message};
use crate::{refuse_fields, FieldError, HabilitationError, Refusal, Status};
use diesel::prelude::*;
use mandate::Demarche;
use ring::rand::SecureRandom;
use store::schema::{habilitation_people, habilitation_requests};
use store::{
    new_id, write_transaction, DbConnection, OrganisationId, PooledDb, Timestamp, WriteTx,
};

/// The types of structure the service knows (the original service's list), the last being
/// [`OTHER_KIND`].
pub const KINDS: [&str; 27] = [
    "Réseau France Services",
    "Centres communaux d’action sociale (CCAS)",
    "Centres intercommunaux d’action sociale (CIAS)",
    "Centres sociaux",
    "Maisons départementales des solidarités",
    "Bibliothèque / Médiathèque",
    "Guichet d’accueil d’opérateur de service public",
    "Associations",
    "Municipalités",
    "Communautés de Commune",
    "Intercommunalité (EPCI)",
    "Conseils Départementaux (CD)",
    "Préfecture, Sous - Préfecture",
    "Groupement d’intérêt public (GIP)",
    "Mission Locale",
    "Maison de l’emploi",
    "Maison de quartier",
    "Maison des jeunes et de la culture",
    "Régie de quartier",
    "Tiers-lieu",
    "Point Information Médiation Multi Services (PIMMS)",
    "Centres d’hébergement et de réinsertion sociale (CHRS)",
    "Centres d’hébergement d’urgence (CHU)",
    "Établissement ou service d’aide par le travail (ESAT)",
    "Union Départementale d’Aide aux Familles (UDAF)",
    "Mutualité Sociale Agricole",
    OTHER_KIND,
];

/// The type that asks for the structure's own words.
pub const OTHER_KIND: &str = "Autre";

/// The longest text a short field keeps.
const SHORT_MAX: usize = 200;
/// The longest mission description.
const MISSION_MAX: usize = 2_000;
/// The most aidants to train one request lists.
const AIDANTS_MAX: i64 = 200;

/// A habilitation request, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = habilitation_requests)]
pub struct Request {
    /// Id.
    pub id: String,
    /// Its issuer.
    pub issuer_id: String,
    /// The reference given at its first submission.
    pub reference: Option<String>,
    /// Status.
    pub status: Status,
    /// SIRET.
    pub siret: String,
    /// The structure's name.
    pub name: String,
    /// Its type (one of [`KINDS`]).
    pub kind: String,
    /// Its type in its own words, when [`OTHER_KIND`].
    pub kind_other: String,
    /// Whether it is a private structure.
    pub private: bool,
    /// The public administration a private structure works for.
    pub partner_administration: String,
    /// Whether it holds the France Services label.
    pub france_services: bool,
    /// Its France Services number.
    pub france_services_number: String,
    /// Street address.
    pub address: String,
    /// Postcode.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// Its missions.
    pub mission: String,
    /// The démarches it expects to do: a JSON list of catalogue ids.
    pub demarches: String,
    /// The démarches it expects per week.
    pub weekly_volume: Option<i32>,
    /// When the commitments were accepted (at submission).
    pub commitments_at: Option<Timestamp>,
    /// The structure made by its validation.
    pub organisation_id: Option<OrganisationId>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Last submission.
    pub submitted_at: Option<Timestamp>,
    /// The team's final decision.
    pub decided_at: Option<Timestamp>,
}

impl Request {
    /// The reference, or « brouillon » before the first submission.
    pub fn reference_or_draft(&self) -> &str {
        self.reference.as_deref().unwrap_or("brouillon")
    }

    /// The démarches it expects to do.
    pub fn expected_demarches(&self) -> Result<Vec<Demarche>, HabilitationError> {
        let ids: Vec<String> = serde_json::from_str(&self.demarches)?;
        Ok(Demarche::ALL
            .into_iter()
            .filter(|d| ids.iter().any(|id| id == d.id()))
            .collect())
    }

    /// Its type as the structure will carry it.
    pub fn kind_label(&self) -> &str {
        if self.kind == OTHER_KIND {
            &self.kind_other
        } else {
            &self.kind
        }
    }

    /// Whether the structure step was saved.
    pub fn has_structure(&self) -> bool {
        !self.name.is_empty()
    }
}

/// A person of a request: its référent or an aidant to train.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = habilitation_people)]
pub struct Person {
    /// Id.
    pub id: String,
    /// The request.
    pub request_id: String,
    /// `referent` or `aidant`.
    pub role: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address (lower case).
    pub email: String,
    /// Phone (may be empty for an aidant).
    pub phone: String,
    /// Profession or function.
    pub profession: String,
    /// For the référent: whether they will also be trained as an aidant.
    pub also_aidant: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

impl Person {
    /// "First Last".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A request with its people and its messages.
#[derive(Debug, Clone)]
pub struct RequestFile {
    /// The request.
    pub request: Request,
    /// Its référent, once given.
    pub referent: Option<Person>,
    /// Its aidants to train.
    pub aidants: Vec<Person>,
    /// The thread between the team and the issuer, oldest first.
    pub messages: Vec<Message>,
}

/// The structure step, as typed.
#[derive(Debug, Clone, Default)]
pub struct StructureForm<'a> {
    /// Name.
    pub name: &'a str,
    /// Type, one of [`KINDS`].
    pub kind: &'a str,
    /// Type in its own words (for [`OTHER_KIND`]).
    pub kind_other: &'a str,
    /// `Some(true)`: private; `None`: not answered.
    pub private: Option<bool>,
    /// For a private structure: the administration it works for.
    pub partner_administration: &'a str,
    /// France Services label.
    pub france_services: bool,
    /// Its number.
    pub france_services_number: &'a str,
    /// Street address.
    pub address: &'a str,
    /// Postcode.
    pub zipcode: &'a str,
    /// City.
    pub city: &'a str,
    /// Missions.
    pub mission: &'a str,
    /// Démarches it expects to do (catalogue ids).
    pub demarches: Vec<&'a str>,
    /// Démarches per week, as typed.
    pub weekly_volume: &'a str,
}

/// A person's step (the référent, or an aidant to train), as typed.
#[derive(Debug, Clone, Default)]
pub struct PersonForm<'a> {
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// E-mail address.
    pub email: &'a str,
    /// Phone (required for the référent).
    pub phone: &'a str,
    /// Profession or function.
    pub profession: &'a str,
    /// For the référent: also an aidant to train.
    pub also_aidant: bool,
}

/// The commitments ticked to submit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Commitments {
    /// Only professionals employed by the structure will be aidants: no volunteers, family
    /// carers or elected officials.
    pub professionals_only: bool,
    /// The training is free: the structure pays nothing for it.
    pub free_training: bool,
    /// The structure's data protection officer is informed.
    pub dpo_informed: bool,
    /// The CGU are accepted.
    pub cgu: bool,
}

/// The requests of the signed-in issuer, newest first.
pub fn requests_of(
    conn: &mut DbConnection,
    session: &IssuerSession,
) -> Result<Vec<Request>, HabilitationError> {
    Ok(habilitation_requests::table
        .filter(habilitation_requests::issuer_id.eq(&session.issuer().id))
        .order(habilitation_requests::created_at.desc())
        .select(Request::as_select())
        .load(conn)?)
}

/// One request of the signed-in issuer, with its people and messages; `None` for any other.
pub fn file_of(
    conn: &mut DbConnection,
    session: &IssuerSession,
    id: &str,
) -> Result<Option<RequestFile>, HabilitationError> {
    match load_file(conn, id)? {
        Some(file) if file.request.issuer_id == session.issuer().id => Ok(Some(file)),
        _ => Ok(None),
    }
}

/// A request with its people and messages.
pub(crate) fn load_file(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<RequestFile>, HabilitationError> {
    let Some(request) = habilitation_requests::table
        .find(id)
        .select(Request::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let people: Vec<Person> = habilitation_people::table
        .filter(habilitation_people::request_id.eq(id))
        .order((
            habilitation_people::role.desc(),
            habilitation_people::created_at,
            habilitation_people::id,
        ))
        .select(Person::as_select())
        .load(conn)?;
    let (referents, aidants): (Vec<Person>, Vec<Person>) =
        people.into_iter().partition(|p| p.role == REFERENT);
    Ok(Some(RequestFile {
        request,
        referent: referents.into_iter().next(),
        aidants,
        messages: messages_of(conn, id)?,
    }))
}

/// The role of a request's référent.
const REFERENT: &str = "referent";
/// The role of an aidant to train.
const AIDANT: &str = "aidant";

/// The structures the service already has with this SIRET (the SIRET step shows them).
pub fn known_structures(
    conn: &mut DbConnection,
    siret: &str,
) -> Result<Vec<accounts::Organisation>, HabilitationError> {
    Ok(accounts::organisation_by_siret(conn, &compact(siret))?
        .into_iter()
        .collect())
}

/// The signed-in issuer starts a request for `siret`: refused when the SIRET is not valid,
/// when a structure already has it (its référent adds aidants), or when a request for it is
/// still open. Returns the new draft's id.
pub fn start(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &IssuerSession,
    siret: &str,
) -> Result<String, HabilitationError> {
    let siret = compact(siret);
    if !is_valid_siret(&siret) {
        return Err(Refusal::Fields(vec![FieldError::new(
            "siret",
            "Ce numéro SIRET n'est pas valide : il compte 14 chiffres (9 du SIREN, 5 de l'établissement) ; vérifiez-le sur l'avis de situation Insee.",
        )])
        .into());
    }
    write_transaction(conn, |tx| {
        if let Some(known) = accounts::organisation_by_siret(tx.conn(), &siret)? {
            return Err(Refusal::Fields(vec![FieldError::new(
                "siret",
                format!(
                    "La structure {} ({} {}) a déjà ce SIRET et utilise Aidants Connect : pour y habiliter des aidants, adressez-vous à son référent.",
                    known.name, known.zipcode, known.city
                ),
            )])
            .into());
        }
        let open: i64 = habilitation_requests::table
            .filter(habilitation_requests::siret.eq(&siret))
            .filter(habilitation_requests::status.eq_any([
                Status::Draft,
                Status::Awaiting,
                Status::ChangesRequired,
            ]))
            .count()
            .get_result(tx.conn())?;
        if open > 0 {
            return Err(Refusal::Fields(vec![FieldError::new(
                "siret",
                "Une demande d'habilitation est déjà en cours pour ce SIRET. Retrouvez-la dans « Mes demandes », ou écrivez à l'équipe Aidants Connect si elle a été faite par une autre personne.",
            )])
            .into());
        }
        let id = new_id(rng)?;
        diesel::insert_into(habilitation_requests::table)
            .values((
                habilitation_requests::id.eq(&id),
                habilitation_requests::issuer_id.eq(&session.issuer().id),
                habilitation_requests::status.eq(Status::Draft),
                habilitation_requests::siret.eq(&siret),
                habilitation_requests::name.eq(""),
                habilitation_requests::kind.eq(""),
                habilitation_requests::kind_other.eq(""),
                habilitation_requests::private.eq(false),
                habilitation_requests::partner_administration.eq(""),
                habilitation_requests::france_services.eq(false),
                habilitation_requests::france_services_number.eq(""),
                habilitation_requests::address.eq(""),
                habilitation_requests::zipcode.eq(""),
                habilitation_requests::city.eq(""),
                habilitation_requests::mission.eq(""),
                habilitation_requests::demarches.eq("[]"),
                habilitation_requests::created_at.eq(now),
                habilitation_requests::updated_at.eq(now),
            ))
            .execute(tx.conn())?;
        let request = editable(tx, session, &id)?;
        journal_step(
            tx,
            rng,
            now,
            &request,
            serde_json::json!({ "etape": "siret" }),
        )?;
        Ok(id)
    })
}

/// Appends a journal entry about `request` to the national chain.
pub(crate) fn journal_request(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    action: journal::Action,
    request: &Request,
    details: serde_json::Value,
) -> Result<(), HabilitationError> {
    journal::append(
        tx,
        rng,
        now,
        journal::NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action,
            aidant_id: None,
            usager_id: None,
            organisation_id: request.organisation_id.as_ref(),
            subject: &request.id,
            details,
        },
    )?;
    Ok(())
}

/// Journals a saved step of `request` (`edit_habilitation_request`).
fn journal_step(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    request: &Request,
    details: serde_json::Value,
) -> Result<(), HabilitationError> {
    journal_request(
        tx,
        rng,
        now,
        journal::Action::EditHabilitationRequest,
        request,
        details,
    )
}

/// The issuer's request `id`, if theirs and still editable.
fn editable(
    tx: &mut WriteTx<'_>,
    session: &IssuerSession,
    id: &str,
) -> Result<Request, HabilitationError> {
    let request = habilitation_requests::table
        .find(id)
        .filter(habilitation_requests::issuer_id.eq(&session.issuer().id))
        .select(Request::as_select())
        .first(tx.conn())
        .optional()?
        .ok_or(Refusal::UnknownRequest)?;
    if !request.status.is_editable() {
        return Err(Refusal::NotEditable(request.status).into());
    }
    Ok(request)
}

/// Refuses a text longer than `max` characters.
fn check_length(errors: &mut Vec<FieldError>, field: &'static str, text: &str, max: usize) {
    if text.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("Ce champ est trop long ({max} caractères au plus)."),
        ));
    }
}

/// Refuses an empty text.
fn required(errors: &mut Vec<FieldError>, field: &'static str, text: &str, message: &str) {
    if text.trim().is_empty() {
        errors.push(FieldError::new(field, message));
    }
}

/// Saves the structure step of the issuer's request.
pub fn save_structure(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &IssuerSession,
    id: &str,
    form: &StructureForm<'_>,
) -> Result<(), HabilitationError> {
    let mut errors = Vec::new();
    required(
        &mut errors,
        "name",
        form.name,
        "Saisissez le nom de la structure.",
    );
    if !KINDS.contains(&form.kind) {
        errors.push(FieldError::new("kind", "Choisissez le type de structure."));
    } else if form.kind == OTHER_KIND {
        required(
            &mut errors,
            "kind_other",
            form.kind_other,
            "Précisez le type de structure.",
        );
    }
    match form.private {
        None => errors.push(FieldError::new(
            "private",
            "Indiquez si la structure est publique ou privée.",
        )),
        Some(true) => required(
            &mut errors,
            "partner_administration",
            form.partner_administration,
            "Une structure privée indique l'administration partenaire pour laquelle elle agit.",
        ),
        Some(false) => {}
    }
    if form.france_services {
        required(
            &mut errors,
            "france_services_number",
            form.france_services_number,
            "Saisissez le numéro d'immatriculation France Services.",
        );
    }
    required(&mut errors, "address", form.address, "Saisissez l'adresse.");
    if !is_valid_postcode(form.zipcode.trim()) {
        errors.push(FieldError::new(
            "zipcode",
            "Saisissez un code postal de 5 chiffres, par exemple 29200.",
        ));
    }
    required(&mut errors, "city", form.city, "Saisissez la ville.");
    required(
        &mut errors,
        "mission",
        form.mission,
        "Décrivez en quelques mots les missions de la structure.",
    );
    for (field, text) in [
        ("name", form.name),
        ("kind_other", form.kind_other),
        ("partner_administration", form.partner_administration),
        ("france_services_number", form.france_services_number),
        ("address", form.address),
        ("city", form.city),
    ] {
        check_length(&mut errors, field, text, SHORT_MAX);
    }
    check_length(&mut errors, "mission", form.mission, MISSION_MAX);
    let demarches: Vec<&str> = Demarche::ALL
        .into_iter()
        .map(Demarche::id)
        .filter(|id| form.demarches.contains(id))
        .collect();
    if demarches.is_empty() || demarches.len() != form.demarches.len() {
        errors.push(FieldError::new(
            "demarches",
            "Cochez au moins une des démarches que la structure prévoit de faire.",
        ));
    }
    let volume = form
        .weekly_volume
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|v| (0..=100_000).contains(v));
    if volume.is_none() {
        errors.push(FieldError::new(
            "weekly_volume",
            "Saisissez un nombre de démarches par semaine, par exemple 20.",
        ));
    }
    refuse_fields(errors)?;
    write_transaction(conn, |tx| {
        let request = editable(tx, session, id)?;
        diesel::update(habilitation_requests::table.find(id))
            .set((
                habilitation_requests::name.eq(form.name.trim()),
                habilitation_requests::kind.eq(form.kind),
                habilitation_requests::kind_other.eq(if form.kind == OTHER_KIND {
                    form.kind_other.trim()
                } else {
                    ""
                }),
                habilitation_requests::private.eq(form.private == Some(true)),
                habilitation_requests::partner_administration.eq(if form.private == Some(true) {
                    form.partner_administration.trim()
                } else {
                    ""
                }),
                habilitation_requests::france_services.eq(form.france_services),
                habilitation_requests::france_services_number.eq(if form.france_services {
                    form.france_services_number.trim()
                } else {
                    ""
                }),
                habilitation_requests::address.eq(form.address.trim()),
                habilitation_requests::zipcode.eq(form.zipcode.trim()),
                habilitation_requests::city.eq(form.city.trim()),
                habilitation_requests::mission.eq(form.mission.trim()),
                habilitation_requests::demarches
                    .eq(serde_json::Value::from(demarches.clone()).to_string()),
                habilitation_requests::weekly_volume.eq(volume),
                habilitation_requests::updated_at.eq(now),
            ))
            .execute(tx.conn())?;
        journal_step(
            tx,
            rng,
            now,
            &request,
            serde_json::json!({ "etape": "structure" }),
        )
    })
}

/// The checks of a person (the issuer, the référent, an aidant to train): names, an address
/// of their own, a phone (when `phone_required`, or typed), a profession; the normalised
/// address and phone.
pub(crate) fn checked_person(
    form: &PersonForm<'_>,
    phone_required: bool,
) -> Result<(String, String), HabilitationError> {
    let mut errors = Vec::new();
    required(
        &mut errors,
        "first_name",
        form.first_name,
        "Saisissez le prénom.",
    );
    required(
        &mut errors,
        "last_name",
        form.last_name,
        "Saisissez le nom.",
    );
    let email = accounts::normalise_email(form.email);
    if !accounts::is_valid_email(&email) {
        errors.push(FieldError::new("email", INVALID_EMAIL));
    } else if looks_shared(&email) {
        errors.push(FieldError::new(
            "email",
            "Cette adresse semble partagée entre plusieurs personnes : chaque personne utilise sa propre adresse professionnelle.",
        ));
    }
    let phone = if form.phone.trim().is_empty() && !phone_required {
        String::new()
    } else {
        normalise_phone(form.phone).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "phone",
                "Saisissez un numéro de téléphone valide, par exemple 01 23 45 67 89.",
            ));
            String::new()
        })
    };
    required(
        &mut errors,
        "profession",
        form.profession,
        "Saisissez la profession.",
    );
    for (field, text) in [
        ("first_name", form.first_name),
        ("last_name", form.last_name),
        ("email", form.email),
        ("profession", form.profession),
    ] {
        check_length(&mut errors, field, text, SHORT_MAX);
    }
    refuse_fields(errors)?;
    Ok((email, phone))
}

/// What a malformed address is told.
pub(crate) const INVALID_EMAIL: &str =
    "Saisissez une adresse électronique valide, par exemple prenom.nom@exemple.fr.";

/// The people of a request with `role`.
fn people(tx: &mut WriteTx<'_>, id: &str, role: &str) -> Result<Vec<Person>, HabilitationError> {
    Ok(habilitation_people::table
        .filter(habilitation_people::request_id.eq(id))
        .filter(habilitation_people::role.eq(role))
        .select(Person::as_select())
        .load(tx.conn())?)
}

/// Saves the référent of the issuer's request (replacing the one given before).
pub fn save_referent(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &IssuerSession,
    id: &str,
    form: &PersonForm<'_>,
) -> Result<(), HabilitationError> {
    let (email, phone) = checked_person(form, true)?;
    write_transaction(conn, |tx| {
        let request = editable(tx, session, id)?;
        if people(tx, id, AIDANT)?.iter().any(|p| p.email == email) {
            return Err(Refusal::Fields(vec![FieldError::new(
                "email",
                "Cette personne est dans la liste des aidants à former : retirez-la de la liste, puis cochez ici « Le référent sera aussi aidant ».",
            )])
            .into());
        }
        diesel::delete(
            habilitation_people::table
                .filter(habilitation_people::request_id.eq(id))
                .filter(habilitation_people::role.eq(REFERENT)),
        )
        .execute(tx.conn())?;
        insert_person(tx, rng, now, id, REFERENT, form, &email, &phone)?;
        touch(tx, id, now)?;
        journal_step(
            tx,
            rng,
            now,
            &request,
            serde_json::json!({ "etape": "referent" }),
        )
    })
}

#[allow(clippy::too_many_arguments)]
fn insert_person(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    request_id: &str,
    role: &str,
    form: &PersonForm<'_>,
    email: &str,
    phone: &str,
) -> Result<String, HabilitationError> {
    let person_id = new_id(rng)?;
    diesel::insert_into(habilitation_people::table)
        .values((
            habilitation_people::id.eq(&person_id),
            habilitation_people::request_id.eq(request_id),
            habilitation_people::role.eq(role),
            habilitation_people::first_name.eq(form.first_name.trim()),
            habilitation_people::last_name.eq(form.last_name.trim()),
            habilitation_people::email.eq(email),
            habilitation_people::phone.eq(phone),
            habilitation_people::profession.eq(form.profession.trim()),
            habilitation_people::also_aidant.eq(role == REFERENT && form.also_aidant),
            habilitation_people::created_at.eq(now),
        ))
        .execute(tx.conn())?;
    Ok(person_id)
}

fn touch(tx: &mut WriteTx<'_>, id: &str, now: Timestamp) -> Result<(), HabilitationError> {
    diesel::update(habilitation_requests::table.find(id))
        .set(habilitation_requests::updated_at.eq(now))
        .execute(tx.conn())?;
    Ok(())
}

/// Why an aidant to train cannot be listed: already listed (but `except`), or the référent.
fn aidant_conflict(
    tx: &mut WriteTx<'_>,
    id: &str,
    email: &str,
    except: Option<&str>,
) -> Result<(), HabilitationError> {
    if people(tx, id, REFERENT)?.iter().any(|p| p.email == email) {
        return Err(Refusal::Fields(vec![FieldError::new(
            "email",
            "C'est l'adresse du référent : pour le former aussi, cochez « Le référent sera aussi aidant » à l'étape du référent.",
        )])
        .into());
    }
    if people(tx, id, AIDANT)?
        .iter()
        .any(|p| p.email == email && Some(p.id.as_str()) != except)
    {
        return Err(Refusal::Fields(vec![FieldError::new(
            "email",
            "Cette personne est déjà dans la liste des aidants à former.",
        )])
        .into());
    }
    Ok(())
}

/// Adds an aidant to train to the issuer's request.
pub fn add_aidant(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &IssuerSession,
    id: &str,
    form: &PersonForm<'_>,
) -> Result<(), HabilitationError> {
    let (email, phone) = checked_person(form, false)?;
    write_transaction(conn, |tx| {
        let request = editable(tx, session, id)?;
        aidant_conflict(tx, id, &email, None)?;
        let listed: i64 = habilitation_people::table
            .filter(habilitation_people::request_id.eq(id))
            .filter(habilitation_people::role.eq(AIDANT))
            .count()
            .get_result(tx.conn())?;
        if listed >= AIDANTS_MAX {
            return Err(Refusal::Fields(vec![FieldError::new(
                "email",
                format!("Une demande liste au plus {AIDANTS_MAX} aidants : le référent en ajoutera d'autres une fois la structure habilitée."),
            )])
            .into());
        }
        insert_person(tx, rng, now, id, AIDANT, form, &email, &phone)?;
        touch(tx, id, now)?;
        journal_step(
            tx,
            rng,
            now,
            &request,
            serde_json::json!({ "etape": "aidants", "ajout": 1 }),
        )
    })
}

/// Changes an aidant to train of the issuer's request.
pub fn edit_aidant(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &IssuerSession,
    id: &str,
    person_id: &str,
    form: &PersonForm<'_>,
) -> Result<(), HabilitationError> {
    let (email, phone) = checked_person(form, false)?;
    write_transaction(conn, |tx| {
        let request = editable(tx, session, id)?;
        aidant_conflict(tx, id, &email, Some(person_id))?;
        let changed = diesel::update(
            habilitation_people::table
                .find(person_id)
                .filter(habilitation_people::request_id.eq(id))
                .filter(habilitation_people::role.eq(AIDANT)),
        )
        .set((
            habilitation_people::first_name.eq(form.first_name.trim()),
            habilitation_people::last_name.eq(form.last_name.trim()),
            habilitation_people::email.eq(&email),
            habilitation_people::phone.eq(&phone),
            habilitation_people::profession.eq(form.profession.trim()),
        ))
        .execute(tx.conn())?;
        if changed != 1 {
            return Err(Refusal::UnknownRequest.into());
        }
        touch(tx, id, now)?;
        journal_step(
            tx,
            rng,
            now,
            &request,
            serde_json::json!({ "etape": "aidants", "modification": 1 }),
        )
    })
}

/// Removes an aidant to train from the issuer's request.
pub fn remove_aidant(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &IssuerSession,
    id: &str,
    person_id: &str,
) -> Result<(), HabilitationError> {
    write_transaction(conn, |tx| {
        let request = editable(tx, session, id)?;
        let removed = diesel::delete(
            habilitation_people::table
                .find(person_id)
                .filter(habilitation_people::request_id.eq(id))
                .filter(habilitation_people::role.eq(AIDANT)),
        )
        .execute(tx.conn())?;
        if removed != 1 {
            return Err(Refusal::UnknownRequest.into());
        }
        touch(tx, id, now)?;
        journal_step(
            tx,
            rng,
            now,
            &request,
            serde_json::json!({ "etape": "aidants", "retrait": 1 }),
        )
    })
}

/// The characters of a reference (no 0/O, 1/I/L: read out on the phone).
const REFERENCE_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A new reference: `HAB-` and two groups of four characters.
fn new_reference(rng: &dyn SecureRandom) -> Result<String, HabilitationError> {
    let mut bytes = [0u8; 8];
    rng.fill(&mut bytes)
        .map_err(|_| HabilitationError::Store(store::StoreError::Random))?;
    let chars: String = bytes
        .iter()
        .map(|b| char::from(REFERENCE_ALPHABET[usize::from(*b) % REFERENCE_ALPHABET.len()]))
        .collect();
    Ok(format!("HAB-{}-{}", &chars[..4], &chars[4..]))
}

/// The issuer submits their request: every step done, every commitment ticked. It goes to
/// « en attente de validation » (with a reference the first time); the issuer and the team
/// (`team_email`) are told.
pub fn submit(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &IssuerSession,
    id: &str,
    commitments: Commitments,
    team_email: &str,
) -> Result<String, HabilitationError> {
    write_transaction(conn, |tx| {
        let request = editable(tx, session, id)?;
        let referent = people(tx, id, REFERENT)?.into_iter().next();
        let aidants = people(tx, id, AIDANT)?;
        let mut errors = Vec::new();
        if !request.has_structure() {
            errors.push(FieldError::new(
                "structure",
                "Renseignez la structure (étape 2) avant de soumettre.",
            ));
        }
        match &referent {
            None => errors.push(FieldError::new(
                "referent",
                "Désignez le référent de la structure (étape 3) : une structure a au moins un référent.",
            )),
            Some(r) if !r.also_aidant && aidants.is_empty() => errors.push(FieldError::new(
                "aidants",
                "Ajoutez au moins un aidant à former (étape 4), ou indiquez que le référent sera aussi aidant.",
            )),
            Some(_) => {}
        }
        for (field, ticked, message) in [
            ("professionals_only", commitments.professionals_only, "Cochez cet engagement : seuls des professionnels employés par la structure seront aidants."),
            ("free_training", commitments.free_training, "Cochez cet engagement : la formation est gratuite."),
            ("dpo_informed", commitments.dpo_informed, "Cochez cet engagement : le délégué à la protection des données est informé."),
            ("cgu", commitments.cgu, "Acceptez les conditions générales d'utilisation."),
        ] {
            if !ticked {
                errors.push(FieldError::new(field, message));
            }
        }
        refuse_fields(errors)?;
        let again = request.reference.is_some();
        let reference = match &request.reference {
            Some(r) => r.clone(),
            None => new_reference(rng)?,
        };
        diesel::update(habilitation_requests::table.find(id))
            .set((
                habilitation_requests::status.eq(Status::Awaiting),
                habilitation_requests::reference.eq(Some(&reference)),
                habilitation_requests::commitments_at.eq(Some(now)),
                habilitation_requests::submitted_at.eq(Some(now)),
                habilitation_requests::updated_at.eq(now),
            ))
            .execute(tx.conn())?;
        journal_request(
            tx,
            rng,
            now,
            journal::Action::SubmitHabilitationRequest,
            &request,
            serde_json::json!({
                "reference": reference,
                "avant": request.status.as_str(),
                "aidants": aidants.len() + usize::from(referent.as_ref().is_some_and(|r| r.also_aidant)),
            }),
        )?;
        mail::enqueue(
            tx,
            rng,
            now,
            &session.issuer().email,
            &mail::Email::HabilitationSubmitted {
                issuer: session.issuer().full_name(),
                reference: reference.clone(),
                organisation: request.name.clone(),
                again,
            },
        )?;
        mail::enqueue(
            tx,
            rng,
            now,
            team_email,
            &mail::Email::HabilitationToReview {
                reference: reference.clone(),
                organisation: request.name.clone(),
                request_id: request.id.clone(),
                again,
            },
        )?;
        Ok(reference)
    })
}

/// The issuer writes to the team on a submitted request; the team (`team_email`) is told.
pub fn issuer_message(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    session: &IssuerSession,
    id: &str,
    body: &str,
    team_email: &str,
) -> Result<(), HabilitationError> {
    let body = crate::review::checked_body(body)?;
    write_transaction(conn, |tx| {
        let request = habilitation_requests::table
            .find(id)
            .filter(habilitation_requests::issuer_id.eq(&session.issuer().id))
            .select(Request::as_select())
            .first(tx.conn())
            .optional()?
            .ok_or(Refusal::UnknownRequest)?;
        if request.status == Status::Draft {
            return Err(Refusal::Fields(vec![FieldError::new(
                "body",
                "Soumettez d'abord la demande : l'équipe lit les messages des demandes soumises.",
            )])
            .into());
        }
        crate::review::write_message(tx, rng, now, &request, None, &body)?;
        mail::enqueue(
            tx,
            rng,
            now,
            team_email,
            &mail::Email::HabilitationMessage {
                reference: request.reference_or_draft().to_owned(),
                organisation: request.name.clone(),
                request_id: request.id.clone(),
                body: body.clone(),
                to_team: true,
            },
        )?;
        Ok(())
    })
}
