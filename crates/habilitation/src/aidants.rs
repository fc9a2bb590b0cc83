//! A structure's requests for an aidant, after its habilitation: its référent asks the
//! national team for a new aidant to train, or for an aidant who already works in another
//! habilitated structure (who may leave it). The team validates — the new aidant's account is
//! created pending activation and listed to train; the arriving aidant becomes a member, and
//! when leaving, their other memberships end — or refuses with a reason. The référent is told
//! by e-mail either way. Until the team decides, a référent of the structure may withdraw the
//! request (a wrong address, a person who no longer comes): it is closed, and may be asked anew.

use crate::request::checked_person;
use crate::{refuse_fields, FieldError, HabilitationError, PersonForm, Refusal, Status};
use authenticator::{ReferentSession, StaffSession, SupportStaff, VerifiedReferent};
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::aidant_requests;
use store::{
    new_id, write_transaction, AidantId, DbConnection, OrganisationId, PooledDb, StaffId,
    Timestamp, WriteTx,
};

/// A référent's request for an aidant, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = aidant_requests)]
pub struct AidantRequest {
    /// Id.
    pub id: String,
    /// The structure asking.
    pub organisation_id: OrganisationId,
    /// The référent who asked.
    pub referent_id: AidantId,
    /// The aidant's address, normalised.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Phone (may be empty).
    pub phone: String,
    /// Profession.
    pub profession: String,
    /// Whether the aidant had an account when asked (coming from another structure), rather
    /// than new to train.
    pub arriving: bool,
    /// Whether the arriving aidant leaves their other structures.
    pub leaves: bool,
    /// The account: the one that existed when asked, or the one created at validation.
    pub aidant_id: Option<AidantId>,
    /// Awaiting, validated or refused.
    pub status: Status,
    /// The team's words on its decision (may be empty).
    pub reason: String,
    /// Who decided.
    pub staff_id: Option<StaffId>,
    /// When asked.
    pub created_at: Timestamp,
    /// When decided.
    pub decided_at: Option<Timestamp>,
}

impl AidantRequest {
    /// « Prénom Nom ».
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// What a référent types to ask for an aidant.
#[derive(Debug, Clone)]
pub struct AidantForm<'a> {
    /// The aidant: name, address, phone (optional), profession.
    pub person: PersonForm<'a>,
    /// When they already work in another structure: whether they leave it.
    pub leaves: bool,
}

/// The référent asks the national team for an aidant (`request_aidant` on the structure's
/// chain; the team, at `team_email`, is told). Refused field by field: a malformed or shared
/// address, a missing name or profession, an aidant who already works in the structure, or
/// one already asked for and awaiting.
pub fn ask(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    referent: &VerifiedReferent,
    form: AidantForm<'_>,
    team_email: &str,
) -> Result<AidantRequest, HabilitationError> {
    record_request(
        conn,
        rng,
        now,
        (referent.organisation_id(), referent.referent_id()),
        form,
        team_email,
    )
}

