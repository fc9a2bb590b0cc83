//! The national team's back office at `/administration`: enrolment of a member's card through
//! their single-use link, sign-in with e-mail and code, the home page, sign-out, and the
//! association of a card with any aidant (how a new structure's first référent gets one). Its session
//! cookie is sent to `/administration` only; every form carries the CSRF token. The pages
//! extract the [`authenticator::StaffSession`] and decide nothing.

use crate::account::{after_failure_time, LoginForm};
use crate::attestation::qr_data_uri;
use crate::cookies::Jar;
use crate::csrf::{self, CsrfToken};
use crate::interaction::{see_other, sign_in_refusal};
use crate::pages::{csrf_refused, error_page, render, CsrfForm};
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::{EnrolmentRefusal, OtpRefusal, StaffSession};
use serde::Deserialize;

pub(crate) mod aidant_requests;
pub(crate) mod aidants;
pub(crate) mod cards;
pub(crate) mod exports;
pub(crate) mod habilitations;
pub(crate) mod journal;
pub(crate) mod structures;
pub(crate) mod trainings;
pub(crate) mod usagers;

/// The back office's home.
const HOME: &str = "/administration/";
/// Its sign-in page.
const SIGN_IN: &str = "/administration/connexion";

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
    /// Just back from enrolling their card.
    enrolled: bool,
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    enrole: String,
}

#[derive(Template)]
#[template(path = "admin_home.html")]
struct HomePage {
    csrf: String,
    name: String,
    role: &'static str,
    until: String,
    idle_minutes: i64,
    admin: bool,
}

#[derive(Template)]
#[template(path = "admin_enrol.html")]
struct EnrolPage {
    csrf: String,
    token: String,
    name: String,
    qr: String,
    error: Option<String>,
}

/// The staff session the request's cookie names, if live.
async fn staff_session(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Option<StaffSession>, WebError> {
    let Some(token) = Jar::Staff.read(req, state) else {
        return Ok(None);
    };
    let now = state.clock.now();
    with_db(state, move |conn, state| {
        Ok(authenticator::staff_session_by_token(
            conn,
            &state.staff,
            now,
            &token,
        )?)
    })
    .await
}

/// GET /administration/: the home page of a signed-in member; otherwise the sign-in page.
pub(crate) async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(&req, &state)?;
    let page = HomePage {
        csrf: csrf.value.clone(),
        name: session.staff().full_name(),
        role: session.role().label(),
        until: paris::local(session.expires_at())
            .format("%H:%M")
            .to_string(),
        idle_minutes: state.staff.idle.num_minutes(),
        admin: session.admin().is_some(),
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/connexion.
pub(crate) async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(&req, &state)?;
    let page = LoginPage {
        csrf: csrf.value.clone(),
        email: String::new(),
        error: None,
        enrolled: query.enrole == "1",
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

/// POST /administration/connexion: e-mail and code; one answer for every failure.
pub(crate) async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let started = std::time::Instant::now();
    let LoginForm { email, otp, .. } = form.into_inner();
    let now = state.clock.now();
    let typed = email.clone();
    let source = crate::source_address(&req, &state);
    let outcome = with_db(&state, move |conn, state| {
        Ok(authenticator::staff_login(
            conn,
            &state.rng,
            &state.cipher,
            &state.policy,
            &state.staff,
            now,
            authenticator::Credentials {
                email: &email,
                code: &otp,
                source: &source,
                devices: &[],
            },
        )?)
    })
    .await?;
    match outcome {
        Ok(signed) => {
            let mut response = see_other(HOME);
            response
                .add_cookie(&Jar::Staff.build(
                    state.secure_cookies,
                    signed.token.expose().to_owned(),
                    None,
                ))
                .map_err(|_| WebError::Blocking)?;
            Ok(response)
        }
        Err(refusal) => {
            after_failure_time(&state, started).await;
            let csrf = CsrfToken::for_request(&req, &state)?;
            let page = LoginPage {
                csrf: csrf.value.clone(),
                email: typed,
                error: Some(sign_in_refusal(&state.metrics, refusal)),
                enrolled: false,
            };
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page,
                Some(&csrf),
                state.secure_cookies,
            )
        }
    }
}

/// POST /administration/deconnexion.
pub(crate) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    if let Some(token) = Jar::Staff.read(&req, &state) {
        let now = state.clock.now();
        with_db(&state, move |conn, _| {
            Ok(authenticator::end_staff_session(conn, now, &token)?)
        })
        .await?;
    }
    let mut response = see_other(SIGN_IN);
    response
        .add_cookie(&Jar::Staff.removal(&state))
        .map_err(|_| WebError::Blocking)?;
    Ok(response)
}

