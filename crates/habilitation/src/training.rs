//! The training of the aidants to train: sessions the national team publishes (date, place
//! or online, organiser, seats), each aidant to train registered by a référent of their
//! structure on a session with a seat left, attendance recorded by the team, Pix results
//! imported from a file (all rows or none). An aidant who attended and passed is activated —
//! at once when `auto_activation`, otherwise by the team — and welcomed by e-mail.

use crate::{refuse_fields, FieldError, HabilitationError, Refusal};
use authenticator::{SupportStaff, TrainingStaff, VerifiedReferent};
use chrono::{NaiveDate, NaiveTime};
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::{pix_results, trainees, training_registrations, training_sessions};
use store::{
    new_id, write_transaction, AidantId, DbConnection, OrganisationId, PooledDb, StaffId,
    Timestamp, WriteTx,
};

/// The most seats a session offers.
const SEATS_MAX: i32 = 500;
/// The most rows a Pix file holds.
pub const PIX_ROWS_MAX: usize = 5_000;

/// A training session.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = training_sessions)]
pub struct TrainingSession {
    /// Id.
    pub id: String,
    /// When it starts.
    pub starts_at: Timestamp,
    /// Where (an address, or « En ligne »).
    pub place: String,
    /// Whether it is held online.
    pub online: bool,
    /// Who trains.
    pub organiser: String,
    /// How many aidants it takes.
    pub seats: i32,
    /// The member of the team who published it.
    pub staff_id: StaffId,
    /// When it was published.
    pub created_at: Timestamp,
}

/// A session with how many are registered.
#[derive(Debug, Clone)]
pub struct SessionLine {
    /// The session.
    pub session: TrainingSession,
    /// Aidants registered.
    pub registered: i64,
}

impl SessionLine {
    /// Seats left.
    pub fn seats_left(&self) -> i64 {
        (i64::from(self.session.seats) - self.registered).max(0)
    }
}

/// What the team types to publish a session.
#[derive(Debug, Clone, Default)]
pub struct NewSession<'a> {
    /// Day, `AAAA-MM-JJ` (a date field's value).
    pub date: &'a str,
    /// Time in Paris, `HH:MM`.
    pub time: &'a str,
    /// Address (may be empty online).
    pub place: &'a str,
    /// Held online.
    pub online: bool,
    /// Who trains.
    pub organiser: &'a str,
    /// Seats, as typed.
    pub seats: &'a str,
}

/// Journals a training action.
#[allow(clippy::too_many_arguments)]
fn journal_training(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    chain: &str,
    action: journal::Action,
    aidant_id: Option<&AidantId>,
    organisation_id: Option<&OrganisationId>,
    subject: &str,
    details: serde_json::Value,
) -> Result<(), HabilitationError> {
    journal::append(
        tx,
        rng,
        now,
        journal::NewEntry {
            chain,
            action,
            aidant_id,
            usager_id: None,
            organisation_id,
            subject,
            details,
        },
    )?;
    Ok(())
}

