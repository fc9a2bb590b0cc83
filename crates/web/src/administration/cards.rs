//! The back office's cards, for who may manage them: a card associated with any aidant (how
//! a new structure's first référent gets one) and validated with a code it shows; the stock
//! searched by serial; a card's page with its holder and its history from the journal, and
//! its dissociation with a reason; a manufacturer's file imported from the browser, all its
//! rows or none.

use super::{form_status, not_allowed, Member};
use crate::csrf::{self, CsrfToken};
use crate::interaction::see_other;
use crate::pages::{csrf_refused, render};
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::{Dissociation, StaffCardRefusal, StaffSession};
use futures_util::StreamExt;
use serde::Deserialize;

/// Cards listed at most by a search.
const LISTED: i64 = 50;
/// The largest card file taken from the browser.
const IMPORT_MAX_BYTES: usize = 5 * 1024 * 1024;

struct FoundCard {
    serial: String,
    kind: &'static str,
    state: &'static str,
}

/// What an import did, as the page shows it.
struct ImportLines {
    added: usize,
    updated: usize,
    rejected: Vec<authenticator::RejectedRow>,
}

#[derive(Template)]
#[template(path = "admin_cards.html")]
struct CardsPage {
    csrf: String,
    /// The aidant whose card awaits validation, if one was just associated.
    aidant: String,
    serial: String,
    done: Option<&'static str>,
    error: Option<String>,
    /// The serial searched, and the cards it finds.
    query: String,
    found: Vec<FoundCard>,
    /// The outcome of an import just made.
    report: Option<ImportLines>,
    import_error: Option<String>,
}

impl CardsPage {
    /// Whether the import just tried was refused (its message names the file field).
    fn import_refused(&self) -> bool {
        self.import_error.is_some() || self.report.as_ref().is_some_and(|r| !r.rejected.is_empty())
    }

