//! The national exports, as CSV written batch by batch: the structures (with their active
//! aidants and mandate counts), the aidants (with their structures, cards and last sign-in),
//! and the mandate counts per département.

use crate::{csv_cells, AuditError, Sink};
use authenticator::StaffSession;
use std::collections::{BTreeMap, HashMap};
use store::{AidantId, DbConnection, OrganisationId, Timestamp};

/// Rows read per batch.
const BATCH: i64 = 1000;

/// The département of a French postcode: its first two digits, three overseas, 2A or 2B in
/// Corsica.
pub fn departement(zipcode: &str) -> String {
    let zipcode = zipcode.trim();
    if zipcode.starts_with("97") || zipcode.starts_with("98") {
        zipcode.get(..3).unwrap_or(zipcode).to_owned()
    } else if zipcode.starts_with("20") && zipcode.len() == 5 {
        if zipcode < "20200" { "2A" } else { "2B" }.to_owned()
    } else {
        zipcode.get(..2).unwrap_or(zipcode).to_owned()
    }
}

fn day(at: Timestamp) -> String {
    paris::local(at).format("%Y-%m-%d").to_string()
}

fn date_time(at: Timestamp) -> String {
    paris::local(at).format("%Y-%m-%d %H:%M").to_string()
}

/// Writes one batch of rows of cells.
fn write_rows(
    mut out: csv::Writer<Vec<u8>>,
    rows: impl IntoIterator<Item = Vec<String>>,
    sink: &mut Sink<'_>,
) -> Result<bool, AuditError> {
    for row in rows {
        out.write_record(row.iter().map(|c| csv_cells::cell(c).into_owned()))?;
    }
    Ok(sink(csv_cells::bytes(out)?))
}

/// Every structure, by id: identity, département, habilitation, active aidants, mandates in
/// force and in all, usagers with a mandate in force.
pub fn export_structures(
    conn: &mut DbConnection,
    _member: &StaffSession,
    now: Timestamp,
    sink: &mut Sink<'_>,
) -> Result<u64, AuditError> {
    let mut out = Some(csv_cells::file_start(&[
        "structure_id",
        "nom",
        "siret",
        "adresse",
        "code postal",
        "ville",
        "département",
        "type",
        "habilitation",
        "créée le",
        "aidants actifs",
        "mandats en cours",
        "mandats au total",
        "usagers avec un mandat en cours",
    ])?);
    let mut written = 0;
    by_organisation(conn, now, |conn, batch, counts| {
        let ids: Vec<OrganisationId> = batch.iter().map(|o| o.id.clone()).collect();
        let members: HashMap<OrganisationId, i64> = accounts::working_members_count(conn, &ids)?
            .into_iter()
            .collect();
        written += batch.len() as u64;
        let rows = batch.into_iter().map(|o| {
            let (in_force, total, usagers) = counts.get(&o.id).copied().unwrap_or_default();
            let departement = departement(&o.zipcode);
            vec![
                o.id.to_string(),
                o.name,
                o.siret,
                o.address,
                o.zipcode,
                o.city,
                departement,
                o.kind,
                o.habilitation.as_str().to_owned(),
                day(o.created_at),
                members.get(&o.id).copied().unwrap_or(0).to_string(),
                in_force.to_string(),
                total.to_string(),
                usagers.to_string(),
            ]
        });
        let first = out.take().unwrap_or_else(csv_cells::writer);
        write_rows(first, rows, sink)
    })?;
    Ok(written)
}

/// Walks every organisation by id, a batch at a time with its mandate counts, while `each`
/// says to go on.
fn by_organisation(
    conn: &mut DbConnection,
    now: Timestamp,
    mut each: impl FnMut(
        &mut DbConnection,
        Vec<accounts::Organisation>,
        HashMap<OrganisationId, (i64, i64, i64)>,
    ) -> Result<bool, AuditError>,
) -> Result<(), AuditError> {
    let mut after: Option<OrganisationId> = None;
    loop {
        let batch = accounts::organisations_after(conn, after.as_ref(), BATCH)?;
        let full = batch.len() as i64 == BATCH;
        after = batch.last().map(|o| o.id.clone());
        let ids: Vec<OrganisationId> = batch.iter().map(|o| o.id.clone()).collect();
        let counts = mandate::mandate_counts(conn, &ids, now)?;
        if !each(conn, batch, counts)? || !full {
            return Ok(());
        }
    }
}

