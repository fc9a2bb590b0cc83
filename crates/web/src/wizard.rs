//! The new-mandate wizard: démarches, duration and mode (usager present, or remote with SMS
//! consent) → the usager identifies through FranceConnect → FranceConnect logout → recap and
//! consent → one transaction writes everything → the attestation. Renewal is the same wizard
//! started from an existing mandate.

use crate::account::{guarded, local_path, to_login, to_recheck, Guarded, Signed};
use crate::csrf::{self, CsrfToken};
use crate::espace::date_time;
use crate::interaction::see_other;
use crate::pages::{csrf_refused, error_page, render};
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::VerifiedAidant;
use chrono::Duration;
use franceconnect::FranceConnectError;
use mandate::{Demarche, DraftError, MandateDuration, MandateError};
use serde::Deserialize;
use store::{MandateId, Timestamp, UsagerId};

/// How long the aidant has between the first page and the confirmation.
const DRAFT_LIFETIME_MINUTES: i64 = 30;

struct DemarcheChoice {
    id: &'static str,
    title: &'static str,
    description: &'static str,
    checked: bool,
}

struct DurationChoice {
    id: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "new_mandate.html")]
struct NewMandatePage {
    csrf: String,
    renew: Option<(String, String)>,
    demarches: Vec<DemarcheChoice>,
    durations: Vec<DurationChoice>,
    remote: bool,
    phone: String,
    error_demarches: Option<String>,
    error_duration: Option<String>,
    error_phone: Option<String>,
}

/// What the first page holds, typed or not yet valid.
#[derive(Default)]
struct Choices {
    demarches: Vec<Demarche>,
    duration: Option<MandateDuration>,
    remote: bool,
    phone: String,
    renew: Option<String>,
    /// « Toutes les démarches » was ticked.
    all: bool,
    /// The draft mandate is asked for, to print (before the usager identifies).
    print: bool,
}

impl Choices {
    /// Keeps the démarches the structure may do: all of them for « toutes les démarches »;
    /// returns those chosen outside it otherwise.
    fn within(&mut self, allowed: &[Demarche]) -> Vec<Demarche> {
        if self.all {
            self.demarches.retain(|d| allowed.contains(d));
            return Vec::new();
        }
        self.demarches
            .iter()
            .filter(|d| !allowed.contains(d))
            .copied()
            .collect()
    }

    fn parse(body: &[u8]) -> (String, Choices) {
        let mut csrf_token = String::new();
        let mut choices = Choices::default();
        let mut all = false;
        for (key, value) in url::form_urlencoded::parse(body) {
            match key.as_ref() {
                "csrf_token" => csrf_token = value.into_owned(),
                "demarche" => {
                    if let Ok(d) = Demarche::parse(&value) {
                        if !choices.demarches.contains(&d) {
                            choices.demarches.push(d);
                        }
                    }
                }
                "toutes" => all = true,
                "duree" => choices.duration = MandateDuration::parse(&value).ok(),
                "mode" => choices.remote = value == "distance",
                "telephone" => choices.phone = value.chars().take(30).collect(),
                "renouveler" if !value.is_empty() => choices.renew = Some(value.into_owned()),
                "action" => choices.print = value == "projet",
                _ => {}
            }
        }
        if all {
            choices.all = true;
            choices.demarches = Demarche::ALL.to_vec();
        }
        choices
            .demarches
            .sort_by_key(|d| Demarche::ALL.iter().position(|x| x == d));
        (csrf_token, choices)
    }

    fn page(
        &self,
        csrf: String,
        renew: Option<(String, String)>,
        allowed: &[Demarche],
        errors: [Option<String>; 3],
    ) -> NewMandatePage {
        let [error_demarches, error_duration, error_phone] = errors;
        NewMandatePage {
            csrf,
            renew,
            demarches: allowed
                .iter()
                .map(|d| DemarcheChoice {
                    id: d.id(),
                    title: d.title(),
                    description: d.description(),
                    checked: self.demarches.contains(d),
                })
                .collect(),
            durations: MandateDuration::ALL
                .iter()
                .map(|d| DurationChoice {
                    id: d.as_str(),
                    label: d.label(),
                    checked: self.duration == Some(*d),
                })
                .collect(),
            remote: self.remote,
            phone: self.phone.clone(),
            error_demarches,
            error_duration,
            error_phone,
        }
    }
}

