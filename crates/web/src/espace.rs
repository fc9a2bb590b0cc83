//! The espace aidant: the organisation's usagers by mandate state (search, pagination), one
//! usager's mandates, and revoking an autorisation or a whole mandate. Every page checks that
//! what it shows belongs to the aidant's current organisation.

use crate::account::{guarded, to_login, to_recheck, Guarded};
use crate::csrf::{self, CsrfToken};
use crate::interaction::see_other;
use crate::pages::{csrf_refused, error_page, render};
use crate::{AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use mandate::{MandateState, UsagerFilter};
use serde::Deserialize;
use store::{AutorisationId, MandateId, OrganisationId, Timestamp, UsagerId};

/// Usagers per page.
const PER_PAGE: usize = 20;

/// A date as shown, in Paris time.
pub(crate) fn date(at: Timestamp) -> String {
    paris::local(at).format("%d/%m/%Y").to_string()
}

/// A date and time as shown, in Paris time.
pub(crate) fn date_time(at: Timestamp) -> String {
    paris::local(at).format("%d/%m/%Y à %H:%M").to_string()
}

/// A stored birth date (`YYYY-MM-DD`, possibly presumed) as shown.
pub(crate) fn birthdate(value: &str) -> String {
    identity::Birthdate::parse(value)
        .map(identity::Birthdate::display_fr)
        .unwrap_or_else(|_| value.to_owned())
}

pub(crate) fn not_found() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Introuvable",
        "Cet élément n'existe pas ou ne dépend pas de votre structure.",
    )
}

struct Tab {
    value: &'static str,
    label: &'static str,
    current: bool,
}

struct Row {
    id: String,
    name: String,
    birthdate: String,
    demarches: String,
    until: String,
    awaiting_consent: bool,
}

#[derive(Template)]
#[template(path = "espace.html")]
struct EspacePage {
    csrf: String,
    aidant_name: String,
    organisation_name: String,
    tabs: Vec<Tab>,
    filter: &'static str,
    q: String,
    rows: Vec<Row>,
    total: usize,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
    until_label: &'static str,
    organisations: Vec<OrganisationChoice>,
    is_referent: bool,
    acts: bool,
}

struct OrganisationChoice {
    id: String,
    name: String,
    current: bool,
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    etat: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<usize>,
}

fn list_url(filter: UsagerFilter, q: &str, page: usize) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("etat", filter.as_str());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    query.append_pair("page", &page.to_string());
    format!("/espace-aidant?{}", query.finish())
}

/// GET /espace-aidant.
pub(crate) async fn usagers(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let ListQuery { etat, q, page } = query.into_inner();
    let filter = UsagerFilter::parse(&etat);
    let q: String = q.chars().take(100).collect();
    let csrf = CsrfToken::for_request(&req, &state)?;
    let csrf_value = csrf.value.clone();
    let outcome = guarded(&req, &state, move |conn, _, now, signed| {
        let working = accounts::working_organisations(conn, &signed.aidant.id)?;
        let is_referent = working
            .iter()
            .any(|(o, role)| o.id == signed.organisation.id && *role == accounts::Role::Referent);
        let organisations = working
            .into_iter()
            .map(|(o, _)| OrganisationChoice {
                current: o.id == signed.organisation.id,
                id: o.id.into(),
                name: o.name,
            })
            .collect();
        let listing = mandate::usagers_of_organisation(
            conn,
            &signed.organisation.id,
            now,
            filter,
            &q,
            page.unwrap_or(1),
            PER_PAGE,
        )?;
        let rows = listing
            .rows
            .into_iter()
            .map(|r| Row {
                name: r.usager.display_name(),
                birthdate: birthdate(&r.usager.birthdate),
                id: r.usager.id.into(),
                demarches: r
                    .demarches
                    .iter()
                    .map(|d| d.title())
                    .collect::<Vec<_>>()
                    .join(", "),
                until: date(r.until),
                awaiting_consent: r.awaiting_consent,
            })
            .collect();
        let tabs = [
            (UsagerFilter::Active, "Mandats actifs"),
            (UsagerFilter::ExpiringSoon, "Expirent bientôt"),
            (UsagerFilter::Expired, "Mandats expirés ou révoqués"),
        ]
        .into_iter()
        .map(|(f, label)| Tab {
            value: f.as_str(),
            label,
            current: f == filter,
        })
        .collect();
        Ok(Guarded::Done(EspacePage {
            csrf: csrf_value,
            aidant_name: signed.aidant.full_name(),
            organisation_name: signed.organisation.name,
            tabs,
            filter: filter.as_str(),
            previous: (listing.page > 1).then(|| list_url(filter, &q, listing.page - 1)),
            next: (listing.page < listing.pages).then(|| list_url(filter, &q, listing.page + 1)),
            q,
            rows,
            total: listing.total,
            page: listing.page,
            pages: listing.pages,
            until_label: if filter == UsagerFilter::Expired {
                "Fin du dernier mandat"
            } else {
                "Fin du mandat"
            },
            organisations,
            is_referent,
            acts: signed.session.acts_for_usagers(),
        }))
    })
    .await?;
    match outcome {
        Guarded::Done(page) => render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies),
        _ => Ok(to_login(req.uri().path())),
    }
}

