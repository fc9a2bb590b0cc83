//! The national team's actions on the aidants and cards that exist: an aidant's identity,
//! their role and membership in each structure, their account everywhere (one by one or from a
//! pasted list of addresses, previewed first), a move to another structure; a card taken away
//! with a reason, a card's history, cards sent to a structure, a card file imported from the
//! browser. Each change takes the [`SupportStaff`] proof, works in one transaction, ends the
//! sessions it affects and is journaled with the member's id.

use crate::cards::OtpCard;
use crate::import::{import_cards, ImportReport};
use crate::management::{card_by_serial, take_away, Dissociation};
use crate::sessions::end_sessions;
use crate::staff::{journal_national, StaffCardRefusal, SupportStaff};
use crate::{AuthError, SeedCipher};
use chrono::NaiveDate;
use diesel::prelude::*;
use journal::{Action, JournalEntry, NewEntry};
use mail::Email;
use ring::rand::SecureRandom;
use store::schema::{card_shipments, otp_cards};
use store::{
    new_id, write_transaction, AidantId, DbConnection, OrganisationId, PooledDb, StaffId,
    Timestamp, WriteTx,
};

/// The national team corrects an aidant's identity or contact (`accounts::edit_aidant`, with
/// the member's id). `None`: no such aidant.
pub fn staff_edit_aidant(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    aidant_id: &AidantId,
    details: accounts::AidantDetails<'_>,
) -> Result<Option<accounts::Aidant>, AuthError> {
    Ok(write_transaction(conn, |tx| {
        accounts::edit_aidant(tx, rng, now, aidant_id, details, who.by())
    })?)
}

/// The national team makes a member of a structure its (co-)référent, telling them by e-mail,
/// or takes the role back (`accounts::set_role`: never from its last working référent).
pub fn staff_set_role(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    organisation_id: &OrganisationId,
    aidant_id: &AidantId,
    role: accounts::Role,
) -> Result<(), AuthError> {
    write_transaction(conn, |tx| {
        let before = accounts::member(tx.conn(), organisation_id, aidant_id)?;
        accounts::set_role(tx, rng, now, organisation_id, aidant_id, role, who.by())?;
        if let Some(member) = before.filter(|m| m.role != role && role == accounts::Role::Referent)
        {
            let organisation = structure_name(tx.conn(), organisation_id)?;
            let told = Email::MadeReferent {
                aidant: member.aidant.full_name(),
                organisation,
            };
            mail::enqueue(tx, rng, now, &member.aidant.email, &told)?;
        }
        Ok(())
    })
}

/// The structure's name, for the e-mails that tell of it.
fn structure_name(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
) -> Result<String, AuthError> {
    Ok(accounts::organisation(conn, organisation_id)?
        .map(|o| o.name)
        .unwrap_or_default())
}

/// Deactivates the membership in `organisation_id` (the aidant's sessions there end; its other
/// référents are told), journaled with the member's id; in the caller's transaction.
pub fn leave_in(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    organisation_id: &OrganisationId,
    member: &accounts::Member,
) -> Result<(), AuthError> {
    let aidant = &member.aidant;
    accounts::set_member_active(tx, rng, now, organisation_id, &aidant.id, false, who.by())?;
    end_sessions(tx, &aidant.id, Some(organisation_id), now)?;
    if member.active {
        let told = Email::MemberDeactivated {
            aidant: aidant.full_name(),
            organisation: structure_name(tx.conn(), organisation_id)?,
        };
        for referent in accounts::referent_emails(tx.conn(), organisation_id, &[&aidant.id])? {
            mail::enqueue(tx, rng, now, &referent, &told)?;
        }
    }
    Ok(())
}

/// The national team deactivates (`active` false: their sessions in it end, its référents are
/// told) or reactivates an aidant's membership of a structure.
pub fn staff_set_member_active(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    organisation_id: &OrganisationId,
    aidant_id: &AidantId,
    active: bool,
) -> Result<(), AuthError> {
    write_transaction(conn, |tx| {
        let Some(member) = accounts::member(tx.conn(), organisation_id, aidant_id)? else {
            return Err(accounts::AccountError::NotMember.into());
        };
        if active {
            accounts::set_member_active(tx, rng, now, organisation_id, aidant_id, true, who.by())?;
        } else {
            leave_in(tx, rng, now, who, organisation_id, &member)?;
        }
        Ok(())
    })
}

