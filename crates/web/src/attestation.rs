//! Attestations: the printable page of a mandate or revocation attestation (for the aidants of
//! its organisation), with a QR code to the public verification page, which says whether a
//! paper attestation is genuine without revealing the usager.

use crate::account::{guarded, to_login, Guarded};
use crate::espace::{birthdate, date, date_time};
use crate::pages::{error_page, render};
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use mandate::{AttestationKind, Verification};
use serde::Deserialize;
use store::{Timestamp, UsagerId};

#[derive(Template)]
#[template(path = "attestation.html")]
struct AttestationPage {
    /// Read by the usager, in their space (otherwise by an aidant of the structure).
    own: bool,
    revocation: bool,
    /// The usager revoked the mandate themselves.
    by_usager: bool,
    /// And has just done it (the page that follows their confirmation).
    just_revoked: bool,
    /// For a transfer attestation: the structure the mandate was made in, and when it moved.
    transferred_from: Option<String>,
    id: String,
    fingerprint: String,
    organisation_name: String,
    siret: String,
    address: String,
    aidant_name: String,
    usager_name: String,
    given_name: String,
    family_name: String,
    preferred_username: String,
    birthdate: String,
    birthplace: String,
    demarches: Vec<(&'static str, &'static str)>,
    duration: &'static str,
    created: String,
    until: String,
    revoked: String,
    remote: bool,
    awaiting_consent: bool,
    consent_statement: String,
    /// The mandate's text the mandate was made under: its version, first day and articles
    /// (none for a mandate made before versioning: its consent statement is its text).
    text: Option<(u32, String, Vec<&'static str>)>,
    issued: String,
    verify_url: String,
    space_url: String,
    qr_svg: String,
    usager_id: UsagerId,
    intact: bool,
}

fn parse_time(text: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).into())
}

/// A QR code as an SVG data URI.
pub(crate) fn qr_data_uri(text: &str) -> Result<String, WebError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| WebError::Qr(e.to_string()))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(180, 180)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(svg)
    ))
}

/// The verification address printed on an attestation.
fn verify_url(issuer: &str, id: &str, fingerprint: &str) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id", id)
        .append_pair("empreinte", fingerprint)
        .finish();
    format!(
        "{}/attestations/verifier?{query}",
        issuer.trim_end_matches('/')
    )
}

/// GET /attestations/{id}: printable, for the aidants of the organisation.
pub(crate) async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let here = format!("/attestations/{id}");
    let outcome = guarded(&req, &state, move |conn, state, now, signed| {
        let Some(attestation) = mandate::attestation(conn, &id)? else {
            return Ok(Guarded::Done(None));
        };
        let Some(m) = mandate::mandate_of_organisation(
            conn,
            &signed.organisation.id,
            &attestation.mandate_id,
        )?
        else {
            return Ok(Guarded::Done(None));
        };
        Ok(Guarded::Done(Some(page(
            conn,
            state,
            now,
            &attestation,
            m,
            false,
        )?)))
    })
    .await?;
    match outcome {
        Guarded::Done(Some(page)) => render(StatusCode::OK, &page, None, state.secure_cookies),
        Guarded::Done(None) => Ok(error_page(
            StatusCode::NOT_FOUND,
            "Attestation introuvable",
            "Cette attestation n'existe pas ou ne dépend pas de votre structure.",
        )),
        _ => Ok(to_login(&here)),
    }
}

#[derive(Deserialize)]
pub(crate) struct OwnQuery {
    /// `1` right after the usager revoked the mandate.
    #[serde(default)]
    annule: String,
}

/// GET /mon-espace/attestations/{id}: printable, for the usager it names, in their space.
pub(crate) async fn own(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<OwnQuery>,
) -> Result<HttpResponse, WebError> {
    let Some(session) = crate::espace_usager::session(&req, &state).await? else {
        return Ok(crate::interaction::see_other(crate::espace_usager::HOME));
    };
    let id = path.into_inner();
    let now = state.clock.now();
    let found = with_db(&state, move |conn, state| match espace_usager::attestation(
        conn, &session, &id,
    )? {
        Some((attestation, m)) => Ok(Some(page(conn, state, now, &attestation, m, true)?)),
        None => Ok(None),
    })
    .await?;
    match found {
        Some(mut page) => {
            page.just_revoked = page.by_usager && query.annule == "1";
            render(StatusCode::OK, &page, None, state.secure_cookies)
        }
        None => Ok(error_page(
            StatusCode::NOT_FOUND,
            "Attestation introuvable",
            "Cette attestation n'existe pas, ou elle n'est pas à votre nom.",
        )),
    }
}