fn wizard_path(renew: Option<&str>) -> String {
    match renew {
        Some(id) => format!("/mandats/nouveau?renouveler={id}"),
        None => "/mandats/nouveau".to_owned(),
    }
}

/// The renewed mandate's id and usager name, if it belongs to the organisation.
fn renewed(
    conn: &mut store::DbConnection,
    signed: &Signed,
    id: Option<&str>,
) -> Result<Option<Option<(String, String)>>, WebError> {
    let Some(id) = id else { return Ok(Some(None)) };
    let Some(m) =
        mandate::mandate_of_organisation(conn, &signed.organisation.id, &MandateId::from(id))?
    else {
        return Ok(None);
    };
    let name = mandate::usager(conn, &m.usager_id)?
        .map(|u| u.display_name())
        .unwrap_or_default();
    Ok(Some(Some((m.id.into(), name))))
}

fn unknown_mandate() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Mandat introuvable",
        "Ce mandat n'existe pas ou ne dépend pas de votre structure.",
    )
}

#[derive(Deserialize)]
pub(crate) struct NewQuery {
    #[serde(default)]
    renouveler: Option<String>,
}

/// GET /mandats/nouveau[?renouveler=ID].
pub(crate) async fn new_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NewQuery>,
) -> Result<HttpResponse, WebError> {
    let renew = query.into_inner().renouveler.filter(|r| !r.is_empty());
    let csrf = CsrfToken::for_request(&req, &state)?;
    let csrf_value = csrf.value.clone();
    let renew_id = renew.clone();
    let outcome = guarded(&req, &state, move |conn, _, _, signed| {
        let Some(renew) = renewed(conn, &signed, renew_id.as_deref())? else {
            return Ok(Guarded::Done(None));
        };
        let allowed = mandate::allowed_demarches(conn, &signed.organisation.id)?;
        let mut choices = Choices {
            duration: Some(MandateDuration::Long),
            ..Choices::default()
        };
        if let Some((id, _)) = &renew {
            choices.demarches = mandate::autorisations_of_mandate(conn, &MandateId::from(id))?
                .into_iter()
                .filter(|a| a.revoked_at.is_none())
                .filter_map(|a| Demarche::parse(&a.demarche).ok())
                .filter(|d| allowed.contains(d))
                .collect();
        }
        Ok(Guarded::Done(Some(choices.page(
            csrf_value,
            renew,
            &allowed,
            [None, None, None],
        ))))
    })
    .await?;
    match outcome {
        Guarded::Done(Some(page)) => {
            render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
        }
        Guarded::Done(None) => Ok(unknown_mandate()),
        _ => Ok(to_login(&wizard_path(renew.as_deref()))),
    }
}

fn franceconnect_unavailable(error: &FranceConnectError) -> HttpResponse {
    tracing::warn!(error = %error, "FranceConnect request failed");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "FranceConnect est momentanément indisponible",
        "L'identification de l'usager par FranceConnect n'a pas pu commencer. Aucun mandat n'a été créé. Réessayez dans quelques minutes.",
    )
}

#[derive(Template)]
#[template(path = "mandate_draft.html")]
struct DraftPrintPage {
    organisation_name: String,
    siret: String,
    address: String,
    aidant_name: String,
    terms: Terms,
}

/// What a mandate about to be made says, as the draft and the recap show it: its démarches
/// (title, description), duration, end if made now, how consent is given, and the mandate's
/// text in force (version, articles).
struct Terms {
    demarches: Vec<(&'static str, &'static str)>,
    duration: &'static str,
    until: String,
    remote: bool,
    phone: String,
    text_version: u32,
    articles: Vec<&'static str>,
}

