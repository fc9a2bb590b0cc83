//! The SMS provider's inbound webhook: an usager's answer to a consent request. The provider
//! authenticates with the configured Bearer token (compared in constant time).

use crate::{with_db, AppState, WebError};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use mandate::SmsOutcome;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

/// What the provider posts.
#[derive(Deserialize)]
pub(crate) struct InboundSms {
    from: String,
    text: String,
}

fn authorised(req: &HttpRequest, expected: &str) -> bool {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// POST /sms/reponse.
pub(crate) async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    if !authorised(&req, &state.sms_webhook_token) {
        return Ok(HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .json(json!({ "erreur": "jeton du fournisseur SMS absent ou invalide" })));
    }
    let Ok(sms) = serde_json::from_slice::<InboundSms>(&body) else {
        return Ok(HttpResponse::BadRequest()
            .json(json!({ "erreur": "JSON attendu : {\"from\": \"+336…\", \"text\": \"Oui\"}" })));
    };
    let now = state.clock.now();
    let outcome = with_db(&state, move |conn, state| {
        Ok(mandate::record_sms_answer(
            conn, &state.rng, now, &sms.from, &sms.text,
        )?)
    })
    .await?;
    let result = match outcome {
        SmsOutcome::Accepted(_) => "consentement_enregistre",
        SmsOutcome::Denied(_) => "refus_enregistre",
        SmsOutcome::NoPendingRequest => "aucune_demande_en_attente",
        SmsOutcome::NotUnderstood => "reponse_non_comprise",
    };
    Ok(HttpResponse::Ok().json(json!({ "resultat": result })))
}
