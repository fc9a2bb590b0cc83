//! The espace référent: the organisation's aidants with the state of their cards; adding an
//! aidant, deactivating and reactivating one, designating co-référents; associating,
//! validating and dissociating cards, enrolling a digital card. Every page checks that the
//! signed-in aidant is a référent of their current organisation and that the aidant acted
//! upon belongs to it; every action needs a recent OTP code.

use crate::account::{guarded, to_login, to_recheck, Guarded, Signed};
use crate::attestation::qr_data_uri;
use crate::csrf::{self, CsrfToken};
use crate::habilitation::{
    field_errors, person_inputs, refused_or, status_of, summary, Input, Posted,
};
use crate::interaction::see_other;
use crate::pages::{csrf_refused, error_page, html_response};
use crate::{AppState, WebError};
use accounts::{Member, Role};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use authenticator::{
    CardRefusal, CardState, Dissociation, OtpCard, OtpRefusal, ReferentAction, ReferentSession,
    VerifiedReferent,
};
use habilitation::{FieldError, Refusal};
use serde::Deserialize;
use store::{AidantId, CardId, DbConnection, PooledDb, Timestamp};

/// Where the espace référent starts.
const HOME: &str = "/espace-referent";

/// Why the cards of an aidant who also works elsewhere are left to the national team.
const SHARED_AIDANT: &str = "Cet aidant exerce aussi dans une autre structure dont vous n'êtes pas référent : sa carte lui sert partout, seule l'équipe nationale d'Aidants Connect peut l'associer, la dissocier ou lui créer une carte numérique. Écrivez-lui en indiquant l'adresse électronique de l'aidant.";

/// What a référent page's body decides.
enum Reply {
    /// An HTML page.
    Page(StatusCode, String),
    /// Go there.
    Redirect(String),
    /// The aidant or card does not belong to the organisation.
    NotFound,
}

/// The path of an aidant's page, with an optional confirmation.
fn aidant_path(aidant_id: &AidantId, done: Option<&str>) -> String {
    match done {
        Some(done) => format!("{HOME}/aidants/{aidant_id}?fait={done}"),
        None => format!("{HOME}/aidants/{aidant_id}"),
    }
}

fn forbidden() -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "Réservé aux référents",
        "Cette page est réservée aux référents de la structure. Demandez à votre référent de faire cette action.",
    )
}

fn not_found() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Introuvable",
        "Cet aidant ou cette carte n'existe pas ou ne dépend pas de votre structure.",
    )
}

/// The proof a référent page asks the authenticator for: [`ReferentSession`] to see,
/// [`VerifiedReferent`] to act.
trait ReferentProof: Sized {
    /// The proof for this signed-in aidant, or what they lack.
    fn extract(
        conn: &mut PooledDb,
        state: &AppState,
        now: Timestamp,
        signed: &Signed,
    ) -> Result<Result<Self, Guarded<Option<Reply>>>, WebError>;
}

impl ReferentProof for ReferentSession {
    fn extract(
        conn: &mut PooledDb,
        _: &AppState,
        _: Timestamp,
        signed: &Signed,
    ) -> Result<Result<Self, Guarded<Option<Reply>>>, WebError> {
        Ok(authenticator::referent_session(conn, &signed.session)?.ok_or(Guarded::Done(None)))
    }
}

impl ReferentProof for VerifiedReferent {
    fn extract(
        conn: &mut PooledDb,
        state: &AppState,
        now: Timestamp,
        signed: &Signed,
    ) -> Result<Result<Self, Guarded<Option<Reply>>>, WebError> {
        if let Err(missing) = ReferentSession::extract(conn, state, now, signed)? {
            return Ok(Err(missing));
        }
        if !signed.session.code_is_fresh(&state.policy, now) {
            return Ok(Err(Guarded::Recheck));
        }
        Ok(
            authenticator::verify_referent(conn, &signed.session, &state.policy, now)?
                .ok_or(Guarded::Done(None)),
        )
    }
}