    fn new(csrf: String) -> CardsPage {
        CardsPage {
            csrf,
            aidant: String::new(),
            serial: String::new(),
            done: None,
            error: None,
            query: String::new(),
            found: Vec::new(),
            report: None,
            import_error: None,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CardsQuery {
    #[serde(default)]
    aidant: String,
    #[serde(default)]
    fait: String,
    #[serde(default)]
    serie: String,
}

/// The cards page, for a member who may manage cards; otherwise the refusal or the sign-in.
async fn cards_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &StaffSession,
    status: StatusCode,
    page: impl FnOnce(String) -> CardsPage,
) -> Result<HttpResponse, WebError> {
    if session.support().is_none() {
        return Ok(not_allowed());
    }
    let csrf = CsrfToken::for_request(req, state)?;
    render(
        status,
        &page(csrf.value.clone()),
        Some(&csrf),
        state.secure_cookies,
    )
}

/// GET /administration/cartes: associate a card with any aidant, then validate it; search
/// the cards by serial (`serie`).
pub(crate) async fn cards(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    query: web::Query<CardsQuery>,
) -> Result<HttpResponse, WebError> {
    let CardsQuery {
        aidant,
        fait,
        serie,
    } = query.into_inner();
    let (prefix, now) = (serie.clone(), state.clock.now());
    let found = if serie.trim().is_empty() || session.support().is_none() {
        Vec::new()
    } else {
        with_db(&state, move |conn, _| {
            Ok(authenticator::cards_by_serial_prefix(
                conn, &prefix, LISTED,
            )?)
        })
        .await?
    };
    let done = match fait.as_str() {
        "associee" => Some("Carte associée. Validez-la maintenant avec un code qu'elle affiche."),
        "validee" => Some("Carte validée : l'aidant peut se connecter avec."),
        _ => None,
    };
    let aidant = if fait == "associee" {
        aidant
    } else {
        String::new()
    };
    cards_page(&req, &state, &session, StatusCode::OK, |csrf| CardsPage {
        aidant,
        done,
        query: serie,
        found: found
            .into_iter()
            .map(|c| FoundCard {
                kind: kind_label(&c),
                state: c.state(now).label(),
                serial: c.serial,
            })
            .collect(),
        ..CardsPage::new(csrf)
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct CardForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    aidant: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    otp: String,
}

/// What a member is told of a refused card action.
fn staff_card_refusal(refusal: StaffCardRefusal) -> String {
    match refusal {
        StaffCardRefusal::UnknownAidant => "Aucun aidant n'a cette adresse électronique.".into(),
        StaffCardRefusal::Card(refusal) => crate::referent::card_refusal_message(refusal),
        StaffCardRefusal::NotAssociated => "Cette carte n'est associée à aucun aidant.".into(),
    }
}

/// POST /administration/cartes/associer and …/valider.
pub(crate) async fn card_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<CardForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let validate = match path.as_str() {
        "associer" => false,
        "valider" => true,
        _ => return Ok(crate::pages::not_found().await),
    };
    let now = state.clock.now();
    let CardForm {
        aidant,
        serial,
        otp,
        ..
    } = form.into_inner();
    let (typed_aidant, typed_serial) = (aidant.clone(), serial.clone());
    let acting = session.clone();
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        Ok(Some(if validate {
            authenticator::staff_validate_card(
                conn,
                &state.rng,
                &state.cipher,
                &state.policy,
                now,
                &who,
                &aidant,
                &otp,
            )?
        } else {
            authenticator::staff_associate_card(conn, &state.rng, now, &who, &aidant, &serial)?
        }))
    })
    .await?;
    let error = match outcome {
        None => return Ok(not_allowed()),
        Some(Ok(_)) => {
            let fait = if validate { "validee" } else { "associee" };
            let aidant: String =
                url::form_urlencoded::byte_serialize(typed_aidant.as_bytes()).collect();
            return Ok(see_other(&format!(
                "/administration/cartes?fait={fait}&aidant={aidant}"
            )));
        }
        Some(Err(refusal)) => staff_card_refusal(refusal),
    };
    // Nothing typed is lost: the associate form keeps both fields, the validation its aidant.
    cards_page(
        &req,
        &state,
        &session,
        StatusCode::UNPROCESSABLE_ENTITY,
        |csrf| CardsPage {
            aidant: typed_aidant,
            serial: if validate {
                String::new()
            } else {
                typed_serial
            },
            error: Some(error),
            ..CardsPage::new(csrf)
        },
    )
    .await
}

/// A card's kind, as the pages name it.
pub(crate) fn kind_label(card: &authenticator::OtpCard) -> &'static str {
    if card.is_physical() {
        "physique"
    } else {
        "numérique"
    }
}