impl Terms {
    fn new(
        demarches: &[Demarche],
        duration: MandateDuration,
        remote: bool,
        phone: &str,
        text: &mandate::MandateText,
        now: Timestamp,
    ) -> Terms {
        Terms {
            demarches: demarches
                .iter()
                .map(|d| (d.title(), d.description()))
                .collect(),
            duration: duration.label(),
            until: date_time(duration.expires_at(now)),
            remote,
            phone: sms::masked(phone),
            text_version: text.version,
            articles: text.articles().collect(),
        }
    }
}

/// The draft mandate of `choices`, to print and read with the usager before they identify:
/// the structure, the aidant, the démarches, the duration and the mandate's text in force,
/// the usager's identity left to FranceConnect. Nothing is written.
fn draft_print(
    state: &AppState,
    choices: &Choices,
    parties: &mandate::Parties,
    phone: Option<String>,
) -> Result<HttpResponse, WebError> {
    let now = state.clock.now();
    let text = crate::mandate_text(state, now)?;
    let Some(duration) = choices.duration else {
        return Ok(error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Durée manquante",
            "Choisissez la durée du mandat.",
        ));
    };
    let page = DraftPrintPage {
        organisation_name: parties.organisation_name.clone(),
        siret: parties.siret.clone(),
        address: parties.address.clone(),
        aidant_name: parties.aidant_name.clone(),
        terms: Terms::new(
            &choices.demarches,
            duration,
            choices.remote,
            phone.as_deref().unwrap_or_default(),
            text,
            now,
        ),
    };
    render(StatusCode::OK, &page, None, state.secure_cookies)
}

/// POST /mandats/nouveau: checks the choices, then sends the usager to FranceConnect.
pub(crate) async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let (csrf_token, mut choices) = Choices::parse(&body);
    if !csrf::is_valid(&req, &state, &csrf_token) {
        return Ok(csrf_refused());
    }
    let phone = choices
        .remote
        .then(|| mandate::normalise_mobile(&choices.phone));
    let back = wizard_path(choices.renew.as_deref());
    let renew_id = choices.renew.clone();
    let check = guarded(&req, &state, move |conn, state, now, signed| {
        let Some(renew) = renewed(conn, &signed, renew_id.as_deref())? else {
            return Ok(Guarded::Done(None));
        };
        let Some(verified) = signed.verified(state, now) else {
            return Ok(Guarded::Recheck);
        };
        let allowed = mandate::allowed_demarches(conn, verified.organisation_id())?;
        Ok(Guarded::Done(Some((
            renew,
            verified,
            allowed,
            signed.parties(),
        ))))
    })
    .await?;
    let (renew, verified, allowed, parties) = match check {
        Guarded::Done(Some(found)) => found,
        Guarded::Done(None) => return Ok(unknown_mandate()),
        Guarded::Recheck => return Ok(to_recheck(&back)),
        Guarded::Login => return Ok(to_login(&back)),
    };
    let outside = choices.within(&allowed);
    let errors = [
        if !outside.is_empty() {
            Some(format!(
                "Votre structure n'est pas habilitée pour : {}. Choisissez parmi les démarches proposées.",
                outside.iter().map(|d| d.title()).collect::<Vec<_>>().join(", ")
            ))
        } else {
            choices
                .demarches
                .is_empty()
                .then(|| "Choisissez au moins une démarche.".to_owned())
        },
        choices
            .duration
            .is_none()
            .then(|| "Choisissez la durée du mandat.".to_owned()),
        matches!(phone, Some(None)).then(|| {
            "Saisissez le numéro de téléphone portable de l'usager, par exemple 06 12 34 56 78."
                .to_owned()
        }),
    ];
    if errors.iter().any(Option::is_some) {
        let csrf = CsrfToken::for_request(&req, &state)?;
        let page = choices.page(csrf.value.clone(), renew, &allowed, errors);
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page,
            Some(&csrf),
            state.secure_cookies,
        );
    }
    if choices.print {
        return draft_print(&state, &choices, &parties, phone.flatten());
    }
    let request = match state.franceconnect.authorization_request(&state.rng).await {
        Ok(request) => request,
        Err(e) => return Ok(franceconnect_unavailable(&e)),
    };
    let now = state.clock.now();
    let url = request.url.clone();
    with_db(&state, move |conn, state| {
        let phone = phone.flatten();
        mandate::create_draft(
            conn,
            &state.rng,
            now,
            &verified,
            mandate::NewDraft {
                demarches: &choices.demarches,
                duration: choices.duration.unwrap_or(MandateDuration::Long),
                remote_phone: phone.as_deref(),
                renews: choices.renew.as_deref(),
                state: &request.state,
                nonce: &request.nonce,
                lifetime: Duration::minutes(DRAFT_LIFETIME_MINUTES),
            },
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, url))
        .finish())
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

