//! The back office's aidants: the national search (every member), an aidant's page (identity,
//! account, structures and roles, cards, journal) and, for who may manage accounts, its
//! changes: identity, account everywhere, membership and role in each structure, added to or
//! moved to another structure; and the mass deactivation of a pasted list of addresses,
//! previewed before it is confirmed.

use super::{auth_refused_or, form_status, not_allowed, Field, Member};
use crate::csrf::{self, CsrfToken};
use crate::interaction::see_other;
use crate::pages::{csrf_refused, render};
use crate::{with_db, AppState, WebError};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::StaffSession;
use serde::Deserialize;

/// Aidants listed at most by a search.
const LISTED: i64 = 50;

struct Row {
    id: String,
    name: String,
    email: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "admin_aidants.html")]
struct SearchPage {
    query: String,
    rows: Vec<Row>,
    searched: bool,
    may_manage: bool,
}

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// GET /administration/aidants?q=: aidants by name or e-mail address.
pub(crate) async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, WebError> {
    let q = query.into_inner().q;
    let term = q.clone();
    let found = if term.trim().is_empty() {
        Vec::new()
    } else {
        with_db(&state, move |conn, _| {
            Ok(accounts::search_aidants(conn, &term, LISTED)?)
        })
        .await?
    };
    let csrf = CsrfToken::for_request(&req, &state)?;
    let page = SearchPage {
        searched: !q.trim().is_empty(),
        query: q,
        rows: found
            .into_iter()
            .map(|a| Row {
                id: a.id.to_string(),
                name: a.full_name(),
                email: a.email,
                active: a.active,
            })
            .collect(),
        may_manage: session.support().is_some(),
    };
    render(
        actix_web::http::StatusCode::OK,
        &page,
        Some(&csrf),
        state.secure_cookies,
    )
}

struct MembershipLine {
    organisation_id: String,
    name: String,
    referent: bool,
    active: bool,
}

struct CardLine {
    serial: String,
    kind: &'static str,
    state: &'static str,
}

/// What the forms of an aidant's page hold (kept when refused).
#[derive(Deserialize, Default, Clone)]
pub(crate) struct AidantForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    profession: String,
    #[serde(default)]
    phone: String,
    /// The structure to add them to or move them to (SIRET or id).
    #[serde(default)]
    vers: String,
    /// The structure they move from.
    #[serde(default)]
    depuis: String,
    /// Added as a référent.
    #[serde(default)]
    referent: String,
}

/// Which form of the page a refusal concerns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Concerns {
    Identity,
    Structures,
}

#[derive(Template)]
#[template(path = "admin_aidant.html")]
struct AidantPage {
    csrf: String,
    id: String,
    name: String,
    email: String,
    active: bool,
    memberships: Vec<MembershipLine>,
    cards: Vec<CardLine>,
    may_manage: bool,
    fields: Vec<Field>,
    form: AidantForm,
    done: Option<&'static str>,
    identity_error: Option<String>,
    structures_error: Option<String>,
}

