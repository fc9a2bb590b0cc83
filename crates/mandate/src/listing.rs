//! What the espace aidant lists: an organisation's usagers by the state of their mandates
//! (search, pagination), and one usager's mandates with their autorisations and attestations.

use crate::attestation::{attestations_of_mandate, Attestation};
use crate::usager::{normalise_search, Usager};
use crate::{
    allowed_demarches, autorisations_of_mandate, is_usable, Autorisation, Demarche, Mandate,
    MandateError,
};
use chrono::Duration;
use diesel::prelude::*;
use std::collections::{BTreeMap, HashSet};
use store::schema::{autorisations, mandates, usagers};
use store::{DbConnection, OrganisationId, Timestamp, UsagerId};

/// How soon an active mandate counts as "expiring soon".
pub const EXPIRING_SOON: i64 = 30;

/// The state of one mandate at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MandateState {
    /// Usable, with at least one active autorisation.
    Active,
    /// Remote, waiting for the usager's SMS.
    AwaitingConsent,
    /// Past its end.
    Expired,
    /// Revoked (whole, or every autorisation, or refused by SMS).
    Revoked,
}

impl MandateState {
    /// How it is shown.
    pub fn label(self) -> &'static str {
        match self {
            MandateState::Active => "Actif",
            MandateState::AwaitingConsent => "En attente du consentement",
            MandateState::Expired => "Expiré",
            MandateState::Revoked => "Révoqué",
        }
    }

    fn of(mandate: &Mandate, has_active_autorisation: bool, now: Timestamp) -> MandateState {
        if mandate.revoked_at.is_some() || !has_active_autorisation {
            MandateState::Revoked
        } else if mandate.expires_at <= now {
            MandateState::Expired
        } else if mandate.is_remote && mandate.consent_received_at.is_none() {
            MandateState::AwaitingConsent
        } else {
            MandateState::Active
        }
    }
}

/// Which usagers a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsagerFilter {
    /// At least one active mandate (or one awaiting consent).
    Active,
    /// Active, but every active mandate ends within [`EXPIRING_SOON`] days.
    ExpiringSoon,
    /// No active mandate any more.
    Expired,
}

impl UsagerFilter {
    /// From the query string (`actifs`, `bientot`, `expires`); active by default.
    pub fn parse(value: &str) -> UsagerFilter {
        match value {
            "bientot" => UsagerFilter::ExpiringSoon,
            "expires" => UsagerFilter::Expired,
            _ => UsagerFilter::Active,
        }
    }

    /// The query-string value.
    pub fn as_str(self) -> &'static str {
        match self {
            UsagerFilter::Active => "actifs",
            UsagerFilter::ExpiringSoon => "bientot",
            UsagerFilter::Expired => "expires",
        }
    }
}

/// One usager in a list.
#[derive(Debug, Clone)]
pub struct UsagerRow {
    /// The usager.
    pub usager: Usager,
    /// End of the latest active mandate, or of the latest mandate.
    pub until: Timestamp,
    /// Démarches covered now.
    pub demarches: Vec<Demarche>,
    /// Some mandate waits for SMS consent.
    pub awaiting_consent: bool,
}

/// A page of usagers.
#[derive(Debug, Clone)]
pub struct UsagerListing {
    /// The rows.
    pub rows: Vec<UsagerRow>,
    /// How many usagers match in all.
    pub total: usize,
    /// This page, from 1.
    pub page: usize,
    /// Number of pages (at least 1).
    pub pages: usize,
}

struct Summary {
    active_until: Option<Timestamp>,
    last_until: Timestamp,
    demarches: Vec<Demarche>,
    awaiting_consent: bool,
}