fn identification_failed(status: StatusCode, message: &str) -> HttpResponse {
    error_page(
        status,
        "L'identification de l'usager n'a pas abouti",
        &format!("{message} Aucun mandat n'a été créé : recommencez depuis votre espace aidant."),
    )
}

/// GET /fc/callback: FranceConnect's answer.
pub(crate) async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, WebError> {
    let query = query.into_inner();
    // A sign-in to the usager's own space, rather than a mandate's creation.
    let browser = crate::cookies::Jar::UsagerLogin.read(&req, &state);
    let (now, flow_state, for_browser) = (state.clock.now(), query.state.clone(), browser.clone());
    let login = with_db(&state, move |conn, _| {
        Ok(espace_usager::login_of(
            conn,
            now,
            &flow_state,
            for_browser.as_deref(),
        )?)
    })
    .await?;
    match (login, browser) {
        (Some(espace_usager::Login::Waiting(nonce)), Some(browser)) => {
            return crate::espace_usager::fc_answer(
                state,
                query.code,
                query.state,
                query.error,
                browser,
                nonce,
            )
            .await;
        }
        (Some(_), _) => return Ok(crate::espace_usager::login_over()),
        (None, _) => {}
    }
    let flow_state = query.state.clone();
    let found = guarded(&req, &state, move |conn, _, now, signed| {
        Ok(Guarded::Done(mandate::draft_by_state(
            conn,
            &signed.aidant.id,
            &flow_state,
            now,
        )?))
    })
    .await?;
    let draft = match found {
        Guarded::Done(Some(draft)) => draft,
        Guarded::Done(None) => {
            return Ok(identification_failed(
                StatusCode::BAD_REQUEST,
                "Cette réponse de FranceConnect ne correspond à aucune création de mandat en cours (lien expiré, déjà utilisé ou ouvert dans un autre navigateur).",
            ))
        }
        _ => return Ok(to_login(crate::account::HOME)),
    };
    if let Some(error) = query.error {
        tracing::info!(error = %error, "FranceConnect returned an error");
        let message = if error == "access_denied" {
            "L'usager a annulé son identification FranceConnect.".to_owned()
        } else {
            format!(
                "FranceConnect a répondu par une erreur ({error}{}).",
                query
                    .error_description
                    .map(|d| format!(" : {d}"))
                    .unwrap_or_default()
            )
        };
        return Ok(identification_failed(StatusCode::BAD_REQUEST, &message));
    }
    let now = state.clock.now();
    let identification = match state
        .franceconnect
        .identify(&query.code, &draft.fc_nonce, now.into())
        .await
    {
        Ok(identification) => identification,
        Err(e) => {
            tracing::warn!(error = %e, "FranceConnect identification refused");
            let (status, message) = match &e {
                FranceConnectError::Unavailable(_) | FranceConnectError::Token(_) => (
                    StatusCode::BAD_GATEWAY,
                    "FranceConnect n'a pas pu confirmer l'identité de l'usager.",
                ),
                _ => (
                    StatusCode::BAD_GATEWAY,
                    "La réponse de FranceConnect n'a pas pu être vérifiée : par sécurité, elle a été refusée.",
                ),
            };
            return Ok(identification_failed(status, message));
        }
    };
    let draft_id = draft.id.clone();
    let recorded = with_db(&state, move |conn, _| match mandate::record_identification(
        conn,
        &draft,
        &identification.sub,
        &identification.pivot,
    ) {
        Ok(()) => Ok(Ok(identification.id_token)),
        Err(MandateError::Draft(e)) => Ok(Err(e)),
        Err(e) => Err(e.into()),
    })
    .await?;
    let id_token = match recorded {
        Ok(id_token) => id_token,
        Err(DraftError::NotTheSameUsager) => return Ok(identification_failed(
            StatusCode::CONFLICT,
            "La personne identifiée par FranceConnect n'est pas l'usager du mandat à renouveler.",
        )),
        Err(_) => {
            return Ok(identification_failed(
                StatusCode::GONE,
                "Cette création de mandat a expiré.",
            ))
        }
    };
    let recap = format!("/mandats/nouveau/{draft_id}");
    match state.franceconnect.logout_url(&id_token, &draft_id).await {
        Ok(Some(url)) => Ok(see_other(&url)),
        _ => Ok(see_other(&recap)),
    }
}

