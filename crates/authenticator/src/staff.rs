//! The national team's accounts ("staff"): their own kind of account, never an aidant of a
//! structure, each with a role. A member is created with a digital card and a single-use
//! enrolment link (its token kept hashed, valid for a while); following it shows the card's
//! seed once as a QR code, and a code it shows validates the card. They then sign in at
//! `/administration` with e-mail and code, under the card rules of the aidants (single use,
//! delay after a wrong code, locks that double) and the source-address throttle, for sessions
//! shorter than an aidant's. Every step is journaled on the national chain.
//!
//! [`StaffSession`] is the proof of a live staff session; only this module builds it.

use crate::cards::{insert_card, verify_code, CardKind, NewCard, OtpCard, OtpRefusal};
use crate::management::{check_pending_card, take_card, CardRefusal, Enrolment};
use crate::sessions::{new_token, throttled, Credentials, Failure, LoginRefusal, SessionToken};
use crate::{AuthError, SeedCipher, SessionPolicy};
use chrono::Duration;
use diesel::prelude::*;
use journal::{Action, NewEntry};
use ring::rand::SecureRandom;
use store::schema::{aidant_sessions, otp_cards, staff, staff_sessions};
use store::{hash_secret, write_transaction, DbConnection, PooledDb, StaffId, Timestamp, WriteTx};

store::text_enum! {
    /// What a member of the national team may do (stored as its name).
    pub enum StaffRole(AuthError, AuthError::StaffRole) {
        /// Everything.
        Admin = "admin",
        /// Accounts and cards; no mandate transfer, no erasure.
        Support = "support",
        /// Read only: the journal, the statistics, the verification reports.
        Auditor = "auditeur",
        /// A training body: the training sessions, their attendance and Pix results, nothing
        /// else.
        Trainer = "formateur",
    }
}

impl StaffRole {
    /// The role as the back office names it.
    pub fn label(self) -> &'static str {
        match self {
            StaffRole::Admin => "administrateur",
            StaffRole::Support => "support",
            StaffRole::Auditor => "auditeur",
            StaffRole::Trainer => "organisme de formation",
        }
    }
}

/// A member of the national team.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = staff)]
pub struct Staff {
    /// Id.
    pub id: StaffId,
    /// E-mail address (lower case).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Role.
    pub role: StaffRole,
    /// Whether they may sign in.
    pub active: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

impl Staff {
    /// "First Last".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// How long staff sessions and enrolment links last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffLifetimes {
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in.
    pub absolute: Duration,
    /// A new member's enrolment link works this long.
    pub enrolment: Duration,
}

/// What it takes to create a member of the national team.
#[derive(Debug, Clone, Copy)]
pub struct NewStaff<'a> {
    /// E-mail address.
    pub email: &'a str,
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// Role.
    pub role: StaffRole,
}

/// Why a member could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StaffRefusal {
    /// The address is not an e-mail address.
    #[error("adresse électronique invalide")]
    Email,
    /// A name is empty.
    #[error("le nom et le prénom sont obligatoires")]
    Name,
    /// A member already has this address.
    #[error("un membre de l'équipe a déjà cette adresse")]
    EmailTaken,
}

/// The card a new member signs in with.
#[derive(Debug, Clone, Copy)]
pub enum StaffCard<'a> {
    /// A digital card to enrol through a single-use link that works this long (the real
    /// case).
    Enrol(Duration),
    /// A card whose seed is already known and checked, validated at once (the demo's).
    Known {
        /// Its serial.
        serial: &'a str,
        /// Its seed, hexadecimal.
        seed_hex: &'a str,
    },
}

/// A member just created, with the token of their single-use enrolment link (shown once).
#[derive(Debug)]
pub struct Created {
    /// The member.
    pub staff: Staff,
    /// The link's token, `/administration/enrolement/{token}`, when their card is to enrol.
    pub token: Option<SessionToken>,
}