/// The page of a link that does not work (unknown, used or expired).
fn dead_link() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Lien d'enrôlement inutilisable",
        "Ce lien d'enrôlement n'existe pas, a déjà servi ou a expiré. Demandez-en un nouveau à un administrateur de l'équipe Aidants Connect.",
    )
}

/// The enrolment page of `token` with `error`, or the dead-link page.
async fn enrol_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    token: String,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let now = state.clock.now();
    let lookup = token.clone();
    let found = with_db(state, move |conn, state| {
        Ok(authenticator::staff_enrolment(
            conn,
            &state.cipher,
            now,
            &lookup,
        )?)
    })
    .await?;
    let Some(found) = found else {
        return Ok(dead_link());
    };
    let csrf = CsrfToken::for_request(req, state)?;
    let page = EnrolPage {
        csrf: csrf.value.clone(),
        token,
        name: found.staff.full_name(),
        qr: qr_data_uri(&found.enrolment.otpauth_uri(&found.staff.email))?,
        error,
    };
    render(status, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/enrolement/{token}: the card's QR code, shown while the link works.
pub(crate) async fn enrolment(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    enrol_page(&req, &state, path.into_inner(), StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(crate) struct EnrolForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    otp: String,
}

/// POST /administration/enrolement/{token}: the first code the application shows validates
/// the card and ends the link.
pub(crate) async fn enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<EnrolForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let token = path.into_inner();
    let now = state.clock.now();
    let (code, link) = (form.into_inner().otp, token.clone());
    let outcome = with_db(&state, move |conn, state| {
        Ok(authenticator::complete_staff_enrolment(
            conn,
            &state.rng,
            &state.cipher,
            &state.policy,
            now,
            &link,
            &code,
        )?)
    })
    .await?;
    let message = match outcome {
        Ok(_) => return Ok(see_other(&format!("{SIGN_IN}?enrole=1"))),
        Err(EnrolmentRefusal::UnknownLink) => return Ok(dead_link()),
        Err(EnrolmentRefusal::Code(refusal)) => enrolment_refusal(refusal),
    };
    enrol_page(
        &req,
        &state,
        token,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(message),
    )
    .await
}

/// What the member is told of a refused first code.
fn enrolment_refusal(refusal: OtpRefusal) -> String {
    match refusal {
        OtpRefusal::WrongCode | OtpRefusal::Replayed | OtpRefusal::OutOfService => {
            "Code incorrect. Saisissez le code que l'application affiche maintenant.".into()
        }
        OtpRefusal::TooSoon(until) | OtpRefusal::Locked { until, .. } => format!(
            "Trop de codes erronés : réessayez après {} (heure de Paris).",
            paris::local(until).format("%H:%M:%S")
        ),
    }
}

/// The page a member whose role does not allow an action is shown.
/// The fields of a form posted by support or an administrator; `Err`, the page to answer, when
/// its CSRF token fails or the member may only read.
fn support_form(
    req: &HttpRequest,
    state: &AppState,
    session: &StaffSession,
    body: &[u8],
) -> Result<crate::habilitation::Posted, Box<HttpResponse>> {
    let posted = crate::habilitation::Posted::parse(body);
    if !posted.csrf_ok(req, state) {
        return Err(Box::new(csrf_refused()));
    }
    if session.support().is_none() {
        return Err(Box::new(not_allowed()));
    }
    Ok(posted)
}

fn not_allowed() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "Action non autorisée",
        "Votre rôle dans l'équipe nationale ne permet pas cette action.",
    )
}

