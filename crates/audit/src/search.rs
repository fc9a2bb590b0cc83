//! The journal search: what a member typed turned into a [`journal::Filter`], the entries of
//! one page with the names of who and what they are about, and the export of every entry a
//! filter keeps.

use crate::{csv_cells, AuditError, Sink};
use authenticator::StaffSession;
use chrono::{Days, NaiveDate};
use journal::{Action, Cursor, Filter, JournalEntry};
use std::collections::{HashMap, HashSet};
use store::{AidantId, DbConnection, OrganisationId, Timestamp, UsagerId};

/// What a member typed in the search form; empty fields keep everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalSearch {
    /// A structure: its id or SIRET.
    pub structure: String,
    /// An aidant: their id or e-mail address.
    pub aidant: String,
    /// An usager: their id, or (part of) their name.
    pub usager: String,
    /// An action's stored name.
    pub action: String,
    /// The first day of the period (Paris).
    pub from: Option<NaiveDate>,
    /// The last day of the period, included (Paris).
    pub until: Option<NaiveDate>,
}

/// A search made into a filter, or why nothing can match (in French).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// What to search.
    Filter(Filter),
    /// Nothing can match, and why.
    Nothing(String),
}

/// The most usagers one name stands for in a search.
const USAGERS_PER_NAME: i64 = 500;
/// Entries read per batch of an export.
const EXPORT_BATCH: i64 = 1000;

/// Turns what `member` typed into a filter: a structure by id or SIRET, an aidant by id or
/// e-mail, an usager by id or name, the period as whole days in Paris.
pub fn resolve(
    conn: &mut DbConnection,
    _member: &StaffSession,
    search: &JournalSearch,
) -> Result<Resolved, AuditError> {
    let mut filter = Filter::default();
    let structure = search.structure.trim();
    if !structure.is_empty() {
        let found = match accounts::organisation(conn, &OrganisationId::from(structure))? {
            Some(found) => Some(found),
            None => accounts::organisation_by_siret(conn, structure)?,
        };
        let Some(found) = found else {
            return Ok(Resolved::Nothing(format!(
                "Aucune structure n'a l'identifiant ou le SIRET « {structure} »."
            )));
        };
        filter.organisation = Some(found.id);
    }
    let aidant = search.aidant.trim();
    if !aidant.is_empty() {
        let found = match accounts::aidant(conn, &AidantId::from(aidant))? {
            Some(found) => Some(found),
            None => accounts::find_aidant_by_email(conn, aidant)?,
        };
        let Some(found) = found else {
            return Ok(Resolved::Nothing(format!(
                "Aucun aidant n'a l'identifiant ou l'adresse « {aidant} »."
            )));
        };
        filter.aidant = Some(found.id);
    }
    let usager = search.usager.trim();
    if !usager.is_empty() {
        let ids = match mandate::usager(conn, &UsagerId::from(usager))? {
            Some(found) => vec![found.id],
            None => mandate::usagers_named(conn, usager, USAGERS_PER_NAME)?,
        };
        if ids.is_empty() {
            return Ok(Resolved::Nothing(format!(
                "Aucun usager n'a l'identifiant ou le nom « {usager} »."
            )));
        }
        filter.usagers = Some(ids);
    }
    let action = search.action.trim();
    if !action.is_empty() {
        let Some(action) = Action::parse(action) else {
            return Ok(Resolved::Nothing(format!(
                "Action inconnue : « {action} »."
            )));
        };
        filter.action = Some(action);
    }
    if let (Some(from), Some(until)) = (search.from, search.until) {
        if until < from {
            return Ok(Resolved::Nothing(
                "La période se termine avant de commencer.".into(),
            ));
        }
    }
    filter.from = search.from.map(|day| paris::day_start(day).into());
    filter.until = search
        .until
        .map(|day| paris::day_start(day.checked_add_days(Days::new(1)).unwrap_or(day)).into());
    Ok(Resolved::Filter(filter))
}

/// One entry as the back office shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When.
    pub at: Timestamp,
    /// The chain (a structure's id, or `national`).
    pub chain: String,
    /// Whose chain: the structure's name, or the national team.
    pub chain_name: String,
    /// Position in the chain.
    pub seq: i64,
    /// The action's stored name.
    pub action: String,
    /// What the action is, in French.
    pub label: &'static str,
    /// The aidant's id, if any.
    pub aidant_id: String,
    /// The aidant's name and address.
    pub aidant: String,
    /// The usager's id, if any.
    pub usager_id: String,
    /// The usager's name.
    pub usager: String,
    /// The subject.
    pub subject: String,
    /// The details (JSON).
    pub details: String,
    /// The entry's hash.
    pub hash: String,
}

/// One page of results, and the cursor of the next one if there is more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The entries, newest first.
    pub lines: Vec<Line>,
    /// Where the next page starts ([`Cursor::encode`]).
    pub next: Option<String>,
}