#[derive(Deserialize)]
pub(crate) struct LogoutQuery {
    #[serde(default)]
    state: String,
}

/// GET /fc/deconnexion: back from the FranceConnect logout, on to the recap.
pub(crate) async fn after_logout(query: web::Query<LogoutQuery>) -> HttpResponse {
    let id = &query.state;
    if id == crate::espace_usager::LOGOUT_STATE {
        return see_other(&format!("{}?revoir=1", crate::espace_usager::HOME));
    }
    if id == crate::espace_usager::UNKNOWN_STATE {
        return see_other(&format!("{}?inconnu=1", crate::espace_usager::HOME));
    }
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        see_other(&local_path(&format!("/mandats/nouveau/{id}")))
    } else {
        see_other(crate::account::HOME)
    }
}

#[derive(Template)]
#[template(path = "recap.html")]
struct RecapPage {
    csrf: String,
    id: String,
    renewal: bool,
    given_name: String,
    family_name: String,
    preferred_username: String,
    birthdate: String,
    birthplace: String,
    terms: Terms,
    error: Option<String>,
}

enum RecapOutcome {
    Page(Box<RecapPage>),
    Attestation(String),
    Restart,
    Expired,
}

fn draft_expired() -> HttpResponse {
    error_page(
        StatusCode::GONE,
        "Création de mandat expirée",
        "Cette création de mandat a expiré ou n'existe pas. Aucun mandat n'a été créé : recommencez depuis votre espace aidant.",
    )
}

fn recap_outcome(
    conn: &mut store::DbConnection,
    signed: &Signed,
    now: Timestamp,
    id: &str,
    csrf: String,
    error: Option<String>,
    text: &mandate::MandateText,
) -> Result<RecapOutcome, WebError> {
    let Some(draft) = mandate::draft(conn, &signed.aidant.id, id, now)? else {
        return Ok(RecapOutcome::Expired);
    };
    if let Some(mandate_id) = &draft.mandate_id {
        return Ok(attestation_of(conn, mandate_id)?
            .map(RecapOutcome::Attestation)
            .unwrap_or(RecapOutcome::Expired));
    }
    let Some(pivot) = draft.identite()? else {
        return Ok(RecapOutcome::Restart);
    };
    let terms = Terms::new(
        &draft.demarches()?,
        draft.duration,
        draft.is_remote,
        &draft.phone,
        text,
        now,
    );
    Ok(RecapOutcome::Page(Box::new(RecapPage {
        csrf,
        id: draft.id.clone(),
        renewal: draft.renews.is_some(),
        given_name: pivot.given_name.clone(),
        family_name: pivot.family_name.clone(),
        preferred_username: pivot.preferred_username.clone(),
        birthdate: pivot.birthdate.display_fr(),
        birthplace: places::place_of_birth(&pivot.birthplace, &pivot.birthcountry),
        terms,
        error,
    })))
}

