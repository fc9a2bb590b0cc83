//! A structure's page in the back office, the parts beyond its members and mandates: its
//! description (name, address, type, France Services label, the démarches it may do) and its
//! change, the cards its aidants hold, and the cards sent to it and their recording.

use super::{capitalised, structure_page, Field, Member, Typed};
use crate::csrf;
use crate::interaction::see_other;
use crate::pages::csrf_refused;
use crate::{with_db, AppState, WebError};
use actix_web::{web, HttpRequest, HttpResponse};
use mandate::Demarche;

/// What the page reads beyond members and mandates.
pub(super) struct Extras {
    pub(super) cards: Vec<authenticator::OtpCard>,
    pub(super) shipments: Vec<authenticator::Shipment>,
    pub(super) allowed: Vec<Demarche>,
}

/// What the description form holds (kept when refused).
#[derive(Default, Clone)]
pub(crate) struct EditForm {
    name: String,
    address: String,
    zipcode: String,
    city: String,
    kind: String,
    france_services: bool,
    all_demarches: bool,
    demarches: Vec<String>,
}

/// What the shipment form holds (kept when refused).
#[derive(Default, Clone)]
pub(crate) struct ShipmentForm {
    sent_on: String,
    quantity: String,
    tracking: String,
    serials: String,
}

pub(super) struct DemarcheBox {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
    pub(super) checked: bool,
}

pub(super) struct CardLine {
    pub(super) serial: String,
    pub(super) holder: String,
    pub(super) state: &'static str,
}

pub(super) struct ShipmentLine {
    pub(super) sent_on: String,
    pub(super) quantity: i32,
    pub(super) tracking: String,
    pub(super) serials: String,
}

/// The sections of the structure's page this module fills.
pub(super) struct Sections {
    pub(super) edit_fields: Vec<Field>,
    pub(super) france_services: bool,
    pub(super) all_demarches: bool,
    pub(super) demarches: Vec<DemarcheBox>,
    pub(super) edit_error: Option<String>,
    pub(super) cards: Vec<CardLine>,
    pub(super) shipments: Vec<ShipmentLine>,
    pub(super) shipment_fields: Vec<Field>,
    pub(super) serials: String,
    pub(super) shipment_error: Option<String>,
}

impl Sections {
    pub(super) fn new(
        organisation: &accounts::Organisation,
        members: &[accounts::Member],
        extras: Extras,
        now: store::Timestamp,
        edit: Option<(EditForm, String)>,
        shipment: Option<(ShipmentForm, String)>,
    ) -> Sections {
        let (edit, edit_error) = match edit {
            Some((typed, error)) => (typed, Some(error)),
            None => (
                EditForm {
                    name: organisation.name.clone(),
                    address: organisation.address.clone(),
                    zipcode: organisation.zipcode.clone(),
                    city: organisation.city.clone(),
                    kind: organisation.kind.clone(),
                    france_services: organisation.france_services,
                    all_demarches: organisation.allowed_demarches.is_none(),
                    demarches: extras.allowed.iter().map(|d| d.id().to_owned()).collect(),
                },
                None,
            ),
        };
        let (shipment, shipment_error) = match shipment {
            Some((typed, error)) => (typed, Some(error)),
            None => (
                ShipmentForm {
                    sent_on: paris::local(now).format("%Y-%m-%d").to_string(),
                    ..ShipmentForm::default()
                },
                None,
            ),
        };
        Sections {
            edit_fields: vec![
                Field::new("edit-name", "Nom de la structure", &edit.name),
                Field::new("edit-address", "Adresse", &edit.address),
                Field::new("edit-zipcode", "Code postal", &edit.zipcode),
                Field::new("edit-city", "Ville", &edit.city),
                Field::new(
                    "edit-kind",
                    "Type (France Services, CCAS, mairie, association…)",
                    &edit.kind,
                ),
            ],
            france_services: edit.france_services,
            all_demarches: edit.all_demarches,
            demarches: Demarche::ALL
                .iter()
                .map(|d| DemarcheBox {
                    id: d.id(),
                    title: d.title(),
                    checked: edit.demarches.iter().any(|id| id == d.id()),
                })
                .collect(),
            edit_error,
            cards: extras
                .cards
                .into_iter()
                .map(|c| CardLine {
                    holder: c
                        .aidant_id
                        .as_ref()
                        .and_then(|id| members.iter().find(|m| &m.aidant.id == id))
                        .map(|m| m.aidant.full_name())
                        .unwrap_or_default(),
                    state: c.state(now).label(),
                    serial: c.serial,
                })
                .collect(),
            shipments: extras
                .shipments
                .into_iter()
                .map(|s| ShipmentLine {
                    sent_on: s.sent_on.format("%d/%m/%Y").to_string(),
                    quantity: s.quantity,
                    serials: s.serial_list().join(", "),
                    tracking: s.tracking,
                })
                .collect(),
            shipment_fields: vec![
                Field::new("sent_on", "Date d'envoi", &shipment.sent_on),
                Field::new("quantity", "Quantité de cartes", &shipment.quantity),
                Field::new(
                    "tracking",
                    "Référence de suivi du transporteur",
                    &shipment.tracking,
                ),
            ],
            serials: shipment.serials,
            shipment_error,
        }
    }
}