/// The team publishes a session (in the future, with 1 to 500 seats).
pub fn create_session(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    new: &NewSession<'_>,
) -> Result<TrainingSession, HabilitationError> {
    let mut errors = Vec::new();
    let day = NaiveDate::parse_from_str(new.date.trim(), "%Y-%m-%d").ok();
    let time = NaiveTime::parse_from_str(new.time.trim(), "%H:%M").ok();
    if day.is_none() {
        errors.push(FieldError::new(
            "date",
            "Saisissez la date, par exemple 2026-04-15.",
        ));
    }
    if time.is_none() {
        errors.push(FieldError::new(
            "time",
            "Saisissez l'heure, par exemple 09:30.",
        ));
    }
    let starts_at = day
        .zip(time)
        .and_then(|(d, t)| paris::from_local(d.and_time(t)))
        .map(Timestamp::from);
    if let Some(at) = starts_at {
        if at <= now {
            errors.push(FieldError::new(
                "date",
                "La session doit avoir lieu dans le futur.",
            ));
        }
    }
    let place = if new.online && new.place.trim().is_empty() {
        "En ligne".to_owned()
    } else {
        new.place.trim().to_owned()
    };
    if place.is_empty() {
        errors.push(FieldError::new(
            "place",
            "Saisissez le lieu, ou cochez « En ligne ».",
        ));
    }
    if new.organiser.trim().is_empty() {
        errors.push(FieldError::new(
            "organiser",
            "Saisissez l'organisme de formation.",
        ));
    }
    let seats = new
        .seats
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|s| (1..=SEATS_MAX).contains(s));
    if seats.is_none() {
        errors.push(FieldError::new(
            "seats",
            format!("Saisissez un nombre de places entre 1 et {SEATS_MAX}."),
        ));
    }
    refuse_fields(errors)?;
    let (Some(starts_at), Some(seats)) = (starts_at, seats) else {
        return Err(Refusal::Fields(vec![FieldError::new(
            "time",
            "Cette heure n'existe pas ce jour-là.",
        )])
        .into());
    };
    write_transaction(conn, |tx| {
        let session = TrainingSession {
            id: new_id(rng)?,
            starts_at,
            place,
            online: new.online,
            organiser: new.organiser.trim().to_owned(),
            seats,
            staff_id: who.id().clone(),
            created_at: now,
        };
        diesel::insert_into(training_sessions::table)
            .values((
                training_sessions::id.eq(&session.id),
                training_sessions::starts_at.eq(session.starts_at),
                training_sessions::place.eq(&session.place),
                training_sessions::online.eq(session.online),
                training_sessions::organiser.eq(&session.organiser),
                training_sessions::seats.eq(session.seats),
                training_sessions::staff_id.eq(&session.staff_id),
                training_sessions::created_at.eq(now),
            ))
            .execute(tx.conn())?;
        journal_training(
            tx,
            rng,
            now,
            journal::NATIONAL_CHAIN,
            journal::Action::CreateTrainingSession,
            None,
            None,
            &session.id,
            who.by().tag(serde_json::json!({ "places": seats })),
        )?;
        Ok(session)
    })
}