struct AutorisationRow {
    id: String,
    title: &'static str,
    live: bool,
    revoked: Option<String>,
    /// Revoked by the usager, from their space.
    by_usager: bool,
}

struct AttestationLink {
    id: String,
    label: &'static str,
}

struct MandateCard {
    id: String,
    state: &'static str,
    active: bool,
    awaiting_consent: bool,
    created: String,
    until: String,
    duration: &'static str,
    remote: bool,
    /// Revoked by the usager, from their space.
    revoked_by_usager: bool,
    autorisations: Vec<AutorisationRow>,
    attestations: Vec<AttestationLink>,
}

#[derive(Template)]
#[template(path = "usager.html")]
struct UsagerPage {
    csrf: String,
    usager_id: UsagerId,
    name: String,
    birthdate: String,
    birthplace: String,
    mandates: Vec<MandateCard>,
}

/// GET /espace-aidant/usagers/{id}.
pub(crate) async fn usager(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let usager_id = UsagerId::from(path.into_inner());
    let csrf = CsrfToken::for_request(&req, &state)?;
    let csrf_value = csrf.value.clone();
    let outcome = guarded(&req, &state, move |conn, _, now, signed| {
        let details = mandate::mandates_of_usager(conn, &signed.organisation.id, &usager_id, now)?;
        if details.is_empty() {
            return Ok(Guarded::Done(None));
        }
        let Some(usager) = mandate::usager(conn, &usager_id)? else {
            return Ok(Guarded::Done(None));
        };
        let mandates = details
            .into_iter()
            .map(|d| MandateCard {
                id: d.mandate.id.clone().into(),
                state: d.state.label(),
                active: d.state == MandateState::Active,
                awaiting_consent: d.state == MandateState::AwaitingConsent,
                created: date_time(d.mandate.created_at),
                until: date_time(d.mandate.expires_at),
                duration: d.mandate.duration.label(),
                remote: d.mandate.is_remote,
                revoked_by_usager: d.mandate.revoked_by_usager,
                autorisations: d
                    .autorisations
                    .into_iter()
                    .map(|(a, demarche, live)| AutorisationRow {
                        revoked: a.revoked_at.map(date_time),
                        by_usager: a.revoked_by_usager,
                        id: a.id.into(),
                        title: demarche.title(),
                        live,
                    })
                    .collect(),
                attestations: d
                    .attestations
                    .into_iter()
                    .map(|a| AttestationLink {
                        label: if a.kind == mandate::AttestationKind::Revocation {
                            "Attestation de révocation"
                        } else {
                            "Attestation de mandat"
                        },
                        id: a.id,
                    })
                    .collect(),
            })
            .collect();
        Ok(Guarded::Done(Some(UsagerPage {
            csrf: csrf_value,
            usager_id: usager.id.clone(),
            name: usager.display_name(),
            birthdate: birthdate(&usager.birthdate),
            birthplace: places::place_of_birth(&usager.birthplace, &usager.birthcountry),
            mandates,
        })))
    })
    .await?;
    match outcome {
        Guarded::Done(Some(page)) => {
            render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
        }
        Guarded::Done(None) => Ok(not_found()),
        _ => Ok(to_login(req.uri().path())),
    }
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf_token: String,
}

/// The usager page an autorisation or mandate belongs to, within the organisation.
fn usager_page_of_mandate(
    conn: &mut store::DbConnection,
    organisation_id: &OrganisationId,
    mandate_id: &MandateId,
) -> Result<Option<String>, WebError> {
    Ok(
        mandate::mandate_of_organisation(conn, organisation_id, mandate_id)?
            .map(|m| format!("/espace-aidant/usagers/{}", m.usager_id)),
    )
}

/// POST /espace-aidant/autorisations/{id}/revoquer.
pub(crate) async fn revoke_autorisation(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let autorisation_id = AutorisationId::from(path.into_inner());
    let outcome = guarded(&req, &state, move |conn, state, now, signed| {
        let Some(mandate_id) =
            mandate::autorisation_mandate(conn, &signed.organisation.id, &autorisation_id)?
        else {
            return Ok(Guarded::Done(None));
        };
        let back =
            usager_page_of_mandate(conn, &signed.organisation.id, &MandateId::from(mandate_id))?;
        let Some(verified) = signed.verified(state, now) else {
            return Ok(match back {
                Some(_) => Guarded::Recheck,
                None => Guarded::Done(None),
            });
        };
        mandate::revoke_autorisation(conn, &state.rng, now, &verified, &autorisation_id)?;
        Ok(Guarded::Done(back))
    })
    .await?;
    let referer = req
        .headers()
        .get(actix_web::http::header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|| crate::account::HOME.to_owned());
    match outcome {
        Guarded::Done(Some(back)) => Ok(see_other(&back)),
        Guarded::Done(None) => Ok(not_found()),
        Guarded::Recheck => Ok(to_recheck(&referer)),
        Guarded::Login => Ok(to_login(&referer)),
    }
}