/// [`ask`], for `(organisation_id, referent_id)`: the référent's proof is the caller's (or the
/// demo's seed).
pub(crate) fn record_request(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    (organisation_id, referent_id): (&OrganisationId, &AidantId),
    form: AidantForm<'_>,
    team_email: &str,
) -> Result<AidantRequest, HabilitationError> {
    let (email, phone) = checked_person(&form.person, false)?;
    let id = new_id(rng)?;
    write_transaction(conn, |tx| {
        let existing = accounts::find_aidant_by_email(tx.conn(), &email)?;
        if let Some(aidant) = &existing {
            if accounts::member(tx.conn(), organisation_id, &aidant.id)?.is_some_and(|m| m.active) {
                refuse_fields(vec![FieldError::new(
                    "email",
                    "Cet aidant fait déjà partie de votre structure.",
                )])?;
            }
        }
        if open_request(tx.conn(), organisation_id, &email)?.is_some() {
            refuse_fields(vec![FieldError::new(
                "email",
                "Une demande pour cette adresse attend déjà la décision de l'équipe nationale.",
            )])?;
        }
        let person = &form.person;
        diesel::insert_into(aidant_requests::table)
            .values((
                aidant_requests::id.eq(&id),
                aidant_requests::organisation_id.eq(organisation_id),
                aidant_requests::referent_id.eq(referent_id),
                aidant_requests::email.eq(&email),
                aidant_requests::first_name.eq(person.first_name.trim()),
                aidant_requests::last_name.eq(person.last_name.trim()),
                aidant_requests::phone.eq(&phone),
                aidant_requests::profession.eq(person.profession.trim()),
                aidant_requests::arriving.eq(existing.is_some()),
                aidant_requests::leaves.eq(form.leaves && existing.is_some()),
                aidant_requests::aidant_id.eq(existing.as_ref().map(|a| &a.id)),
                aidant_requests::status.eq(Status::Awaiting),
                aidant_requests::reason.eq(""),
                aidant_requests::created_at.eq(now),
            ))
            .execute(tx.conn())?;
        let request = by_id(tx.conn(), &id)?.ok_or(Refusal::UnknownRequest)?;
        journal::append(
            tx,
            rng,
            now,
            journal::NewEntry {
                chain: organisation_id.as_str(),
                action: journal::Action::RequestAidant,
                aidant_id: Some(referent_id),
                usager_id: None,
                organisation_id: Some(organisation_id),
                subject: &request.id,
                details: serde_json::json!({
                    "aidant": request.aidant_id,
                    "arrivee": request.arriving,
                    "depart": request.leaves,
                }),
            },
        )?;
        let organisation = organisation_name(tx.conn(), organisation_id)?;
        mail::enqueue(
            tx,
            rng,
            now,
            team_email,
            &mail::Email::AidantToReview {
                organisation,
                aidant: request.full_name(),
                request_id: request.id.clone(),
                moving: request.arriving,
            },
        )?;
        Ok(request)
    })
}

/// A référent of the structure withdraws its request `id` awaiting the team's decision: closed
/// (`withdraw_aidant_request` on the structure's chain). Another structure's request is
/// unknown; a decided one is refused.
pub fn withdraw(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    referent: &VerifiedReferent,
    id: &str,
) -> Result<AidantRequest, HabilitationError> {
    let organisation_id = referent.organisation_id();
    write_transaction(conn, |tx| {
        let closed = diesel::update(
            aidant_requests::table
                .find(id)
                .filter(aidant_requests::organisation_id.eq(organisation_id))
                .filter(aidant_requests::status.eq(Status::Awaiting)),
        )
        .set((
            aidant_requests::status.eq(Status::Closed),
            aidant_requests::decided_at.eq(now),
        ))
        .execute(tx.conn())?;
        let request = by_id(tx.conn(), id)?
            .filter(|r| r.organisation_id == *organisation_id)
            .ok_or(Refusal::UnknownRequest)?;
        if closed == 0 {
            return Err(Refusal::Transition {
                from: request.status,
                to: Status::Closed,
            }
            .into());
        }
        journal::append(
            tx,
            rng,
            now,
            journal::NewEntry {
                chain: organisation_id.as_str(),
                action: journal::Action::WithdrawAidantRequest,
                aidant_id: Some(referent.referent_id()),
                usager_id: None,
                organisation_id: Some(organisation_id),
                subject: &request.id,
                details: serde_json::json!({ "aidant": request.aidant_id }),
            },
        )?;
        Ok(request)
    })
}

/// The request awaiting for `email` in the structure, if any.
fn open_request(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    email: &str,
) -> Result<Option<String>, HabilitationError> {
    Ok(aidant_requests::table
        .filter(aidant_requests::organisation_id.eq(organisation_id))
        .filter(aidant_requests::email.eq(email))
        .filter(aidant_requests::status.eq(Status::Awaiting))
        .select(aidant_requests::id)
        .first(conn)
        .optional()?)
}

fn by_id(conn: &mut DbConnection, id: &str) -> Result<Option<AidantRequest>, HabilitationError> {
    Ok(aidant_requests::table
        .find(id)
        .select(AidantRequest::as_select())
        .first(conn)
        .optional()?)
}

fn organisation_name(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
) -> Result<String, HabilitationError> {
    Ok(accounts::organisation(conn, organisation_id)?
        .map(|o| o.name)
        .unwrap_or_default())
}

/// The structure's requests for aidants, newest first (at most `limit`), for its référent.
pub fn requests_of(
    conn: &mut DbConnection,
    referent: &ReferentSession,
    limit: i64,
) -> Result<Vec<AidantRequest>, HabilitationError> {
    Ok(aidant_requests::table
        .filter(aidant_requests::organisation_id.eq(referent.organisation_id()))
        .order((
            aidant_requests::created_at.desc(),
            aidant_requests::id.desc(),
        ))
        .limit(limit)
        .select(AidantRequest::as_select())
        .load(conn)?)
}