/// The page of at most `per_page` entries `filter` keeps, after `cursor`.
pub fn journal_page(
    conn: &mut DbConnection,
    _member: &StaffSession,
    filter: &Filter,
    cursor: Option<&Cursor>,
    per_page: i64,
) -> Result<Page, AuditError> {
    let mut entries = journal::search(conn, filter, cursor, per_page + 1)?;
    let more = entries.len() as i64 > per_page;
    entries.truncate(usize::try_from(per_page).unwrap_or(0));
    let next = more
        .then(|| entries.last().map(|last| Cursor::after(last).encode()))
        .flatten();
    Ok(Page {
        lines: lines(conn, entries)?,
        next,
    })
}

/// Writes every entry `search` keeps, newest first, as CSV to `sink`, one batch at a time
/// (only the header when nothing can match); the number of entries written.
pub fn export_journal(
    conn: &mut DbConnection,
    member: &StaffSession,
    search: &JournalSearch,
    sink: &mut Sink<'_>,
) -> Result<u64, AuditError> {
    let mut out = csv_cells::file_start(&[
        "date (heure de Paris)",
        "chaîne",
        "structure",
        "numéro",
        "action",
        "libellé",
        "aidant_id",
        "aidant",
        "usager_id",
        "usager",
        "sujet",
        "détails",
        "empreinte",
    ])?;
    let filter = match resolve(conn, member, search)? {
        Resolved::Filter(filter) => filter,
        Resolved::Nothing(_) => {
            sink(csv_cells::bytes(out)?);
            return Ok(0);
        }
    };
    let mut written = 0;
    let mut cursor = None;
    loop {
        let mut batch = std::mem::replace(&mut out, csv_cells::writer());
        let entries = journal::search(conn, &filter, cursor.as_ref(), EXPORT_BATCH)?;
        let full = entries.len() as i64 == EXPORT_BATCH;
        cursor = entries.last().map(Cursor::after);
        for line in lines(conn, entries)? {
            let at = paris::local(line.at)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            let seq = line.seq.to_string();
            batch.write_record(
                [
                    at.as_str(),
                    &line.chain,
                    &line.chain_name,
                    &seq,
                    &line.action,
                    line.label,
                    &line.aidant_id,
                    &line.aidant,
                    &line.usager_id,
                    &line.usager,
                    &line.subject,
                    &line.details,
                    &line.hash,
                ]
                .map(csv_cells::cell)
                .iter()
                .map(|c| c.as_bytes()),
            )?;
            written += 1;
        }
        if !sink(csv_cells::bytes(batch)?) || !full {
            return Ok(written);
        }
    }
}

/// The entries with the names of their chains, aidants and usagers (one query for each).
fn lines(conn: &mut DbConnection, entries: Vec<JournalEntry>) -> Result<Vec<Line>, AuditError> {
    let organisations: Vec<OrganisationId> = distinct(
        entries
            .iter()
            .filter(|e| e.chain != journal::NATIONAL_CHAIN)
            .map(|e| OrganisationId::from(e.chain.as_str())),
    );
    let aidants: Vec<AidantId> = distinct(entries.iter().filter_map(|e| e.aidant_id.clone()));
    let usagers: Vec<UsagerId> = distinct(entries.iter().filter_map(|e| e.usager_id.clone()));
    let organisations: HashMap<OrganisationId, String> =
        accounts::organisations_by_ids(conn, &organisations)?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
    let aidants: HashMap<AidantId, String> = accounts::aidants_by_ids(conn, &aidants)?
        .into_iter()
        .map(|a| {
            let name = format!("{} <{}>", a.full_name(), a.email);
            (a.id, name)
        })
        .collect();
    let usagers: HashMap<UsagerId, String> = mandate::usagers_by_ids(conn, &usagers)?
        .into_iter()
        .map(|u| {
            let name = u.display_name();
            (u.id, name)
        })
        .collect();
    Ok(entries
        .into_iter()
        .map(|e| {
            let chain_name = if e.chain == journal::NATIONAL_CHAIN {
                "équipe nationale".to_owned()
            } else {
                organisations
                    .get(&OrganisationId::from(e.chain.as_str()))
                    .cloned()
                    .unwrap_or_default()
            };
            let aidant = e.aidant_id.as_ref().and_then(|id| aidants.get(id));
            let usager = e.usager_id.as_ref().and_then(|id| usagers.get(id));
            Line {
                at: e.at,
                label: Action::parse(&e.action).map_or("", Action::label),
                chain_name,
                seq: e.seq,
                aidant_id: e.aidant_id.map(|a| a.to_string()).unwrap_or_default(),
                aidant: aidant.cloned().unwrap_or_default(),
                usager_id: e.usager_id.map(|u| u.to_string()).unwrap_or_default(),
                usager: usager.cloned().unwrap_or_default(),
                chain: e.chain,
                action: e.action,
                subject: e.subject,
                details: e.details,
                hash: e.hash,
            }
        })
        .collect())
}

/// The distinct values of `values`.
fn distinct<T: Eq + std::hash::Hash + Clone>(values: impl Iterator<Item = T>) -> Vec<T> {
    values
        .collect::<HashSet<T>>()
        .into_iter()
        .collect::<Vec<T>>()
}