/// Runs a référent page with the proof `P` it needs: signed in (else sign-in), référent of
/// the current organisation (else 403), and for [`VerifiedReferent`] a code typed within the
/// activity window (else the fresh-code page, coming back to `back`).
async fn as_referent<P, F>(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    back: String,
    f: F,
) -> Result<HttpResponse, WebError>
where
    P: ReferentProof,
    F: FnOnce(&mut PooledDb, &AppState, Timestamp, Signed, P, String) -> Result<Reply, WebError>
        + Send
        + 'static,
{
    let csrf = CsrfToken::for_request(req, state)?;
    let csrf_value = csrf.value.clone();
    let outcome = guarded(req, state, move |conn, state, now, signed| {
        let proof = match P::extract(conn, state, now, &signed)? {
            Ok(proof) => proof,
            Err(missing) => return Ok(missing),
        };
        Ok(Guarded::Done(Some(f(
            conn, state, now, signed, proof, csrf_value,
        )?)))
    })
    .await?;
    Ok(match outcome {
        Guarded::Login => to_login(&back),
        Guarded::Recheck => to_recheck(&back),
        Guarded::Done(None) => forbidden(),
        Guarded::Done(Some(Reply::NotFound)) => not_found(),
        Guarded::Done(Some(Reply::Redirect(to))) => see_other(&to),
        Guarded::Done(Some(Reply::Page(status, body))) => {
            html_response(status, body, Some(&csrf), state.secure_cookies)
        }
    })
}

/// Runs a référent's action on an aidant: the form's CSRF token checked, then as
/// [`as_referent`] with a [`VerifiedReferent`], coming back to the aidant's page.
async fn referent_post<F>(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    csrf_token: &str,
    aidant_id: &AidantId,
    f: F,
) -> Result<HttpResponse, WebError>
where
    F: FnOnce(
            &mut PooledDb,
            &AppState,
            Timestamp,
            Signed,
            VerifiedReferent,
            String,
        ) -> Result<Reply, WebError>
        + Send
        + 'static,
{
    if !csrf::is_valid(req, state, csrf_token) {
        return Ok(csrf_refused());
    }
    as_referent(req, state, aidant_path(aidant_id, None), f).await
}

struct MemberRow {
    id: String,
    name: String,
    email: String,
    referent: bool,
    status: &'static str,
    cards: String,
    /// When mail to the address was last refused, if no later mail went through.
    refused: Option<String>,
}

#[derive(Template)]
#[template(path = "referent.html")]
struct ListPage {
    csrf: String,
    organisation_name: String,
    rows: Vec<MemberRow>,
}

fn status(member: &Member) -> &'static str {
    if !member.active {
        "désactivé"
    } else if !member.aidant.active {
        "en attente d'activation"
    } else {
        "actif"
    }
}

/// The Paris day mail to `address` was refused, if it is among `refused`.
fn refused_on(refused: &[(String, Timestamp)], address: &str) -> Option<String> {
    refused
        .iter()
        .find(|(a, _)| a == address)
        .map(|(_, at)| paris::local(*at).format("%d/%m/%Y").to_string())
}

fn card_summary(cards: &[OtpCard], now: Timestamp) -> String {
    let shown: Vec<String> = cards
        .iter()
        .map(|c| format!("{} ({})", card_name(c), c.state(now).label()))
        .collect();
    if shown.is_empty() {
        "aucune carte".to_owned()
    } else {
        shown.join(", ")
    }
}

fn card_name(card: &OtpCard) -> String {
    if card.is_physical() {
        format!("carte {}", card.serial)
    } else {
        "carte numérique".to_owned()
    }
}

/// GET /espace-referent.
pub(crate) async fn aidants(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    as_referent(
        &req,
        &state,
        HOME.to_owned(),
        |conn, _, now, signed, _: ReferentSession, csrf| {
            let members = accounts::members(conn, &signed.organisation.id)?;
            let addresses: Vec<&str> = members.iter().map(|m| m.aidant.email.as_str()).collect();
            let refused = mail::refused_addresses(conn, &addresses)?;
            let mut rows = Vec::new();
            for member in &members {
                let cards = authenticator::cards_of_aidant(conn, &member.aidant.id)?;
                rows.push(MemberRow {
                    refused: refused_on(&refused, &member.aidant.email),
                    id: member.aidant.id.clone().into(),
                    name: member.aidant.full_name(),
                    email: member.aidant.email.clone(),
                    referent: member.role == Role::Referent,
                    status: status(member),
                    cards: card_summary(&cards, now),
                });
            }
            let page = ListPage {
                csrf,
                organisation_name: signed.organisation.name,
                rows,
            };
            Ok(Reply::Page(StatusCode::OK, page.render()?))
        },
    )
    .await
}