fn attestation_of(
    conn: &mut store::DbConnection,
    mandate_id: &MandateId,
) -> Result<Option<String>, WebError> {
    Ok(mandate::attestations_of_mandate(conn, mandate_id)?
        .into_iter()
        .find(|a| a.kind == mandate::AttestationKind::Mandat)
        .map(|a| format!("/attestations/{}", a.id)))
}

async fn show_recap(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    id: String,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(req, state)?;
    let csrf_value = csrf.value.clone();
    let here = format!("/mandats/nouveau/{id}");
    let outcome = guarded(req, state, move |conn, state, now, signed| {
        let text = crate::mandate_text(state, now)?;
        Ok(Guarded::Done(recap_outcome(
            conn, &signed, now, &id, csrf_value, error, text,
        )?))
    })
    .await?;
    match outcome {
        Guarded::Done(RecapOutcome::Page(page)) => {
            render(status, page.as_ref(), Some(&csrf), state.secure_cookies)
        }
        Guarded::Done(RecapOutcome::Attestation(path)) => Ok(see_other(&path)),
        Guarded::Done(RecapOutcome::Restart) => Ok(see_other("/mandats/nouveau")),
        Guarded::Done(RecapOutcome::Expired) => Ok(draft_expired()),
        _ => Ok(to_login(&here)),
    }
}

/// GET /mandats/nouveau/{id}: the recap.
pub(crate) async fn recap(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    show_recap(&req, &state, path.into_inner(), StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(crate) struct ConfirmForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    consentement: String,
    /// The version of the mandate's text the recap showed.
    #[serde(default)]
    texte: String,
}

enum Confirmation {
    Created(Box<mandate::Confirmed>, String, VerifiedAidant),
    AlreadyDone(String),
    Expired,
    Restart,
    TextChanged,
}

/// POST /mandats/nouveau/{id}: the aidant confirms with the usager's consent.
pub(crate) async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let here = format!("/mandats/nouveau/{id}");
    if form.consentement != "oui" {
        return show_recap(
            &req,
            &state,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Cochez la case confirmant que l'usager a lu et accepté le mandat.".into()),
        )
        .await;
    }
    // A version the recap did not show (a forged or mangled form) is no version read.
    let read = form.texte.parse().unwrap_or(0);
    let draft_id = id.clone();
    let outcome = guarded(&req, &state, move |conn, state, now, signed| {
        let Some(verified) = signed.verified(state, now) else {
            return Ok(Guarded::Recheck);
        };
        let text = crate::mandate_text(state, now)?;
        let confirmed = mandate::confirm_draft(
            conn,
            &state.rng,
            now,
            &state.attestation_key,
            text,
            read,
            &signed.parties(),
            &verified,
            &draft_id,
        );
        Ok(Guarded::Done(match confirmed {
            Ok(c) => Confirmation::Created(Box::new(c), signed.organisation.name, verified),
            Err(MandateError::Draft(DraftError::AlreadyConfirmed(m))) => Confirmation::AlreadyDone(
                attestation_of(conn, &MandateId::from(m))?
                    .unwrap_or_else(|| crate::account::HOME.to_owned()),
            ),
            Err(MandateError::Draft(DraftError::NotIdentified)) => Confirmation::Restart,
            Err(MandateError::Draft(DraftError::TextChanged)) => Confirmation::TextChanged,
            Err(MandateError::Draft(_)) => Confirmation::Expired,
            Err(e) => return Err(e.into()),
        }))
    })
    .await?;
    match outcome {
        Guarded::Done(Confirmation::Created(confirmed, organisation_name, verified)) => {
            state.metrics.flow_completed("mandat");
            let attestation = format!("/attestations/{}", confirmed.attestation.id);
            if confirmed.mandate.is_remote {
                let csrf = CsrfToken::for_request(&req, &state)?.value;
                let sent = request_consent(
                    &state,
                    &confirmed.mandate,
                    &organisation_name,
                    &verified,
                    csrf,
                )
                .await?;
                if sent.status() != StatusCode::SEE_OTHER {
                    return Ok(sent);
                }
            }
            Ok(see_other(&attestation))
        }
        Guarded::Done(Confirmation::AlreadyDone(path)) => Ok(see_other(&path)),
        Guarded::Done(Confirmation::Restart) => Ok(see_other("/mandats/nouveau")),
        Guarded::Done(Confirmation::Expired) => Ok(draft_expired()),
        Guarded::Done(Confirmation::TextChanged) => {
            show_recap(
                &req,
                &state,
                id,
                StatusCode::CONFLICT,
                Some("Le texte du mandat a changé : une nouvelle version s'applique depuis aujourd'hui. Relisez-la avec l'usager, puis cochez à nouveau la case.".into()),
            )
            .await
        }
        Guarded::Recheck => Ok(to_recheck(&here)),
        Guarded::Login => Ok(to_login(&here)),
    }
}