/// Creates a member of the national team with their card, journaled `create_staff` on the
/// national chain (with the id of the administrator who did it, if one did). The command line
/// creates the first administrator; the back office goes through [`staff_create_member`].
pub fn create_staff(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    new: NewStaff<'_>,
    card: StaffCard<'_>,
    by: Option<&AdminStaff<'_>>,
) -> Result<Result<Created, StaffRefusal>, AuthError> {
    let email = accounts::normalise_email(new.email);
    let valid = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.contains(char::is_whitespace);
    if !valid {
        return Ok(Err(StaffRefusal::Email));
    }
    if new.first_name.trim().is_empty() || new.last_name.trim().is_empty() {
        return Ok(Err(StaffRefusal::Name));
    }
    let (link, serial, seed_hex) = match card {
        StaffCard::Enrol(lasts) => {
            let mut seed = vec![0u8; 20];
            rng.fill(&mut seed).map_err(|_| store::StoreError::Random)?;
            (
                Some((new_token(rng)?, now + lasts)),
                None,
                hex::encode(&seed),
            )
        }
        StaffCard::Known { serial, seed_hex } => (None, Some(serial), seed_hex.to_owned()),
    };
    write_transaction(conn, |tx| {
        let taken: i64 = staff::table
            .filter(staff::email.eq(&email))
            .count()
            .get_result(tx.conn())?;
        if taken > 0 {
            return Ok(Err(StaffRefusal::EmailTaken));
        }
        let member = Staff {
            id: StaffId::generate(rng)?,
            email: email.clone(),
            first_name: new.first_name.trim().to_owned(),
            last_name: new.last_name.trim().to_owned(),
            role: new.role,
            active: true,
            created_at: now,
        };
        diesel::insert_into(staff::table)
            .values((
                staff::id.eq(&member.id),
                staff::email.eq(&member.email),
                staff::first_name.eq(&member.first_name),
                staff::last_name.eq(&member.last_name),
                staff::role.eq(member.role),
                staff::active.eq(true),
                staff::created_at.eq(now),
                staff::enrolment_hash.eq(link.as_ref().map(|(t, _)| hash_secret(t.expose()))),
                staff::enrolment_expires_at.eq(link.as_ref().map(|(_, until)| *until)),
            ))
            .execute(tx.conn())?;
        let generated = format!("EQ{}", &member.id.as_str()[..12].to_uppercase());
        insert_card(
            tx,
            rng,
            cipher,
            now,
            NewCard {
                serial: serial.unwrap_or(&generated),
                seed_hex: &seed_hex,
                kind: if serial.is_some() {
                    CardKind::Physical
                } else {
                    CardKind::Digital
                },
                aidant_id: None,
                validated: serial.is_some(),
            },
            Some(&member.id),
        )?;
        journal_national(
            tx,
            rng,
            now,
            Action::CreateStaff,
            member.id.as_str(),
            serde_json::json!({
                "member": member.id,
                "role": member.role.as_str(),
                "staff": by.map(|admin| &admin.staff.id),
            }),
        )?;
        Ok(Ok(Created {
            staff: member,
            token: link.map(|(token, _)| token),
        }))
    })
}

/// Journals a step of the national team on the national chain, about `subject` (a member's
/// id, a card's serial), the acting member's id in `details`.
pub(crate) fn journal_national(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    action: Action,
    subject: &str,
    details: serde_json::Value,
) -> Result<(), AuthError> {
    journal::append(
        tx,
        rng,
        now,
        NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action,
            aidant_id: None,
            usager_id: None,
            organisation_id: None,
            subject,
            details,
        },
    )?;
    Ok(())
}

/// The member whose enrolment link `token` is, while it works, with their card to enrol.
fn enrolling(
    conn: &mut DbConnection,
    now: Timestamp,
    token: &str,
) -> Result<Option<(Staff, OtpCard)>, AuthError> {
    let Some(member) = staff::table
        .filter(staff::enrolment_hash.eq(hash_secret(token)))
        .filter(staff::enrolment_expires_at.gt(now))
        .filter(staff::active.eq(true))
        .select(Staff::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let card = otp_cards::table
        .filter(otp_cards::staff_id.eq(&member.id))
        .filter(otp_cards::validated_at.is_null())
        .filter(otp_cards::disabled_reason.is_null())
        .select(OtpCard::as_select())
        .first(conn)
        .optional()?;
    Ok(card.map(|card| (member, card)))
}

/// What the enrolment page shows: the member, and their card's seed to scan (once the link
/// is used, never again).
#[derive(Debug)]
pub struct StaffEnrolment {
    /// The member.
    pub staff: Staff,
    /// The card and its seed.
    pub enrolment: Enrolment,
}

/// The enrolment the link `token` opens, if it still works.
pub fn staff_enrolment(
    conn: &mut DbConnection,
    cipher: &SeedCipher,
    now: Timestamp,
    token: &str,
) -> Result<Option<StaffEnrolment>, AuthError> {
    let Some((member, card)) = enrolling(conn, now, token)? else {
        return Ok(None);
    };
    let seed = cipher.open(&card.id, &card.seed_encrypted)?;
    Ok(Some(StaffEnrolment {
        staff: member,
        enrolment: Enrolment::new(card, seed),
    }))
}

/// Why an enrolment was not completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolmentRefusal {
    /// The link does not work (unknown, used or expired).
    UnknownLink,
    /// The code was refused.
    Code(OtpRefusal),
}