/// The usagers of an organisation in the state `filter` asks for, matching `search`, by name,
/// page `page` (from 1) of `per_page`.
pub fn usagers_of_organisation(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    now: Timestamp,
    filter: UsagerFilter,
    search: &str,
    page: usize,
    per_page: usize,
) -> Result<UsagerListing, MandateError> {
    let mut query = mandates::table
        .inner_join(usagers::table)
        .filter(mandates::organisation_id.eq(organisation_id))
        .select((Mandate::as_select(), usagers::search_name))
        .into_boxed();
    let term = normalise_search(search);
    if !term.is_empty() {
        query = query.filter(
            usagers::search_name
                .like(crate::usager::search_pattern(&term))
                .escape('\\'),
        );
    }
    let rows: Vec<(Mandate, String)> = query.load(conn)?;
    let active: Vec<Autorisation> = autorisations::table
        .inner_join(mandates::table)
        .filter(mandates::organisation_id.eq(organisation_id))
        .filter(autorisations::revoked_at.is_null())
        .select(Autorisation::as_select())
        .load(conn)?;
    let allowed = allowed_demarches(conn, organisation_id)?;
    let mandates_with_active: HashSet<&str> =
        active.iter().map(|a| a.mandate_id.as_str()).collect();
    let mut by_usager: BTreeMap<(String, String), Summary> = BTreeMap::new();
    for (mandate, search_name) in &rows {
        let state = MandateState::of(
            mandate,
            mandates_with_active.contains(mandate.id.as_str()),
            now,
        );
        let until = mandate.expires_at;
        let summary = by_usager
            .entry((search_name.clone(), mandate.usager_id.to_string()))
            .or_insert(Summary {
                active_until: None,
                last_until: until,
                demarches: Vec::new(),
                awaiting_consent: false,
            });
        summary.last_until = summary.last_until.max(until);
        match state {
            MandateState::Active => {
                summary.active_until = Some(summary.active_until.map_or(until, |u| u.max(until)));
                let usable = active
                    .iter()
                    .filter(|a| a.mandate_id == mandate.id)
                    .filter(|a| is_usable(a, mandate, &allowed, now));
                for a in usable {
                    let d = Demarche::parse(&a.demarche)?;
                    if !summary.demarches.contains(&d) {
                        summary.demarches.push(d);
                    }
                }
            }
            MandateState::AwaitingConsent => summary.awaiting_consent = true,
            MandateState::Expired | MandateState::Revoked => {}
        }
    }
    let soon = now + Duration::days(EXPIRING_SOON);
    let selected: Vec<(String, Summary)> = by_usager
        .into_iter()
        .filter(|(_, s)| {
            let active = s.active_until.is_some() || s.awaiting_consent;
            match filter {
                UsagerFilter::Active => active,
                UsagerFilter::ExpiringSoon => s.active_until.is_some_and(|u| u <= soon),
                UsagerFilter::Expired => !active,
            }
        })
        .map(|((_, usager_id), s)| (usager_id, s))
        .collect();
    let total = selected.len();
    let per_page = per_page.max(1);
    let pages = total.div_ceil(per_page).max(1);
    let page = page.clamp(1, pages);
    let mut rows = Vec::new();
    for (usager_id, mut summary) in selected
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
    {
        let usager: Usager = usagers::table
            .find(&usager_id)
            .select(Usager::as_select())
            .first(conn)?;
        summary.demarches.sort_by_key(|d| d.position());
        rows.push(UsagerRow {
            usager,
            until: summary.active_until.unwrap_or(summary.last_until),
            demarches: summary.demarches,
            awaiting_consent: summary.awaiting_consent,
        });
    }
    Ok(UsagerListing {
        rows,
        total,
        page,
        pages,
    })
}

/// One mandate as the usager's page shows it.
#[derive(Debug, Clone)]
pub struct MandateDetail {
    /// The mandate.
    pub mandate: Mandate,
    /// Its state now.
    pub state: MandateState,
    /// Its autorisations, with whether each is usable now.
    pub autorisations: Vec<(Autorisation, Demarche, bool)>,
    /// Its attestations.
    pub attestations: Vec<Attestation>,
}

/// The mandates an organisation holds for an usager, newest first.
pub fn mandates_of_usager(
    conn: &mut DbConnection,
    organisation_id: &OrganisationId,
    usager_id: &UsagerId,
    now: Timestamp,
) -> Result<Vec<MandateDetail>, MandateError> {
    let list: Vec<Mandate> = mandates::table
        .filter(mandates::organisation_id.eq(organisation_id))
        .filter(mandates::usager_id.eq(usager_id))
        .order(mandates::created_at.desc())
        .select(Mandate::as_select())
        .load(conn)?;
    let allowed = allowed_demarches(conn, organisation_id)?;
    let mut out = Vec::with_capacity(list.len());
    for mandate in list {
        let autorisations = autorisations_of_mandate(conn, &mandate.id)?;
        let any_unrevoked = autorisations.iter().any(|a| a.revoked_at.is_none());
        let state = MandateState::of(&mandate, any_unrevoked, now);
        let autorisations = autorisations
            .into_iter()
            .map(|a| {
                let d = Demarche::parse(&a.demarche)?;
                let usable = is_usable(&a, &mandate, &allowed, now);
                Ok((a, d, usable))
            })
            .collect::<Result<Vec<_>, MandateError>>()?;
        let attestations = attestations_of_mandate(conn, &mandate.id)?;
        out.push(MandateDetail {
            mandate,
            state,
            autorisations,
            attestations,
        });
    }
    Ok(out)
}
/// What the journal holds about a usager, for the right of access: given to a verified aidant
/// of a structure that holds or held a mandate for them, `None` otherwise.
pub fn usager_journal(
    conn: &mut DbConnection,
    who: &authenticator::VerifiedAidant,
    usager_id: &UsagerId,
    now: Timestamp,
) -> Result<Option<(Usager, Vec<journal::JournalEntry>)>, MandateError> {
    if mandates_of_usager(conn, who.organisation_id(), usager_id, now)?.is_empty() {
        return Ok(None);
    }
    let Some(usager) = crate::usager(conn, usager_id)? else {
        return Ok(None);
    };
    Ok(Some((usager, journal::entries_of_usager(conn, usager_id)?)))
}