/// POST /administration/cartes/import: a manufacturer's file (`fichier`, multipart), all its
/// rows or none, with the report of every refused row.
pub(crate) async fn import(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    mut body: actix_multipart::Multipart,
) -> Result<HttpResponse, WebError> {
    let (mut csrf_token, mut content, mut too_large) = (String::new(), Vec::new(), false);
    while let Some(Ok(mut field)) = body.next().await {
        let name = field.name().unwrap_or_default().to_owned();
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let Ok(chunk) = chunk else {
                return Ok(crate::pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "Envoi interrompu",
                    "Le fichier n'a pas été reçu en entier. Revenez à la page des cartes et recommencez.",
                ));
            };
            if value.len() + chunk.len() > IMPORT_MAX_BYTES {
                too_large = true;
                break;
            }
            value.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf_token" => csrf_token = String::from_utf8_lossy(&value).into_owned(),
            "fichier" => content = value,
            _ => {}
        }
    }
    if !csrf::is_valid(&req, &state, &csrf_token) {
        return Ok(csrf_refused());
    }
    let refusal = if too_large {
        Some(format!(
            "Fichier trop volumineux : {} Mo au plus.",
            IMPORT_MAX_BYTES / (1024 * 1024)
        ))
    } else if content.iter().all(u8::is_ascii_whitespace) {
        Some(
            "Choisissez un fichier CSV non vide : une ligne « numéro de série,graine » par carte."
                .to_owned(),
        )
    } else {
        None
    };
    let (acting, now) = (session.clone(), state.clock.now());
    let report = match refusal {
        Some(message) => Err(message),
        None => {
            let done = with_db(&state, move |conn, state| {
                let Some(who) = acting.support() else {
                    return Ok(None);
                };
                Ok(Some(authenticator::staff_import_cards(
                    conn,
                    &state.rng,
                    &state.cipher,
                    now,
                    &who,
                    &content,
                )?))
            })
            .await?;
            let Some(report) = done else {
                return Ok(not_allowed());
            };
            Ok(report)
        }
    };
    let status = match &report {
        Ok(r) if r.applied() => StatusCode::OK,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    cards_page(&req, &state, &session, status, |csrf| match report {
        Ok(r) => CardsPage {
            report: Some(ImportLines {
                added: r.added.len(),
                updated: r.updated.len(),
                rejected: r.rejected,
            }),
            ..CardsPage::new(csrf)
        },
        Err(message) => CardsPage {
            import_error: Some(message),
            ..CardsPage::new(csrf)
        },
    })
    .await
}