/// Validates the card of the enrolment link `token` with a `code` it shows, ends the link,
/// and journals `enrol_staff`. A wrong code counts against the card as at sign-in.
pub fn complete_staff_enrolment(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: Timestamp,
    token: &str,
    code: &str,
) -> Result<Result<Staff, EnrolmentRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        let Some((member, card)) = enrolling(tx.conn(), now, token)? else {
            return Ok(Err(EnrolmentRefusal::UnknownLink));
        };
        if let Err(refusal) = verify_code(tx, cipher, &card, code, now, &policy.card)? {
            return Ok(Err(EnrolmentRefusal::Code(refusal)));
        }
        diesel::update(otp_cards::table.find(&card.id))
            .set(otp_cards::validated_at.eq(now))
            .execute(tx.conn())?;
        diesel::update(staff::table.find(&member.id))
            .set((
                staff::enrolment_hash.eq(None::<String>),
                staff::enrolment_expires_at.eq(None::<Timestamp>),
            ))
            .execute(tx.conn())?;
        journal_national(
            tx,
            rng,
            now,
            Action::EnrolStaff,
            member.id.as_str(),
            serde_json::json!({ "staff": member.id, "card": card.serial }),
        )?;
        Ok(Ok(member))
    })
}

/// A live staff session: the proof that a member of the national team signed in with their
/// card, within the session's idle and absolute lifetimes, and is still active.
#[derive(Debug, Clone)]
pub struct StaffSession {
    staff: Staff,
    expires_at: Timestamp,
}

impl StaffSession {
    /// The member.
    pub fn staff(&self) -> &Staff {
        &self.staff
    }

    /// Their role.
    pub fn role(&self) -> StaffRole {
        self.staff.role
    }

    /// When the session ends at the latest.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
}

/// A staff sign-in: the browser's token and the session.
#[derive(Debug)]
pub struct StaffSignedIn {
    /// The token the browser keeps (hashed at rest).
    pub token: SessionToken,
    /// The session.
    pub session: StaffSession,
}

/// Signs a member of the national team in with e-mail and the code of their card, journaled
/// `connect_staff`. Every failure gets the one answer of the aidants' sign-in; failures count
/// against the card (a lock is journaled `lock_otp_card`) and the source address.
pub fn staff_login(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    lifetimes: &StaffLifetimes,
    now: Timestamp,
    credentials: Credentials<'_>,
) -> Result<Result<StaffSignedIn, LoginRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        throttled(tx, rng, cipher, policy, now, credentials.source, |tx| {
            open_staff_session(tx, rng, cipher, policy, lifetimes, now, credentials)
        })
    })
}