/// The printable page of `attestation`, of the mandate `m`.
fn page(
    conn: &mut store::DbConnection,
    state: &AppState,
    now: Timestamp,
    attestation: &mandate::Attestation,
    m: mandate::Mandate,
    own: bool,
) -> Result<AttestationPage, WebError> {
    let intact = matches!(
        mandate::verify_attestation(
            conn,
            &state.attestation_key,
            &attestation.id,
            &attestation.fingerprint,
            now
        )?,
        Verification::Genuine(_)
    );
    let content = attestation.parsed()?;
    let url = verify_url(
        state.provider.issuer(),
        &attestation.id,
        &attestation.fingerprint,
    );
    let u = &content.usager;
    Ok(AttestationPage {
        own,
        revocation: attestation.kind == AttestationKind::Revocation,
        by_usager: content.revoked_by_usager,
        just_revoked: false,
        transferred_from: content.transferred_from.as_ref().map(|from| {
            format!(
                "{} (SIRET {}), le {}",
                from.organisation_name,
                from.siret,
                date_time(attestation.created_at)
            )
        }),
        qr_svg: qr_data_uri(&url)?,
        verify_url: url,
        space_url: format!(
            "{}{}",
            state.provider.issuer().trim_end_matches('/'),
            crate::espace_usager::HOME
        ),
        id: attestation.id.clone(),
        fingerprint: attestation.fingerprint.clone(),
        organisation_name: content.organisation_name.clone(),
        siret: content.siret.clone(),
        address: content.address.clone(),
        aidant_name: content.aidant_name.clone(),
        usager_name: identity::display_name(&u.given_name, &u.family_name, &u.preferred_username),
        given_name: u.given_name.clone(),
        family_name: u.family_name.clone(),
        preferred_username: u.preferred_username.clone(),
        birthdate: birthdate(&u.birthdate),
        birthplace: places::place_of_birth(&u.birthplace, &u.birthcountry),
        demarches: content
            .demarches()
            .into_iter()
            .map(|d| (d.title(), d.description()))
            .collect(),
        duration: mandate::MandateDuration::parse(&content.duration)
            .map(|d| d.label())
            .unwrap_or("durée inconnue"),
        created: parse_time(&content.created_at)
            .map(date_time)
            .unwrap_or_default(),
        until: parse_time(&content.expires_at)
            .map(date_time)
            .unwrap_or_default(),
        revoked: content
            .revoked_at
            .as_deref()
            .and_then(parse_time)
            .map(date_time)
            .unwrap_or_default(),
        remote: content.is_remote,
        awaiting_consent: m.is_remote && m.consent_received_at.is_none() && m.revoked_at.is_none(),
        consent_statement: content.consent_statement.clone(),
        text: content
            .mandate_text
            .and_then(|v| state.mandate_texts.version(v))
            .map(|t| {
                (
                    t.version,
                    t.applies_from.format("%d/%m/%Y").to_string(),
                    t.articles().collect(),
                )
            }),
        issued: date_time(attestation.created_at),
        usager_id: m.usager_id,
        intact,
    })
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    id: String,
    fingerprint: String,
    verdict: &'static str,
    revocation: bool,
    organisation_name: String,
    created: String,
    until: String,
    demarches: Vec<&'static str>,
    issued: String,
    status_now: &'static str,
    transferred_to: Option<String>,
    erased: bool,
}

#[derive(Deserialize)]
pub(crate) struct VerifyQuery {
    #[serde(default)]
    id: String,
    #[serde(default)]
    empreinte: String,
}

/// GET /attestations/verifier?id=…&empreinte=…: public.
pub(crate) async fn verify(
    state: web::Data<AppState>,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, WebError> {
    let VerifyQuery { id, empreinte } = query.into_inner();
    let id: String = id.trim().chars().take(100).collect();
    let fingerprint: String = empreinte.trim().chars().take(100).collect();
    let mut page = VerifyPage {
        id: id.clone(),
        fingerprint: fingerprint.clone(),
        verdict: "",
        revocation: false,
        organisation_name: String::new(),
        created: String::new(),
        until: String::new(),
        demarches: Vec::new(),
        issued: String::new(),
        status_now: "",
        transferred_to: None,
        erased: false,
    };
    if id.is_empty() || fingerprint.is_empty() {
        return render(StatusCode::OK, &page, None, state.secure_cookies);
    }
    let now = state.clock.now();
    let verification = with_db(&state, move |conn, state| {
        Ok(mandate::verify_attestation(
            conn,
            &state.attestation_key,
            &id,
            &fingerprint,
            now,
        )?)
    })
    .await?;
    match verification {
        Verification::Genuine(summary) => {
            page.verdict = "authentique";
            page.revocation = summary.kind == AttestationKind::Revocation;
            page.organisation_name = summary.organisation_name;
            page.created = date(summary.created_at);
            page.until = date(summary.expires_at);
            page.demarches = summary.demarches.iter().map(|d| d.title()).collect();
            page.issued = date_time(summary.issued_at);
            page.transferred_to = summary.transferred_to;
            page.erased = summary.erased;
            page.status_now = if summary.revoked_now {
                "révoqué"
            } else if summary.usable_now {
                "en cours de validité"
            } else if summary.expires_at <= now {
                "expiré"
            } else {
                "en attente du consentement de l'usager"
            };
        }
        Verification::Altered => page.verdict = "alteree",
        Verification::Unknown => page.verdict = "inconnue",
    }
    render(StatusCode::OK, &page, None, state.secure_cookies)
}
