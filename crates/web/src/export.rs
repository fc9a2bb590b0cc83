//! The usager's right of access (RGPD): everything the journal holds about one usager, as a
//! printable French page and as JSON. Open to a signed-in aidant of an organisation that holds
//! or held a mandate for this usager, after a fresh code.

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
    usager_id: UsagerId,
    name: String,
    birthdate: String,
    generated: String,
    entries: Vec<Entry>,
}

/// The export of one usager, for the aidant of the request; `None` when the organisation never
/// held a mandate for this usager.
struct Export {
    usager: mandate::Usager,
    entries: Vec<journal::JournalEntry>,
    organisations: HashMap<OrganisationId, String>,
    aidants: HashMap<AidantId, String>,
}

fn load(
    conn: &mut DbConnection,
    who: &VerifiedAidant,
    usager_id: &UsagerId,
    now: Timestamp,
) -> Result<Option<Export>, WebError> {
    let Some((usager, entries)) = mandate::usager_journal(conn, who, usager_id, now)? else {
        return Ok(None);
    };
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
                    .map(|a| a.full_name())
                    .unwrap_or_else(|| "aidant inconnu".into());
                aidants.insert(id.clone(), name);
            }
        }
    }
    Ok(Some(Export {
        usager,
        entries,
        organisations,
        aidants,
    }))
}

fn subject_text(subject: &str) -> String {
    mandate::Demarche::parse(subject)
        .map(|d| d.title().to_owned())
        .unwrap_or_else(|_| subject.to_owned())
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
                aidant: name_of(&self.aidants, e.aidant_id.as_ref()),
            })
            .collect();
        ExportPage {
            usager_id: self.usager.id.clone(),
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