fn open_staff_session(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    lifetimes: &StaffLifetimes,
    now: Timestamp,
    credentials: Credentials<'_>,
) -> Result<Result<StaffSignedIn, LoginRefusal>, AuthError> {
    let refused = |failure| Ok(Err(LoginRefusal::BadCredentials(failure)));
    let Some(member) = staff::table
        .filter(staff::email.eq(accounts::normalise_email(credentials.email)))
        .filter(staff::active.eq(true))
        .select(Staff::as_select())
        .first(tx.conn())
        .optional()?
    else {
        return refused(Failure::UnknownAccount);
    };
    let cards: Vec<OtpCard> = otp_cards::table
        .filter(otp_cards::staff_id.eq(&member.id))
        .filter(otp_cards::validated_at.is_not_null())
        .filter(otp_cards::disabled_reason.is_null())
        .order(otp_cards::created_at.asc())
        .select(OtpCard::as_select())
        .load(tx.conn())?;
    let mut failure = Failure::UnknownAccount;
    let mut accepted = false;
    for card in &cards {
        match verify_code(tx, cipher, card, credentials.code, now, &policy.card)? {
            Ok(_) => {
                accepted = true;
                break;
            }
            Err(OtpRefusal::Locked { until, now_locked }) => {
                if now_locked {
                    journal_national(
                        tx,
                        rng,
                        now,
                        Action::LockOtpCard,
                        &card.serial,
                        serde_json::json!({
                            "staff": member.id,
                            "until": until.to_rfc3339(),
                        }),
                    )?;
                }
                failure = Failure::Locked(until);
            }
            Err(OtpRefusal::TooSoon(until)) => failure = Failure::TooSoon(until),
            Err(OtpRefusal::Replayed) => failure = Failure::Replayed,
            Err(OtpRefusal::WrongCode) => failure = Failure::WrongCode,
            Err(OtpRefusal::OutOfService) => {}
        }
    }
    if !accepted {
        return refused(failure);
    }
    let token = new_token(rng)?;
    let expires_at = now + lifetimes.absolute;
    diesel::insert_into(staff_sessions::table)
        .values((
            staff_sessions::token_hash.eq(hash_secret(token.expose())),
            staff_sessions::staff_id.eq(&member.id),
            staff_sessions::created_at.eq(now),
            staff_sessions::last_seen_at.eq(now),
            staff_sessions::expires_at.eq(expires_at),
        ))
        .execute(tx.conn())?;
    journal_national(
        tx,
        rng,
        now,
        Action::ConnectStaff,
        member.id.as_str(),
        serde_json::json!({ "staff": member.id }),
    )?;
    Ok(Ok(StaffSignedIn {
        token,
        session: StaffSession {
            staff: member,
            expires_at,
        },
    }))
}

/// The live staff session a browser token names, if any (not ended, within its idle and
/// absolute lifetimes, member active); marks it as seen.
pub fn staff_session_by_token(
    conn: &mut DbConnection,
    lifetimes: &StaffLifetimes,
    now: Timestamp,
    token: &str,
) -> Result<Option<StaffSession>, AuthError> {
    let hash = hash_secret(token);
    let found: Option<(Staff, Timestamp)> = staff_sessions::table
        .inner_join(staff::table)
        .filter(staff_sessions::token_hash.eq(&hash))
        .filter(staff_sessions::ended_at.is_null())
        .filter(staff_sessions::expires_at.gt(now))
        .filter(staff_sessions::last_seen_at.gt(now - lifetimes.idle))
        .filter(staff::active.eq(true))
        .select((Staff::as_select(), staff_sessions::expires_at))
        .first(conn)
        .optional()?;
    let Some((member, expires_at)) = found else {
        return Ok(None);
    };
    diesel::update(staff_sessions::table.find(&hash))
        .set(staff_sessions::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(Some(StaffSession {
        staff: member,
        expires_at,
    }))
}

/// Ends the staff session a browser token names (sign-out).
pub fn end_staff_session(
    conn: &mut DbConnection,
    now: Timestamp,
    token: &str,
) -> Result<(), AuthError> {
    diesel::update(
        staff_sessions::table
            .find(hash_secret(token))
            .filter(staff_sessions::ended_at.is_null()),
    )
    .set(staff_sessions::ended_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// The proof that the signed-in member may manage accounts and cards: an administrator or a
/// member of the support (not an auditor).
#[derive(Debug, Clone, Copy)]
pub struct SupportStaff<'a> {
    staff: &'a Staff,
}

impl StaffSession {
    /// The proof that this member may manage accounts and cards, if their role allows it.
    pub fn support(&self) -> Option<SupportStaff<'_>> {
        matches!(self.staff.role, StaffRole::Admin | StaffRole::Support)
            .then_some(SupportStaff { staff: &self.staff })
    }
}

/// Why the national team's action on an aidant's card was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffCardRefusal {
    /// No aidant has this e-mail address.
    UnknownAidant,
    /// The card refused (unknown, taken, out of service, a wrong code…).
    Card(CardRefusal),
    /// The card is not associated with any aidant.
    NotAssociated,
}

/// Journals a member's action on an aidant's card on the national chain, with their id.
pub(crate) fn journal_card_action(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    action: Action,
    who: &SupportStaff<'_>,
    aidant: &accounts::Aidant,
    card: &OtpCard,
) -> Result<(), AuthError> {
    journal_national(
        tx,
        rng,
        now,
        action,
        &card.serial,
        serde_json::json!({
            "staff": who.staff.id,
            "aidant": aidant.id,
            "card": card.serial,
        }),
    )
}

