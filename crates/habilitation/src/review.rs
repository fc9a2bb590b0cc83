//! The national team's review: the queue by status and date, a request's file, the message
//! thread with its issuer, and the decisions. Validation creates the structure (habilitated),
//! its référent (active, to manage the aidants and cards) and its aidants to train (pending
//! activation after their training) in one transaction, through the accounts' functions and
//! with the member's id in each journal entry.

use crate::request::{journal_request, load_file, Request, RequestFile};
use crate::{FieldError, HabilitationError, Refusal, Status};
use authenticator::{StaffSession, SupportStaff};
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::{habilitation_messages, habilitation_people, habilitation_requests};
use store::{new_id, write_transaction, DbConnection, PooledDb, StaffId, Timestamp, WriteTx};

/// The longest message.
const MESSAGE_MAX: usize = 5_000;

/// A message of a request's thread.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = habilitation_messages)]
pub struct Message {
    /// Id.
    pub id: String,
    /// The request.
    pub request_id: String,
    /// The member of the team who wrote it; `None`: the issuer.
    pub staff_id: Option<StaffId>,
    /// The text.
    pub body: String,
    /// When.
    pub created_at: Timestamp,
}

/// A line of the team's queue.
#[derive(Debug, Clone)]
pub struct QueueRow {
    /// The request.
    pub request: Request,
    /// How many aidants it asks to train (the référent included when also an aidant).
    pub aidants: i64,
}

/// The thread of a request, oldest first.
pub(crate) fn messages_of(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Vec<Message>, HabilitationError> {
    Ok(habilitation_messages::table
        .filter(habilitation_messages::request_id.eq(id))
        .order((habilitation_messages::created_at, habilitation_messages::id))
        .select(Message::as_select())
        .load(conn)?)
}

/// A message's text, trimmed, or the field's refusal.
pub(crate) fn checked_body(body: &str) -> Result<String, HabilitationError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(
            Refusal::Fields(vec![FieldError::new("body", "Écrivez votre message.")]).into(),
        );
    }
    if body.chars().count() > MESSAGE_MAX {
        return Err(Refusal::Fields(vec![FieldError::new(
            "body",
            format!("Ce message est trop long ({MESSAGE_MAX} caractères au plus)."),
        )])
        .into());
    }
    Ok(body.to_owned())
}

/// Writes a message on `request` (by `staff`, or its issuer), journaled.
pub(crate) fn write_message(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    request: &Request,
    staff: Option<&StaffId>,
    body: &str,
) -> Result<(), HabilitationError> {
    diesel::insert_into(habilitation_messages::table)
        .values((
            habilitation_messages::id.eq(new_id(rng)?),
            habilitation_messages::request_id.eq(&request.id),
            habilitation_messages::staff_id.eq(staff),
            habilitation_messages::body.eq(body),
            habilitation_messages::created_at.eq(now),
        ))
        .execute(tx.conn())?;
    let details = match staff {
        Some(staff) => serde_json::json!({ "de": "equipe", "staff": staff }),
        None => serde_json::json!({ "de": "demandeur" }),
    };
    journal_request(
        tx,
        rng,
        now,
        journal::Action::HabilitationMessage,
        request,
        details,
    )
}

/// The requests with `status` (all but drafts when `None`), oldest submission first, at most
/// `limit`.
pub fn queue(
    conn: &mut DbConnection,
    _session: &StaffSession,
    status: Option<Status>,
    limit: i64,
) -> Result<Vec<QueueRow>, HabilitationError> {
    let mut query = habilitation_requests::table
        .select(Request::as_select())
        .order((
            habilitation_requests::submitted_at.asc(),
            habilitation_requests::created_at.asc(),
        ))
        .limit(limit)
        .into_boxed();
    query = match status {
        Some(status) => query.filter(habilitation_requests::status.eq(status)),
        None => query.filter(habilitation_requests::status.ne(Status::Draft)),
    };
    let requests = query.load(conn)?;
    let ids: Vec<&str> = requests.iter().map(|r| r.id.as_str()).collect();
    let people: Vec<(String, String, bool)> = habilitation_people::table
        .filter(habilitation_people::request_id.eq_any(&ids))
        .select((
            habilitation_people::request_id,
            habilitation_people::role,
            habilitation_people::also_aidant,
        ))
        .load(conn)?;
    Ok(requests
        .into_iter()
        .map(|request| {
            let aidants = people
                .iter()
                .filter(|(r, role, also)| *r == request.id && (role == "aidant" || *also))
                .count();
            QueueRow {
                request,
                aidants: i64::try_from(aidants).unwrap_or(i64::MAX),
            }
        })
        .collect())
}