struct CardRow {
    id: String,
    name: String,
    state: &'static str,
    locked: bool,
}

#[derive(Template)]
#[template(path = "referent_aidant.html")]
struct AidantPage {
    csrf: String,
    id: String,
    name: String,
    email: String,
    profession: String,
    referent: bool,
    status: &'static str,
    /// When mail to the address was last refused, if no later mail went through.
    refused: Option<String>,
    deactivated: bool,
    is_self: bool,
    /// The aidant works elsewhere too: their cards are not managed here.
    shared: Option<&'static str>,
    cards: Vec<CardRow>,
    pending: bool,
    has_physical: bool,
    serial: String,
    done: Option<&'static str>,
    error: Option<String>,
}

/// What the aidant page shows besides the aidant.
#[derive(Default)]
struct AidantInput {
    done: Option<&'static str>,
    error: Option<String>,
    serial: String,
}

fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "cree" => "Aidant ajouté. La carte peut lui être associée dès maintenant ; il pourra se connecter une fois son compte activé par l'équipe Aidants Connect après sa formation.",
        "associee" => "Carte associée. Validez-la maintenant avec un code qu'elle affiche.",
        "validee" => "Carte validée : l'aidant peut se connecter avec.",
        "dissociee" => "Carte dissociée. Les sessions de l'aidant ont été fermées.",
        "debloquee" => "Carte débloquée : elle accepte de nouveau les codes saisis depuis un poste non reconnu.",
        "desactive" => "Aidant désactivé dans votre structure. Ses sessions ont été fermées.",
        "reactive" => "Aidant réactivé dans votre structure.",
        "referent" => "Cet aidant est désormais référent de la structure.",
        "retire" => "Cet aidant n'est plus référent ; il reste aidant de la structure.",
        "transmis" => "Rôle transmis : cet aidant est désormais référent de la structure, et vous en restez aidant.",
        _ => return None,
    })
}

/// Renders the aidant page, or `None` when the aidant is not a member.
fn aidant_page(
    conn: &mut DbConnection,
    now: Timestamp,
    signed: &Signed,
    csrf: String,
    aidant_id: &AidantId,
    input: AidantInput,
) -> Result<Option<String>, WebError> {
    let Some(member) = accounts::member(conn, &signed.organisation.id, aidant_id)? else {
        return Ok(None);
    };
    let cards = authenticator::cards_of_aidant(conn, aidant_id)?;
    let shared = !authenticator::may_manage_cards(conn, &signed.aidant.id, aidant_id)?;
    let refused = mail::refused_addresses(conn, &[member.aidant.email.as_str()])?;
    let page = AidantPage {
        refused: refused_on(&refused, &member.aidant.email),
        csrf,
        id: member.aidant.id.clone().into(),
        name: member.aidant.full_name(),
        email: member.aidant.email.clone(),
        profession: member.aidant.profession.clone(),
        referent: member.role == Role::Referent,
        status: status(&member),
        deactivated: !member.active,
        is_self: member.aidant.id == signed.aidant.id,
        shared: shared.then_some(SHARED_AIDANT),
        pending: cards
            .iter()
            .any(|c| c.state(now) == CardState::AwaitingValidation),
        has_physical: cards.iter().any(OtpCard::is_physical),
        cards: cards
            .iter()
            .map(|c| CardRow {
                id: c.id.clone().into(),
                name: card_name(c),
                state: c.state(now).label(),
                locked: c.state(now) == CardState::Locked,
            })
            .collect(),
        serial: input.serial,
        done: input.done,
        error: input.error,
    };
    Ok(Some(page.render()?))
}

#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    #[serde(default)]
    fait: String,
}

/// GET /espace-referent/aidants/{id}.
pub(crate) async fn aidant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, WebError> {
    let aidant_id = AidantId::from(path.into_inner());
    let done = done_message(&query.fait);
    let back = aidant_path(&aidant_id, None);
    as_referent(
        &req,
        &state,
        back,
        move |conn, _, now, signed, _: ReferentSession, csrf| {
            let input = AidantInput {
                done,
                ..AidantInput::default()
            };
            Ok(
                match aidant_page(conn, now, &signed, csrf, &aidant_id, input)? {
                    Some(body) => Reply::Page(StatusCode::OK, body),
                    None => Reply::NotFound,
                },
            )
        },
    )
    .await
}

