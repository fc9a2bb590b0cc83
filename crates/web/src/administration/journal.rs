//! The back office's journal pages, open to every member of the national team (auditors
//! included): the search with its pages, the CSV export of what a search keeps (streamed), and
//! the verification report of every chain and checkpoint.

use super::{form_status, Field, Member};
use crate::csrf::{self, CsrfToken};
use crate::pages::render;
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;

/// Entries per page.
const PER_PAGE: i64 = 50;

/// The search as the form sends it (and the links repeat it).
#[derive(Deserialize, Default, Clone)]
pub(crate) struct JournalQuery {
    #[serde(default)]
    structure: String,
    #[serde(default)]
    aidant: String,
    #[serde(default)]
    usager: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    du: String,
    #[serde(default)]
    au: String,
    #[serde(default)]
    apres: String,
}

impl JournalQuery {
    /// The search in a link (without the page's cursor).
    fn link(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("structure", self.structure.as_str()),
                ("aidant", &self.aidant),
                ("usager", &self.usager),
                ("action", &self.action),
                ("du", &self.du),
                ("au", &self.au),
            ])
            .finish()
    }
}

/// A date field, with what was typed and its refusal.
struct DateField {
    id: &'static str,
    label: &'static str,
    value: String,
    error: Option<&'static str>,
}

/// A day typed as the date picker sends it (`2026-12-01`) or by hand (`01/12/2026`).
fn parse_day(typed: &str) -> Result<Option<NaiveDate>, &'static str> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(typed, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(typed, "%d/%m/%Y"))
        .map(Some)
        .map_err(|_| "Date invalide : saisissez-la au format jj/mm/aaaa.")
}

/// The search's form fields and, when every date reads, the search.
fn search_of(query: &JournalQuery) -> (Vec<DateField>, Option<audit::JournalSearch>) {
    let from = parse_day(&query.du);
    let until = parse_day(&query.au);
    let dates = vec![
        DateField {
            id: "du",
            label: "Du",
            value: query.du.clone(),
            error: from.err(),
        },
        DateField {
            id: "au",
            label: "Au (inclus)",
            value: query.au.clone(),
            error: until.err(),
        },
    ];
    let search = match (from, until) {
        (Ok(from), Ok(until)) => Some(audit::JournalSearch {
            structure: query.structure.clone(),
            aidant: query.aidant.clone(),
            usager: query.usager.clone(),
            action: query.action.clone(),
            from,
            until,
        }),
        _ => None,
    };
    (dates, search)
}

struct Row {
    at: String,
    chain: String,
    seq: i64,
    action: String,
    aidant: String,
    usager: String,
    subject: String,
    details: String,
}

#[derive(Template)]
#[template(path = "admin_journal.html")]
struct JournalPage {
    fields: Vec<Field>,
    /// Every action: stored name, label, whether chosen.
    actions: Vec<(&'static str, &'static str, bool)>,
    dates: Vec<DateField>,
    nothing: Option<String>,
    searched: bool,
    query: String,
    lines: Vec<Row>,
    next: Option<String>,
}