/// The national team moves an aidant from one structure to another: they become a member of
/// `to` with the role they held in `from` (their account, cards and activation unchanged; a
/// membership of `to` they had left is given back), and their membership of `from` is
/// deactivated (its sessions end), in one transaction. Refused when they already work there or
/// move to where they are.
pub fn staff_move_member(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    aidant_id: &AidantId,
    from: &OrganisationId,
    to: &OrganisationId,
) -> Result<(), AuthError> {
    write_transaction(conn, |tx| {
        let Some(member) = accounts::member(tx.conn(), from, aidant_id)? else {
            return Err(accounts::AccountError::NotMember.into());
        };
        if from == to {
            return Err(accounts::AccountError::AlreadyMember.into());
        }
        if accounts::organisation(tx.conn(), to)?.is_none() {
            return Err(accounts::AccountError::UnknownOrganisation.into());
        }
        join_in(tx, rng, now, who, &member.aidant, to, member.role)?;
        leave_in(tx, rng, now, who, from, &member)
    })
}

/// `aidant`, who has an account, becomes a member of `to` with `role` (their account, cards and
/// activation unchanged; a membership of `to` they had left is given back, with `role`),
/// journaled with the member's id; in the caller's transaction. Refused when they already work
/// there.
pub fn join_in(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    aidant: &accounts::Aidant,
    to: &OrganisationId,
    role: accounts::Role,
) -> Result<(), AuthError> {
    match accounts::member(tx.conn(), to, &aidant.id)? {
        Some(there) if there.active => Err(accounts::AccountError::AlreadyMember.into()),
        Some(_) => {
            accounts::set_member_active(tx, rng, now, to, &aidant.id, true, who.by())?;
            Ok(accounts::set_role(
                tx,
                rng,
                now,
                to,
                &aidant.id,
                role,
                who.by(),
            )?)
        }
        None => {
            accounts::add_member(
                tx,
                rng,
                now,
                to,
                accounts::NewAidant {
                    email: &aidant.email,
                    first_name: &aidant.first_name,
                    last_name: &aidant.last_name,
                    profession: &aidant.profession,
                    phone: &aidant.phone,
                    active: aidant.active,
                },
                role,
                who.by(),
            )?;
            Ok(())
        }
    }
}

/// The items of a pasted list (separated by spaces, line breaks, commas or semicolons), each
/// made `normal`, each once, in the order given.
fn pasted_items(pasted: &str, normal: impl Fn(&str) -> String) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for item in pasted
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|a| !a.is_empty())
        .map(normal)
    {
        if !items.contains(&item) {
            items.push(item);
        }
    }
    items
}

/// The addresses of a pasted list, normalised.
fn pasted_addresses(pasted: &str) -> Vec<String> {
    pasted_items(pasted, accounts::normalise_email)
}

/// An address of a pasted list, and whom it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastedAidant {
    /// The address, normalised.
    pub address: String,
    /// The aidant who has it, if any.
    pub aidant: Option<accounts::Aidant>,
    /// The structures they work for, by name.
    pub structures: Vec<String>,
}

/// Addresses in one pasted list, at most.
pub const PASTED_ADDRESSES_MAX: usize = 1_000;

/// What a mass deactivation of the pasted addresses would do: each address and whom it names
/// (nothing is written). `None`: more than [`PASTED_ADDRESSES_MAX`] addresses.
pub fn deactivation_preview(
    conn: &mut DbConnection,
    pasted: &str,
) -> Result<Option<Vec<PastedAidant>>, AuthError> {
    let addresses = pasted_addresses(pasted);
    if addresses.len() > PASTED_ADDRESSES_MAX {
        return Ok(None);
    }
    let mut lines = Vec::with_capacity(addresses.len());
    for address in addresses {
        let aidant = accounts::find_aidant_by_email(conn, &address)?;
        let structures = match &aidant {
            Some(a) => accounts::working_organisations(conn, &a.id)?
                .into_iter()
                .map(|(o, _)| o.name)
                .collect(),
            None => Vec::new(),
        };
        lines.push(PastedAidant {
            address,
            aidant,
            structures,
        });
    }
    Ok(Some(lines))
}

