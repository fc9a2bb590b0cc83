//! The changes the national team makes to accounts that exist: an aidant's identity, their
//! role and membership in a structure, their account everywhere, a structure's description;
//! and the national search of aidants. Each change is journaled with who made it; the
//! authenticator takes the proof of the member's role and ends the sessions a change affects.

use super::{
    aidant, checked_identity, journal_about_member, journal_member_action, lower, member,
    organisation, referent_emails, restart_idle, set_active, set_membership, set_membership_active,
    AccountError, Aidant, By, Organisation, Role,
};
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::{aidants, organisations};
use store::{AidantId, DbConnection, OrganisationId, Timestamp, WriteTx};

/// The aidants whose e-mail address, first or last name holds every word of `query` (case
/// ignored), by last and first name, at most `limit`.
pub fn search_aidants(
    conn: &mut DbConnection,
    query: &str,
    limit: i64,
) -> Result<Vec<Aidant>, AccountError> {
    let mut found = aidants::table.select(Aidant::as_select()).into_boxed();
    for word in query.to_lowercase().split_whitespace() {
        let (anywhere, _) = store::like_patterns(word);
        found = found.filter(
            lower(aidants::email)
                .like(anywhere.clone())
                .escape('\\')
                .or(lower(aidants::first_name)
                    .like(anywhere.clone())
                    .escape('\\'))
                .or(lower(aidants::last_name).like(anywhere).escape('\\')),
        );
    }
    Ok(found
        .order((
            aidants::last_name.asc(),
            aidants::first_name.asc(),
            aidants::id,
        ))
        .limit(limit)
        .load(conn)?)
}

/// An aidant's identity and contact, as the national team corrects them.
#[derive(Debug, Clone)]
pub struct AidantDetails<'a> {
    /// Professional e-mail address (their sign-in).
    pub email: &'a str,
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// Profession.
    pub profession: &'a str,
    /// Phone.
    pub phone: &'a str,
}