/// Every aidant, by id: identity, account state, structures with their roles, cards in
/// service, last sign-in.
pub fn export_aidants(
    conn: &mut DbConnection,
    _member: &StaffSession,
    sink: &mut Sink<'_>,
) -> Result<u64, AuditError> {
    let mut out = Some(csv_cells::file_start(&[
        "aidant_id",
        "prénom",
        "nom",
        "adresse électronique",
        "profession",
        "compte actif",
        "structures (SIRET : rôle)",
        "cartes (numéro : type, validée)",
        "dernière connexion",
    ])?);
    let mut after: Option<AidantId> = None;
    let mut written = 0;
    loop {
        let batch = accounts::aidants_after(conn, after.as_ref(), BATCH)?;
        let full = batch.len() as i64 == BATCH;
        after = batch.last().map(|a| a.id.clone());
        let ids: Vec<AidantId> = batch.iter().map(|a| a.id.clone()).collect();
        let memberships = accounts::memberships_of(conn, &ids)?;
        let organisation_ids: Vec<OrganisationId> =
            memberships.iter().map(|m| m.1.clone()).collect();
        let sirets: HashMap<OrganisationId, String> =
            accounts::organisations_by_ids(conn, &organisation_ids)?
                .into_iter()
                .map(|o| (o.id, o.siret))
                .collect();
        let cards = authenticator::cards_of_aidants(conn, &ids)?;
        let last: HashMap<AidantId, Timestamp> =
            journal::last_by_aidant(conn, journal::Action::ConnectAidant, &ids)?
                .into_iter()
                .collect();
        written += batch.len() as u64;
        let rows = batch.into_iter().map(|a| {
            let structures = memberships
                .iter()
                .filter(|m| m.0 == a.id)
                .map(|(_, o, role, active)| {
                    format!(
                        "{} : {}{}",
                        sirets.get(o).map_or("?", String::as_str),
                        role.as_str(),
                        if *active { "" } else { " (désactivé)" }
                    )
                })
                .collect::<Vec<_>>()
                .join(" ; ");
            let held = cards
                .iter()
                .filter(|c| c.aidant_id.as_ref() == Some(&a.id))
                .map(|c| {
                    format!(
                        "{} : {}, {}",
                        c.serial,
                        c.kind.as_str(),
                        c.validated_at.map_or("non validée".to_owned(), |at| {
                            format!("validée le {}", day(at))
                        })
                    )
                })
                .collect::<Vec<_>>()
                .join(" ; ");
            vec![
                a.id.to_string(),
                a.first_name,
                a.last_name,
                a.email,
                a.profession,
                if a.active { "oui" } else { "non" }.to_owned(),
                structures,
                held,
                last.get(&a.id).map(|at| date_time(*at)).unwrap_or_default(),
            ]
        });
        let first = out.take().unwrap_or_else(csv_cells::writer);
        if !write_rows(first, rows, sink)? || !full {
            return Ok(written);
        }
    }
}

/// Per département: structures, habilitated structures, mandates in force and in all, usagers
/// with a mandate in force (an usager helped in two structures counts in each).
pub fn export_departements(
    conn: &mut DbConnection,
    _member: &StaffSession,
    now: Timestamp,
    sink: &mut Sink<'_>,
) -> Result<u64, AuditError> {
    let out = csv_cells::file_start(&[
        "département",
        "structures",
        "structures habilitées",
        "mandats en cours",
        "mandats au total",
        "usagers avec un mandat en cours",
    ])?;
    let mut totals: BTreeMap<String, [i64; 5]> = BTreeMap::new();
    by_organisation(conn, now, |_, batch, counts| {
        for o in &batch {
            let (in_force, total, usagers) = counts.get(&o.id).copied().unwrap_or_default();
            let line = totals.entry(departement(&o.zipcode)).or_default();
            line[0] += 1;
            line[1] += i64::from(o.is_habilitated());
            line[2] += in_force;
            line[3] += total;
            line[4] += usagers;
        }
        Ok(true)
    })?;
    let written = totals.len() as u64;
    let rows = totals.into_iter().map(|(departement, line)| {
        std::iter::once(departement)
            .chain(line.iter().map(i64::to_string))
            .collect()
    });
    write_rows(out, rows, sink)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departements_of_postcodes() {
        assert_eq!(departement("29200"), "29");
        assert_eq!(departement("97400"), "974");
        assert_eq!(departement("20000"), "2A");
        assert_eq!(departement("20200"), "2B");
        assert_eq!(departement("01000"), "01");
    }
}
