//! The usager's right of access (RGPD): everything the journal holds about one usager, as a
//! printable French page and as JSON. Open to a signed-in aidant of an organisation that holds
//! or held a mandate for this usager, after a fresh code — and to the usager themselves, in
//! their space.

use crate::account::{guarded, to_login, to_recheck, Guarded};
use crate::espace::{birthdate, date_time, not_found};
use crate::pages::render;
use crate::{AppState, WebError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::VerifiedAidant;
use serde_json::{json, Value};
use std::collections::HashMap;
use store::{AidantId, DbConnection, OrganisationId, Timestamp, UsagerId};

/// What the usager reads for an action of the journal.
fn action_label(action: &str) -> &'static str {
    match action {
        "create_autorisation" => "Autorisation donnée pour une démarche (mandat)",
        "use_autorisation" => "Démarche réalisée par un aidant en votre nom",
        "cancel_autorisation" => "Autorisation révoquée",
        "cancel_mandat" => "Mandat révoqué",
        "franceconnect_usager" => "Identification par FranceConnect",
        "create_attestation" => "Attestation de mandat produite",
        "init_renew_mandat" => "Renouvellement de mandat commencé",
        "remote_sms_consent_sent" => "Demande de consentement envoyée par SMS",
        "remote_sms_consent_received" => "Consentement donné par SMS",
        "remote_sms_denial" => "Refus donné par SMS",
        "connect_usager" => "Connexion à votre espace",
        "link_usager_franceconnect" => "Identité FranceConnect rattachée à votre dossier",
        "notify_usager" => "Choix de recevoir ou non un e-mail à chaque mandat",
        _ => "Autre action",
    }
}

struct Entry {
    at: String,
    label: &'static str,
    subject: String,
    organisation: String,
    aidant: String,
}

#[derive(Template)]
#[template(path = "usager_journal.html")]
struct ExportPage {
    /// Where the page and its JSON live (the aidant's usager page, or the usager's space).
    base: String,
    /// Read by the usager themselves.
    own: bool,
    /// The aidant's usager page.
    back: String,
    name: String,
    birthdate: String,
    generated: String,
    entries: Vec<Entry>,
}

/// The export of one usager: for the aidant of the request (`base` their usager page), or for
/// the usager in their space.
struct Export {
    usager: mandate::Usager,
    entries: Vec<journal::JournalEntry>,
    organisations: HashMap<OrganisationId, String>,
    aidants: HashMap<AidantId, String>,
    base: String,
    own: bool,
}

/// The export for the verified aidant; `None` when their structure never held a mandate for
/// this usager.
fn load(
    conn: &mut DbConnection,
    who: &VerifiedAidant,
    usager_id: &UsagerId,
    now: Timestamp,
) -> Result<Option<Export>, WebError> {
    let Some((usager, entries)) = mandate::usager_journal(conn, who, usager_id, now)? else {
        return Ok(None);
    };
    let base = format!("/espace-aidant/usagers/{}/journal", usager.id);
    Ok(Some(named(conn, usager, entries, base, false)?))
}

/// The export for the usager of the session, in their space (aidants named by first name and
/// initial).
fn load_own(
    conn: &mut DbConnection,
    session: &espace_usager::UsagerSession,
) -> Result<Export, WebError> {
    let entries = espace_usager::journal_statement(conn, session)?;
    named(
        conn,
        session.usager().clone(),
        entries,
        "/mon-espace/releve".into(),
        true,
    )
}

/// The export of `entries`, with the structures and aidants they name.
fn named(
    conn: &mut DbConnection,
    usager: mandate::Usager,
    entries: Vec<journal::JournalEntry>,
    base: String,
    own: bool,
) -> Result<Export, WebError> {
    let mut organisations = HashMap::new();
    let mut aidants = HashMap::new();
    for e in &entries {
        if let Some(id) = &e.organisation_id {
            if !organisations.contains_key(id) {
                let name = accounts::organisation(conn, id)?
                    .map(|o| o.name)
                    .unwrap_or_else(|| "structure inconnue".into());
                organisations.insert(id.clone(), name);
            }
        }
        if let Some(id) = &e.aidant_id {
            if !aidants.contains_key(id) {
                let name = accounts::aidant(conn, id)?
                    .map(|a| {
                        if own {
                            a.first_name_and_initial()
                        } else {
                            a.full_name()
                        }
                    })
                    .unwrap_or_else(|| "aidant inconnu".into());
                aidants.insert(id.clone(), name);
            }
        }
    }
    Ok(Export {
        usager,
        entries,
        organisations,
        aidants,
        base,
        own,
    })
}

fn subject_text(subject: &str) -> String {
    mandate::Demarche::parse(subject)
        .map(|d| d.title().to_owned())
        .unwrap_or_else(|_| subject.to_owned())
}

/// Whether the usager did it themselves, from their space (`"par": "usager"`).
fn by_usager(entry: &journal::JournalEntry) -> bool {
    serde_json::from_str::<Value>(&entry.details)
        .ok()
        .is_some_and(|d| d.get("par").and_then(Value::as_str) == Some("usager"))
}