/// Does `change` to the card of the aidant with address `aidant_email`, in one transaction,
/// and journals it as `action` with the member's id.
fn on_aidants_card(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    aidant_email: &str,
    action: Action,
    change: impl FnOnce(
        &mut WriteTx<'_>,
        &accounts::Aidant,
    ) -> Result<Result<OtpCard, CardRefusal>, AuthError>,
) -> Result<Result<OtpCard, StaffCardRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        let Some(aidant) = accounts::find_aidant_by_email(tx.conn(), aidant_email)? else {
            return Ok(Err(StaffCardRefusal::UnknownAidant));
        };
        let card = match change(tx, &aidant)? {
            Ok(card) => card,
            Err(refusal) => return Ok(Err(StaffCardRefusal::Card(refusal))),
        };
        journal_card_action(tx, rng, now, action, who, &aidant, &card)?;
        Ok(Ok(card))
    })
}

/// The national team associates the free physical card `serial` with any aidant (how a new
/// structure's first référent gets one), journaled `card_association` with the member's id;
/// the card is then validated with a code it shows.
pub fn staff_associate_card(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    aidant_email: &str,
    serial: &str,
) -> Result<Result<OtpCard, StaffCardRefusal>, AuthError> {
    on_aidants_card(
        conn,
        rng,
        now,
        who,
        aidant_email,
        Action::CardAssociation,
        |tx, aidant| take_card(tx, &aidant.id, serial),
    )
}

/// The national team validates the aidant's card awaiting validation with a code it shows,
/// journaled `card_validation` with the member's id.
#[allow(clippy::too_many_arguments)]
pub fn staff_validate_card(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    policy: &SessionPolicy,
    now: Timestamp,
    who: &SupportStaff<'_>,
    aidant_email: &str,
    code: &str,
) -> Result<Result<OtpCard, StaffCardRefusal>, AuthError> {
    on_aidants_card(
        conn,
        rng,
        now,
        who,
        aidant_email,
        Action::CardValidation,
        |tx, aidant| check_pending_card(tx, rng, cipher, policy, now, &aidant.id, code),
    )
}

/// The proof that the signed-in member may record a training's attendance and Pix results: an
/// administrator, a member of the support, or of a training body.
#[derive(Debug, Clone, Copy)]
pub struct TrainingStaff<'a> {
    staff: &'a Staff,
}

impl StaffSession {
    /// The proof that this member may record trainings, if their role allows it.
    pub fn training(&self) -> Option<TrainingStaff<'_>> {
        matches!(
            self.staff.role,
            StaffRole::Admin | StaffRole::Support | StaffRole::Trainer
        )
        .then_some(TrainingStaff { staff: &self.staff })
    }

    /// Whether the member works for a training body, who sees the trainings only.
    pub fn is_trainer(&self) -> bool {
        self.staff.role == StaffRole::Trainer
    }
}

impl TrainingStaff<'_> {
    /// The member's id, as the journal names them.
    pub fn id(&self) -> &StaffId {
        &self.staff.id
    }

    /// Who acts, as the accounts' journal entries name them.
    pub fn by(&self) -> accounts::By<'_> {
        accounts::By::Staff(&self.staff.id)
    }
}

impl SupportStaff<'_> {
    /// The member's id, as the journal names them.
    pub fn id(&self) -> &StaffId {
        &self.staff.id
    }

    /// Who acts, as the accounts' journal entries name them.
    pub fn by(&self) -> accounts::By<'_> {
        accounts::By::Staff(&self.staff.id)
    }
}

/// The national team creates a habilitated structure (`create_organisation`, with the
/// member's id). Refusals are the accounts' (`AccountError::is_refusal`).
pub fn staff_create_organisation(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    new: accounts::NewOrganisation<'_>,
) -> Result<accounts::Organisation, accounts::AccountError> {
    write_transaction(conn, |tx| {
        accounts::register_organisation(tx, rng, now, new, who.by())
    })
}