/// GET /administration/journal: the search and one page of its entries, newest first.
pub(crate) async fn search(
    state: web::Data<AppState>,
    Member(session): Member,
    query: web::Query<JournalQuery>,
) -> Result<HttpResponse, WebError> {
    let query = query.into_inner();
    let (dates, search) = search_of(&query);
    let refused = search.is_none();
    let cursor = journal::Cursor::decode(&query.apres);
    let found = match search {
        None => None,
        Some(search) => Some(
            with_db(&state, move |conn, _| {
                Ok(match audit::resolve(conn, &session, &search)? {
                    audit::Resolved::Nothing(why) => Err(why),
                    audit::Resolved::Filter(filter) => Ok(audit::journal_page(
                        conn,
                        &session,
                        &filter,
                        cursor.as_ref(),
                        PER_PAGE,
                    )?),
                })
            })
            .await?,
        ),
    };
    let (page, nothing) = match found {
        Some(Ok(page)) => (Some(page), None),
        Some(Err(why)) => (None, Some(why)),
        None => (None, None),
    };
    let status = form_status(refused.then_some(""));
    let searched = [
        &query.structure,
        &query.aidant,
        &query.usager,
        &query.action,
        &query.du,
        &query.au,
    ]
    .iter()
    .any(|f| !f.trim().is_empty());
    let (lines, next) = page.map_or((Vec::new(), None), |p| (p.lines, p.next));
    let shown = JournalPage {
        fields: vec![
            Field::new(
                "structure",
                "Structure (identifiant ou SIRET)",
                &query.structure,
            ),
            Field::new(
                "aidant",
                "Aidant (identifiant ou adresse électronique)",
                &query.aidant,
            ),
            Field::new("usager", "Usager (identifiant ou nom)", &query.usager),
        ],
        actions: journal::Action::ALL
            .iter()
            .map(|a| (a.as_str(), a.label(), a.as_str() == query.action))
            .collect(),
        dates,
        nothing,
        searched: searched && !refused,
        query: query.link(),
        lines: lines
            .into_iter()
            .map(|l| Row {
                at: paris::local(l.at).format("%d/%m/%Y %H:%M:%S").to_string(),
                chain: l.chain_name,
                seq: l.seq,
                action: if l.label.is_empty() {
                    l.action
                } else {
                    l.label.to_owned()
                },
                aidant: l.aidant,
                usager: l.usager,
                subject: l.subject,
                details: l.details,
            })
            .collect(),
        next,
    };
    render(status, &shown, None, state.secure_cookies)
}

/// GET /administration/journal/export.csv: every entry the search keeps, as CSV, streamed.
pub(crate) async fn export(
    state: web::Data<AppState>,
    Member(session): Member,
    query: web::Query<JournalQuery>,
) -> Result<HttpResponse, WebError> {
    let (_, Some(search)) = search_of(&query) else {
        return Ok(crate::pages::error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Période invalide",
            "Une date de la recherche est invalide : corrigez-la sur la page du journal avant d'exporter.",
        ));
    };
    let name = format!(
        "journal-{}.csv",
        paris::local(state.clock.now()).format("%Y%m%d-%H%M%S")
    );
    Ok(crate::streaming::csv(&state, &name, move |conn, sink| {
        audit::export_journal(conn, &session, &search, sink)?;
        Ok(())
    }))
}

/// The last report, as the page shows it.
struct Report {
    at: String,
    intact: bool,
    broken: usize,
    chains: Vec<audit::ChainLine>,
    problems: Vec<String>,
    checkpoints: usize,
    heads: usize,
}

#[derive(Template)]
#[template(path = "admin_verification.html")]
struct VerificationPage {
    csrf: String,
    report: Option<Report>,
    /// When the verification waiting was asked, if one is.
    waiting_since: Option<String>,
}

/// GET /administration/journal/verification: the last report the upkeep computed (every chain
/// walked, every checkpoint checked), and the verification waiting or the form to ask one.
pub(crate) async fn verification(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
) -> Result<HttpResponse, WebError> {
    let found = with_db(&state, move |conn, _| {
        Ok(audit::verifications(conn, &session)?)
    })
    .await?;
    let at = |t: store::Timestamp| paris::local(t).format("%d/%m/%Y à %H:%M").to_string();
    let report = found.last.map(|(computed, report)| Report {
        at: at(computed),
        intact: report.intact(),
        broken: report.broken(),
        problems: report
            .checkpoints
            .problems
            .iter()
            .map(|p| match p.chain() {
                Some(chain) => format!("{} : {}", report.name_of(chain), p.describe()),
                None => p.describe(),
            })
            .collect(),
        checkpoints: report.checkpoints.checkpoints,
        heads: report.checkpoints.heads,
        chains: report.chains,
    });
    let csrf = CsrfToken::for_request(&req, &state)?;
    let page = VerificationPage {
        csrf: csrf.value.clone(),
        report,
        waiting_since: found.waiting_since.map(at),
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

/// POST /administration/journal/verification: any member asks for a verification now (the
/// upkeep computes it within minutes); one already waiting is not asked twice.
pub(crate) async fn ask_verification(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    form: web::Form<crate::pages::CsrfForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(crate::pages::csrf_refused());
    }
    let now = state.clock.now();
    with_db(&state, move |conn, state| {
        Ok(audit::request_verification(
            conn,
            &state.rng,
            now,
            Some(&session),
        )?)
    })
    .await?;
    Ok(crate::interaction::see_other(
        "/administration/journal/verification",
    ))
}