impl Typed {
    /// The description form as typed, refused for `message`.
    fn edit(form: EditForm, message: &str) -> Typed {
        Typed {
            edit: Some((form, message.to_owned())),
            ..Typed::default()
        }
    }

    /// The shipment form as typed, refused for `message`.
    fn shipment(form: ShipmentForm, message: &str) -> Typed {
        Typed {
            shipment: Some((form, message.to_owned())),
            ..Typed::default()
        }
    }
}

/// The form's fields, read from the body (the démarches are repeated).
fn edit_form(body: &[u8]) -> (String, EditForm) {
    let (mut csrf_token, mut form) = (String::new(), EditForm::default());
    for (key, value) in url::form_urlencoded::parse(body) {
        let value = value.into_owned();
        match key.as_ref() {
            "csrf_token" => csrf_token = value,
            "edit-name" => form.name = value,
            "edit-address" => form.address = value,
            "edit-zipcode" => form.zipcode = value,
            "edit-city" => form.city = value,
            "edit-kind" => form.kind = value,
            "france_services" => form.france_services = true,
            "toutes" => form.all_demarches = true,
            "demarche" => form.demarches.push(value),
            _ => {}
        }
    }
    (csrf_token, form)
}

/// POST /administration/structures/{id}/modifier: its description and démarches.
pub(crate) async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let (csrf_token, form) = edit_form(&body);
    if !csrf::is_valid(&req, &state, &csrf_token) {
        return Ok(csrf_refused());
    }
    if session.support().is_none() {
        return Ok(super::not_allowed());
    }
    let id = path.into_inner();
    let demarches: Option<Vec<Demarche>> = if form.all_demarches {
        None
    } else {
        Some(
            Demarche::ALL
                .into_iter()
                .filter(|d| form.demarches.iter().any(|id| id == d.id()))
                .collect(),
        )
    };
    if demarches.as_ref().is_some_and(Vec::is_empty) {
        let message = "Cochez au moins une démarche, ou « toutes les démarches ».";
        return structure_page(&req, &state, &session, id, None, Typed::edit(form, message)).await;
    }
    let (typed, acting, organisation_id, now) = (
        form.clone(),
        session.clone(),
        store::OrganisationId::from(id.clone()),
        state.clock.now(),
    );
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        let ids: Option<Vec<&str>> = demarches
            .as_ref()
            .map(|list| list.iter().map(|d| d.id()).collect());
        Ok(Some(super::auth_refused_or(
            authenticator::staff_edit_organisation(
                conn,
                &state.rng,
                now,
                &who,
                &organisation_id,
                accounts::OrganisationDetails {
                    name: &form.name,
                    address: &form.address,
                    zipcode: &form.zipcode,
                    city: &form.city,
                    kind: &form.kind,
                    france_services: form.france_services,
                },
                ids.as_deref(),
            ),
        )?))
    })
    .await?;
    match outcome {
        None => Ok(super::not_allowed()),
        Some(Ok(None)) => Ok(crate::pages::not_found().await),
        Some(Ok(Some(_))) => Ok(see_other(&format!(
            "/administration/structures/{id}?fait=modifiee"
        ))),
        Some(Err(message)) => {
            let typed = Typed::edit(typed, &capitalised(&message));
            structure_page(&req, &state, &session, id, None, typed).await
        }
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct ShipmentBody {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    sent_on: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    tracking: String,
    #[serde(default)]
    serials: String,
}

/// POST /administration/structures/{id}/envois: cards sent to the structure.
pub(crate) async fn shipment(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<ShipmentBody>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    if session.support().is_none() {
        return Ok(super::not_allowed());
    }
    let id = path.into_inner();
    let body = form.into_inner();
    let typed = ShipmentForm {
        sent_on: body.sent_on.trim().to_owned(),
        quantity: body.quantity.trim().to_owned(),
        tracking: body.tracking.trim().to_owned(),
        serials: body.serials,
    };
    let sent_on = chrono::NaiveDate::parse_from_str(&typed.sent_on, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(&typed.sent_on, "%d/%m/%Y"));
    let (Ok(sent_on), Ok(quantity)) = (sent_on, typed.quantity.parse::<i32>()) else {
        let message = "Indiquez la date d'envoi (jj/mm/aaaa) et le nombre de cartes en chiffres.";
        let typed = Typed::shipment(typed, message);
        return structure_page(&req, &state, &session, id, None, typed).await;
    };
    let (acting, organisation_id, tracking, serials, now) = (
        session.clone(),
        store::OrganisationId::from(id.clone()),
        typed.tracking.clone(),
        typed.serials.clone(),
        state.clock.now(),
    );
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        Ok(Some(authenticator::staff_record_shipment(
            conn,
            &state.rng,
            now,
            &who,
            &organisation_id,
            authenticator::NewShipment {
                sent_on,
                quantity,
                tracking: &tracking,
                serials: &serials,
            },
        )?))
    })
    .await?;
    match outcome {
        None => Ok(super::not_allowed()),
        Some(Ok(_)) => Ok(see_other(&format!(
            "/administration/structures/{id}?fait=envoi#envois"
        ))),
        Some(Err(authenticator::ShipmentRefusal::UnknownStructure)) => {
            Ok(crate::pages::not_found().await)
        }
        Some(Err(refusal)) => {
            let message = capitalised(&refusal.to_string());
            let typed = Typed::shipment(typed, &message);
            structure_page(&req, &state, &session, id, None, typed).await
        }
    }
}