/// The national team closes a structure (`open` false): its habilitation ends, so its aidants
/// can no longer sign in for it, make mandates or use them, and their sessions in it end now;
/// its members, mandates and journal are kept. Or reopens it (`open` true). `None`: no such
/// structure.
pub fn staff_set_structure_open(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    organisation_id: &store::OrganisationId,
    open: bool,
) -> Result<Option<accounts::Organisation>, accounts::AccountError> {
    let habilitation = if open {
        accounts::Habilitation::Validated
    } else {
        accounts::Habilitation::Closed
    };
    write_transaction(conn, |tx| {
        let changed =
            accounts::set_habilitation(tx, rng, now, organisation_id, habilitation, who.by())?;
        if changed.is_some() && !open {
            diesel::update(
                aidant_sessions::table
                    .filter(aidant_sessions::organisation_id.eq(organisation_id))
                    .filter(aidant_sessions::ended_at.is_null()),
            )
            .set(aidant_sessions::ended_at.eq(Some(now)))
            .execute(tx.conn())?;
        }
        Ok(changed)
    })
}

/// The national team adds an aidant or a référent to a structure, pending activation
/// (`add_aidant`, and `designate_referent` for a référent, with the member's id).
pub fn staff_add_member(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    organisation_id: &store::OrganisationId,
    new: accounts::NewAidant<'_>,
    role: accounts::Role,
) -> Result<accounts::Aidant, accounts::AccountError> {
    write_transaction(conn, |tx| {
        accounts::add_member(
            tx,
            rng,
            now,
            organisation_id,
            accounts::NewAidant {
                active: false,
                ..new
            },
            role,
            who.by(),
        )
    })
}

/// The national team activates an aidant after their training (`activate_aidant`, with the
/// member's id; the welcome and the référents' notices are written to the outbox).
pub fn staff_activate_aidant(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    email: &str,
) -> Result<accounts::Aidant, accounts::AccountError> {
    write_transaction(conn, |tx| {
        accounts::activate_aidant(tx, rng, now, email, who.by())
    })
}

/// The proof that the signed-in member is an administrator (who manages the national team).
#[derive(Debug, Clone, Copy)]
pub struct AdminStaff<'a> {
    staff: &'a Staff,
}

impl AdminStaff<'_> {
    /// The administrator's id, as the journal names them.
    pub fn id(&self) -> &StaffId {
        &self.staff.id
    }
}

impl StaffSession {
    /// The proof that this member is an administrator, if they are.
    pub fn admin(&self) -> Option<AdminStaff<'_>> {
        (self.staff.role == StaffRole::Admin).then_some(AdminStaff { staff: &self.staff })
    }
}

/// An administrator creates a member of the national team, who enrols their digital card
/// through a single-use link working `link_lifetime` (journaled `create_staff` with the
/// administrator's id).
pub fn staff_create_member(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    who: &AdminStaff<'_>,
    new: NewStaff<'_>,
    link_lifetime: Duration,
) -> Result<Result<Created, StaffRefusal>, AuthError> {
    create_staff(
        conn,
        rng,
        cipher,
        now,
        new,
        StaffCard::Enrol(link_lifetime),
        Some(who),
    )
}

/// Every member of the national team, by name.
pub fn staff_members(conn: &mut DbConnection) -> Result<Vec<(Staff, bool)>, AuthError> {
    let members: Vec<Staff> = staff::table
        .order((staff::last_name.asc(), staff::first_name.asc()))
        .select(Staff::as_select())
        .load(conn)?;
    let enrolled: Vec<StaffId> = otp_cards::table
        .filter(otp_cards::staff_id.is_not_null())
        .filter(otp_cards::validated_at.is_not_null())
        .filter(otp_cards::disabled_reason.is_null())
        .select(otp_cards::staff_id.assume_not_null())
        .load(conn)?;
    Ok(members
        .into_iter()
        .map(|m| {
            let has_card = enrolled.contains(&m.id);
            (m, has_card)
        })
        .collect())
}

/// What an administrator changes of a member of the national team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffChange {
    /// Their role.
    Role(StaffRole),
    /// Whether they may sign in (a deactivation ends their sessions).
    Active(bool),
    /// A new digital card to enrol through a new single-use link working this long (a lost
    /// phone): their cards go out of service and their sessions end.
    NewEnrolment(Duration),
}