fn with_counts(
    conn: &mut DbConnection,
    sessions: Vec<TrainingSession>,
) -> Result<Vec<SessionLine>, HabilitationError> {
    let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    let counts: Vec<(String, i64)> = training_registrations::table
        .filter(training_registrations::session_id.eq_any(&ids))
        .group_by(training_registrations::session_id)
        .select((
            training_registrations::session_id,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    Ok(sessions
        .into_iter()
        .map(|session| {
            let registered = counts
                .iter()
                .find(|(id, _)| *id == session.id)
                .map_or(0, |(_, n)| *n);
            SessionLine {
                session,
                registered,
            }
        })
        .collect())
}

/// Every session, the latest first (the team's list), at most `limit`.
pub fn sessions(
    conn: &mut DbConnection,
    _session: &authenticator::StaffSession,
    limit: i64,
) -> Result<Vec<SessionLine>, HabilitationError> {
    let found = training_sessions::table
        .order(training_sessions::starts_at.desc())
        .limit(limit)
        .select(TrainingSession::as_select())
        .load(conn)?;
    with_counts(conn, found)
}

/// The sessions still to come, soonest first (what a référent registers on).
pub fn upcoming(
    conn: &mut DbConnection,
    now: Timestamp,
) -> Result<Vec<SessionLine>, HabilitationError> {
    let found = training_sessions::table
        .filter(training_sessions::starts_at.gt(now))
        .order(training_sessions::starts_at.asc())
        .limit(100)
        .select(TrainingSession::as_select())
        .load(conn)?;
    with_counts(conn, found)
}

/// One session.
pub fn session(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<SessionLine>, HabilitationError> {
    let found: Vec<TrainingSession> = training_sessions::table
        .find(id)
        .select(TrainingSession::as_select())
        .load(conn)?;
    Ok(with_counts(conn, found)?.into_iter().next())
}

/// An aidant to train, with where their training stands.
#[derive(Debug, Clone)]
pub struct Trainee {
    /// The aidant.
    pub aidant: accounts::Aidant,
    /// Their structure (where they were registered from).
    pub organisation: String,
    /// The session they are registered on, if any, and whether they attended it.
    pub session: Option<(TrainingSession, Option<bool>)>,
    /// Their Pix result, once imported.
    pub pix: Option<bool>,
}

fn trainee_of(
    conn: &mut DbConnection,
    aidant: accounts::Aidant,
    organisation: String,
) -> Result<Trainee, HabilitationError> {
    let session = training_registrations::table
        .inner_join(training_sessions::table)
        .filter(training_registrations::aidant_id.eq(&aidant.id))
        .order(training_sessions::starts_at.desc())
        .select((
            TrainingSession::as_select(),
            training_registrations::attended,
        ))
        .first(conn)
        .optional()?;
    let pix = pix_results::table
        .find(&aidant.id)
        .select(pix_results::passed)
        .first(conn)
        .optional()?;
    Ok(Trainee {
        aidant,
        organisation,
        session,
        pix,
    })
}

/// Records that `aidant_id` is to be trained for `organisation_id` (a validated request's
/// aidant, or its référent who will also be an aidant).
pub(crate) fn to_train(
    tx: &mut WriteTx<'_>,
    now: Timestamp,
    aidant_id: &AidantId,
    organisation_id: &OrganisationId,
) -> Result<(), HabilitationError> {
    let row = diesel::insert_into(trainees::table).values((
        trainees::aidant_id.eq(aidant_id),
        trainees::organisation_id.eq(organisation_id),
        trainees::created_at.eq(now),
    ));
    match tx.conn() {
        DbConnection::Pg(c) => row.on_conflict_do_nothing().execute(c)?,
        DbConnection::Sqlite(c) => row.on_conflict_do_nothing().execute(c)?,
    };
    Ok(())
}

/// Whether `aidant` still has a training to follow: an account not yet active, or listed to
/// be trained and not trained yet.
fn in_training(
    conn: &mut DbConnection,
    aidant: &accounts::Aidant,
) -> Result<bool, HabilitationError> {
    if !aidant.active {
        return Ok(true);
    }
    let open: i64 = trainees::table
        .filter(trainees::aidant_id.eq(&aidant.id))
        .filter(trainees::trained_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(open > 0)
}

/// The structure's aidants to train (an account not yet active, or a référent who will also
/// be an aidant and is not trained yet), with their training.
pub fn trainees(
    conn: &mut DbConnection,
    referent: &authenticator::ReferentSession,
) -> Result<Vec<Trainee>, HabilitationError> {
    let organisation = accounts::organisation(conn, referent.organisation_id())?
        .map(|o| o.name)
        .unwrap_or_default();
    let members = accounts::members(conn, referent.organisation_id())?;
    let mut out = Vec::new();
    for m in members.into_iter().filter(|m| m.active) {
        if in_training(conn, &m.aidant)? {
            out.push(trainee_of(conn, m.aidant, organisation.clone())?);
        }
    }
    Ok(out)
}

/// The aidants registered on a session, for the team, each with this session's attendance.
pub fn registered(
    conn: &mut DbConnection,
    _session: &authenticator::StaffSession,
    id: &str,
) -> Result<Vec<Trainee>, HabilitationError> {
    let Some(this) = training_sessions::table
        .find(id)
        .select(TrainingSession::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(Vec::new());
    };
    let rows: Vec<(String, String, Option<bool>)> = training_registrations::table
        .filter(training_registrations::session_id.eq(id))
        .select((
            training_registrations::aidant_id,
            training_registrations::organisation_id,
            training_registrations::attended,
        ))
        .load(conn)?;
    let mut out = Vec::new();
    for (aidant_id, organisation_id, attended) in rows {
        let Some(aidant) = accounts::aidant(conn, &AidantId::from(aidant_id))? else {
            continue;
        };
        let organisation = accounts::organisation(conn, &OrganisationId::from(organisation_id))?
            .map(|o| o.name)
            .unwrap_or_default();
        let mut trainee = trainee_of(conn, aidant, organisation)?;
        trainee.session = Some((this.clone(), attended));
        out.push(trainee);
    }
    out.sort_by(|a, b| a.aidant.last_name.cmp(&b.aidant.last_name));
    Ok(out)
}

/// A référent registers an aidant to train of their structure on a session to come with a
/// seat left (the session's row is locked while its seats are counted).
pub fn register(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    referent: &VerifiedReferent,
    aidant_id: &AidantId,
    session_id: &str,
) -> Result<(), HabilitationError> {
    let refuse = |message: &str| -> HabilitationError {
        Refusal::Fields(vec![FieldError::new("session", message)]).into()
    };
    write_transaction(conn, |tx| {
        let Some(member) = accounts::member(tx.conn(), referent.organisation_id(), aidant_id)?
        else {
            return Err(Refusal::UnknownRequest.into());
        };
        if !in_training(tx.conn(), &member.aidant)? {
            return Err(refuse(
                "Cet aidant est déjà habilité : il n'a pas de formation à suivre.",
            ));
        }
        // Locks the session's row (PostgreSQL) while its seats are counted.
        let locked = diesel::update(
            training_sessions::table
                .find(session_id)
                .filter(training_sessions::starts_at.gt(now)),
        )
        .set(training_sessions::seats.eq(training_sessions::seats))
        .execute(tx.conn())?;
        if locked != 1 {
            return Err(refuse("Choisissez une session de formation à venir."));
        }
        let seats: i32 = training_sessions::table
            .find(session_id)
            .select(training_sessions::seats)
            .first(tx.conn())?;
        let taken: i64 = training_registrations::table
            .filter(training_registrations::session_id.eq(session_id))
            .count()
            .get_result(tx.conn())?;
        if taken >= i64::from(seats) {
            return Err(refuse(
                "Cette session est complète : choisissez-en une autre.",
            ));
        }
        let pending: i64 = training_registrations::table
            .inner_join(training_sessions::table)
            .filter(training_registrations::aidant_id.eq(aidant_id))
            .filter(training_sessions::starts_at.gt(now))
            .count()
            .get_result(tx.conn())?;
        if pending > 0 {
            return Err(refuse("Cet aidant est déjà inscrit à une session à venir."));
        }
        diesel::insert_into(training_registrations::table)
            .values((
                training_registrations::session_id.eq(session_id),
                training_registrations::aidant_id.eq(aidant_id),
                training_registrations::organisation_id.eq(referent.organisation_id()),
                training_registrations::registered_by.eq(referent.referent_id()),
                training_registrations::registered_at.eq(now),
            ))
            .execute(tx.conn())?;
        let session = training_sessions::table
            .find(session_id)
            .select(TrainingSession::as_select())
            .first(tx.conn())?;
        let organisation = accounts::organisation(tx.conn(), referent.organisation_id())?
            .map(|o| o.name)
            .unwrap_or_default();
        mail::enqueue(
            tx,
            rng,
            now,
            &member.aidant.email,
            &mail::Email::TrainingRegistered {
                aidant: member.aidant.full_name(),
                organisation,
                when: paris::local(session.starts_at)
                    .format("%d/%m/%Y à %H:%M")
                    .to_string(),
                place: session.place,
                organiser: session.organiser,
                online: session.online,
            },
        )?;
        journal_training(
            tx,
            rng,
            now,
            referent.organisation_id().as_str(),
            journal::Action::RegisterTraining,
            Some(aidant_id),
            Some(referent.organisation_id()),
            session_id,
            serde_json::json!({ "referent": referent.referent_id() }),
        )
    })
}

/// Activates `aidant_id` if they attended a session and passed Pix (and are not active yet).
fn activate_if_ready(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &TrainingStaff<'_>,
    aidant_id: &AidantId,
) -> Result<bool, HabilitationError> {
    let attended: i64 = training_registrations::table
        .filter(training_registrations::aidant_id.eq(aidant_id))
        .filter(training_registrations::attended.eq(Some(true)))
        .count()
        .get_result(tx.conn())?;
    let passed: Option<bool> = pix_results::table
        .find(aidant_id)
        .select(pix_results::passed)
        .first(tx.conn())
        .optional()?;
    let Some(aidant) = accounts::aidant(tx.conn(), aidant_id)? else {
        return Ok(false);
    };
    if attended == 0 || passed != Some(true) || !in_training(tx.conn(), &aidant)? {
        return Ok(false);
    }
    diesel::update(
        trainees::table
            .filter(trainees::aidant_id.eq(aidant_id))
            .filter(trainees::trained_at.is_null()),
    )
    .set(trainees::trained_at.eq(Some(now)))
    .execute(tx.conn())?;
    if aidant.active {
        // A référent trained as an aidant: he may now act for usagers.
        accounts::set_acts_for_usagers(tx, aidant_id, true)?;
        return Ok(false);
    }
    accounts::activate_aidant(tx, rng, now, &aidant.email, who.by())?;
    Ok(true)
}

/// The team or the training body records who attended a session that has begun (the others
/// are absent); with
/// `auto_activation`, those who also passed Pix are activated. Returns how many were.
#[allow(clippy::too_many_arguments)]
pub fn record_attendance(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &TrainingStaff<'_>,
    session_id: &str,
    present: &[AidantId],
    auto_activation: bool,
) -> Result<usize, HabilitationError> {
    write_transaction(conn, |tx| {
        let starts_at: Option<Timestamp> = training_sessions::table
            .find(session_id)
            .select(training_sessions::starts_at)
            .first(tx.conn())
            .optional()?;
        let Some(starts_at) = starts_at else {
            return Err(Refusal::UnknownRequest.into());
        };
        if starts_at > now {
            return Err(Refusal::Fields(vec![FieldError::new(
                "present",
                "Cette session n'a pas encore eu lieu : la présence s'enregistre une fois la session commencée.",
            )])
            .into());
        }
        let registered: Vec<String> = training_registrations::table
            .filter(training_registrations::session_id.eq(session_id))
            .select(training_registrations::aidant_id)
            .load(tx.conn())?;
        let mut activated = 0;
        let mut presents = 0;
        for aidant in registered {
            let aidant = AidantId::from(aidant);
            let here = present.contains(&aidant);
            presents += usize::from(here);
            diesel::update(training_registrations::table.find((session_id, &aidant)))
                .set(training_registrations::attended.eq(Some(here)))
                .execute(tx.conn())?;
            if here && auto_activation && activate_if_ready(tx, rng, now, who, &aidant)? {
                activated += 1;
            }
        }
        journal_training(
            tx,
            rng,
            now,
            journal::NATIONAL_CHAIN,
            journal::Action::RecordAttendance,
            None,
            None,
            session_id,
            who.by()
                .tag(serde_json::json!({ "presents": presents, "actives": activated })),
        )?;
        Ok(activated)
    })
}

/// What a Pix import did or would not do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PixReport {
    /// Results recorded (none when a row was rejected).
    pub imported: usize,
    /// Aidants activated.
    pub activated: usize,
    /// The rejected rows: line number and why.
    pub rejected: Vec<(usize, String)>,
}

/// Imports Pix results, one `adresse;résultat` per line (`,` also separates; a header line
/// starting with « email » or « adresse » is skipped; `réussi`/`oui`/`1` pass,
/// `échoué`/`non`/`0` fail): every row, or none when one is rejected (unknown address,
/// unreadable result, the same address twice). With `auto_activation`, those who passed and
/// attended a session are activated.
pub fn import_pix(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &TrainingStaff<'_>,
    text: &str,
    auto_activation: bool,
) -> Result<PixReport, HabilitationError> {
    let mut report = PixReport::default();
    let mut rows: Vec<(AidantId, bool)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut cells = line.split([';', ',', '\t']).map(str::trim);
        let email = accounts::normalise_email(cells.next().unwrap_or_default());
        let result = cells.next().unwrap_or_default().to_lowercase();
        if index == 0 && (email == "email" || email.starts_with("adresse")) {
            continue;
        }
        if rows.len() + report.rejected.len() >= PIX_ROWS_MAX {
            report
                .rejected
                .push((number, format!("au plus {PIX_ROWS_MAX} lignes par fichier")));
            break;
        }
        let passed = match result.as_str() {
            "réussi" | "reussi" | "oui" | "1" | "true" | "admis" => Some(true),
            "échoué" | "echoue" | "échec" | "echec" | "non" | "0" | "false" => Some(false),
            _ => None,
        };
        let Some(passed) = passed else {
            report.rejected.push((
                number,
                format!("résultat illisible « {result} » (réussi ou échoué attendu)"),
            ));
            continue;
        };
        if seen.contains(&email) {
            report
                .rejected
                .push((number, format!("{email} figure deux fois")));
            continue;
        }
        seen.push(email.clone());
        match accounts::find_aidant_by_email(conn, &email)? {
            Some(aidant) => rows.push((aidant.id, passed)),
            None => report
                .rejected
                .push((number, format!("aucun aidant n'a l'adresse {email}"))),
        }
    }
    if !report.rejected.is_empty() {
        return Ok(report);
    }
    write_transaction(conn, |tx| {
        for (aidant, passed) in &rows {
            diesel::delete(pix_results::table.find(aidant)).execute(tx.conn())?;
            diesel::insert_into(pix_results::table)
                .values((
                    pix_results::aidant_id.eq(aidant),
                    pix_results::passed.eq(passed),
                    pix_results::imported_at.eq(now),
                    pix_results::staff_id.eq(who.id()),
                ))
                .execute(tx.conn())?;
            if *passed && auto_activation && activate_if_ready(tx, rng, now, who, aidant)? {
                report.activated += 1;
            }
        }
        report.imported = rows.len();
        journal_training(
            tx,
            rng,
            now,
            journal::NATIONAL_CHAIN,
            journal::Action::ImportPixResults,
            None,
            None,
            &format!("{} résultats", rows.len()),
            who.by().tag(serde_json::json!({
                "resultats": rows.len(),
                "actives": report.activated,
            })),
        )?;
        Ok(report)
    })
}