/// A signed-in member of the national team, extracted from the staff cookie: a request
/// without a live session is sent to the sign-in page before its handler runs; a member of a
/// training body, who sees the trainings only, is refused (sent to them from the home page).
pub(crate) struct Member(pub(crate) StaffSession);

/// A signed-in member of the national team or of a training body, for the training pages.
pub(crate) struct TrainingMember(pub(crate) StaffSession);

/// The answer to a training body's member outside the training pages.
#[derive(Debug, thiserror::Error)]
#[error("réservé aux formations")]
struct TrainingsOnly {
    home: bool,
}

impl actix_web::ResponseError for TrainingsOnly {
    fn status_code(&self) -> StatusCode {
        if self.home {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::FORBIDDEN
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.home {
            return see_other(TRAININGS);
        }
        error_page(
            StatusCode::FORBIDDEN,
            "Page réservée à l'équipe nationale",
            "Votre compte d'organisme de formation donne accès aux sessions de formation seulement : elles sont à l'adresse /administration/formations.",
        )
    }
}

/// Where a training body's member works.
const TRAININGS: &str = "/administration/formations";

/// The live staff session of the request, or why it has none.
async fn member_session(req: &HttpRequest) -> Result<StaffSession, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(WebError::Blocking.into());
    };
    match staff_session(req, &state).await? {
        Some(session) => Ok(session),
        None => Err(NotSignedIn.into()),
    }
}

impl actix_web::FromRequest for TrainingMember {
    type Error = actix_web::Error;
    type Future =
        futures_util::future::LocalBoxFuture<'static, Result<TrainingMember, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { member_session(&req).await.map(TrainingMember) })
    }
}

/// The answer to a request of the back office without a live staff session.
#[derive(Debug, thiserror::Error)]
#[error("pas de session de l'équipe nationale")]
struct NotSignedIn;

impl actix_web::ResponseError for NotSignedIn {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }

    fn error_response(&self) -> HttpResponse {
        see_other(SIGN_IN)
    }
}

impl actix_web::FromRequest for Member {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Member, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = member_session(&req).await?;
            if session.is_trainer() {
                let home = matches!(req.path(), "/administration" | "/administration/");
                return Err(TrainingsOnly { home }.into());
            }
            Ok(Member(session))
        })
    }
}

/// An authenticator's outcome: done, or refused by the accounts with the French reason
/// (nothing written).
fn auth_refused_or<T>(
    result: Result<T, authenticator::AuthError>,
) -> Result<Result<T, String>, WebError> {
    match result {
        Err(authenticator::AuthError::Accounts(e)) => refused_or(Err(e)),
        other => Ok(Ok(other?)),
    }
}