/// The names of the fields whose value differs, as journaled.
fn changed_fields<const N: usize>(fields: [(&'static str, bool); N]) -> Vec<&'static str> {
    fields
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect()
}

/// Corrects an aidant's identity or contact, journaled `edit_aidant` on the national chain
/// with the names of the fields changed (nothing when nothing changed). Refused like a new
/// aidant's: a malformed or taken address, a missing name. `None`: no such aidant.
pub fn edit_aidant(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    aidant_id: &AidantId,
    details: AidantDetails<'_>,
    by: By<'_>,
) -> Result<Option<Aidant>, AccountError> {
    let Some(before) = aidant(tx.conn(), aidant_id)? else {
        return Ok(None);
    };
    let email = checked_identity(
        tx.conn(),
        details.email,
        details.first_name,
        details.last_name,
        Some(aidant_id),
    )?;
    let after = Aidant {
        email,
        first_name: details.first_name.trim().to_owned(),
        last_name: details.last_name.trim().to_owned(),
        profession: details.profession.trim().to_owned(),
        phone: details.phone.trim().to_owned(),
        ..before.clone()
    };
    let changed = changed_fields([
        ("email", before.email != after.email),
        ("first_name", before.first_name != after.first_name),
        ("last_name", before.last_name != after.last_name),
        ("profession", before.profession != after.profession),
        ("phone", before.phone != after.phone),
    ]);
    if changed.is_empty() {
        return Ok(Some(before));
    }
    diesel::update(aidants::table.find(aidant_id))
        .set((
            aidants::email.eq(&after.email),
            aidants::first_name.eq(&after.first_name),
            aidants::last_name.eq(&after.last_name),
            aidants::profession.eq(&after.profession),
            aidants::phone.eq(&after.phone),
        ))
        .execute(tx.conn())?;
    journal_about_member(
        tx,
        rng,
        now,
        journal::Action::EditAidant,
        None,
        by,
        &after,
        serde_json::json!({ "aidant": after.id, "champs": changed }),
    )?;
    Ok(Some(after))
}

/// Whether the organisation has a working référent other than `aidant_id`.
fn has_other_referent(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    aidant_id: &AidantId,
) -> Result<bool, AccountError> {
    Ok(!referent_emails(conn, organisation_id, &[aidant_id])?.is_empty())
}

/// Gives the member of the organisation the role `role`: `designate_referent` when made a
/// (co-)référent, `remove_referent` when they go back to being an aidant, which is refused
/// when they are its last working référent. Nothing is written when they already hold it.
pub fn set_role(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    organisation_id: &OrganisationId,
    aidant_id: &AidantId,
    role: Role,
    by: By<'_>,
) -> Result<(), AccountError> {
    let Some(member) = member(tx.conn(), organisation_id, aidant_id)? else {
        return Err(AccountError::NotMember);
    };
    if member.role == role {
        return Ok(());
    }
    if role == Role::Aidant && !has_other_referent(tx.conn(), organisation_id, aidant_id)? {
        return Err(AccountError::LastReferent);
    }
    set_membership(tx, now, aidant_id, organisation_id, role)?;
    let action = match role {
        Role::Referent => journal::Action::DesignateReferent,
        Role::Aidant => journal::Action::RemoveReferent,
    };
    journal_member_action(
        tx,
        rng,
        now,
        action,
        Some(organisation_id),
        by,
        &member.aidant,
    )
}

/// Deactivates (`active` false) or reactivates the aidant's membership of the organisation,
/// journaled `deactivate_aidant` or `reactivate_aidant` (on its chain, or the national one when
/// the national team acts); nothing is written when
/// it already is so. Their sessions are the authenticator's to end.
pub fn set_member_active(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    organisation_id: &OrganisationId,
    aidant_id: &AidantId,
    active: bool,
    by: By<'_>,
) -> Result<(), AccountError> {
    let Some(member) = member(tx.conn(), organisation_id, aidant_id)? else {
        return Err(AccountError::NotMember);
    };
    if member.active == active {
        return Ok(());
    }
    set_membership_active(tx, now, aidant_id, organisation_id, active)?;
    let action = if active {
        journal::Action::ReactivateAidant
    } else {
        journal::Action::DeactivateAidant
    };
    journal_member_action(
        tx,
        rng,
        now,
        action,
        Some(organisation_id),
        by,
        &member.aidant,
    )
}

/// Deactivates the aidant's account everywhere (they can no longer sign in at all; their
/// memberships and cards are kept for a reactivation), journaled `deactivate_aidant` on the
/// national chain; nothing is written when it already is. Their sessions are the
/// authenticator's to end. `None`: no such aidant.
pub fn deactivate_account(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    aidant_id: &AidantId,
    by: By<'_>,
) -> Result<Option<Aidant>, AccountError> {
    let Some(found) = aidant(tx.conn(), aidant_id)? else {
        return Ok(None);
    };
    if !found.active {
        return Ok(Some(found));
    }
    set_active(tx, aidant_id, false)?;
    restart_idle(tx, aidant_id, now)?;
    journal_about_member(
        tx,
        rng,
        now,
        journal::Action::DeactivateAidant,
        None,
        by,
        &found,
        serde_json::json!({ "aidant": found.id, "partout": true }),
    )?;
    Ok(Some(Aidant {
        active: false,
        ..found
    }))
}

/// What the national team may change of a structure's description (its SIRET is its
/// identity and stays).
#[derive(Debug, Clone)]
pub struct OrganisationDetails<'a> {
    /// Name.
    pub name: &'a str,
    /// Street address.
    pub address: &'a str,
    /// Postcode.
    pub zipcode: &'a str,
    /// City.
    pub city: &'a str,
    /// Type.
    pub kind: &'a str,
    /// Whether it holds the France Services label.
    pub france_services: bool,
}

/// Changes a structure's description, journaled `edit_organisation` on the national chain with
/// the names of the fields changed (nothing when nothing changed). Refused: an empty name, a
/// postcode that is not 5 digits. `None`: no such structure.
pub fn edit_organisation(
    tx: &mut WriteTx<'_>,
    rng: &dyn SecureRandom,
    now: Timestamp,
    id: &OrganisationId,
    details: OrganisationDetails<'_>,
    by: By<'_>,
) -> Result<Option<Organisation>, AccountError> {
    let Some(before) = organisation(tx.conn(), id)? else {
        return Ok(None);
    };
    let zipcode = details.zipcode.trim();
    if details.name.trim().is_empty() {
        return Err(AccountError::Name);
    }
    if zipcode.len() != 5 || !zipcode.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AccountError::Zipcode);
    }
    let after = Organisation {
        name: details.name.trim().to_owned(),
        address: details.address.trim().to_owned(),
        zipcode: zipcode.to_owned(),
        city: details.city.trim().to_owned(),
        kind: details.kind.trim().to_owned(),
        france_services: details.france_services,
        ..before.clone()
    };
    let changed = changed_fields([
        ("name", before.name != after.name),
        ("address", before.address != after.address),
        ("zipcode", before.zipcode != after.zipcode),
        ("city", before.city != after.city),
        ("kind", before.kind != after.kind),
        (
            "france_services",
            before.france_services != after.france_services,
        ),
    ]);
    if changed.is_empty() {
        return Ok(Some(before));
    }
    diesel::update(organisations::table.find(id))
        .set((
            organisations::name.eq(&after.name),
            organisations::address.eq(&after.address),
            organisations::zipcode.eq(&after.zipcode),
            organisations::city.eq(&after.city),
            organisations::kind.eq(&after.kind),
            organisations::france_services.eq(after.france_services),
        ))
        .execute(tx.conn())?;
    journal::append(
        tx,
        rng,
        now,
        journal::NewEntry {
            chain: journal::NATIONAL_CHAIN,
            action: journal::Action::EditOrganisation,
            aidant_id: None,
            usager_id: None,
            organisation_id: Some(id),
            subject: &after.siret,
            details: by.tag(serde_json::json!({ "champs": changed })),
        },
    )?;
    Ok(Some(after))
}