/// The French sentence for a refused card action.
pub(crate) fn card_refusal_message(refusal: CardRefusal) -> String {
    match refusal {
        CardRefusal::NotMember => "Cet aidant ne dépend pas de votre structure.".into(),
        CardRefusal::UnknownSerial => {
            "Aucune carte physique ne porte ce numéro de série. Vérifiez le numéro imprimé au dos de la carte.".into()
        }
        CardRefusal::CardTaken => "Cette carte est déjà associée à un aidant.".into(),
        CardRefusal::OutOfService => {
            "Cette carte est hors service (perdue, cassée ou défectueuse) : utilisez-en une autre.".into()
        }
        CardRefusal::AlreadyHasCard => {
            "Cet aidant a déjà une carte physique : dissociez-la avant d'en associer une autre.".into()
        }
        CardRefusal::NoPendingCard => "Aucune carte de cet aidant n'attend de validation.".into(),
        CardRefusal::ReasonMissing => "Précisez le motif de la dissociation.".into(),
        CardRefusal::SelfDeactivation => {
            "Vous ne pouvez pas vous désactiver vous-même : demandez-le à un autre référent.".into()
        }
        CardRefusal::SharedAidant => SHARED_AIDANT.into(),
        CardRefusal::LastReferent => "La structure doit garder au moins un référent en activité : désignez d'abord un autre référent, en activité.".into(),
        CardRefusal::SelfHandOver => "Choisissez un autre aidant de la structure pour lui transmettre votre rôle.".into(),
        CardRefusal::Code(OtpRefusal::WrongCode) => {
            "Code incorrect. Saisissez le code à 6 chiffres que la carte affiche maintenant.".into()
        }
        CardRefusal::Code(OtpRefusal::Replayed) => {
            "Ce code a déjà été utilisé. Attendez que la carte affiche un nouveau code.".into()
        }
        CardRefusal::Code(OtpRefusal::TooSoon(until)) => format!(
            "Code incorrect. Patientez jusqu'à {} (heure de Paris) avant de saisir un nouveau code.",
            paris::local(until).format("%H:%M:%S")
        ),
        CardRefusal::Code(OtpRefusal::Locked { until, .. }) => format!(
            "Trop de codes erronés : la carte est bloquée jusqu'à {} (heure de Paris).",
            paris::local(until).format("%H:%M")
        ),
        CardRefusal::Code(OtpRefusal::OutOfService) => "Cette carte est hors service.".into(),
    }
}

/// After a card or member action: back to the aidant page with a confirmation, or the page
/// again with the refusal.
#[allow(clippy::too_many_arguments)]
fn after_action(
    conn: &mut DbConnection,
    state: &AppState,
    now: Timestamp,
    signed: &Signed,
    csrf: String,
    aidant_id: &AidantId,
    outcome: Result<&'static str, CardRefusal>,
    serial: String,
) -> Result<Reply, WebError> {
    let refusal = match outcome {
        Ok(done) => return Ok(Reply::Redirect(aidant_path(aidant_id, Some(done)))),
        Err(CardRefusal::NotMember) => return Ok(Reply::NotFound),
        Err(refusal) => refusal,
    };
    if let CardRefusal::Code(code) = &refusal {
        state.metrics.otp_failure(match code {
            OtpRefusal::WrongCode => "validation_code_incorrect",
            OtpRefusal::Replayed => "validation_code_deja_utilise",
            OtpRefusal::TooSoon(_) => "validation_trop_tot",
            OtpRefusal::Locked { .. } => "validation_carte_bloquee",
            OtpRefusal::OutOfService => "validation_carte_hors_service",
        });
    }
    let input = AidantInput {
        done: None,
        error: Some(card_refusal_message(refusal)),
        serial,
    };
    Ok(
        match aidant_page(conn, now, signed, csrf, aidant_id, input)? {
            Some(body) => Reply::Page(StatusCode::UNPROCESSABLE_ENTITY, body),
            None => Reply::NotFound,
        },
    )
}