/// An aidant's page, or the missing page; `typed` fills the forms when a change was refused.
async fn aidant_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &StaffSession,
    id: String,
    done: Option<&'static str>,
    refused: Option<(Concerns, String, AidantForm)>,
) -> Result<HttpResponse, WebError> {
    let (aidant_id, now) = (store::AidantId::from(id.clone()), state.clock.now());
    let found = with_db(state, move |conn, _| {
        let Some(aidant) = accounts::aidant(conn, &aidant_id)? else {
            return Ok(None);
        };
        let memberships = accounts::memberships_of(conn, std::slice::from_ref(&aidant_id))?;
        let ids: Vec<store::OrganisationId> =
            memberships.iter().map(|(_, o, _, _)| o.clone()).collect();
        let organisations = accounts::organisations_by_ids(conn, &ids)?;
        let cards = authenticator::cards_of_aidant(conn, &aidant_id)?;
        Ok(Some((aidant, memberships, organisations, cards)))
    })
    .await?;
    let Some((aidant, memberships, organisations, cards)) = found else {
        return Ok(crate::pages::not_found().await);
    };
    let (concerns, error, form) = match refused {
        Some((concerns, error, form)) => (Some(concerns), Some(error), form),
        None => (
            None,
            None,
            AidantForm {
                email: aidant.email.clone(),
                first_name: aidant.first_name.clone(),
                last_name: aidant.last_name.clone(),
                profession: aidant.profession.clone(),
                phone: aidant.phone.clone(),
                ..AidantForm::default()
            },
        ),
    };
    let csrf = CsrfToken::for_request(req, state)?;
    let page = AidantPage {
        csrf: csrf.value.clone(),
        id,
        name: aidant.full_name(),
        email: aidant.email.clone(),
        active: aidant.active,
        memberships: memberships
            .into_iter()
            .map(|(_, organisation_id, role, active)| MembershipLine {
                name: organisations
                    .iter()
                    .find(|o| o.id == organisation_id)
                    .map(|o| o.name.clone())
                    .unwrap_or_default(),
                organisation_id: organisation_id.to_string(),
                referent: role == accounts::Role::Referent,
                active,
            })
            .collect(),
        cards: cards
            .into_iter()
            .map(|c| CardLine {
                kind: if c.is_physical() {
                    "physique"
                } else {
                    "numérique"
                },
                state: c.state(now).label(),
                serial: c.serial,
            })
            .collect(),
        may_manage: session.support().is_some(),
        fields: vec![
            Field::new("email", "Adresse électronique professionnelle", &form.email),
            Field::new("first_name", "Prénom", &form.first_name),
            Field::new("last_name", "Nom", &form.last_name),
            Field::new("profession", "Profession", &form.profession),
            Field::new("phone", "Téléphone", &form.phone),
        ],
        form,
        done,
        identity_error: error
            .clone()
            .filter(|_| concerns == Some(Concerns::Identity)),
        structures_error: error.filter(|_| concerns == Some(Concerns::Structures)),
    };
    render(
        form_status(
            page.identity_error
                .as_deref()
                .or(page.structures_error.as_deref()),
        ),
        &page,
        Some(&csrf),
        state.secure_cookies,
    )
}

#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    #[serde(default)]
    fait: String,
}

/// GET /administration/aidants/{id}.
pub(crate) async fn aidant(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, WebError> {
    let done = match query.fait.as_str() {
        "identite" => Some("Identité enregistrée."),
        "desactive" => Some("Compte désactivé partout : l'aidant ne peut plus se connecter, ses sessions sont terminées. Ses structures et ses cartes sont conservées."),
        "reactive" => Some("Compte réactivé : l'aidant a reçu un message."),
        "structure" => Some("Structure de l'aidant mise à jour."),
        "ajoute" => Some("Aidant ajouté à la structure."),
        "deplace" => Some("Aidant déplacé : il travaille désormais pour la nouvelle structure, plus pour l'ancienne."),
        _ => None,
    };
    aidant_page(&req, &state, &session, path.into_inner(), done, None).await
}

/// After a change to aidant `id`: the refusal of a role that may not, the page again with the
/// reason (keeping `typed`), or back to it saying `done`.
async fn after_change(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &StaffSession,
    id: String,
    outcome: Option<Result<(), String>>,
    done: &str,
    refused: (Concerns, AidantForm),
) -> Result<HttpResponse, WebError> {
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(())) => Ok(see_other(&format!(
            "/administration/aidants/{id}?fait={done}"
        ))),
        Some(Err(message)) => {
            aidant_page(
                req,
                state,
                session,
                id,
                None,
                Some((refused.0, message, refused.1)),
            )
            .await
        }
    }
}

/// POST /administration/aidants/{id}: the identity and contact corrected.
pub(crate) async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<AidantForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let (id, form) = (path.into_inner(), form.into_inner());
    let (typed, acting, aidant_id) = (
        form.clone(),
        session.clone(),
        store::AidantId::from(id.clone()),
    );
    let now = state.clock.now();
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        let edited = auth_refused_or(authenticator::staff_edit_aidant(
            conn,
            &state.rng,
            now,
            &who,
            &aidant_id,
            accounts::AidantDetails {
                email: &form.email,
                first_name: &form.first_name,
                last_name: &form.last_name,
                profession: &form.profession,
                phone: &form.phone,
            },
        ))?;
        Ok(Some(edited.map(|_| ())))
    })
    .await?;
    after_change(
        &req,
        &state,
        &session,
        id,
        outcome,
        "identite",
        (Concerns::Identity, typed),
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct AccountForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    actif: String,
}