/// An accounts' outcome: done, or refused with the French reason (nothing written).
fn refused_or<T>(result: Result<T, accounts::AccountError>) -> Result<Result<T, String>, WebError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(e) if e.is_refusal() => Ok(Err(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// What the structure creation form holds (kept when refused).
#[derive(Deserialize, Default, Clone)]
pub(crate) struct StructureForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    siret: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    zipcode: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    france_services: String,
}

/// 422 for a page shown again with a refusal, 200 otherwise.
fn form_status(error: Option<&str>) -> StatusCode {
    if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// A text field of a form, with what was typed in it.
struct Field {
    id: &'static str,
    label: &'static str,
    value: String,
}

impl Field {
    fn new(id: &'static str, label: &'static str, value: &str) -> Field {
        Field {
            id,
            label,
            value: value.to_owned(),
        }
    }
}

struct StructureRow {
    id: String,
    name: String,
    siret: String,
    place: String,
    habilitation: &'static str,
}

#[derive(Template)]
#[template(path = "admin_structures.html")]
struct StructuresPage {
    csrf: String,
    query: String,
    rows: Vec<StructureRow>,
    may_create: bool,
    fields: Vec<Field>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// The habilitation state as the back office names it.
fn habilitation_label(habilitation: accounts::Habilitation) -> &'static str {
    use accounts::Habilitation as H;
    match habilitation {
        H::New => "demande déposée",
        H::Awaiting => "en attente de l'équipe",
        H::Validated => "habilitée",
        H::Refused => "refusée",
        H::ChangesRequired => "modifications demandées",
        H::Closed => "fermée",
    }
}

/// The structures page: search results and, for who may, the creation form.
async fn structures_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &StaffSession,
    query: String,
    form: StructureForm,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let search = query.clone();
    let found = with_db(state, move |conn, _| {
        Ok(accounts::search_organisations(conn, &search, 50)?)
    })
    .await?;
    let csrf = CsrfToken::for_request(req, state)?;
    let status = form_status(error.as_deref());
    let page = StructuresPage {
        csrf: csrf.value.clone(),
        query,
        rows: found
            .into_iter()
            .map(|o| StructureRow {
                id: o.id.into(),
                name: o.name,
                siret: o.siret,
                place: format!("{} {}", o.zipcode, o.city),
                habilitation: habilitation_label(o.habilitation),
            })
            .collect(),
        may_create: session.support().is_some(),
        fields: vec![
            Field::new("name", "Nom", &form.name),
            Field::new("siret", "SIRET (14 chiffres)", &form.siret),
            Field::new("address", "Adresse", &form.address),
            Field::new("zipcode", "Code postal", &form.zipcode),
            Field::new("city", "Ville", &form.city),
            Field::new(
                "kind",
                "Type (France Services, CCAS, mairie, association…)",
                &form.kind,
            ),
        ],
        error,
    };
    render(status, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/structures?q=: search by name, SIRET, city or département.
pub(crate) async fn structures(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, WebError> {
    let q = query.into_inner().q;
    structures_page(&req, &state, &session, q, StructureForm::default(), None).await
}

/// POST /administration/structures: a new habilitated structure.
pub(crate) async fn create_structure(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    form: web::Form<StructureForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let form = form.into_inner();
    let (typed, acting) = (form.clone(), session.clone());
    let now = state.clock.now();
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        Ok(Some(refused_or(authenticator::staff_create_organisation(
            conn,
            &state.rng,
            now,
            &who,
            accounts::NewOrganisation {
                name: &form.name,
                siret: form.siret.trim(),
                address: form.address.trim(),
                zipcode: form.zipcode.trim(),
                city: form.city.trim(),
                kind: form.kind.trim(),
                habilitation: accounts::Habilitation::Validated,
                france_services: !form.france_services.is_empty(),
            },
        ))?))
    })
    .await?;
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(created)) => Ok(see_other(&format!(
            "/administration/structures/{}",
            created.id
        ))),
        Some(Err(message)) => {
            structures_page(&req, &state, &session, String::new(), typed, Some(message)).await
        }
    }
}

struct MemberLine {
    id: String,
    name: String,
    email: String,
    referent: bool,
    pending: bool,
    active: bool,
    /// May act for usagers (false for a référent made by the habilitation, until trained).
    acting: bool,
}

/// What the member form holds (kept when refused).
#[derive(Deserialize, Default, Clone)]
pub(crate) struct MemberForm {
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
    referent: String,
}

struct MandateLine {
    id: String,
    usager: String,
    demarches: String,
    until: String,
    chosen: bool,
}

/// The transfer form and the usager search of a structure's mandates (kept when refused).
#[derive(Default)]
struct TransferState {
    usager: String,
    target: String,
    chosen: Vec<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_structure.html")]
struct StructurePage {
    csrf: String,
    id: String,
    name: String,
    siret: String,
    address: String,
    habilitation: &'static str,
    /// Whether the structure is habilitated (the form offers to close it) or not (to reopen).
    open: bool,
    members: Vec<MemberLine>,
    may_manage: bool,
    fields: Vec<Field>,
    referent: bool,
    done: Option<String>,
    error: Option<String>,
    mandates_total: i64,
    mandates: Vec<MandateLine>,
    may_transfer: bool,
    transfer: TransferState,
    /// No member can work as its référent.
    without_referent: bool,
    /// The description form, the cards of its aidants, the cards sent to it.
    sections: structures::Sections,
}

/// Mandates listed on a structure's page, at most.
const MANDATES_LISTED: i64 = 200;

#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    #[serde(default)]
    fait: String,
    #[serde(default)]
    n: u32,
    #[serde(default)]
    usager: String,
}