/// Runs a référent's action on an aidant (as [`referent_post`]), whose outcome is a
/// confirmation to show on the aidant's page or a refusal to explain there.
async fn action_on_aidant<F>(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    csrf_token: &str,
    aidant_id: AidantId,
    f: F,
) -> Result<HttpResponse, WebError>
where
    F: FnOnce(
            &mut PooledDb,
            &AppState,
            Timestamp,
            ReferentAction<'_>,
        ) -> Result<Result<&'static str, CardRefusal>, WebError>
        + Send
        + 'static,
{
    let back = aidant_id.clone();
    referent_post(
        req,
        state,
        csrf_token,
        &back,
        move |conn, state, now, signed, referent, csrf| {
            let outcome = f(conn, state, now, ReferentAction::on(&referent, &aidant_id))?;
            after_action(
                conn,
                state,
                now,
                &signed,
                csrf,
                &aidant_id,
                outcome,
                String::new(),
            )
        },
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct CardForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    otp: String,
    #[serde(default)]
    motif: String,
    #[serde(default)]
    precision: String,
}

/// POST /espace-referent/aidants/{id}/carte: associate a physical card by serial number.
pub(crate) async fn associate(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CardForm>,
) -> Result<HttpResponse, WebError> {
    let aidant_id = AidantId::from(path.into_inner());
    let CardForm {
        csrf_token, serial, ..
    } = form.into_inner();
    referent_post(
        &req,
        &state,
        &csrf_token,
        &aidant_id.clone(),
        move |conn, state, now, signed, referent, csrf| {
            let outcome = authenticator::associate_card(
                conn,
                &state.rng,
                now,
                ReferentAction::on(&referent, &aidant_id),
                &serial,
            )?
            .map(|_| "associee");
            after_action(conn, state, now, &signed, csrf, &aidant_id, outcome, serial)
        },
    )
    .await
}

/// POST /espace-referent/aidants/{id}/carte/valider: validate the pending card with a code.
pub(crate) async fn validate(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CardForm>,
) -> Result<HttpResponse, WebError> {
    let aidant_id = AidantId::from(path.into_inner());
    let CardForm {
        csrf_token, otp, ..
    } = form.into_inner();
    action_on_aidant(
        &req,
        &state,
        &csrf_token,
        aidant_id.clone(),
        move |conn, state, now, who| {
            Ok(authenticator::validate_card(
                conn,
                &state.rng,
                &state.cipher,
                &state.policy,
                now,
                who,
                &otp,
            )?
            .map(|_| "validee"))
        },
    )
    .await
}

/// POST /espace-referent/aidants/{id}/cartes/{card}/dissocier.
pub(crate) async fn dissociate(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CardForm>,
) -> Result<HttpResponse, WebError> {
    let (aidant_id, card_id) = path.into_inner();
    let (aidant_id, card_id) = (AidantId::from(aidant_id), CardId::from(card_id));
    let CardForm {
        csrf_token,
        motif,
        precision,
        ..
    } = form.into_inner();
    action_on_aidant(
        &req,
        &state,
        &csrf_token,
        aidant_id.clone(),
        move |conn, state, now, who| {
            Ok(match Dissociation::parse(&motif, &precision) {
                None => Err(CardRefusal::ReasonMissing),
                Some(reason) => {
                    authenticator::dissociate_card(conn, &state.rng, now, who, &card_id, &reason)?
                        .map(|()| "dissociee")
                }
            })
        },
    )
    .await
}

/// POST /espace-referent/aidants/{id}/cartes/{card}/debloquer: lift the lock that wrong codes
/// from unrecognised browsers put on the card.
pub(crate) async fn unlock(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    let (aidant_id, card_id) = path.into_inner();
    let (aidant_id, card_id) = (AidantId::from(aidant_id), CardId::from(card_id));
    action_on_aidant(
        &req,
        &state,
        &form.csrf_token,
        aidant_id.clone(),
        move |conn, state, now, who| {
            Ok(
                authenticator::unlock_card(conn, &state.rng, now, who, &card_id)?
                    .map(|()| "debloquee"),
            )
        },
    )
    .await
}

#[derive(Template)]
#[template(path = "referent_digital.html")]
struct DigitalPage {
    csrf: String,
    id: String,
    name: String,
    qr: String,
}

/// POST /espace-referent/aidants/{id}/carte-numerique: a new digital card, its QR code shown
/// this once, and the form that validates it with a first code.
pub(crate) async fn enrol_digital(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CardForm>,
) -> Result<HttpResponse, WebError> {
    let aidant_id = AidantId::from(path.into_inner());
    referent_post(
        &req,
        &state,
        &form.csrf_token,
        &aidant_id.clone(),
        move |conn, state, now, signed, referent, csrf| {
            let Some(member) = accounts::member(conn, referent.organisation_id(), &aidant_id)?
            else {
                return Ok(Reply::NotFound);
            };
            let enrolment = match authenticator::begin_digital_card(
                conn,
                &state.rng,
                &state.cipher,
                now,
                ReferentAction::on(&referent, &aidant_id),
            )? {
                Ok(e) => e,
                Err(refusal) => {
                    return after_action(
                        conn,
                        state,
                        now,
                        &signed,
                        csrf,
                        &aidant_id,
                        Err(refusal),
                        String::new(),
                    )
                }
            };
            let page = DigitalPage {
                csrf,
                id: aidant_id.clone().into(),
                name: member.aidant.full_name(),
                qr: qr_data_uri(&enrolment.otpauth_uri(&member.aidant.email))?,
            };
            Ok(Reply::Page(StatusCode::OK, page.render()?))
        },
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf_token: String,
}

/// What a member action does.
#[derive(Clone, Copy)]
enum MemberAction {
    Deactivate,
    Reactivate,
    Designate,
    RemoveReferent,
    HandOver,
}

impl MemberAction {
    /// The action named by the last segment of its path.
    fn parse(segment: &str) -> Option<MemberAction> {
        match segment {
            "desactiver" => Some(MemberAction::Deactivate),
            "reactiver" => Some(MemberAction::Reactivate),
            "referent" => Some(MemberAction::Designate),
            "retirer-referent" => Some(MemberAction::RemoveReferent),
            "transmettre" => Some(MemberAction::HandOver),
            _ => None,
        }
    }
}

/// POST /espace-referent/aidants/{id}/desactiver, …/reactiver, …/referent (co-référent),
/// …/retirer-referent (no longer a co-référent) and …/transmettre (the référent's role handed
/// over to this aidant by a leaving référent).
pub(crate) async fn member_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    let (aidant_id, segment) = path.into_inner();
    let Some(action) = MemberAction::parse(&segment) else {
        return Ok(crate::pages::not_found().await);
    };
    action_on_aidant(
        &req,
        &state,
        &form.csrf_token,
        AidantId::from(aidant_id.clone()),
        move |conn, state, now, who| {
            Ok(match action {
                MemberAction::Deactivate => {
                    authenticator::deactivate_member(conn, &state.rng, now, who)?
                        .map(|()| "desactive")
                }
                MemberAction::Reactivate => {
                    authenticator::reactivate_member(conn, &state.rng, now, who)?
                        .map(|()| "reactive")
                }
                MemberAction::Designate => {
                    authenticator::designate_referent(conn, &state.rng, now, who)?
                        .map(|()| "referent")
                }
                MemberAction::RemoveReferent => {
                    authenticator::remove_referent(conn, &state.rng, now, who)?.map(|()| "retire")
                }
                MemberAction::HandOver => {
                    authenticator::hand_over_referent(conn, &state.rng, now, who)?
                        .map(|()| "transmis")
                }
            })
        },
    )
    .await
}

#[derive(Template)]
#[template(path = "referent_new.html")]
struct NewAidantPage {
    csrf: String,
    inputs: Vec<Input>,
    leaves: bool,
    errors: Vec<(String, String)>,
}

/// The request form, with what was typed and what is refused.
fn new_aidant_page_with(
    csrf: String,
    posted: &Posted,
    errors: &[FieldError],
) -> Result<Reply, WebError> {
    let page = NewAidantPage {
        csrf,
        inputs: person_inputs(posted, errors, "Facultatif"),
        leaves: posted.ticked("leaves"),
        errors: summary(errors),
    };
    Ok(Reply::Page(status_of(errors), page.render()?))
}

/// GET /espace-referent/aidants/nouveau: the request for an aidant.
pub(crate) async fn new_aidant_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let back = format!("{HOME}/aidants/nouveau");
    as_referent(
        &req,
        &state,
        back,
        |_, _, _, _, _: ReferentSession, csrf| new_aidant_page_with(csrf, &Posted::parse(b""), &[]),
    )
    .await
}