/// A line of the team's queue: the request and the structure asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AidantQueueRow {
    /// The request.
    pub request: AidantRequest,
    /// The structure's name.
    pub organisation: String,
}

/// The requests with `status` (oldest first), at most `limit`, for the national team.
pub fn queue(
    conn: &mut DbConnection,
    _member: &StaffSession,
    status: Status,
    limit: i64,
) -> Result<Vec<AidantQueueRow>, HabilitationError> {
    let mut query = aidant_requests::table
        .filter(aidant_requests::status.eq(status))
        .limit(limit)
        .select(AidantRequest::as_select())
        .into_boxed();
    query = if status == Status::Awaiting {
        query.order((aidant_requests::created_at.asc(), aidant_requests::id))
    } else {
        query.order((aidant_requests::decided_at.desc(), aidant_requests::id))
    };
    let requests = query.load(conn)?;
    let ids: Vec<OrganisationId> = requests.iter().map(|r| r.organisation_id.clone()).collect();
    let names = accounts::organisations_by_ids(conn, &ids)?;
    Ok(requests
        .into_iter()
        .map(|request| AidantQueueRow {
            organisation: names
                .iter()
                .find(|o| o.id == request.organisation_id)
                .map(|o| o.name.clone())
                .unwrap_or_default(),
            request,
        })
        .collect())
}

/// A request as the team reviews it: the structure asking, and the structures the aidant works
/// for now (by name, with whether that membership is active).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AidantFile {
    /// The request.
    pub request: AidantRequest,
    /// The structure asking.
    pub organisation: String,
    /// Where the aidant is a member now: name, active.
    pub works_in: Vec<(String, bool)>,
    /// Who asked, « Prénom Nom ».
    pub referent: String,
}

/// The request `id` for the national team, if it exists.
pub fn file_for_team(
    conn: &mut DbConnection,
    _member: &StaffSession,
    id: &str,
) -> Result<Option<AidantFile>, HabilitationError> {
    let Some(request) = by_id(conn, id)? else {
        return Ok(None);
    };
    let organisation = organisation_name(conn, &request.organisation_id)?;
    let account = accounts::find_aidant_by_email(conn, &request.email)?;
    let mut works_in = Vec::new();
    if let Some(aidant) = &account {
        let held = accounts::memberships_of(conn, std::slice::from_ref(&aidant.id))?;
        let ids: Vec<OrganisationId> = held.iter().map(|(_, o, _, _)| o.clone()).collect();
        let names = accounts::organisations_by_ids(conn, &ids)?;
        for (_, organisation_id, _, active) in held {
            if let Some(o) = names.iter().find(|o| o.id == organisation_id) {
                works_in.push((o.name.clone(), active));
            }
        }
    }
    let referent = accounts::aidant(conn, &request.referent_id)?
        .map(|a| a.full_name())
        .unwrap_or_default();
    Ok(Some(AidantFile {
        request,
        organisation,
        works_in,
        referent,
    }))
}