#[derive(Template)]
#[template(path = "revoke_confirm.html")]
struct RevokeConfirmPage {
    csrf: String,
    mandate_id: MandateId,
    usager_id: UsagerId,
    usager_name: String,
    demarches: String,
    until: String,
}

/// GET /espace-aidant/mandats/{id}/revoquer: the confirmation.
pub(crate) async fn revoke_mandate_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let mandate_id = MandateId::from(path.into_inner());
    let csrf = CsrfToken::for_request(&req, &state)?;
    let csrf_value = csrf.value.clone();
    let outcome = guarded(&req, &state, move |conn, _, _, signed| {
        let Some(m) = mandate::mandate_of_organisation(conn, &signed.organisation.id, &mandate_id)?
        else {
            return Ok(Guarded::Done(None));
        };
        if m.revoked_at.is_some() {
            return Ok(Guarded::Done(Some(Err(format!(
                "/espace-aidant/usagers/{}",
                m.usager_id
            )))));
        }
        let usager = mandate::usager(conn, &m.usager_id)?;
        let demarches = mandate::autorisations_of_mandate(conn, &m.id)?
            .into_iter()
            .filter(|a| a.revoked_at.is_none())
            .filter_map(|a| mandate::Demarche::parse(&a.demarche).ok())
            .map(|d| d.title())
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Guarded::Done(Some(Ok(RevokeConfirmPage {
            csrf: csrf_value,
            usager_name: usager.map(|u| u.display_name()).unwrap_or_default(),
            usager_id: m.usager_id,
            until: date_time(m.expires_at),
            mandate_id: m.id,
            demarches,
        }))))
    })
    .await?;
    match outcome {
        Guarded::Done(Some(Ok(page))) => {
            render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
        }
        Guarded::Done(Some(Err(back))) => Ok(see_other(&back)),
        Guarded::Done(None) => Ok(not_found()),
        _ => Ok(to_login(req.uri().path())),
    }
}

/// POST /espace-aidant/mandats/{id}/revoquer: revokes the whole mandate; shows the revocation
/// attestation.
pub(crate) async fn revoke_mandate(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let mandate_id = MandateId::from(path.into_inner());
    let here = req.uri().path().to_owned();
    let outcome = guarded(&req, &state, move |conn, state, now, signed| {
        if mandate::mandate_of_organisation(conn, &signed.organisation.id, &mandate_id)?.is_none() {
            return Ok(Guarded::Done(None));
        }
        let Some(verified) = signed.verified(state, now) else {
            return Ok(Guarded::Recheck);
        };
        let attestation = mandate::revoke_mandate(
            conn,
            &state.rng,
            now,
            &state.attestation_key,
            &signed.parties(),
            &verified,
            &mandate_id,
        )?;
        Ok(Guarded::Done(Some(attestation.id)))
    })
    .await?;
    match outcome {
        Guarded::Done(Some(attestation)) => Ok(see_other(&format!("/attestations/{attestation}"))),
        Guarded::Done(None) => Ok(not_found()),
        Guarded::Recheck => Ok(to_recheck(&here)),
        Guarded::Login => Ok(to_login(&here)),
    }
}

/// POST /espace-aidant/mandats/{id}/sms: sends the consent request of a remote mandate again.
pub(crate) async fn resend_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let mandate_id = MandateId::from(path.into_inner());
    let outcome = guarded(&req, &state, move |conn, state, now, signed| {
        let Some(m) = mandate::mandate_of_organisation(conn, &signed.organisation.id, &mandate_id)?
        else {
            return Ok(Guarded::Done(None));
        };
        let Some(verified) = signed.verified(state, now) else {
            return Ok(Guarded::Recheck);
        };
        Ok(Guarded::Done(Some((m, signed.organisation.name, verified))))
    })
    .await?;
    match outcome {
        Guarded::Done(Some((m, organisation_name, verified))) => {
            let csrf = CsrfToken::for_request(&req, &state)?.value;
            crate::wizard::request_consent(&state, &m, &organisation_name, &verified, csrf).await
        }
        Guarded::Done(None) => Ok(not_found()),
        Guarded::Recheck => Ok(to_recheck(crate::account::HOME)),
        Guarded::Login => Ok(to_login(crate::account::HOME)),
    }
}

#[derive(Deserialize)]
pub(crate) struct SwitchForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    structure: String,
}

/// POST /espace-aidant/organisation: work for another of the aidant's organisations.
pub(crate) async fn switch_organisation(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SwitchForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let target = form.into_inner().structure;
    let outcome = guarded(&req, &state, move |conn, _, _, signed| {
        Ok(Guarded::Done(
            authenticator::switch_organisation(
                conn,
                &signed.session,
                &OrganisationId::from(target),
            )?
            .is_some(),
        ))
    })
    .await?;
    match outcome {
        Guarded::Done(true) => Ok(see_other("/espace-aidant")),
        Guarded::Done(false) => Ok(not_found()),
        _ => Ok(to_login("/espace-aidant")),
    }
}