/// POST /espace-referent/aidants/nouveau: the national team is asked for the aidant (new, to
/// train, or coming from another structure); refused fields are shown with what was typed.
pub(crate) async fn add_aidant(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let posted = Posted::parse(&body);
    if !posted.csrf_ok(&req, &state) {
        return Ok(csrf_refused());
    }
    let back = format!("{HOME}/aidants/nouveau");
    as_referent(
        &req,
        &state,
        back,
        move |conn, state, now, _, referent: VerifiedReferent, csrf| {
            let asked = habilitation::aidants::ask(
                conn,
                &state.rng,
                now,
                &referent,
                habilitation::aidants::AidantForm {
                    person: habilitation::PersonForm {
                        first_name: posted.get("first_name"),
                        last_name: posted.get("last_name"),
                        email: posted.get("email"),
                        phone: posted.get("phone"),
                        profession: posted.get("profession"),
                        also_aidant: false,
                    },
                    leaves: posted.ticked("leaves"),
                },
                &state.national_team_email,
            );
            match refused_or(asked)? {
                Ok(_) => Ok(Reply::Redirect(format!("{HOME}/demandes?envoyee=1"))),
                Err(refusal) => {
                    new_aidant_page_with(csrf, &posted, &field_errors(refusal, "email"))
                }
            }
        },
    )
    .await
}