/// The national team deactivates everywhere the account of each aidant the pasted list names
/// (`accounts::deactivate_account`, with the member's id; every session of theirs ends), all
/// in one transaction; unknown addresses are passed over. Returns the aidants whose account
/// was active. `None`: more than [`PASTED_ADDRESSES_MAX`] addresses (nothing written).
pub fn staff_deactivate_accounts(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    pasted: &str,
) -> Result<Option<Vec<accounts::Aidant>>, AuthError> {
    let addresses = pasted_addresses(pasted);
    if addresses.len() > PASTED_ADDRESSES_MAX {
        return Ok(None);
    }
    write_transaction(conn, |tx| {
        let mut deactivated = Vec::new();
        for address in &addresses {
            let Some(aidant) = accounts::find_aidant_by_email(tx.conn(), address)? else {
                continue;
            };
            if !aidant.active {
                continue;
            }
            accounts::deactivate_account(tx, rng, now, &aidant.id, who.by())?;
            end_sessions(tx, &aidant.id, None, now)?;
            deactivated.push(aidant);
        }
        Ok(Some(deactivated))
    })
}

/// The national team takes the card `serial` away from its holder for `reason` (as a
/// référent does: a lost, broken or faulty card goes out of service, others back to stock),
/// journaled `card_dissociation` on the national chain with the member's id; every session of
/// the holder ends; they and the référents of their structures are told.
pub fn staff_dissociate_card(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    serial: &str,
    reason: &Dissociation,
) -> Result<Result<OtpCard, StaffCardRefusal>, AuthError> {
    if matches!(reason, Dissociation::Autre(text) if text.is_empty()) {
        return Ok(Err(StaffCardRefusal::Card(
            crate::CardRefusal::ReasonMissing,
        )));
    }
    write_transaction(conn, |tx| {
        let Some(card) = card_by_serial(tx.conn(), serial)? else {
            return Ok(Err(StaffCardRefusal::Card(
                crate::CardRefusal::UnknownSerial,
            )));
        };
        let Some(holder) = card.aidant_id.clone() else {
            return Ok(Err(StaffCardRefusal::NotAssociated));
        };
        let aidant = accounts::aidant(tx.conn(), &holder)?.ok_or(diesel::NotFound)?;
        let mut details = take_away(tx, &card, reason)?;
        details["aidant"] = serde_json::json!(aidant.id);
        details["staff"] = serde_json::json!(who.id());
        journal_national(
            tx,
            rng,
            now,
            Action::CardDissociation,
            &card.serial,
            details,
        )?;
        let structures = accounts::working_organisations(tx.conn(), &aidant.id)?;
        let told = |organisation: String, to_referent| Email::CardDissociated {
            aidant: aidant.full_name(),
            organisation,
            serial: card.serial.clone(),
            reason: reason.label(),
            to_referent,
            by_team: true,
        };
        let names: Vec<&str> = structures.iter().map(|(o, _)| o.name.as_str()).collect();
        mail::enqueue(tx, rng, now, &aidant.email, &told(names.join(", "), false))?;
        for (organisation, _) in &structures {
            for referent in accounts::referent_emails(tx.conn(), &organisation.id, &[&aidant.id])? {
                mail::enqueue(
                    tx,
                    rng,
                    now,
                    &referent,
                    &told(organisation.name.clone(), true),
                )?;
            }
        }
        end_sessions(tx, &aidant.id, None, now)?;
        Ok(Ok(card))
    })
}

/// The national team changes a structure's description (`accounts::edit_organisation`) and
/// the démarches it may do (`accounts::set_allowed_demarches`, only when they change; `None`:
/// all), in one transaction, with the member's id. The démarche ids are the caller's to take
/// from the catalogue. `None`: no such structure.
pub fn staff_edit_organisation(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    organisation_id: &OrganisationId,
    details: accounts::OrganisationDetails<'_>,
    demarches: Option<&[&str]>,
) -> Result<Option<accounts::Organisation>, AuthError> {
    write_transaction(conn, |tx| {
        let Some(mut edited) =
            accounts::edit_organisation(tx, rng, now, organisation_id, details, who.by())?
        else {
            return Ok(None);
        };
        let stored = demarches.map(|ids| serde_json::Value::from(ids.to_vec()).to_string());
        if stored != edited.allowed_demarches {
            accounts::set_allowed_demarches(tx, rng, now, organisation_id, demarches, who.by())?;
            edited.allowed_demarches = stored;
        }
        Ok(Some(edited))
    })
}