/// What the forms of a structure's page hold when one was refused, with the reason.
#[derive(Default)]
struct Typed {
    member: MemberForm,
    member_error: Option<String>,
    transfer: TransferState,
    edit: Option<(structures::EditForm, String)>,
    shipment: Option<(structures::ShipmentForm, String)>,
}

/// A structure's page, or the missing page.
async fn structure_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &StaffSession,
    id: String,
    done: Option<String>,
    typed: Typed,
) -> Result<HttpResponse, WebError> {
    let Typed {
        member: form,
        member_error: error,
        transfer,
        edit,
        shipment,
    } = typed;
    let organisation_id = store::OrganisationId::from(id.clone());
    let (now, usager) = (state.clock.now(), transfer.usager.clone());
    let found = with_db(state, move |conn, _| {
        let Some(organisation) = accounts::organisation(conn, &organisation_id)? else {
            return Ok(None);
        };
        let members = accounts::members(conn, &organisation_id)?;
        let mandates =
            mandate::mandates_in_force(conn, &organisation_id, &usager, now, MANDATES_LISTED)?;
        let ids: Vec<store::AidantId> = members.iter().map(|m| m.aidant.id.clone()).collect();
        let cards = authenticator::cards_of_aidants(conn, &ids)?;
        let shipments = authenticator::shipments_of(conn, &organisation_id)?;
        let allowed = mandate::allowed_demarches(conn, &organisation_id)?;
        Ok(Some((
            organisation,
            members,
            mandates,
            structures::Extras {
                cards,
                shipments,
                allowed,
            },
        )))
    })
    .await?;
    let Some((organisation, members, (mandates_total, mandates), extras)) = found else {
        return Ok(crate::pages::not_found().await);
    };
    let csrf = CsrfToken::for_request(req, state)?;
    let status = form_status(
        error
            .as_deref()
            .or(transfer.error.as_deref())
            .or(edit.as_ref().map(|e| e.1.as_str()))
            .or(shipment.as_ref().map(|s| s.1.as_str())),
    );
    let open = organisation.is_habilitated();
    let without_referent = !members
        .iter()
        .any(|m| m.role == accounts::Role::Referent && m.can_work());
    let sections = structures::Sections::new(&organisation, &members, extras, now, edit, shipment);
    let page = StructurePage {
        csrf: csrf.value.clone(),
        id,
        name: organisation.name,
        siret: organisation.siret,
        address: format!(
            "{}, {} {}",
            organisation.address, organisation.zipcode, organisation.city
        ),
        habilitation: habilitation_label(organisation.habilitation),
        open,
        members: members
            .into_iter()
            .map(|m| MemberLine {
                id: m.aidant.id.to_string(),
                name: m.aidant.full_name(),
                email: m.aidant.email,
                referent: m.role == accounts::Role::Referent,
                pending: !m.aidant.active,
                active: m.active,
                acting: m.aidant.acts_for_usagers,
            })
            .collect(),
        may_manage: session.support().is_some(),
        fields: vec![
            Field::new("email", "Adresse électronique professionnelle", &form.email),
            Field::new("first_name", "Prénom", &form.first_name),
            Field::new("last_name", "Nom", &form.last_name),
            Field::new("profession", "Profession", &form.profession),
        ],
        referent: !form.referent.is_empty(),
        done,
        error,
        mandates_total,
        mandates: mandates
            .into_iter()
            .map(|m| MandateLine {
                chosen: transfer.chosen.contains(&m.mandate.id.to_string()),
                id: m.mandate.id.to_string(),
                usager: m.usager,
                demarches: m
                    .demarches
                    .iter()
                    .map(|d| d.title())
                    .collect::<Vec<_>>()
                    .join(", "),
                until: paris::local(m.mandate.expires_at)
                    .format("%d/%m/%Y")
                    .to_string(),
            })
            .collect(),
        may_transfer: session.admin().is_some(),
        transfer,
        without_referent,
        sections,
    };
    render(status, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/structures/{id}: the structure and its aidants.
pub(crate) async fn structure(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, WebError> {
    let query = query.into_inner();
    let done = match query.fait.as_str() {
        "ajoute" => Some("Aidant ajouté, en attente d'activation après sa formation.".into()),
        "active" => Some("Compte activé : il peut agir pour les usagers. À sa première activation, l'aidant reçoit un message de bienvenue.".into()),
        "fermee" => Some("Structure fermée : ses aidants ne peuvent plus s'y connecter, ni faire ou utiliser de mandat ; ses sessions sont terminées, tout est conservé.".into()),
        "rouverte" => Some("Structure rouverte : ses aidants peuvent de nouveau s'y connecter.".into()),
        "transfere" => Some(format!(
            "{} mandat(s) transféré(s), chacun avec une nouvelle attestation au nom de la structure qui le détient désormais.",
            query.n
        )),
        "modifiee" => Some("Description de la structure enregistrée.".into()),
        "envoi" => Some("Envoi de cartes enregistré.".into()),
        _ => None,
    };
    structure_page(
        &req,
        &state,
        &session,
        path.into_inner(),
        done,
        Typed {
            transfer: TransferState {
                usager: query.usager,
                ..TransferState::default()
            },
            ..Typed::default()
        },
    )
    .await
}

/// POST /administration/structures/{id}/aidants: an aidant or référent, pending activation.
pub(crate) async fn add_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<MemberForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let form = form.into_inner();
    let (typed, acting, organisation_id) = (
        form.clone(),
        session.clone(),
        store::OrganisationId::from(id.clone()),
    );
    let now = state.clock.now();
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        let role = if form.referent.is_empty() {
            accounts::Role::Aidant
        } else {
            accounts::Role::Referent
        };
        Ok(Some(
            refused_or(authenticator::staff_add_member(
                conn,
                &state.rng,
                now,
                &who,
                &organisation_id,
                accounts::NewAidant {
                    email: &form.email,
                    first_name: &form.first_name,
                    last_name: &form.last_name,
                    profession: &form.profession,
                    phone: "",
                    active: false,
                },
                role,
            ))?
            .map(|_| ()),
        ))
    })
    .await?;
    after_member_action(&req, &state, &session, id, outcome, "ajoute", typed).await
}