/// A line of the référent's requests page.
struct RequestLine {
    id: String,
    /// Awaiting the team: the référent may withdraw it.
    open: bool,
    name: String,
    email: String,
    kind: &'static str,
    asked: String,
    status: &'static str,
    badge: &'static str,
    reason: String,
}

#[derive(Template)]
#[template(path = "referent_requests.html")]
struct RequestsPage {
    csrf: String,
    organisation_name: String,
    lines: Vec<RequestLine>,
    sent: bool,
    withdrawn: bool,
    decided: bool,
}

#[derive(Deserialize)]
pub(crate) struct RequestsQuery {
    #[serde(default)]
    envoyee: String,
    #[serde(default)]
    retiree: String,
    #[serde(default)]
    decidee: String,
}

/// The requests shown, at most.
const REQUESTS_SHOWN: i64 = 200;

/// GET /espace-referent/demandes: the structure's requests for aidants and their decisions.
pub(crate) async fn requests(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<RequestsQuery>,
) -> Result<HttpResponse, WebError> {
    let (sent, withdrawn, decided) = (
        query.envoyee == "1",
        query.retiree == "1",
        query.decidee == "1",
    );
    as_referent(
        &req,
        &state,
        format!("{HOME}/demandes"),
        move |conn, _, _, signed, referent: ReferentSession, csrf| {
            let requests = habilitation::aidants::requests_of(conn, &referent, REQUESTS_SHOWN)?;
            let page = RequestsPage {
                csrf,
                organisation_name: signed.organisation.name,
                lines: requests
                    .iter()
                    .map(|r| RequestLine {
                        id: r.id.clone(),
                        open: r.status == habilitation::Status::Awaiting,
                        name: r.full_name(),
                        email: r.email.clone(),
                        kind: if r.arriving {
                            "Arrivée d'un aidant d'une autre structure"
                        } else {
                            "Nouvel aidant à former"
                        },
                        asked: crate::espace::date(r.created_at),
                        status: if r.status == habilitation::Status::Closed {
                            "retirée"
                        } else {
                            r.status.label()
                        },
                        badge: crate::habilitation::status_class(r.status),
                        reason: r.reason.clone(),
                    })
                    .collect(),
                sent,
                withdrawn,
                decided,
            };
            Ok(Reply::Page(StatusCode::OK, page.render()?))
        },
    )
    .await
}

/// POST /espace-referent/demandes/{id}/retirer: the référent withdraws a request the team has
/// not decided yet; back to the requests, which say it is done, or that the team decided first.
pub(crate) async fn withdraw_request(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let id = path.into_inner();
    as_referent(
        &req,
        &state,
        format!("{HOME}/demandes"),
        move |conn, state, now, _, referent: VerifiedReferent, _| {
            let withdrawn = habilitation::aidants::withdraw(conn, &state.rng, now, &referent, &id);
            Ok(match refused_or(withdrawn)? {
                Ok(_) => Reply::Redirect(format!("{HOME}/demandes?retiree=1")),
                Err(Refusal::Transition { .. }) => {
                    Reply::Redirect(format!("{HOME}/demandes?decidee=1"))
                }
                Err(_) => Reply::NotFound,
            })
        },
    )
    .await
}