/// POST /administration/aidants/{id}/compte: the account deactivated everywhere
/// (`actif=0`) or reactivated (`actif=1`).
pub(crate) async fn account(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let active = form.actif == "1";
    let (acting, aidant_id, now) = (
        session.clone(),
        store::AidantId::from(id.clone()),
        state.clock.now(),
    );
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        let Some(aidant) = accounts::aidant(conn, &aidant_id)? else {
            return Ok(Some(Err("Cet aidant n'existe pas.".to_owned())));
        };
        let done = if active {
            super::refused_or(authenticator::staff_activate_aidant(
                conn,
                &state.rng,
                now,
                &who,
                &aidant.email,
            ))?
            .map(|_| ())
        } else {
            authenticator::staff_deactivate_accounts(conn, &state.rng, now, &who, &aidant.email)?;
            Ok(())
        };
        Ok(Some(done))
    })
    .await?;
    after_change(
        &req,
        &state,
        &session,
        id,
        outcome,
        if active { "reactive" } else { "desactive" },
        (Concerns::Structures, AidantForm::default()),
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct MembershipForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
}

/// POST /administration/aidants/{id}/structures/{organisation}: the membership deactivated or
/// reactivated (`action=desactiver|reactiver`), the role of référent given or taken back
/// (`action=referent|aidant`).
pub(crate) async fn membership(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<(String, String)>,
    form: web::Form<MembershipForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let (id, organisation) = path.into_inner();
    enum Change {
        Active(bool),
        Role(accounts::Role),
    }
    let change = match form.action.as_str() {
        "desactiver" => Change::Active(false),
        "reactiver" => Change::Active(true),
        "referent" => Change::Role(accounts::Role::Referent),
        "aidant" => Change::Role(accounts::Role::Aidant),
        _ => return Ok(crate::pages::not_found().await),
    };
    let (acting, aidant_id, organisation_id, now) = (
        session.clone(),
        store::AidantId::from(id.clone()),
        store::OrganisationId::from(organisation),
        state.clock.now(),
    );
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        let done = match change {
            Change::Active(active) => authenticator::staff_set_member_active(
                conn,
                &state.rng,
                now,
                &who,
                &organisation_id,
                &aidant_id,
                active,
            ),
            Change::Role(role) => authenticator::staff_set_role(
                conn,
                &state.rng,
                now,
                &who,
                &organisation_id,
                &aidant_id,
                role,
            ),
        };
        Ok(Some(auth_refused_or(done)?))
    })
    .await?;
    after_change(
        &req,
        &state,
        &session,
        id,
        outcome,
        "structure",
        (Concerns::Structures, AidantForm::default()),
    )
    .await
}

/// POST /administration/aidants/{id}/ajout (added to the structure `vers`, as référent when
/// `referent` is ticked) and …/deplacement (moved from `depuis` to `vers`).
pub(crate) async fn structure_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<(String, String)>,
    form: web::Form<AidantForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let (id, change) = path.into_inner();
    let moving = match change.as_str() {
        "ajout" => false,
        "deplacement" => true,
        _ => return Ok(crate::pages::not_found().await),
    };
    let form = form.into_inner();
    let (typed, acting, aidant_id, now) = (
        form.clone(),
        session.clone(),
        store::AidantId::from(id.clone()),
        state.clock.now(),
    );
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        let Some(to) = accounts::organisation_named(conn, &form.vers)? else {
            return Ok(Some(Err(
                "Aucune structure n'a ce SIRET ou cet identifiant.".to_owned(),
            )));
        };
        let Some(aidant) = accounts::aidant(conn, &aidant_id)? else {
            return Ok(Some(Err("Cet aidant n'existe pas.".to_owned())));
        };
        let done = if moving {
            auth_refused_or(authenticator::staff_move_member(
                conn,
                &state.rng,
                now,
                &who,
                &aidant_id,
                &store::OrganisationId::from(form.depuis.as_str()),
                &to.id,
            ))?
        } else {
            let role = if form.referent.is_empty() {
                accounts::Role::Aidant
            } else {
                accounts::Role::Referent
            };
            super::refused_or(authenticator::staff_add_member(
                conn,
                &state.rng,
                now,
                &who,
                &to.id,
                accounts::NewAidant {
                    email: &aidant.email,
                    first_name: &aidant.first_name,
                    last_name: &aidant.last_name,
                    profession: &aidant.profession,
                    phone: &aidant.phone,
                    active: aidant.active,
                },
                role,
            ))?
            .map(|_| ())
        };
        Ok(Some(done))
    })
    .await?;
    after_change(
        &req,
        &state,
        &session,
        id,
        outcome,
        if moving { "deplace" } else { "ajoute" },
        (Concerns::Structures, typed),
    )
    .await
}

struct PreviewLine {
    address: String,
    name: Option<String>,
    structures: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "admin_deactivation.html")]