/// After an action on a member of structure `id`: the refusal of a role that may not, the
/// structure's page again with the reason (keeping `typed`), or back to it saying `done`.
async fn after_member_action(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &StaffSession,
    id: String,
    outcome: Option<Result<(), String>>,
    done: &str,
    typed: MemberForm,
) -> Result<HttpResponse, WebError> {
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(())) => Ok(see_other(&format!(
            "/administration/structures/{id}?fait={done}"
        ))),
        Some(Err(message)) => {
            structure_page(
                req,
                state,
                session,
                id,
                None,
                Typed {
                    member: typed,
                    member_error: Some(message),
                    ..Typed::default()
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ActivateForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
}

/// POST /administration/structures/{id}/activer: activates an aidant after their training.
pub(crate) async fn activate(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<ActivateForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let email = form.into_inner().email;
    let now = state.clock.now();
    let acting = session.clone();
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.support() else {
            return Ok(None);
        };
        Ok(Some(
            refused_or(authenticator::staff_activate_aidant(
                conn, &state.rng, now, &who, &email,
            ))?
            .map(|_| ()),
        ))
    })
    .await?;
    after_member_action(
        &req,
        &state,
        &session,
        id,
        outcome,
        "active",
        MemberForm::default(),
    )
    .await
}

struct TeamLine {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    role_value: &'static str,
    active: bool,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "admin_team.html")]
struct TeamPage {
    csrf: String,
    members: Vec<TeamLine>,
    fields: Vec<Field>,
    role: String,
    /// The enrolment link of the member just created or given a new card (the alert's title
    /// and the link), shown this once.
    link: Option<(&'static str, String)>,
    error: Option<String>,
    /// The refusal of a change to a member.
    change_error: Option<String>,
}

/// What the member creation form holds (kept when refused).
#[derive(Deserialize, Default, Clone)]
pub(crate) struct TeamForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    role: String,
}