/// A line of the référent's training page.
struct TraineeLine {
    id: String,
    name: String,
    state: String,
}

#[derive(Template)]
#[template(path = "referent_trainings.html")]
struct TrainingsPage {
    csrf: String,
    organisation_name: String,
    trainees: Vec<TraineeLine>,
    sessions: Vec<(String, String)>,
    error: Option<String>,
    done: bool,
}

/// Where an aidant to train stands, in words.
fn training_state(t: &habilitation::training::Trainee) -> String {
    let pix = match t.pix {
        Some(true) => " ; Pix réussi",
        Some(false) => " ; Pix non réussi",
        None => "",
    };
    match &t.session {
        None => "pas encore inscrit".to_owned(),
        Some((s, attended)) => format!(
            "{} à la session du {}{pix}",
            match attended {
                None => "inscrit",
                Some(true) => "présent",
                Some(false) => "absent",
            },
            crate::habilitation::shown(s.starts_at),
        ),
    }
}

/// A session as a list shows it.
pub(crate) fn session_label(line: &habilitation::training::SessionLine) -> String {
    let s = &line.session;
    format!(
        "{} — {} ({}) — {} place(s) libre(s)",
        crate::habilitation::shown(s.starts_at),
        s.place,
        s.organiser,
        line.seats_left()
    )
}

#[derive(Deserialize)]
pub(crate) struct TrainingsQuery {
    #[serde(default)]
    fait: String,
}

/// The training page of `signed`'s structure.
fn trainings_page(
    conn: &mut PooledDb,
    now: Timestamp,
    signed: Signed,
    referent: &ReferentSession,
    csrf: String,
    error: Option<String>,
    done: bool,
) -> Result<Reply, WebError> {
    let trainees = habilitation::training::trainees(conn, referent)?;
    let sessions = habilitation::training::upcoming(conn, now)?;
    let page = TrainingsPage {
        csrf,
        organisation_name: signed.organisation.name,
        trainees: trainees
            .iter()
            .map(|t| TraineeLine {
                id: t.aidant.id.clone().into(),
                name: t.aidant.full_name(),
                state: training_state(t),
            })
            .collect(),
        sessions: sessions
            .iter()
            .filter(|s| s.seats_left() > 0)
            .map(|s| (s.session.id.clone(), session_label(s)))
            .collect(),
        error: error.clone(),
        done,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(Reply::Page(status, page.render()?))
}

/// GET /espace-referent/formations: the aidants to train and the sessions to come.
pub(crate) async fn trainings(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TrainingsQuery>,
) -> Result<HttpResponse, WebError> {
    let done = query.fait == "1";
    as_referent(
        &req,
        &state,
        format!("{HOME}/formations"),
        move |conn, _, now, signed, referent: ReferentSession, csrf| {
            trainings_page(conn, now, signed, &referent, csrf, None, done)
        },
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct RegisterForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    aidant: String,
    #[serde(default)]
    session: String,
}

/// POST /espace-referent/formations: an aidant to train registered on a session.
pub(crate) async fn register_training(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, WebError> {
    if !csrf::is_valid(&req, &state, &form.csrf_token) {
        return Ok(csrf_refused());
    }
    let RegisterForm {
        aidant, session, ..
    } = form.into_inner();
    as_referent(
        &req,
        &state,
        format!("{HOME}/formations"),
        move |conn, state, now, signed, referent: VerifiedReferent, csrf| {
            let outcome = habilitation::training::register(
                conn,
                &state.rng,
                now,
                &referent,
                &AidantId::from(aidant),
                &session,
            );
            match crate::habilitation::refused_or(outcome)? {
                Ok(()) => Ok(Reply::Redirect(format!("{HOME}/formations?fait=1"))),
                Err(refusal) => {
                    let Some(seeing) = authenticator::referent_session(conn, &signed.session)?
                    else {
                        return Ok(Reply::NotFound);
                    };
                    let message = match refusal {
                        habilitation::Refusal::Fields(errors) => errors
                            .into_iter()
                            .map(|e| e.message)
                            .collect::<Vec<_>>()
                            .join(" "),
                        other => other.to_string(),
                    };
                    trainings_page(conn, now, signed, &seeing, csrf, Some(message), false)
                }
            }
        },
    )
    .await
}