/// The national team imports a file of physical cards from the browser (`import_cards`,
/// journaled with the member's id): all its rows or none.
pub fn staff_import_cards(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    cipher: &SeedCipher,
    now: Timestamp,
    who: &SupportStaff<'_>,
    content: &[u8],
) -> Result<ImportReport, AuthError> {
    import_cards(conn, rng, cipher, now, content, who.by())
}

/// Physical cards sent to a structure.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = card_shipments)]
pub struct Shipment {
    /// Id.
    pub id: String,
    /// The structure they were sent to.
    pub organisation_id: OrganisationId,
    /// The day they were sent.
    pub sent_on: NaiveDate,
    /// How many.
    pub quantity: i32,
    /// The carrier's tracking reference.
    pub tracking: String,
    /// Their serial numbers, as a JSON array (empty when not listed).
    pub serials: String,
    /// The member who recorded it.
    pub staff_id: StaffId,
    /// When it was recorded.
    pub created_at: Timestamp,
}

impl Shipment {
    /// The serial numbers listed.
    pub fn serial_list(&self) -> Vec<String> {
        serde_json::from_str(&self.serials).unwrap_or_default()
    }
}

/// What the national team records of a shipment.
#[derive(Debug, Clone)]
pub struct NewShipment<'a> {
    /// The day the cards were sent.
    pub sent_on: NaiveDate,
    /// How many.
    pub quantity: i32,
    /// The carrier's tracking reference.
    pub tracking: &'a str,
    /// The serial numbers of the cards as pasted, when known (then as many as `quantity`).
    pub serials: &'a str,
}

/// Cards in one shipment, at most.
pub const SHIPMENT_MAX: i32 = 500;

/// Why a shipment was not recorded (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipmentRefusal {
    /// No such structure.
    #[error("structure inconnue")]
    UnknownStructure,
    /// The quantity is not between 1 and [`SHIPMENT_MAX`].
    #[error("indiquez un nombre de cartes entre 1 et {SHIPMENT_MAX}")]
    Quantity,
    /// The number of serials listed is not the quantity.
    #[error(
        "{listed} numéros de série listés pour {quantity} cartes : les deux doivent correspondre"
    )]
    Count {
        /// Serials listed.
        listed: usize,
        /// The quantity given.
        quantity: i32,
    },
    /// A serial is not a physical card in stock.
    #[error("la carte {0} n'est pas une carte physique disponible en stock")]
    NotInStock(String),
    /// The date is after today.
    #[error("la date d'envoi ne peut pas être dans le futur")]
    Future,
}