#[derive(Template)]
#[template(path = "sms_failed.html")]
struct SmsFailedPage {
    csrf: String,
    mandate_id: MandateId,
    usager_id: UsagerId,
}

/// Sends the consent request of a remote mandate and journals it; a redirect to the usager's
/// page when sent, a page offering to send it again otherwise (the mandate stays unusable).
pub(crate) async fn request_consent(
    state: &web::Data<AppState>,
    m: &mandate::Mandate,
    organisation_name: &str,
    who: &VerifiedAidant,
    csrf: String,
) -> Result<HttpResponse, WebError> {
    let usager_page = format!("/espace-aidant/usagers/{}", m.usager_id);
    let (Some(phone), true) = (
        m.consent_phone.clone(),
        m.is_remote && m.revoked_at.is_none(),
    ) else {
        return Ok(see_other(&usager_page));
    };
    let mandate_id = m.id.clone();
    let demarches = with_db(state, move |conn, _| {
        Ok(mandate::autorisations_of_mandate(conn, &mandate_id)?
            .into_iter()
            .filter_map(|a| Demarche::parse(&a.demarche).ok())
            .collect::<Vec<_>>())
    })
    .await?;
    let duration = m.duration;
    let text = mandate::consent_message(organisation_name, &demarches, duration);
    match state.sms.send(&phone, &text).await {
        Ok(()) => {
            let now = state.clock.now();
            let (mandate_id, who) = (m.id.clone(), who.clone());
            with_db(state, move |conn, state| {
                Ok(mandate::mark_consent_requested(
                    conn,
                    &state.rng,
                    now,
                    &who,
                    &mandate_id,
                )?)
            })
            .await?;
            Ok(see_other(&usager_page))
        }
        Err(e) => {
            tracing::warn!(error = %e, "consent SMS not sent");
            let now = state.clock.now();
            let (mandate_id, who, failure) = (m.id.clone(), who.clone(), e.to_string());
            with_db(state, move |conn, state| {
                Ok(mandate::record_consent_sms_failure(
                    conn,
                    &state.rng,
                    now,
                    &who,
                    &mandate_id,
                    &failure,
                    &state.national_team_email,
                )?)
            })
            .await?;
            let page = SmsFailedPage {
                csrf,
                mandate_id: m.id.clone(),
                usager_id: m.usager_id.clone(),
            };
            Ok(crate::pages::html_response(
                StatusCode::BAD_GATEWAY,
                page.render()?,
                None,
                state.secure_cookies,
            ))
        }
    }
}