fn name_of<K: std::hash::Hash + Eq>(map: &HashMap<K, String>, id: Option<&K>) -> String {
    id.and_then(|id| map.get(id)).cloned().unwrap_or_default()
}

impl Export {
    fn page(self, now: Timestamp) -> ExportPage {
        let entries = self
            .entries
            .iter()
            .map(|e| Entry {
                at: date_time(e.at_utc()),
                label: action_label(&e.action),
                subject: subject_text(&e.subject),
                organisation: name_of(&self.organisations, e.organisation_id.as_ref()),
                aidant: match &e.aidant_id {
                    Some(id) => name_of(&self.aidants, Some(id)),
                    None if by_usager(e) && self.own => "Vous".into(),
                    None if by_usager(e) => "L'usager".into(),
                    None => String::new(),
                },
            })
            .collect();
        ExportPage {
            back: self
                .base
                .strip_suffix("/journal")
                .unwrap_or(&self.base)
                .to_owned(),
            base: self.base.clone(),
            own: self.own,
            name: self.usager.display_name(),
            birthdate: birthdate(&self.usager.birthdate),
            generated: date_time(now),
            entries,
        }
    }

    fn json(self, now: Timestamp) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                json!({
                    "date": e.at_utc().to_rfc3339(),
                    "action": e.action,
                    "libelle": action_label(&e.action),
                    "objet": e.subject,
                    "objet_libelle": subject_text(&e.subject),
                    "structure": e.organisation_id.as_ref().map(|id| json!({
                        "id": id,
                        "nom": name_of(&self.organisations, Some(id)),
                    })),
                    "aidant": e.aidant_id.as_ref().map(|id| json!({
                        "id": id,
                        "nom": name_of(&self.aidants, Some(id)),
                    })),
                    "details": serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
                    "chaine": e.chain,
                    "numero": e.seq,
                    "empreinte": e.hash,
                })
            })
            .collect();
        let u = &self.usager;
        json!({
            "genere_le": now.to_rfc3339(),
            "usager": {
                "id": u.id,
                "prenoms": u.given_name,
                "nom_de_naissance": u.family_name,
                "nom_d_usage": u.preferred_username,
                "date_de_naissance": u.birthdate,
            },
            "nombre_d_entrees": entries.len(),
            "entrees": entries,
        })
    }
}

enum Format {
    Page,
    Json,
}

async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
    usager_id: UsagerId,
    format: Format,
) -> Result<HttpResponse, WebError> {
    let here = req.uri().path().to_owned();
    let outcome = guarded(&req, &state, move |conn, state, now, signed| {
        let Some(verified) = signed.verified(state, now) else {
            return Ok(Guarded::Recheck);
        };
        Ok(Guarded::Done(
            load(conn, &verified, &usager_id, now)?.map(|e| (e, now)),
        ))
    })
    .await?;
    let (export, now) = match outcome {
        Guarded::Login => return Ok(to_login(&here)),
        Guarded::Recheck => return Ok(to_recheck(&here)),
        Guarded::Done(None) => return Ok(not_found()),
        Guarded::Done(Some(found)) => found,
    };
    respond(&state, export, now, format)
}

/// The export as a page or a JSON download.
fn respond(
    state: &AppState,
    export: Export,
    now: Timestamp,
    format: Format,
) -> Result<HttpResponse, WebError> {
    match format {
        Format::Page => render(
            StatusCode::OK,
            &export.page(now),
            None,
            state.secure_cookies,
        ),
        Format::Json => {
            let file = format!("journal-usager-{}.json", export.usager.id);
            Ok(HttpResponse::Ok()
                .content_type("application/json")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}\""),
                ))
                .body(export.json(now).to_string()))
        }
    }
}

/// The statement of the usager of the space's session (none: back to the space's welcome).
async fn own_export(
    req: HttpRequest,
    state: web::Data<AppState>,
    format: Format,
) -> Result<HttpResponse, WebError> {
    let Some(session) = crate::espace_usager::session(&req, &state).await? else {
        return Ok(crate::interaction::see_other(crate::espace_usager::HOME));
    };
    let now = state.clock.now();
    let export = crate::with_db(&state, move |conn, _| load_own(conn, &session)).await?;
    respond(&state, export, now, format)
}

/// GET /mon-espace/releve: the usager's own statement.
pub(crate) async fn own_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    own_export(req, state, Format::Page).await
}

/// GET /mon-espace/releve.json
pub(crate) async fn own_json(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    own_export(req, state, Format::Json).await
}

/// GET /espace-aidant/usagers/{id}/journal
pub(crate) async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    export(req, state, UsagerId::from(path.into_inner()), Format::Page).await
}

/// GET /espace-aidant/usagers/{id}/journal.json
pub(crate) async fn json(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    export(req, state, UsagerId::from(path.into_inner()), Format::Json).await
}