struct DeactivationPage {
    csrf: String,
    pasted: String,
    preview: Option<Vec<PreviewLine>>,
    /// How many of the previewed accounts would be deactivated.
    to_deactivate: usize,
    done: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct DeactivationForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    adresses: String,
    #[serde(default)]
    etape: String,
}

/// The mass deactivation page, for who may manage accounts.
async fn deactivation_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    page: impl FnOnce(String) -> DeactivationPage,
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(req, state)?;
    let page = page(csrf.value.clone());
    render(
        form_status(page.error.as_deref()),
        &page,
        Some(&csrf),
        state.secure_cookies,
    )
}

/// GET /administration/aidants/desactivation: paste the addresses to deactivate.
pub(crate) async fn deactivation(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
) -> Result<HttpResponse, WebError> {
    if session.support().is_none() {
        return Ok(not_allowed());
    }
    deactivation_page(&req, &state, |csrf| DeactivationPage {
        csrf,
        pasted: String::new(),
        preview: None,
        to_deactivate: 0,
        done: None,
        error: None,
    })
    .await
}

/// The largest mass deactivation form: 1,000 addresses of up to 100 characters, encoded.
const LIST_FORM_BYTES: usize = 160 * 1024;

/// The form limit of the mass deactivation (above the service's 16 KiB), with a French page
/// for a list past it.
pub(crate) fn list_form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(LIST_FORM_BYTES)
        .error_handler(|error, _| match error {
            actix_web::error::UrlencodedError::Overflow { .. } => {
                let page = crate::pages::error_page(
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "Liste trop longue",
                    &format!(
                        "{} Revenez à la page précédente et coupez la liste en plusieurs fois.",
                        too_many()
                    ),
                );
                actix_web::error::InternalError::from_response(error, page).into()
            }
            other => other.into(),
        })
}

/// The refusal of a list longer than the service takes at once.
fn too_many() -> String {
    format!(
        "Collez au plus {} adresses à la fois.",
        authenticator::PASTED_ADDRESSES_MAX
    )
}

/// Where a mass deactivation is: whom the list names, or how many accounts were deactivated
/// (`None`: too long a list).
enum Step {
    Preview(Option<Vec<authenticator::PastedAidant>>),
    Done(Option<usize>),
}

/// POST /administration/aidants/desactivation: `etape=apercu` shows whom the list names
/// (nothing written); `etape=confirmer` deactivates them, all at once.
pub(crate) async fn deactivate(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    form: web::Form<DeactivationForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let DeactivationForm {
        adresses, etape, ..
    } = form.into_inner();
    let confirm = etape == "confirmer";
    let (pasted, now) = (adresses.clone(), state.clock.now());
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = session.support() else {
            return Ok(None);
        };
        Ok(Some(if confirm {
            Step::Done(
                authenticator::staff_deactivate_accounts(conn, &state.rng, now, &who, &pasted)?
                    .map(|d| d.len()),
            )
        } else {
            Step::Preview(authenticator::deactivation_preview(conn, &pasted)?)
        }))
    })
    .await?;
    let Some(outcome) = outcome else {
        return Ok(not_allowed());
    };
    deactivation_page(&req, &state, move |csrf| match outcome {
        Step::Preview(Some(lines)) => {
            let to_deactivate = lines
                .iter()
                .filter(|l| l.aidant.as_ref().is_some_and(|a| a.active))
                .count();
            let error = lines
                .is_empty()
                .then(|| "Collez au moins une adresse électronique.".to_owned());
            DeactivationPage {
                csrf,
                pasted: adresses,
                preview: (!lines.is_empty()).then(|| {
                    lines
                        .into_iter()
                        .map(|l| PreviewLine {
                            address: l.address,
                            active: l.aidant.as_ref().is_some_and(|a| a.active),
                            name: l.aidant.map(|a| a.full_name()),
                            structures: l.structures.join(", "),
                        })
                        .collect()
                }),
                to_deactivate,
                done: None,
                error,
            }
        }
        Step::Done(Some(count)) => DeactivationPage {
            csrf,
            pasted: String::new(),
            preview: None,
            to_deactivate: 0,
            done: Some(format!(
                "{count} compte(s) désactivé(s) : ces aidants ne peuvent plus se connecter, leurs sessions sont terminées."
            )),
            error: None,
        },
        Step::Preview(None) | Step::Done(None) => DeactivationPage {
            csrf,
            pasted: adresses,
            preview: None,
            to_deactivate: 0,
            done: None,
            error: Some(too_many()),
        },
    })
    .await
}