struct HistoryLine {
    at: String,
    action: &'static str,
    structure: String,
    by: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_card.html")]
struct CardPage {
    csrf: String,
    serial: String,
    kind: &'static str,
    state: &'static str,
    imported: String,
    holder: Option<(String, String)>,
    events: Vec<HistoryLine>,
    done: Option<&'static str>,
    reasons: Vec<ReasonBox>,
    detail: String,
    error: Option<String>,
}

struct ReasonBox {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

/// The reasons a card is taken away for, as the form offers them.
const REASONS: [(&str, &str); 6] = [
    ("perte", "Carte perdue (mise hors service)"),
    ("casse", "Carte cassée (mise hors service)"),
    ("dysfonctionnement", "Carte défectueuse (mise hors service)"),
    ("depart", "Départ de l'aidant (remise en stock)"),
    ("erreur", "Associée par erreur (remise en stock)"),
    ("autre", "Autre motif, à préciser"),
];

/// What a history line says beyond its action: the reason of a dissociation, the tracking
/// reference of a shipment, the end of a lock.
fn history_detail(entry: &journal::JournalEntry) -> String {
    let details: serde_json::Value = serde_json::from_str(&entry.details).unwrap_or_default();
    let text = |key: &str| details[key].as_str().unwrap_or_default().to_owned();
    match journal::Action::parse(&entry.action) {
        Some(journal::Action::CardDissociation) => {
            let reason = Dissociation::parse(&text("reason"), &text("detail"))
                .map(|r| r.label())
                .unwrap_or_default();
            if details["out_of_service"].as_bool() == Some(true) {
                format!("motif : {reason} ; mise hors service")
            } else {
                format!("motif : {reason} ; remise en stock")
            }
        }
        Some(journal::Action::SendCards) => format!("envoi suivi {}", text("tracking")),
        Some(journal::Action::LockOtpCard) => chrono::DateTime::parse_from_rfc3339(&text("until"))
            .map(|until| {
                format!(
                    "jusqu'à {}",
                    paris::local(store::Timestamp::from(until.with_timezone(&chrono::Utc)))
                        .format("%d/%m/%Y %H:%M")
                )
            })
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// A card's page, or the missing page.
async fn card_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &StaffSession,
    serial: String,
    done: Option<&'static str>,
    refused: Option<(String, String, String)>,
) -> Result<HttpResponse, WebError> {
    if session.support().is_none() {
        return Ok(not_allowed());
    }
    let now = state.clock.now();
    let found = with_db(state, move |conn, _| {
        let Some(history) = authenticator::card_history(conn, &serial)? else {
            return Ok(None);
        };
        let ids: Vec<store::OrganisationId> = history
            .events
            .iter()
            .filter_map(|e| e.organisation_id.clone())
            .collect();
        let organisations = accounts::organisations_by_ids(conn, &ids)?;
        Ok(Some((history, organisations)))
    })
    .await?;
    let Some((history, organisations)) = found else {
        return Ok(crate::pages::not_found().await);
    };
    let (reason, detail, error) = match refused {
        Some((reason, detail, error)) => (reason, detail, Some(error)),
        None => (String::new(), String::new(), None),
    };
    let csrf = CsrfToken::for_request(req, state)?;
    let card = &history.card;
    let page = CardPage {
        csrf: csrf.value.clone(),
        serial: card.serial.clone(),
        kind: kind_label(card),
        state: card.state(now).label(),
        imported: paris::local(card.created_at).format("%d/%m/%Y").to_string(),
        holder: history
            .holder
            .as_ref()
            .map(|a| (a.id.to_string(), a.full_name())),
        events: history
            .events
            .iter()
            .map(|e| HistoryLine {
                at: paris::local(e.at).format("%d/%m/%Y %H:%M").to_string(),
                action: journal::Action::parse(&e.action).map_or("", journal::Action::label),
                structure: e
                    .organisation_id
                    .as_ref()
                    .and_then(|id| organisations.iter().find(|o| &o.id == id))
                    .map(|o| o.name.clone())
                    .unwrap_or_default(),
                by: if e.details.contains("\"staff\":") {
                    "équipe nationale"
                } else if e.aidant_id.is_some() {
                    "référent ou aidant"
                } else {
                    "le service"
                },
                detail: history_detail(e),
            })
            .collect(),
        done,
        reasons: REASONS
            .into_iter()
            .map(|(value, label)| ReasonBox {
                value,
                label,
                checked: value == reason,
            })
            .collect(),
        detail,
        error,
    };
    render(
        form_status(page.error.as_deref()),
        &page,
        Some(&csrf),
        state.secure_cookies,
    )
}

#[derive(Deserialize)]
pub(crate) struct CardQuery {
    #[serde(default)]
    fait: String,
}

/// GET /administration/cartes/{serial}: the card, its holder and its history.
pub(crate) async fn card(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    query: web::Query<CardQuery>,
) -> Result<HttpResponse, WebError> {
    let done = (query.fait == "dissociee").then_some(
        "Carte retirée à son aidant : ses sessions sont terminées ; lui et les référents de ses structures sont prévenus par e-mail.",
    );
    card_page(&req, &state, &session, path.into_inner(), done, None).await
}

#[derive(Deserialize)]
pub(crate) struct DissociationForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    motif: String,
    #[serde(default)]
    precision: String,
}

/// POST /administration/cartes/{serial}/dissocier: the card taken away from its holder.
pub(crate) async fn dissociate(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<DissociationForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let serial = path.into_inner();
    let DissociationForm {
        motif, precision, ..
    } = form.into_inner();
    let Some(reason) = Dissociation::parse(&motif, &precision) else {
        return card_page(
            &req,
            &state,
            &session,
            serial,
            None,
            Some((motif, precision, "Choisissez le motif.".into())),
        )
        .await;
    };
    let (acting, target, now) = (session.clone(), serial.clone(), state.clock.now());
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        Ok(Some(authenticator::staff_dissociate_card(
            conn, &state.rng, now, &who, &target, &reason,
        )?))
    })
    .await?;
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(card)) => Ok(see_other(&format!(
            "/administration/cartes/{}?fait=dissociee",
            card.serial
        ))),
        Some(Err(refusal)) => {
            card_page(
                &req,
                &state,
                &session,
                serial,
                None,
                Some((motif, precision, staff_card_refusal(refusal))),
            )
            .await
        }
    }
}
