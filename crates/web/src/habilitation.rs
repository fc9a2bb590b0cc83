//! The public habilitation journey under `/habilitation/`: an issuer (no account) gives who
//! they are and receives a link by e-mail; following it opens their space (cookie sent to
//! `/habilitation` only), where they start a request from its SIRET, fill it step by step
//! (each step saved when its fields hold), submit it, and follow it and its messages. The
//! pages extract the [`habilitation::IssuerSession`] and decide nothing; a refused form comes
//! back with a message under each field and everything typed.

use crate::cookies::Jar;
use crate::csrf::{self, CsrfToken};
use crate::interaction::see_other;
use crate::pages::{csrf_refused, error_page, render};
use crate::{with_db, AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use habilitation::{FieldError, HabilitationError, IssuerSession, Refusal, RequestFile, Status};
use mandate::Demarche;

/// The journey's first page.
const HOME: &str = "/habilitation";
/// The issuer's space.
const SPACE: &str = "/habilitation/demandes";

/// A form's fields, as posted (a checkbox list repeats its name).
#[derive(Clone)]
pub(crate) struct Posted(Vec<(String, String)>);

impl Posted {
    pub(crate) fn parse(body: &[u8]) -> Posted {
        Posted(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`, or "".
    pub(crate) fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox `key` is ticked.
    pub(crate) fn ticked(&self, key: &str) -> bool {
        !self.get(key).is_empty()
    }

    /// Whether the form's CSRF token is the browser's.
    pub(crate) fn csrf_ok(&self, req: &HttpRequest, state: &AppState) -> bool {
        csrf::is_valid(req, state, self.get("csrf_token"))
    }
}

/// A text input with what was typed and its error.
pub(crate) struct Input {
    pub(crate) id: &'static str,
    pub(crate) label: &'static str,
    pub(crate) hint: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) autocomplete: &'static str,
    pub(crate) value: String,
    pub(crate) error: Option<String>,
}

/// The error of `field`, if any.
pub(crate) fn error_of(errors: &[FieldError], field: &str) -> Option<String> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.clone())
}

/// The input `id` of a form: what was typed (`value`) and the field's error.
#[allow(clippy::too_many_arguments)]
pub(crate) fn input(
    id: &'static str,
    label: &'static str,
    hint: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: &str,
    errors: &[FieldError],
) -> Input {
    Input {
        id,
        label,
        hint,
        kind,
        autocomplete,
        value: value.to_owned(),
        error: error_of(errors, id),
    }
}

/// The errors listed at the top of a refused form: (field id, message).
pub(crate) fn summary(errors: &[FieldError]) -> Vec<(String, String)> {
    errors
        .iter()
        .map(|e| (e.field.to_owned(), e.message.clone()))
        .collect()
}

/// 422 for a form shown again with errors, 200 otherwise.
pub(crate) fn status_of(errors: &[FieldError]) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// A domain outcome: done, refused (nothing written), or failed.
pub(crate) fn refused_or<T>(
    result: Result<T, HabilitationError>,
) -> Result<Result<T, Refusal>, WebError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(HabilitationError::Refused(refusal)) => Ok(Err(refusal)),
        Err(e) => Err(e.into()),
    }
}

/// The fields a refusal names (a refusal of the whole form under `field`).
pub(crate) fn field_errors(refusal: Refusal, field: &'static str) -> Vec<FieldError> {
    match refusal {
        Refusal::Fields(errors) => errors,
        other => vec![FieldError {
            field,
            message: other.to_string(),
        }],
    }
}

/// The issuer's person fields (begin, référent, aidant).
pub(crate) fn person_inputs(
    posted: &Posted,
    errors: &[FieldError],
    phone_hint: &'static str,
) -> Vec<Input> {
    vec![
        input(
            "first_name",
            "Prénom",
            "",
            "text",
            "given-name",
            posted.get("first_name"),
            errors,
        ),
        input(
            "last_name",
            "Nom",
            "",
            "text",
            "family-name",
            posted.get("last_name"),
            errors,
        ),
        input(
            "email",
            "Adresse électronique professionnelle",
            "Nominative : prenom.nom@structure.fr, pas une adresse d'accueil partagée",
            "email",
            "email",
            posted.get("email"),
            errors,
        ),
        input(
            "phone",
            "Téléphone",
            phone_hint,
            "tel",
            "tel",
            posted.get("phone"),
            errors,
        ),
        input(
            "profession",
            "Profession ou fonction",
            "Par exemple : conseiller numérique, travailleur social, agent d'accueil",
            "text",
            "organization-title",
            posted.get("profession"),
            errors,
        ),
    ]
}

#[derive(Template)]
#[template(path = "habilitation_home.html")]
struct HomePage {
    csrf: String,
    begin: Vec<Input>,
    begin_errors: Vec<(String, String)>,
    find: Input,
}

/// GET /habilitation: what habilitation is, and the two ways in.
pub(crate) async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    home_page(&req, &state, &Posted(Vec::new()), &[], &[]).await
}

async fn home_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    posted: &Posted,
    begin_errors: &[FieldError],
    find_errors: &[FieldError],
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(req, state)?;
    let page = HomePage {
        csrf: csrf.value.clone(),
        begin: person_inputs(
            posted,
            begin_errors,
            "Pour que l'équipe puisse vous joindre",
        ),
        begin_errors: summary(begin_errors),
        find: input(
            "find_email",
            "Votre adresse électronique",
            "Celle de vos demandes",
            "email",
            "email",
            posted.get("find_email"),
            find_errors,
        ),
    };
    let status = status_of(if begin_errors.is_empty() {
        find_errors
    } else {
        begin_errors
    });
    render(status, &page, Some(&csrf), state.secure_cookies)
}

#[derive(Template)]
#[template(path = "habilitation_sent.html")]
struct SentPage {
    email: String,
    hours: i64,
}

fn sent_page(email: &str) -> Result<HttpResponse, WebError> {
    render(
        StatusCode::OK,
        &SentPage {
            email: accounts::normalise_email(email),
            hours: habilitation::LINK_HOURS,
        },
        None,
        false,
    )
}

/// POST /habilitation/demandeur: who the issuer is; a link is sent to their address.
pub(crate) async fn begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let posted = Posted::parse(&body);
    if !posted.csrf_ok(&req, &state) {
        return Ok(csrf_refused());
    }
    let now = state.clock.now();
    let fields = posted.clone();
    let outcome = with_db(&state, move |conn, state| {
        refused_or(habilitation::issuer::begin(
            conn,
            &state.rng,
            now,
            &person_form(&fields),
        ))
    })
    .await?;
    match outcome {
        Ok(()) => sent_page(posted.get("email")),
        Err(refusal) => {
            home_page(&req, &state, &posted, &field_errors(refusal, "email"), &[]).await
        }
    }
}

/// POST /habilitation/retrouver: a link to come back, sent if the address is an issuer's.
pub(crate) async fn find(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let posted = Posted::parse(&body);
    if !posted.csrf_ok(&req, &state) {
        return Ok(csrf_refused());
    }
    let now = state.clock.now();
    let email = posted.get("find_email").to_owned();
    let outcome = with_db(&state, move |conn, state| {
        refused_or(habilitation::issuer::ask_link(
            conn, &state.rng, now, &email,
        ))
    })
    .await?;
    match outcome {
        Ok(()) => sent_page(posted.get("find_email")),
        Err(refusal) => {
            let mut errors = field_errors(refusal, "find_email");
            for e in &mut errors {
                e.field = "find_email";
            }
            home_page(&req, &state, &posted, &[], &errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "habilitation_link.html")]
struct LinkPage {
    csrf: String,
    token: String,
}

fn dead_link() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Lien inutilisable",
        "Ce lien a déjà servi ou a expiré. Demandez-en un nouveau depuis la page « Demander l'habilitation d'une structure » (/habilitation) : il vous sera envoyé par e-mail.",
    )
}

/// GET /habilitation/lien/{token}: a button to open the space (a link checker that follows
/// the e-mail's link does not use it up).
pub(crate) async fn link(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let token = path.into_inner();
    let now = state.clock.now();
    let lookup = token.clone();
    let works = with_db(&state, move |conn, state| {
        Ok(habilitation::issuer::link_works(
            conn,
            &state.links,
            now,
            &lookup,
        )?)
    })
    .await?;
    if !works {
        return Ok(dead_link());
    }
    let csrf = CsrfToken::for_request(&req, &state)?;
    let page = LinkPage {
        csrf: csrf.value.clone(),
        token,
    };
    render(StatusCode::OK, &page, Some(&csrf), state.secure_cookies)
}

/// POST /habilitation/lien/{token}: the link is used up and the space opens.
pub(crate) async fn open(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    if !Posted::parse(&body).csrf_ok(&req, &state) {
        return Ok(csrf_refused());
    }
    let token = path.into_inner();
    let now = state.clock.now();
    let opened = with_db(&state, move |conn, state| {
        Ok(habilitation::issuer::open_link(
            conn,
            &state.rng,
            &state.links,
            now,
            &token,
        )?)
    })
    .await?;
    let Some((_, token)) = opened else {
        return Ok(dead_link());
    };
    let mut response = see_other(SPACE);
    response
        .add_cookie(&Jar::Issuer.build(state.secure_cookies, token.expose().to_owned(), None))
        .map_err(|_| WebError::Blocking)?;
    Ok(response)
}

/// POST /habilitation/deconnexion.
pub(crate) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    if !Posted::parse(&body).csrf_ok(&req, &state) {
        return Ok(csrf_refused());
    }
    if let Some(token) = Jar::Issuer.read(&req, &state) {
        with_db(&state, move |conn, _| {
            Ok(habilitation::issuer::end_issuer_session(conn, &token)?)
        })
        .await?;
    }
    let mut response = see_other(HOME);
    response
        .add_cookie(&Jar::Issuer.removal(&state))
        .map_err(|_| WebError::Blocking)?;
    Ok(response)
}

/// A signed-in issuer, from the issuer's cookie: without a live session, the journey's first
/// page (where a new link is asked) before the handler runs.
pub(crate) struct Issuer(IssuerSession);

#[derive(Debug, thiserror::Error)]
#[error("pas de session de demandeur")]
struct NoIssuer;

impl actix_web::ResponseError for NoIssuer {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }

    fn error_response(&self) -> HttpResponse {
        see_other("/habilitation?session=expiree")
    }
}

impl actix_web::FromRequest for Issuer {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Issuer, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
                return Err(WebError::Blocking.into());
            };
            let Some(token) = Jar::Issuer.read(&req, &state) else {
                return Err(NoIssuer.into());
            };
            let now = state.clock.now();
            let session = with_db(&state, move |conn, _| {
                Ok(habilitation::issuer::issuer_session(conn, now, &token)?)
            })
            .await?;
            session.map(Issuer).ok_or_else(|| NoIssuer.into())
        })
    }
}

struct RequestRow {
    id: String,
    reference: String,
    name: String,
    siret: String,
    status: &'static str,
    status_class: &'static str,
    updated: String,
}

/// The DSFR badge of a status.
pub(crate) fn status_class(status: Status) -> &'static str {
    match status {
        Status::Draft => "fr-badge--new",
        Status::Awaiting => "fr-badge--info",
        Status::ChangesRequired => "fr-badge--warning",
        Status::Validated => "fr-badge--success",
        Status::Refused => "fr-badge--error",
        Status::Closed => "",
    }
}

/// A point in time as pages show it (Paris).
pub(crate) fn shown(at: store::Timestamp) -> String {
    paris::local(at).format("%d/%m/%Y à %H:%M").to_string()
}

#[derive(Template)]
#[template(path = "habilitation_requests.html")]
struct RequestsPage {
    csrf: String,
    issuer: String,
    rows: Vec<RequestRow>,
    siret: Input,
}

/// GET /habilitation/demandes: the issuer's requests, and a new one from its SIRET.
pub(crate) async fn requests(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
) -> Result<HttpResponse, WebError> {
    requests_page(&req, &state, session, "", &[]).await
}

async fn requests_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: IssuerSession,
    siret: &str,
    errors: &[FieldError],
) -> Result<HttpResponse, WebError> {
    let issuer = session.issuer().full_name();
    let found = with_db(state, move |conn, _| {
        Ok(habilitation::request::requests_of(conn, &session)?)
    })
    .await?;
    let csrf = CsrfToken::for_request(req, state)?;
    let page = RequestsPage {
        csrf: csrf.value.clone(),
        issuer,
        rows: found
            .into_iter()
            .map(|r| RequestRow {
                reference: r.reference_or_draft().to_owned(),
                name: if r.name.is_empty() {
                    "(structure à renseigner)".to_owned()
                } else {
                    r.name.clone()
                },
                siret: r.siret.clone(),
                status: r.status.label(),
                status_class: status_class(r.status),
                updated: shown(r.updated_at),
                id: r.id,
            })
            .collect(),
        siret: input(
            "siret",
            "Numéro SIRET de la structure",
            "14 chiffres, sur l'avis de situation Insee ou annuaire-entreprises.data.gouv.fr",
            "text",
            "off",
            siret,
            errors,
        ),
    };
    render(status_of(errors), &page, Some(&csrf), state.secure_cookies)
}

/// POST /habilitation/demandes: a new draft from its SIRET.
pub(crate) async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let posted = Posted::parse(&body);
    if !posted.csrf_ok(&req, &state) {
        return Ok(csrf_refused());
    }
    let now = state.clock.now();
    let siret = posted.get("siret").to_owned();
    let for_session = session.clone();
    let outcome = with_db(&state, move |conn, state| {
        refused_or(habilitation::request::start(
            conn,
            &state.rng,
            now,
            &for_session,
            &siret,
        ))
    })
    .await?;
    match outcome {
        Ok(id) => Ok(see_other(&format!("{SPACE}/{id}/structure"))),
        Err(refusal) => {
            let errors = field_errors(refusal, "siret");
            requests_page(&req, &state, session, posted.get("siret"), &errors).await
        }
    }
}

/// The issuer's request `id` with its people and messages, or the 404 page.
async fn issuer_file(
    state: &web::Data<AppState>,
    session: &IssuerSession,
    id: &str,
) -> Result<Option<RequestFile>, WebError> {
    let (session, id) = (session.clone(), id.to_owned());
    with_db(state, move |conn, _| {
        Ok(habilitation::request::file_of(conn, &session, &id)?)
    })
    .await
}

fn unknown_request() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Demande introuvable",
        "Cette demande d'habilitation n'existe pas, ou ce n'est pas la vôtre.",
    )
}

/// An issuer's form about their request `id`: its CSRF token checked (otherwise the refusal
/// page), then `action` run with what was posted; what was posted comes back with the
/// domain's outcome, to show the form again when refused.
async fn issuer_post<T, F>(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &IssuerSession,
    id: &str,
    body: &[u8],
    action: F,
) -> Result<Result<(Posted, Result<T, Refusal>), HttpResponse>, WebError>
where
    T: Send + 'static,
    F: FnOnce(
            &mut store::PooledDb,
            &AppState,
            store::Timestamp,
            &IssuerSession,
            &str,
            &Posted,
        ) -> Result<T, HabilitationError>
        + Send
        + 'static,
{
    let posted = Posted::parse(body);
    if !posted.csrf_ok(req, state) {
        return Ok(Err(csrf_refused()));
    }
    let now = state.clock.now();
    let (session, id, fields) = (session.clone(), id.to_owned(), posted.clone());
    let outcome = with_db(state, move |conn, state| {
        refused_or(action(conn, state, now, &session, &id, &fields))
    })
    .await?;
    Ok(Ok((posted, outcome)))
}

/// The page of a change refused because the request is no longer the issuer's to change.
fn not_editable(refusal: &Refusal) -> HttpResponse {
    match refusal {
        Refusal::UnknownRequest => unknown_request(),
        other => error_page(
            StatusCode::CONFLICT,
            "Demande non modifiable",
            &other.to_string(),
        ),
    }
}

/// A person of a request, as the summary shows them.
pub(crate) struct PersonLine {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) phone: String,
    pub(crate) profession: String,
}

impl PersonLine {
    fn of(p: &habilitation::Person) -> PersonLine {
        PersonLine {
            id: p.id.clone(),
            name: p.full_name(),
            email: p.email.clone(),
            phone: p.phone.clone(),
            profession: p.profession.clone(),
        }
    }
}

/// A message of the thread.
pub(crate) struct MessageLine {
    pub(crate) from_team: bool,
    pub(crate) at: String,
    pub(crate) body: String,
}

/// A request as both the issuer's and the team's pages show it.
pub(crate) struct Summary {
    pub(crate) id: String,
    pub(crate) reference: String,
    pub(crate) status: &'static str,
    pub(crate) status_class: &'static str,
    pub(crate) editable: bool,
    pub(crate) siret: String,
    pub(crate) has_structure: bool,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) sector: String,
    pub(crate) france_services: String,
    pub(crate) address: String,
    pub(crate) mission: String,
    pub(crate) demarches: String,
    pub(crate) volume: String,
    pub(crate) referent: Option<PersonLine>,
    pub(crate) referent_also_aidant: bool,
    pub(crate) aidants: Vec<PersonLine>,
    /// How many people will be trained (the référent included when also an aidant).
    pub(crate) trainees: usize,
    pub(crate) messages: Vec<MessageLine>,
    pub(crate) submitted: String,
}

impl Summary {
    pub(crate) fn of(file: &RequestFile) -> Result<Summary, WebError> {
        let r = &file.request;
        Ok(Summary {
            id: r.id.clone(),
            reference: r.reference_or_draft().to_owned(),
            status: r.status.label(),
            status_class: status_class(r.status),
            editable: r.status.is_editable(),
            siret: r.siret.clone(),
            has_structure: r.has_structure(),
            name: r.name.clone(),
            kind: r.kind_label().to_owned(),
            sector: if r.private {
                format!("privée, pour {}", r.partner_administration)
            } else {
                "publique".to_owned()
            },
            france_services: if r.france_services {
                format!("oui, n° {}", r.france_services_number)
            } else {
                "non".to_owned()
            },
            address: format!("{}, {} {}", r.address, r.zipcode, r.city),
            mission: r.mission.clone(),
            demarches: r
                .expected_demarches()?
                .into_iter()
                .map(Demarche::title)
                .collect::<Vec<_>>()
                .join(", "),
            volume: r
                .weekly_volume
                .map(|v| format!("{v} par semaine"))
                .unwrap_or_default(),
            referent: file.referent.as_ref().map(PersonLine::of),
            referent_also_aidant: file.referent.as_ref().is_some_and(|p| p.also_aidant),
            aidants: file.aidants.iter().map(PersonLine::of).collect(),
            trainees: file.aidants.len()
                + usize::from(file.referent.as_ref().is_some_and(|p| p.also_aidant)),
            messages: file
                .messages
                .iter()
                .map(|m| MessageLine {
                    from_team: m.staff_id.is_some(),
                    at: shown(m.created_at),
                    body: m.body.clone(),
                })
                .collect(),
            submitted: r.submitted_at.map(shown).unwrap_or_default(),
        })
    }
}

/// A checkbox with its state and error.
pub(crate) struct CheckBox {
    pub(crate) id: &'static str,
    pub(crate) label: &'static str,
    pub(crate) checked: bool,
    pub(crate) error: Option<String>,
}

#[derive(Template)]
#[template(path = "habilitation_request.html")]
struct RequestPage {
    csrf: String,
    s: Summary,
    errors: Vec<(String, String)>,
    commitments: Vec<CheckBox>,
    body: String,
    body_error: Option<String>,
    submitted: bool,
}

/// The commitments ticked to submit.
const COMMITMENTS: [(&str, &str); 4] = [
    (
        "professionals_only",
        "Seuls des professionnels employés par la structure seront aidants : ni bénévoles, ni aidants familiaux, ni élus.",
    ),
    (
        "free_training",
        "La structure sait que la formation des aidants est gratuite : elle ne paie aucun organisme pour cela.",
    ),
    (
        "dpo_informed",
        "Le délégué à la protection des données (DPO) de la structure est informé de l'usage d'Aidants Connect.",
    ),
    (
        "cgu",
        "J'ai lu et j'accepte les conditions générales d'utilisation d'Aidants Connect.",
    ),
];

async fn request_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &IssuerSession,
    id: &str,
    posted: &Posted,
    errors: &[FieldError],
    submitted: bool,
) -> Result<HttpResponse, WebError> {
    let Some(file) = issuer_file(state, session, id).await? else {
        return Ok(unknown_request());
    };
    let csrf = CsrfToken::for_request(req, state)?;
    let page = RequestPage {
        csrf: csrf.value.clone(),
        s: Summary::of(&file)?,
        errors: summary(errors),
        commitments: COMMITMENTS
            .iter()
            .map(|(id, label)| CheckBox {
                id,
                label,
                checked: posted.ticked(id),
                error: error_of(errors, id),
            })
            .collect(),
        body: posted.get("body").to_owned(),
        body_error: error_of(errors, "body"),
        submitted,
    };
    render(status_of(errors), &page, Some(&csrf), state.secure_cookies)
}

#[derive(serde::Deserialize)]
pub(crate) struct RequestQuery {
    #[serde(default)]
    soumise: String,
}

/// GET /habilitation/demandes/{id}: the request, its status and its messages; while
/// editable, the commitments and the submission.
pub(crate) async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<String>,
    query: web::Query<RequestQuery>,
) -> Result<HttpResponse, WebError> {
    let submitted = query.soumise == "1";
    request_page(
        &req,
        &state,
        &session,
        &path,
        &Posted(Vec::new()),
        &[],
        submitted,
    )
    .await
}

/// POST /habilitation/demandes/{id}/soumettre.
pub(crate) async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let done = issuer_post(
        &req,
        &state,
        &session,
        &id,
        &body,
        |conn, state, now, session, id, p| {
            let commitments = habilitation::Commitments {
                professionals_only: p.ticked("professionals_only"),
                free_training: p.ticked("free_training"),
                dpo_informed: p.ticked("dpo_informed"),
                cgu: p.ticked("cgu"),
            };
            habilitation::request::submit(
                conn,
                &state.rng,
                now,
                session,
                id,
                commitments,
                &state.national_team_email,
            )
        },
    )
    .await?;
    match done {
        Err(page) => Ok(page),
        Ok((_, Ok(_))) => Ok(see_other(&format!("{SPACE}/{id}?soumise=1"))),
        Ok((_, Err(Refusal::UnknownRequest))) => Ok(unknown_request()),
        Ok((posted, Err(refusal))) => {
            let errors = field_errors(refusal, "cgu");
            request_page(&req, &state, &session, &id, &posted, &errors, false).await
        }
    }
}

/// POST /habilitation/demandes/{id}/messages: the issuer writes to the team.
pub(crate) async fn message(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let done = issuer_post(
        &req,
        &state,
        &session,
        &id,
        &body,
        |conn, state, now, session, id, p| {
            habilitation::request::issuer_message(
                conn,
                &state.rng,
                now,
                session,
                id,
                p.get("body"),
                &state.national_team_email,
            )
        },
    )
    .await?;
    match done {
        Err(page) => Ok(page),
        Ok((_, Ok(()))) => Ok(see_other(&format!("{SPACE}/{id}#messages"))),
        Ok((_, Err(Refusal::UnknownRequest))) => Ok(unknown_request()),
        Ok((posted, Err(refusal))) => {
            let errors = field_errors(refusal, "body");
            request_page(&req, &state, &session, &id, &posted, &errors, false).await
        }
    }
}

/// A démarche's checkbox.
pub(crate) struct DemarcheBox {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) checked: bool,
}

#[derive(Template)]
#[template(path = "habilitation_structure.html")]
struct StructurePage {
    csrf: String,
    id: String,
    reference: String,
    siret: String,
    errors: Vec<(String, String)>,
    name: Input,
    kinds: Vec<(&'static str, bool)>,
    kind_chosen: bool,
    kind_error: Option<String>,
    kind_other: Input,
    private: String,
    private_error: Option<String>,
    partner: Input,
    france_services: bool,
    france_services_number: Input,
    address: Input,
    zipcode: Input,
    city: Input,
    mission: String,
    mission_error: Option<String>,
    demarches: Vec<DemarcheBox>,
    demarches_error: Option<String>,
    volume: Input,
}

/// The structure step as stored, for its first display.
fn structure_posted(file: &RequestFile) -> Result<Posted, WebError> {
    let r = &file.request;
    let mut fields: Vec<(String, String)> = [
        ("name", r.name.clone()),
        ("kind", r.kind.clone()),
        ("kind_other", r.kind_other.clone()),
        ("partner_administration", r.partner_administration.clone()),
        ("france_services_number", r.france_services_number.clone()),
        ("address", r.address.clone()),
        ("zipcode", r.zipcode.clone()),
        ("city", r.city.clone()),
        ("mission", r.mission.clone()),
        (
            "weekly_volume",
            r.weekly_volume.map(|v| v.to_string()).unwrap_or_default(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if r.has_structure() {
        fields.push((
            "private".into(),
            if r.private { "oui" } else { "non" }.into(),
        ));
    }
    if r.france_services {
        fields.push(("france_services".into(), "1".into()));
    }
    for d in r.expected_demarches()? {
        fields.push(("demarche".into(), d.id().into()));
    }
    Ok(Posted(fields))
}

async fn structure_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    file: &RequestFile,
    posted: &Posted,
    errors: &[FieldError],
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(req, state)?;
    let kind = posted.get("kind");
    let ticked = posted.all("demarche");
    let text = |id, label, hint, auto| input(id, label, hint, "text", auto, posted.get(id), errors);
    let page = StructurePage {
        csrf: csrf.value.clone(),
        id: file.request.id.clone(),
        reference: file.request.reference_or_draft().to_owned(),
        siret: file.request.siret.clone(),
        errors: summary(errors),
        name: text("name", "Nom de la structure", "", "organization"),
        kinds: habilitation::KINDS.iter().map(|k| (*k, *k == kind)).collect(),
        kind_chosen: habilitation::KINDS.contains(&kind),
        kind_error: error_of(errors, "kind"),
        kind_other: text("kind_other", "Type de structure, si « Autre »", "", "off"),
        private: posted.get("private").to_owned(),
        private_error: error_of(errors, "private"),
        partner: text(
            "partner_administration",
            "Administration partenaire, pour une structure privée",
            "L'administration pour laquelle la structure agit (délégation de service public, convention)",
            "off",
        ),
        france_services: posted.ticked("france_services"),
        france_services_number: text(
            "france_services_number",
            "Numéro d'immatriculation France Services",
            "Si la structure est labellisée",
            "off",
        ),
        address: text("address", "Adresse", "Numéro et voie", "street-address"),
        zipcode: input(
            "zipcode",
            "Code postal",
            "5 chiffres",
            "text",
            "postal-code",
            posted.get("zipcode"),
            errors,
        ),
        city: text("city", "Ville", "", "address-level2"),
        mission: posted.get("mission").to_owned(),
        mission_error: error_of(errors, "mission"),
        demarches: Demarche::ALL
            .into_iter()
            .map(|d| DemarcheBox {
                id: d.id(),
                title: d.title(),
                checked: ticked.contains(&d.id()),
            })
            .collect(),
        demarches_error: error_of(errors, "demarches"),
        volume: input(
            "weekly_volume",
            "Nombre de démarches prévues par semaine",
            "Une estimation, par exemple 20",
            "text",
            "off",
            posted.get("weekly_volume"),
            errors,
        ),
    };
    render(status_of(errors), &page, Some(&csrf), state.secure_cookies)
}

/// The request `id` of the issuer, editable; otherwise the page that says why.
async fn editable_file(
    state: &web::Data<AppState>,
    session: &IssuerSession,
    id: &str,
) -> Result<Result<RequestFile, HttpResponse>, WebError> {
    Ok(match issuer_file(state, session, id).await? {
        None => Err(unknown_request()),
        Some(file) if !file.request.status.is_editable() => Err(error_page(
            StatusCode::CONFLICT,
            "Demande non modifiable",
            &Refusal::NotEditable(file.request.status).to_string(),
        )),
        Some(file) => Ok(file),
    })
}

/// GET /habilitation/demandes/{id}/structure.
pub(crate) async fn structure(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let file = match editable_file(&state, &session, &path).await? {
        Ok(file) => file,
        Err(page) => return Ok(page),
    };
    structure_page(&req, &state, &file, &structure_posted(&file)?, &[]).await
}

/// POST /habilitation/demandes/{id}/structure: the step saved, then the référent's.
pub(crate) async fn save_structure(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let done = issuer_post(
        &req,
        &state,
        &session,
        &id,
        &body,
        |conn, state, now, session, id, p| {
            let form = habilitation::StructureForm {
                name: p.get("name"),
                kind: p.get("kind"),
                kind_other: p.get("kind_other"),
                private: match p.get("private") {
                    "oui" => Some(true),
                    "non" => Some(false),
                    _ => None,
                },
                partner_administration: p.get("partner_administration"),
                france_services: p.ticked("france_services"),
                france_services_number: p.get("france_services_number"),
                address: p.get("address"),
                zipcode: p.get("zipcode"),
                city: p.get("city"),
                mission: p.get("mission"),
                demarches: p.all("demarche"),
                weekly_volume: p.get("weekly_volume"),
            };
            habilitation::request::save_structure(conn, &state.rng, now, session, id, &form)
        },
    )
    .await?;
    match done {
        Err(page) => Ok(page),
        Ok((_, Ok(()))) => Ok(see_other(&format!("{SPACE}/{id}/referent"))),
        Ok((posted, Err(Refusal::Fields(errors)))) => {
            match editable_file(&state, &session, &id).await? {
                Ok(file) => structure_page(&req, &state, &file, &posted, &errors).await,
                Err(page) => Ok(page),
            }
        }
        Ok((_, Err(refusal))) => Ok(not_editable(&refusal)),
    }
}

#[derive(Template)]
#[template(path = "habilitation_person.html")]
struct PersonPage {
    csrf: String,
    id: String,
    title: &'static str,
    intro: &'static str,
    action: String,
    button: &'static str,
    back: String,
    inputs: Vec<Input>,
    errors: Vec<(String, String)>,
    /// For the référent: whether they will also be trained.
    also_aidant: Option<bool>,
    step: u8,
}

#[allow(clippy::too_many_arguments)]
async fn person_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    id: &str,
    person: Option<&str>,
    posted: &Posted,
    errors: &[FieldError],
) -> Result<HttpResponse, WebError> {
    let csrf = CsrfToken::for_request(req, state)?;
    let referent = person.is_none();
    let mut inputs = person_inputs(
        posted,
        errors,
        if referent {
            "Pour que l'équipe puisse le joindre"
        } else {
            "Facultatif"
        },
    );
    if referent {
        inputs[4].label = "Fonction dans la structure";
    }
    let page = PersonPage {
        csrf: csrf.value.clone(),
        id: id.to_owned(),
        title: if referent {
            "Le référent de la structure"
        } else {
            "Modifier un aidant à former"
        },
        intro: if referent {
            "Le référent gère les aidants et les cartes de la structure dans Aidants Connect : il inscrit les aidants en formation, reçoit les cartes et les leur remet. Il peut aussi être aidant."
        } else {
            "L'aidant doit être un professionnel employé par la structure, avec sa propre adresse électronique."
        },
        action: match person {
            None => format!("{SPACE}/{id}/referent"),
            Some(p) => format!("{SPACE}/{id}/aidants/{p}"),
        },
        button: if referent {
            "Enregistrer et continuer"
        } else {
            "Enregistrer l'aidant"
        },
        back: if referent {
            format!("{SPACE}/{id}/structure")
        } else {
            format!("{SPACE}/{id}/aidants")
        },
        inputs,
        errors: summary(errors),
        also_aidant: referent.then(|| posted.ticked("also_aidant")),
        step: if referent { 3 } else { 4 },
    };
    render(status_of(errors), &page, Some(&csrf), state.secure_cookies)
}

fn person_posted(p: &habilitation::Person) -> Posted {
    let mut fields = vec![
        ("first_name".to_owned(), p.first_name.clone()),
        ("last_name".to_owned(), p.last_name.clone()),
        ("email".to_owned(), p.email.clone()),
        ("phone".to_owned(), p.phone.clone()),
        ("profession".to_owned(), p.profession.clone()),
    ];
    if p.also_aidant {
        fields.push(("also_aidant".into(), "1".into()));
    }
    Posted(fields)
}

fn person_form(p: &Posted) -> habilitation::PersonForm<'_> {
    habilitation::PersonForm {
        first_name: p.get("first_name"),
        last_name: p.get("last_name"),
        email: p.get("email"),
        phone: p.get("phone"),
        profession: p.get("profession"),
        also_aidant: p.ticked("also_aidant"),
    }
}

/// GET /habilitation/demandes/{id}/referent.
pub(crate) async fn referent(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let file = match editable_file(&state, &session, &path).await? {
        Ok(file) => file,
        Err(page) => return Ok(page),
    };
    let posted = file
        .referent
        .as_ref()
        .map_or(Posted(Vec::new()), person_posted);
    person_page(&req, &state, &path, None, &posted, &[]).await
}

/// What an issuer's change of a person is.
enum PersonChange {
    Referent,
    AddAidant,
    EditAidant(String),
}

/// Saves a person of the request and answers: the next page, or the form again.
async fn change_person(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: IssuerSession,
    id: String,
    body: web::Bytes,
    change: PersonChange,
) -> Result<HttpResponse, WebError> {
    let person = match &change {
        PersonChange::EditAidant(p) => Some(p.clone()),
        _ => None,
    };
    let adding = matches!(change, PersonChange::AddAidant);
    let done = issuer_post(
        &req,
        &state,
        &session,
        &id,
        &body,
        move |conn, state, now, session, id, p| {
            let form = person_form(p);
            match &change {
                PersonChange::Referent => {
                    habilitation::request::save_referent(conn, &state.rng, now, session, id, &form)
                }
                PersonChange::AddAidant => {
                    habilitation::request::add_aidant(conn, &state.rng, now, session, id, &form)
                }
                PersonChange::EditAidant(person) => habilitation::request::edit_aidant(
                    conn, &state.rng, now, session, id, person, &form,
                ),
            }
        },
    )
    .await?;
    match done {
        Err(page) => Ok(page),
        Ok((_, Ok(()))) => Ok(see_other(&format!("{SPACE}/{id}/aidants"))),
        Ok((posted, Err(Refusal::Fields(errors)))) if adding => {
            aidants_page(&req, &state, &session, &id, &posted, &errors).await
        }
        Ok((posted, Err(Refusal::Fields(errors)))) => {
            person_page(&req, &state, &id, person.as_deref(), &posted, &errors).await
        }
        Ok((_, Err(refusal))) => Ok(not_editable(&refusal)),
    }
}

/// POST /habilitation/demandes/{id}/referent: saved, then the aidants to train.
pub(crate) async fn save_referent(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    change_person(
        req,
        state,
        session,
        path.into_inner(),
        body,
        PersonChange::Referent,
    )
    .await
}

#[derive(Template)]
#[template(path = "habilitation_aidants.html")]
struct AidantsPage {
    csrf: String,
    id: String,
    aidants: Vec<PersonLine>,
    referent_also_aidant: Option<String>,
    inputs: Vec<Input>,
    errors: Vec<(String, String)>,
}

async fn aidants_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &IssuerSession,
    id: &str,
    posted: &Posted,
    errors: &[FieldError],
) -> Result<HttpResponse, WebError> {
    let file = match editable_file(state, session, id).await? {
        Ok(file) => file,
        Err(page) => return Ok(page),
    };
    let csrf = CsrfToken::for_request(req, state)?;
    let page = AidantsPage {
        csrf: csrf.value.clone(),
        id: id.to_owned(),
        aidants: file.aidants.iter().map(PersonLine::of).collect(),
        referent_also_aidant: file
            .referent
            .as_ref()
            .filter(|r| r.also_aidant)
            .map(habilitation::Person::full_name),
        inputs: person_inputs(posted, errors, "Facultatif"),
        errors: summary(errors),
    };
    render(status_of(errors), &page, Some(&csrf), state.secure_cookies)
}

/// GET /habilitation/demandes/{id}/aidants: the list, and a form to add one.
pub(crate) async fn aidants(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    aidants_page(&req, &state, &session, &path, &Posted(Vec::new()), &[]).await
}

/// POST /habilitation/demandes/{id}/aidants: one more aidant to train.
pub(crate) async fn add_aidant(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    change_person(
        req,
        state,
        session,
        path.into_inner(),
        body,
        PersonChange::AddAidant,
    )
    .await
}

/// GET /habilitation/demandes/{id}/aidants/{person}: the form of one aidant to train.
pub(crate) async fn aidant(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (id, person) = path.into_inner();
    let file = match editable_file(&state, &session, &id).await? {
        Ok(file) => file,
        Err(page) => return Ok(page),
    };
    let Some(found) = file.aidants.iter().find(|p| p.id == person) else {
        return Ok(unknown_request());
    };
    person_page(&req, &state, &id, Some(&person), &person_posted(found), &[]).await
}

/// POST /habilitation/demandes/{id}/aidants/{person}: its change saved.
pub(crate) async fn edit_aidant(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let (id, person) = path.into_inner();
    change_person(
        req,
        state,
        session,
        id,
        body,
        PersonChange::EditAidant(person),
    )
    .await
}

/// POST /habilitation/demandes/{id}/aidants/{person}/retirer.
pub(crate) async fn remove_aidant(
    req: HttpRequest,
    state: web::Data<AppState>,
    Issuer(session): Issuer,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let (id, person) = path.into_inner();
    let done = issuer_post(
        &req,
        &state,
        &session,
        &id,
        &body,
        move |conn, state, now, session, id, _| {
            habilitation::request::remove_aidant(conn, &state.rng, now, session, id, &person)
        },
    )
    .await?;
    match done {
        Err(page) => Ok(page),
        Ok((_, Ok(()))) => Ok(see_other(&format!("{SPACE}/{id}/aidants"))),
        Ok((_, Err(refusal))) => Ok(not_editable(&refusal)),
    }
}