/// The team's decision on a request awaiting (`review_aidant_request` on the national chain,
/// naming the structure): validated, the aidant joins the structure — a new account pending
/// activation, listed to train; an existing one as they are, leaving their other structures
/// when asked — or refused, with `reason` (required). The référent who asked is told.
pub fn decide(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    id: &str,
    validate: bool,
    reason: &str,
) -> Result<AidantRequest, HabilitationError> {
    let reason = reason.trim();
    if !validate && reason.is_empty() {
        refuse_fields(vec![FieldError::new(
            "reason",
            "Expliquez au référent pourquoi la demande est refusée.",
        )])?;
    }
    if reason.chars().count() > 2_000 {
        refuse_fields(vec![FieldError::new(
            "reason",
            "Le message ne doit pas dépasser 2 000 caractères.",
        )])?;
    }
    let to = if validate {
        Status::Validated
    } else {
        Status::Refused
    };
    write_transaction(conn, |tx| {
        // The row is locked until the decision commits: a second decision waits, then finds
        // it decided.
        let claimed = diesel::update(
            aidant_requests::table
                .find(id)
                .filter(aidant_requests::status.eq(Status::Awaiting)),
        )
        .set(aidant_requests::status.eq(Status::Awaiting))
        .execute(tx.conn())?;
        let request = by_id(tx.conn(), id)?.ok_or(Refusal::UnknownRequest)?;
        if claimed == 0 {
            return Err(Refusal::Transition {
                from: request.status,
                to,
            }
            .into());
        }
        let aidant_id = if validate {
            Some(join(tx, rng, now, who, &request)?)
        } else {
            request.aidant_id.clone()
        };
        diesel::update(aidant_requests::table.find(id))
            .set((
                aidant_requests::status.eq(to),
                aidant_requests::aidant_id.eq(&aidant_id),
                aidant_requests::reason.eq(reason),
                aidant_requests::staff_id.eq(who.id()),
                aidant_requests::decided_at.eq(now),
            ))
            .execute(tx.conn())?;
        journal::append(
            tx,
            rng,
            now,
            journal::NewEntry {
                chain: journal::NATIONAL_CHAIN,
                action: journal::Action::ReviewAidantRequest,
                aidant_id: aidant_id.as_ref(),
                usager_id: None,
                organisation_id: Some(&request.organisation_id),
                subject: &request.id,
                details: who.by().tag(serde_json::json!({
                    "apres": to.as_str(),
                    "arrivee": request.arriving,
                    "depart": request.leaves,
                })),
            },
        )?;
        let organisation = organisation_name(tx.conn(), &request.organisation_id)?;
        if let Some(referent) = accounts::aidant(tx.conn(), &request.referent_id)? {
            mail::enqueue(
                tx,
                rng,
                now,
                &referent.email,
                &mail::Email::AidantRequestDecided {
                    referent: referent.full_name(),
                    aidant: request.full_name(),
                    organisation,
                    validated: validate,
                    moving: request.arriving,
                    reason: (!reason.is_empty()).then(|| reason.to_owned()),
                },
            )?;
        }
        Ok(AidantRequest {
            status: to,
            aidant_id,
            reason: reason.to_owned(),
            staff_id: Some(who.id().clone()),
            decided_at: Some(now),
            ..request
        })
    })
}

/// The validated request's aidant joins its structure; returns their account.
fn join(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    request: &AidantRequest,
) -> Result<AidantId, HabilitationError> {
    let refused = |e: authenticator::AuthError| -> HabilitationError {
        match e {
            authenticator::AuthError::Accounts(e) if e.is_refusal() => {
                Refusal::Accounts(e.to_string()).into()
            }
            authenticator::AuthError::Accounts(e) => e.into(),
            other => HabilitationError::Authenticator(other),
        }
    };
    let to = &request.organisation_id;
    let Some(aidant) = accounts::find_aidant_by_email(tx.conn(), &request.email)? else {
        let created = accounts::add_member(
            tx,
            rng,
            now,
            to,
            accounts::NewAidant {
                email: &request.email,
                first_name: &request.first_name,
                last_name: &request.last_name,
                profession: &request.profession,
                phone: &request.phone,
                active: false,
            },
            accounts::Role::Aidant,
            who.by(),
        )
        .map_err(|e| refused(e.into()))?;
        crate::training::to_train(tx, now, &created.id, to)?;
        return Ok(created.id);
    };
    authenticator::join_in(tx, rng, now, who, &aidant, to, accounts::Role::Aidant)
        .map_err(refused)?;
    if !aidant.active {
        // Not trained yet: they are trained for this structure too.
        crate::training::to_train(tx, now, &aidant.id, to)?;
    }
    if request.leaves {
        let held = accounts::memberships_of(tx.conn(), std::slice::from_ref(&aidant.id))?;
        for (_, organisation_id, _, active) in held {
            if active && organisation_id != *to {
                let Some(member) = accounts::member(tx.conn(), &organisation_id, &aidant.id)?
                else {
                    continue;
                };
                // A structure is never left without a working référent.
                if member.role == accounts::Role::Referent
                    && accounts::referent_emails(tx.conn(), &organisation_id, &[&aidant.id])?
                        .is_empty()
                {
                    let name = organisation_name(tx.conn(), &organisation_id)?;
                    return Err(Refusal::Accounts(format!(
                        "{} est le dernier référent en activité de la structure {name} : elle doit d'abord en désigner un autre, ou la demande doit être refusée",
                        aidant.full_name()
                    ))
                    .into());
                }
                authenticator::leave_in(tx, rng, now, who, &organisation_id, &member)
                    .map_err(refused)?;
            }
        }
    }
    Ok(aidant.id)
}