/// The team page, for an administrator; otherwise the refusal or the sign-in.
async fn team_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &StaffSession,
    form: TeamForm,
    link: Option<(&'static str, String)>,
    error: Option<String>,
    change_error: Option<String>,
) -> Result<HttpResponse, WebError> {
    if session.admin().is_none() {
        return Ok(not_allowed());
    }
    let members = with_db(state, |conn, _| Ok(authenticator::staff_members(conn)?)).await?;
    let csrf = CsrfToken::for_request(req, state)?;
    let status = form_status(error.as_deref().or(change_error.as_deref()));
    let page = TeamPage {
        csrf: csrf.value.clone(),
        members: members
            .into_iter()
            .map(|(m, enrolled)| TeamLine {
                id: m.id.to_string(),
                name: m.full_name(),
                email: m.email,
                role: m.role.label(),
                role_value: m.role.as_str(),
                active: m.active,
                state: match (m.active, enrolled) {
                    (false, _) => "désactivé",
                    (true, false) => "carte à enrôler",
                    (true, true) => "actif",
                },
            })
            .collect(),
        fields: vec![
            Field::new("email", "Adresse électronique", &form.email),
            Field::new("first_name", "Prénom", &form.first_name),
            Field::new("last_name", "Nom", &form.last_name),
        ],
        role: form.role,
        link,
        error,
        change_error,
    };
    render(status, &page, Some(&csrf), state.secure_cookies)
}

/// GET /administration/equipe: the national team's members (administrators only).
pub(crate) async fn team(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
) -> Result<HttpResponse, WebError> {
    team_page(
        &req,
        &state,
        &session,
        TeamForm::default(),
        None,
        None,
        None,
    )
    .await
}

/// POST /administration/equipe: a new member, whose enrolment link is shown once.
pub(crate) async fn create_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    form: web::Form<TeamForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let form = form.into_inner();
    let typed = form.clone();
    let Ok(role) = authenticator::StaffRole::parse(&form.role) else {
        return team_page(
            &req,
            &state,
            &session,
            typed,
            None,
            Some("Choisissez le rôle du membre.".into()),
            None,
        )
        .await;
    };
    let now = state.clock.now();
    let acting = session.clone();
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.admin() else {
            return Ok(None);
        };
        Ok(Some(authenticator::staff_create_member(
            conn,
            &state.rng,
            &state.cipher,
            now,
            &who,
            authenticator::NewStaff {
                email: &form.email,
                first_name: &form.first_name,
                last_name: &form.last_name,
                role,
            },
            state.staff.enrolment,
        )?))
    })
    .await?;
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(created)) => {
            let link = created
                .token
                .map(|token| ("Membre créé", enrolment_link(&state, &token)));
            team_page(
                &req,
                &state,
                &session,
                TeamForm::default(),
                link,
                None,
                None,
            )
            .await
        }
        Some(Err(refusal)) => {
            team_page(
                &req,
                &state,
                &session,
                typed,
                None,
                Some(refusal.to_string()),
                None,
            )
            .await
        }
    }
}

/// A refusal, written in lower case by the domain, as a sentence on the page.
fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The single-use enrolment link of `token`.
fn enrolment_link(state: &AppState, token: &authenticator::SessionToken) -> String {
    format!(
        "{}/administration/enrolement/{}",
        state.provider.issuer().trim_end_matches('/'),
        token.expose()
    )
}

#[derive(Deserialize)]
pub(crate) struct ChangeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    role: String,
}