/// How many requests each status holds.
pub fn counts(
    conn: &mut DbConnection,
    _session: &StaffSession,
) -> Result<Vec<(Status, i64)>, HabilitationError> {
    let rows: Vec<(Status, i64)> = habilitation_requests::table
        .group_by(habilitation_requests::status)
        .select((habilitation_requests::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(Status::ALL
        .into_iter()
        .map(|s| {
            let n = rows.iter().find(|(r, _)| *r == s).map_or(0, |(_, n)| *n);
            (s, n)
        })
        .collect())
}

/// A request's file, for the team.
pub fn file_for_team(
    conn: &mut DbConnection,
    _session: &StaffSession,
    id: &str,
) -> Result<Option<RequestFile>, HabilitationError> {
    load_file(conn, id)
}

/// The issuer of a request, for the team.
pub fn issuer_of(
    conn: &mut DbConnection,
    _session: &StaffSession,
    request: &Request,
) -> Result<crate::issuer::Issuer, HabilitationError> {
    use store::schema::habilitation_issuers as i;
    Ok(i::table
        .find(&request.issuer_id)
        .select(crate::issuer::Issuer::as_select())
        .first(conn)?)
}

fn request_for_update(tx: &mut WriteTx<'_>, id: &str) -> Result<Request, HabilitationError> {
    Ok(habilitation_requests::table
        .find(id)
        .select(Request::as_select())
        .first(tx.conn())
        .optional()?
        .ok_or(Refusal::UnknownRequest)?)
}

/// A member of the team writes to the issuer of a submitted request, who is told by e-mail.
pub fn team_message(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    id: &str,
    body: &str,
) -> Result<(), HabilitationError> {
    let body = checked_body(body)?;
    write_transaction(conn, |tx| {
        let request = request_for_update(tx, id)?;
        if request.status == Status::Draft {
            return Err(Refusal::Fields(vec![FieldError::new(
                "body",
                "Cette demande est un brouillon : son demandeur ne l'a pas encore soumise.",
            )])
            .into());
        }
        write_message(tx, rng, now, &request, Some(who.id()), &body)?;
        tell_issuer(
            tx,
            rng,
            now,
            &request,
            &mail::Email::HabilitationMessage {
                reference: request.reference_or_draft().to_owned(),
                organisation: request.name.clone(),
                request_id: request.id.clone(),
                body: body.clone(),
                to_team: false,
            },
        )
    })
}

fn tell_issuer(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    request: &Request,
    email: &mail::Email,
) -> Result<(), HabilitationError> {
    let to: String = store::schema::habilitation_issuers::table
        .find(&request.issuer_id)
        .select(store::schema::habilitation_issuers::email)
        .first(tx.conn())?;
    mail::enqueue(tx, rng, now, &to, email)?;
    Ok(())
}

fn issuer_name(tx: &mut WriteTx<'_>, request: &Request) -> Result<String, HabilitationError> {
    use store::schema::habilitation_issuers as i;
    let (first, last): (String, String) = i::table
        .find(&request.issuer_id)
        .select((i::first_name, i::last_name))
        .first(tx.conn())?;
    Ok(format!("{first} {last}"))
}

/// Whether the team may take a request from `from` to `to`.
fn allowed(from: Status, to: Status) -> bool {
    match to {
        Status::ChangesRequired | Status::Validated => from == Status::Awaiting,
        Status::Refused => matches!(from, Status::Awaiting | Status::ChangesRequired),
        Status::Closed => from.is_open(),
        Status::Draft | Status::Awaiting => false,
    }
}

/// The team's decision on a request: `to` is [`Status::ChangesRequired`] (with a message,
/// required), [`Status::Validated`], [`Status::Refused`] or [`Status::Closed`] (with an
/// optional message). The issuer is told. Validation returns the new structure.
pub fn decide(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    id: &str,
    to: Status,
    message: &str,
) -> Result<Option<accounts::Organisation>, HabilitationError> {
    let message = if message.trim().is_empty() && to != Status::ChangesRequired {
        None
    } else {
        Some(checked_body(message).map_err(|e| {
            match e {
                HabilitationError::Refused(Refusal::Fields(_)) if message.trim().is_empty() => {
                    Refusal::Fields(vec![FieldError::new(
                        "body",
                        "Écrivez au demandeur les modifications attendues.",
                    )])
                    .into()
                }
                other => other,
            }
        })?)
    };
    write_transaction(conn, |tx| {
        let request = request_for_update(tx, id)?;
        if !allowed(request.status, to) {
            return Err(Refusal::Transition {
                from: request.status,
                to,
            }
            .into());
        }
        let organisation = if to == Status::Validated {
            Some(create_structure(tx, rng, now, who, &request)?)
        } else {
            None
        };
        let decided = !to.is_open();
        diesel::update(habilitation_requests::table.find(id))
            .set((
                habilitation_requests::status.eq(to),
                habilitation_requests::organisation_id.eq(organisation.as_ref().map(|o| &o.id)),
                habilitation_requests::updated_at.eq(now),
                habilitation_requests::decided_at.eq(decided.then_some(now)),
            ))
            .execute(tx.conn())?;
        let request = Request {
            organisation_id: organisation.as_ref().map(|o| o.id.clone()),
            ..request
        };
        if let Some(body) = &message {
            write_message(tx, rng, now, &request, Some(who.id()), body)?;
        }
        journal_request(
            tx,
            rng,
            now,
            journal::Action::ReviewHabilitationRequest,
            &request,
            who.by().tag(serde_json::json!({
                "reference": request.reference,
                "avant": request.status.as_str(),
                "apres": to.as_str(),
            })),
        )?;
        let decision = match to {
            Status::ChangesRequired => mail::Decision::ChangesRequired,
            Status::Validated => mail::Decision::Validated,
            Status::Refused => mail::Decision::Refused,
            Status::Closed | Status::Draft | Status::Awaiting => mail::Decision::Closed,
        };
        let issuer = issuer_name(tx, &request)?;
        tell_issuer(
            tx,
            rng,
            now,
            &request,
            &mail::Email::HabilitationDecided {
                issuer,
                reference: request.reference_or_draft().to_owned(),
                organisation: request.name.clone(),
                decision,
                message,
            },
        )?;
        Ok(organisation)
    })
}

/// The structure of a validated request, its référent and its aidants to train.
fn create_structure(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    request: &Request,
) -> Result<accounts::Organisation, HabilitationError> {
    let people: Vec<crate::Person> = habilitation_people::table
        .filter(habilitation_people::request_id.eq(&request.id))
        .order((
            habilitation_people::role.desc(),
            habilitation_people::created_at,
            habilitation_people::id,
        ))
        .select(crate::Person::as_select())
        .load(tx.conn())?;
    let refused = |e: accounts::AccountError| -> HabilitationError {
        if e.is_refusal() {
            Refusal::Accounts(e.to_string()).into()
        } else {
            e.into()
        }
    };
    let organisation = accounts::register_organisation(
        tx,
        rng,
        now,
        accounts::NewOrganisation {
            name: &request.name,
            siret: &request.siret,
            address: &request.address,
            zipcode: &request.zipcode,
            city: &request.city,
            kind: request.kind_label(),
            habilitation: accounts::Habilitation::Validated,
            france_services: request.france_services,
        },
        who.by(),
    )
    .map_err(refused)?;
    let mut referent_name = String::new();
    let mut referent_email = String::new();
    let mut to_train = Vec::new();
    for person in &people {
        let is_referent = person.role == "referent";
        let existed = accounts::find_aidant_by_email(tx.conn(), &person.email)?.is_some();
        let member = accounts::add_member(
            tx,
            rng,
            now,
            &organisation.id,
            accounts::NewAidant {
                email: &person.email,
                first_name: &person.first_name,
                last_name: &person.last_name,
                profession: &person.profession,
                phone: &person.phone,
                active: is_referent,
            },
            if is_referent {
                accounts::Role::Referent
            } else {
                accounts::Role::Aidant
            },
            who.by(),
        )
        .map_err(refused)?;
        if is_referent {
            referent_name = person.full_name();
            referent_email.clone_from(&person.email);
            // Active to manage the structure at once, a new référent acts for usagers only
            // once trained as an aidant (never when he will not be one).
            if !existed {
                accounts::set_acts_for_usagers(tx, &member.id, false)?;
            }
        }
        if !is_referent || person.also_aidant {
            to_train.push(person.full_name());
            crate::training::to_train(tx, now, &member.id, &organisation.id)?;
        }
    }
    if referent_email.is_empty() {
        return Err(Refusal::Accounts("la demande n'a pas de référent".into()).into());
    }
    mail::enqueue(
        tx,
        rng,
        now,
        &referent_email,
        &mail::Email::StructureHabilitated {
            referent: referent_name,
            organisation: organisation.name.clone(),
            aidants: to_train,
        },
    )?;
    Ok(organisation)
}
