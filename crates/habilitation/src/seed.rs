//! A submitted request made without e-mails or links (feature `seed`: the demo and the
//! volume; absent from the production build): an issuer whose address counts as confirmed
//! files a request through the same steps and checks as one who signs in. And a référent's
//! request for an aidant, asked without the référent's code.

use crate::issuer::{Issuer, IssuerSession};
use crate::request::{add_aidant, save_referent, save_structure, start, submit};
use crate::{Commitments, HabilitationError, PersonForm, StructureForm};
use diesel::prelude::*;
use ring::rand::SecureRandom;
use store::schema::habilitation_issuers;
use store::{new_id, AidantId, OrganisationId, PooledDb, Timestamp};

/// The référent `referent_id` of `organisation_id` asks for an aidant, with the same checks
/// and e-mail as [`crate::aidants::ask`].
pub fn seed_aidant_request(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    organisation_id: &OrganisationId,
    referent_id: &AidantId,
    form: crate::aidants::AidantForm<'_>,
    team_email: &str,
) -> Result<crate::aidants::AidantRequest, HabilitationError> {
    crate::aidants::record_request(
        conn,
        rng,
        now,
        (organisation_id, referent_id),
        form,
        team_email,
    )
}

/// What a seeded request holds.
#[derive(Debug, Clone)]
pub struct SeedRequest<'a> {
    /// The issuer.
    pub issuer: PersonForm<'a>,
    /// The SIRET.
    pub siret: &'a str,
    /// The structure.
    pub structure: StructureForm<'a>,
    /// The référent.
    pub referent: PersonForm<'a>,
    /// The aidants to train.
    pub aidants: Vec<PersonForm<'a>>,
}

/// Files and submits `seed`; returns the request's id and reference. The team is told at
/// `team_email`, as for any submission.
pub fn seed_submitted_request(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    seed: &SeedRequest<'_>,
    team_email: &str,
) -> Result<(String, String), HabilitationError> {
    let issuer = Issuer {
        id: new_id(rng)?,
        email: accounts::normalise_email(seed.issuer.email),
        first_name: seed.issuer.first_name.to_owned(),
        last_name: seed.issuer.last_name.to_owned(),
        phone: seed.issuer.phone.to_owned(),
        profession: seed.issuer.profession.to_owned(),
        email_confirmed_at: Some(now),
        created_at: now,
    };
    diesel::insert_into(habilitation_issuers::table)
        .values((
            habilitation_issuers::id.eq(&issuer.id),
            habilitation_issuers::email.eq(&issuer.email),
            habilitation_issuers::first_name.eq(&issuer.first_name),
            habilitation_issuers::last_name.eq(&issuer.last_name),
            habilitation_issuers::phone.eq(&issuer.phone),
            habilitation_issuers::profession.eq(&issuer.profession),
            habilitation_issuers::email_confirmed_at.eq(issuer.email_confirmed_at),
            habilitation_issuers::created_at.eq(now),
        ))
        .execute(&mut **conn)?;
    let session = IssuerSession::seeded(issuer);
    let id = start(conn, rng, now, &session, seed.siret)?;
    save_structure(conn, rng, now, &session, &id, &seed.structure)?;
    save_referent(conn, rng, now, &session, &id, &seed.referent)?;
    for aidant in &seed.aidants {
        add_aidant(conn, rng, now, &session, &id, aidant)?;
    }
    let reference = submit(
        conn,
        rng,
        now,
        &session,
        &id,
        Commitments {
            professionals_only: true,
            free_training: true,
            dpo_informed: true,
            cgu: true,
        },
        team_email,
    )?;
    Ok((id, reference))
}