/// POST /administration/equipe/{id}: an administrator changes a member's role
/// (`action=role`, `role`), deactivates or reactivates them (`desactiver`, `reactiver`) or
/// gives them a new enrolment link (`lien`), shown once.
pub(crate) async fn change_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let change = match form.action.as_str() {
        "role" => match authenticator::StaffRole::parse(&form.role) {
            Ok(role) => authenticator::StaffChange::Role(role),
            Err(_) => return Ok(crate::pages::not_found().await),
        },
        "desactiver" => authenticator::StaffChange::Active(false),
        "reactiver" => authenticator::StaffChange::Active(true),
        "lien" => authenticator::StaffChange::NewEnrolment(state.staff.enrolment),
        _ => return Ok(crate::pages::not_found().await),
    };
    let (acting, member_id, now) = (
        session.clone(),
        store::StaffId::from(path.into_inner()),
        state.clock.now(),
    );
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.admin() else {
            return Ok(None);
        };
        Ok(Some(authenticator::staff_change_member(
            conn,
            &state.rng,
            &state.cipher,
            now,
            &who,
            &member_id,
            change,
        )?))
    })
    .await?;
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(Some(token))) => {
            let link = Some(("Nouveau lien d'enrôlement", enrolment_link(&state, &token)));
            team_page(
                &req,
                &state,
                &session,
                TeamForm::default(),
                link,
                None,
                None,
            )
            .await
        }
        Some(Ok(None)) => Ok(see_other("/administration/equipe")),
        Some(Err(refusal)) => {
            let message = capitalised(&refusal.to_string());
            team_page(
                &req,
                &state,
                &session,
                TeamForm::default(),
                None,
                None,
                Some(message),
            )
            .await
        }
    }
}

/// POST /administration/structures/{id}/transfert: the ticked mandates in force (or all of
/// them) move to the structure named by SIRET or id (administrators only).
pub(crate) async fn transfer(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let mut typed = TransferState::default();
    let (mut csrf_token, mut all) = (String::new(), false);
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "csrf_token" => csrf_token = value.into_owned(),
            "vers" => typed.target = value.trim().to_owned(),
            "mandat" => typed.chosen.push(value.into_owned()),
            "portee" => all = value == "tous",
            _ => {}
        }
    }
    if !csrf::is_valid(&req, &state, &csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let (from, target, acting) = (
        store::OrganisationId::from(id.clone()),
        typed.target.clone(),
        session.clone(),
    );
    let chosen: Vec<store::MandateId> = typed
        .chosen
        .iter()
        .map(|m| store::MandateId::from(m.as_str()))
        .collect();
    let now = state.clock.now();
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = acting.admin() else {
            return Ok(None);
        };
        let Some(to) = accounts::organisation_named(conn, &target)? else {
            return Ok(Some(Err(mandate::TransferRefusal::UnknownStructure)));
        };
        Ok(Some(mandate::transfer_mandates(
            conn,
            &state.rng,
            &state.attestation_key,
            now,
            &who,
            &from,
            &to.id,
            (!all).then_some(chosen.as_slice()),
        )?))
    })
    .await?;
    match outcome {
        None => Ok(not_allowed()),
        Some(Ok(done)) => Ok(see_other(&format!(
            "/administration/structures/{id}?fait=transfere&n={}",
            done.mandates.len()
        ))),
        Some(Err(refusal)) => {
            typed.error = Some(refusal.to_string());
            structure_page(
                &req,
                &state,
                &session,
                id,
                None,
                Typed {
                    transfer: typed,
                    ..Typed::default()
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct OpenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    ouverte: String,
}

/// POST /administration/structures/{id}/habilitation: closes (`ouverte=0`) or reopens
/// (`ouverte=1`) the structure.
pub(crate) async fn set_open(
    req: HttpRequest,
    state: web::Data<AppState>,
    Member(session): Member,
    path: web::Path<String>,
    form: web::Form<OpenForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    let open = form.ouverte == "1";
    let (organisation_id, now) = (store::OrganisationId::from(id.clone()), state.clock.now());
    let outcome = with_db(&state, move |conn, state| {
        let Some(who) = session.support() else {
            return Ok(None);
        };
        Ok(Some(authenticator::staff_set_structure_open(
            conn,
            &state.rng,
            now,
            &who,
            &organisation_id,
            open,
        )?))
    })
    .await?;
    Ok(match outcome {
        None => not_allowed(),
        Some(None) => crate::pages::not_found().await,
        Some(Some(_)) => see_other(&format!(
            "/administration/structures/{id}?fait={}",
            if open { "rouverte" } else { "fermee" }
        )),
    })
}