/// Why a change to a member was refused (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StaffChangeRefusal {
    /// No such member.
    #[error("membre de l'équipe inconnu")]
    UnknownMember,
    /// The change would leave the team without an active administrator.
    #[error("l'équipe doit garder au moins un administrateur actif")]
    LastAdmin,
    /// A deactivated member's enrolment link would not work.
    #[error("réactivez d'abord ce membre : son lien d'enrôlement ne fonctionnerait pas")]
    Inactive,
}

/// An administrator changes a member of the national team's role or state, or gives them a new
/// enrolment link (returned, shown once), journaled `edit_staff` on the national chain with
/// the state before and after. Refused when it would leave no active administrator.
pub fn staff_change_member(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    who: &AdminStaff<'_>,
    member_id: &StaffId,
    change: StaffChange,
) -> Result<Result<Option<SessionToken>, StaffChangeRefusal>, AuthError> {
    write_transaction(conn, |tx| {
        let Some(member) = staff::table
            .find(member_id)
            .select(Staff::as_select())
            .first(tx.conn())
            .optional()?
        else {
            return Ok(Err(StaffChangeRefusal::UnknownMember));
        };
        let leaves_admin = match change {
            StaffChange::Role(role) => role != StaffRole::Admin,
            StaffChange::Active(active) => !active,
            StaffChange::NewEnrolment(_) => false,
        };
        if matches!(change, StaffChange::NewEnrolment(_)) && !member.active {
            return Ok(Err(StaffChangeRefusal::Inactive));
        }
        if leaves_admin && member.active && member.role == StaffRole::Admin {
            let admins: i64 = staff::table
                .filter(staff::role.eq(StaffRole::Admin))
                .filter(staff::active.eq(true))
                .count()
                .get_result(tx.conn())?;
            if admins <= 1 {
                return Ok(Err(StaffChangeRefusal::LastAdmin));
            }
        }
        let end_sessions = || {
            diesel::update(
                staff_sessions::table
                    .filter(staff_sessions::staff_id.eq(member_id))
                    .filter(staff_sessions::ended_at.is_null()),
            )
            .set(staff_sessions::ended_at.eq(Some(now)))
        };
        let mut token = None;
        let details = match change {
            StaffChange::Role(role) => {
                diesel::update(staff::table.find(member_id))
                    .set(staff::role.eq(role))
                    .execute(tx.conn())?;
                serde_json::json!({ "avant": member.role.as_str(), "apres": role.as_str() })
            }
            StaffChange::Active(active) => {
                diesel::update(staff::table.find(member_id))
                    .set(staff::active.eq(active))
                    .execute(tx.conn())?;
                if !active {
                    end_sessions().execute(tx.conn())?;
                }
                serde_json::json!({ "actif_avant": member.active, "actif_apres": active })
            }
            StaffChange::NewEnrolment(lasts) => {
                diesel::update(
                    otp_cards::table
                        .filter(otp_cards::staff_id.eq(member_id))
                        .filter(otp_cards::disabled_reason.is_null()),
                )
                .set(otp_cards::disabled_reason.eq("nouvel_enrolement"))
                .execute(tx.conn())?;
                end_sessions().execute(tx.conn())?;
                let mut seed = [0u8; 20];
                let mut suffix = [0u8; 6];
                rng.fill(&mut seed).map_err(|_| store::StoreError::Random)?;
                rng.fill(&mut suffix)
                    .map_err(|_| store::StoreError::Random)?;
                let serial = format!("EQ{}", hex::encode_upper(suffix));
                insert_card(
                    tx,
                    rng,
                    cipher,
                    now,
                    NewCard {
                        serial: &serial,
                        seed_hex: &hex::encode(seed),
                        kind: CardKind::Digital,
                        aidant_id: None,
                        validated: false,
                    },
                    Some(member_id),
                )?;
                let link = new_token(rng)?;
                diesel::update(staff::table.find(member_id))
                    .set((
                        staff::enrolment_hash.eq(Some(hash_secret(link.expose()))),
                        staff::enrolment_expires_at.eq(Some(now + lasts)),
                    ))
                    .execute(tx.conn())?;
                token = Some(link);
                serde_json::json!({ "nouvelle_carte": serial })
            }
        };
        let mut details = details;
        details["member"] = serde_json::json!(member.id);
        details["staff"] = serde_json::json!(who.id());
        journal_national(tx, rng, now, Action::EditStaff, member.id.as_str(), details)?;
        Ok(Ok(token))
    })
}