/// The national team records physical cards sent to a structure (date, quantity, tracking
/// reference and, when known, their serials, each a physical card in stock), journaled
/// `send_cards` on the national chain, about the structure, with the member's id.
pub fn staff_record_shipment(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    who: &SupportStaff<'_>,
    organisation_id: &OrganisationId,
    new: NewShipment<'_>,
) -> Result<Result<Shipment, ShipmentRefusal>, AuthError> {
    if !(1..=SHIPMENT_MAX).contains(&new.quantity) {
        return Ok(Err(ShipmentRefusal::Quantity));
    }
    if new.sent_on > paris::local(now).date() {
        return Ok(Err(ShipmentRefusal::Future));
    }
    let serials = pasted_items(new.serials, str::to_uppercase);
    if !serials.is_empty() && i32::try_from(serials.len()) != Ok(new.quantity) {
        return Ok(Err(ShipmentRefusal::Count {
            listed: serials.len(),
            quantity: new.quantity,
        }));
    }
    write_transaction(conn, |tx| {
        if accounts::organisation(tx.conn(), organisation_id)?.is_none() {
            return Ok(Err(ShipmentRefusal::UnknownStructure));
        }
        for serial in &serials {
            let in_stock = card_by_serial(tx.conn(), serial)?.is_some_and(|c| {
                c.is_physical()
                    && c.aidant_id.is_none()
                    && c.staff_id.is_none()
                    && c.disabled_reason.is_none()
            });
            if !in_stock {
                return Ok(Err(ShipmentRefusal::NotInStock(serial.clone())));
            }
        }
        let shipment = Shipment {
            id: new_id(rng)?,
            organisation_id: organisation_id.clone(),
            sent_on: new.sent_on,
            quantity: new.quantity,
            tracking: new.tracking.trim().chars().take(200).collect(),
            serials: serde_json::Value::from(serials.clone()).to_string(),
            staff_id: who.id().clone(),
            created_at: now,
        };
        diesel::insert_into(card_shipments::table)
            .values((
                card_shipments::id.eq(&shipment.id),
                card_shipments::organisation_id.eq(&shipment.organisation_id),
                card_shipments::sent_on.eq(shipment.sent_on),
                card_shipments::quantity.eq(shipment.quantity),
                card_shipments::tracking.eq(&shipment.tracking),
                card_shipments::serials.eq(&shipment.serials),
                card_shipments::staff_id.eq(&shipment.staff_id),
                card_shipments::created_at.eq(shipment.created_at),
            ))
            .execute(tx.conn())?;
        journal::append(
            tx,
            rng,
            now,
            NewEntry {
                chain: journal::NATIONAL_CHAIN,
                action: Action::SendCards,
                aidant_id: None,
                usager_id: None,
                organisation_id: Some(organisation_id),
                subject: &shipment.tracking,
                details: serde_json::json!({
                    "staff": who.id(),
                    "sent_on": shipment.sent_on.to_string(),
                    "quantity": shipment.quantity,
                    "tracking": shipment.tracking,
                    "cards": serials,
                }),
            },
        )?;
        Ok(Ok(shipment))
    })
}

/// The shipments of cards to a structure, newest first.
pub fn shipments_of(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
) -> Result<Vec<Shipment>, AuthError> {
    Ok(card_shipments::table
        .filter(card_shipments::organisation_id.eq(organisation_id))
        .order((
            card_shipments::sent_on.desc(),
            card_shipments::created_at.desc(),
        ))
        .select(Shipment::as_select())
        .load(conn)?)
}

/// The actions of the journal that concern a card.
const CARD_ACTIONS: [Action; 7] = [
    Action::CardAssociation,
    Action::CardValidation,
    Action::CardDissociation,
    Action::LockOtpCard,
    Action::UnlockOtpCard,
    Action::SendCards,
    Action::EnrolStaff,
];

/// Journal entries of one card's history, at most.
const HISTORY_MAX: i64 = 500;

/// A card and what happened to it.
#[derive(Debug, Clone)]
pub struct CardHistory {
    /// The card.
    pub card: OtpCard,
    /// Its holder, if it has one.
    pub holder: Option<accounts::Aidant>,
    /// The journal's entries about it, oldest first (its import is the card's creation).
    pub events: Vec<JournalEntry>,
}

/// The card with this serial and its history, from the journal. `None`: no such card.
pub fn card_history(
    conn: &mut DbConnection,
    serial: &str,
) -> Result<Option<CardHistory>, AuthError> {
    let Some(card) = card_by_serial(conn, serial)? else {
        return Ok(None);
    };
    let holder = match &card.aidant_id {
        Some(id) => accounts::aidant(conn, id)?,
        None => None,
    };
    let events = journal::search::mentioning(conn, &CARD_ACTIONS, &card.serial, HISTORY_MAX)?;
    Ok(Some(CardHistory {
        card,
        holder,
        events,
    }))
}

/// The cards whose serial starts with `prefix` (case ignored), by serial, at most `limit`.
pub fn cards_by_serial_prefix(
    conn: &mut DbConnection,
    prefix: &str,
    limit: i64,
) -> Result<Vec<OtpCard>, AuthError> {
    let (_, starts) = store::like_patterns(&prefix.trim().to_uppercase());
    Ok(otp_cards::table
        .filter(otp_cards::serial.like(starts).escape('\\'))
        .order(otp_cards::serial.asc())
        .limit(limit)
        .select(OtpCard::as_select())
        .load(conn)?)
}
