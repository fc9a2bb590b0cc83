//! The authorization endpoint: request validation, the stored request that the aidant's
//! interaction walks through, and its completion into a single-use code.

use crate::{new_secret, param, Lifetimes, Provider, ProviderError, ACR_EIDAS1};
use authenticator::VerifiedAidant;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use mandate::Coverage;
use ring::rand::SecureRandom;
use store::schema::oidc_requests;
use store::{from_db, hash_secret, to_db, DbConnection};

/// Longest `state` or `nonce` accepted.
const MAX_OPAQUE_LEN: usize = 1024;

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// Client.
    pub client_id: String,
    /// Registered redirect URI.
    pub redirect_uri: String,
    /// Opaque client state, echoed.
    pub state: String,
    /// Nonce, echoed in the ID token.
    pub nonce: String,
    /// Requested scopes (`openid` included).
    pub scopes: Vec<String>,
    /// `prompt` values.
    pub prompt: Vec<String>,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `login_hint` (an aidant e-mail), if any.
    pub login_hint: Option<String>,
}

/// An OIDC error to send back to the client's redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    /// Where.
    pub redirect_uri: String,
    /// RFC 6749 / OIDC error code.
    pub error: &'static str,
    /// Human-readable description.
    pub description: String,
    /// The client's state, when known.
    pub state: Option<String>,
}

impl ErrorRedirect {
    /// The `Location` to redirect the browser to.
    pub fn location(&self) -> String {
        let mut pairs = vec![
            ("error", self.error),
            ("error_description", self.description.as_str()),
        ];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        with_query(&self.redirect_uri, &pairs)
    }
}

/// Why an authorization request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: show this (French) message, never redirect.
    Page(String),
    /// Redirect the error to the client.
    Redirect(ErrorRedirect),
}

pub(crate) fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => base.to_owned(),
    }
}

/// Validates an authorization request (query string of a GET, or body of a POST).
pub fn validate_authorization(
    provider: &Provider,
    encoded: &str,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect();
    let count = |name: &str| params.iter().filter(|(n, _)| n == name).count();
    if count("client_id") > 1 {
        return Err(AuthorizeError::Page(
            "Le paramètre client_id est répété.".into(),
        ));
    }
    let Some(client_id) = param(&params, "client_id") else {
        return Err(AuthorizeError::Page(
            "La demande ne précise pas le service (client_id manquant).".into(),
        ));
    };
    let Some(client) = provider.client(client_id) else {
        return Err(AuthorizeError::Page(
            "Le service à l'origine de la demande n'est pas connu d'Aidants Connect.".into(),
        ));
    };
    if count("redirect_uri") > 1 {
        return Err(AuthorizeError::Page(
            "Le paramètre redirect_uri est répété.".into(),
        ));
    }
    let Some(redirect_uri) = param(&params, "redirect_uri") else {
        return Err(AuthorizeError::Page(
            "L'adresse de retour du service est manquante (redirect_uri).".into(),
        ));
    };
    if !client.has_redirect_uri(redirect_uri) {
        return Err(AuthorizeError::Page(
            "L'adresse de retour du service n'est pas enregistrée (redirect_uri).".into(),
        ));
    }
    let state = param(&params, "state").map(str::to_owned);
    let refuse = |error: &'static str, description: &str| {
        AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.to_owned(),
            error,
            description: description.to_owned(),
            state: state.clone(),
        })
    };
    for (i, (name, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(n, _)| n == name) {
            return Err(refuse(
                "invalid_request",
                &format!("paramètre répété: {name}"),
            ));
        }
    }
    if param(&params, "request").is_some() {
        return Err(refuse(
            "request_not_supported",
            "le paramètre request n'est pas pris en charge",
        ));
    }
    if param(&params, "request_uri").is_some() {
        return Err(refuse(
            "request_uri_not_supported",
            "le paramètre request_uri n'est pas pris en charge",
        ));
    }
    match param(&params, "response_type") {
        None => return Err(refuse("invalid_request", "response_type manquant")),
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "seul response_type=code est pris en charge",
            ))
        }
    }
    if param(&params, "response_mode").is_some_and(|m| m != "query") {
        return Err(refuse(
            "invalid_request",
            "seul response_mode=query est pris en charge",
        ));
    }
    let scopes: Vec<String> = param(&params, "scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(refuse("invalid_scope", "le scope openid est obligatoire"));
    }
    let Some(state_value) = state.clone() else {
        return Err(refuse("invalid_request", "state manquant"));
    };
    let Some(nonce) = param(&params, "nonce") else {
        return Err(refuse("invalid_request", "nonce manquant"));
    };
    if state_value.len() > MAX_OPAQUE_LEN || nonce.len() > MAX_OPAQUE_LEN {
        return Err(refuse("invalid_request", "state ou nonce trop long"));
    }
    let prompt: Vec<String> = param(&params, "prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if prompt
        .iter()
        .any(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account"))
    {
        return Err(refuse("invalid_request", "valeur de prompt inconnue"));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(refuse(
            "invalid_request",
            "prompt=none ne se combine avec aucune autre valeur",
        ));
    }
    let max_age = match param(&params, "max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(refuse(
                    "invalid_request",
                    "max_age doit être un entier positif",
                ))
            }
        },
    };
    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: state_value,
        nonce: nonce.to_owned(),
        scopes,
        prompt,
        max_age,
        login_hint: param(&params, "login_hint").map(str::to_owned),
    })
}

/// With `prompt=none`, the refusal to send back: we always need the aidant to choose an usager
/// and a démarche, so it is `login_required` without a session, `interaction_required` with one.
pub fn prompt_none_refusal(
    request: &AuthorizationRequest,
    has_session: bool,
) -> Option<ErrorRedirect> {
    request
        .prompt
        .iter()
        .any(|p| p == "none")
        .then(|| ErrorRedirect {
            redirect_uri: request.redirect_uri.clone(),
            error: if has_session {
                "interaction_required"
            } else {
                "login_required"
            },
            description: if has_session {
                "l'aidant doit choisir l'usager et la démarche".into()
            } else {
                "aucun aidant n'est connecté".into()
            },
            state: Some(request.state.clone()),
        })
}

/// Deletes the authorization requests created before `before` (their interaction, code and
/// tokens expired long ago); returns how many. Anyone can create one with a `GET /authorize`,
/// so they must not pile up.
pub fn purge_requests(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
) -> Result<usize, ProviderError> {
    Ok(
        diesel::delete(oidc_requests::table.filter(oidc_requests::created_at.lt(to_db(before))))
            .execute(conn)?,
    )
}

/// The error sent back to the client when the request cannot be stored now (the database is
/// unavailable): `temporarily_unavailable`, RFC 6749 §4.1.2.1.
pub fn unavailable_refusal(request: &AuthorizationRequest) -> ErrorRedirect {
    ErrorRedirect {
        redirect_uri: request.redirect_uri.clone(),
        error: "temporarily_unavailable",
        description: "Aidants Connect est momentanément indisponible, réessayez plus tard".into(),
        state: Some(request.state.clone()),
    }
}

/// Stores a validated request; returns the interaction id the browser carries.
pub fn store_request(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    now: DateTime<Utc>,
    lifetimes: &Lifetimes,
    request: &AuthorizationRequest,
) -> Result<String, ProviderError> {
    let id = new_secret(rng)?;
    diesel::insert_into(oidc_requests::table)
        .values((
            oidc_requests::id.eq(&id),
            oidc_requests::client_id.eq(&request.client_id),
            oidc_requests::redirect_uri.eq(&request.redirect_uri),
            oidc_requests::state.eq(&request.state),
            oidc_requests::nonce.eq(&request.nonce),
            oidc_requests::acr.eq(ACR_EIDAS1),
            oidc_requests::scope.eq(request.scopes.join(" ")),
            oidc_requests::prompt
                .eq((!request.prompt.is_empty()).then(|| request.prompt.join(" "))),
            oidc_requests::max_age.eq(request.max_age),
            oidc_requests::login_hint.eq(&request.login_hint),
            oidc_requests::created_at.eq(to_db(now)),
            oidc_requests::expires_at.eq(to_db(now + lifetimes.interaction)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A stored request, as the interaction and the token endpoint see it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = oidc_requests)]
pub struct PendingRequest {
    /// Interaction id.
    pub id: String,
    /// Client.
    pub client_id: String,
    /// Redirect URI.
    pub redirect_uri: String,
    /// State.
    pub state: String,
    /// Nonce.
    pub nonce: String,
    /// acr.
    pub acr: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Space-separated prompt values.
    pub prompt: Option<String>,
    /// max_age.
    pub max_age: Option<i64>,
    /// login_hint.
    pub login_hint: Option<String>,
    /// Received at.
    pub created_at: NaiveDateTime,
    /// The interaction must finish before.
    pub expires_at: NaiveDateTime,
    /// Aidant, once chosen.
    pub aidant_id: Option<String>,
    /// Organisation, once chosen.
    pub organisation_id: Option<String>,
    /// Usager, once chosen.
    pub usager_id: Option<String>,
    /// Démarche, once chosen.
    pub demarche: Option<String>,
    /// Autorisation used.
    pub autorisation_id: Option<String>,
    /// When the aidant last authenticated.
    pub auth_time: Option<NaiveDateTime>,
    /// Hash of the code.
    pub code_hash: Option<String>,
    /// Code expiry.
    pub code_expires_at: Option<NaiveDateTime>,
    /// When the code was exchanged.
    pub code_consumed_at: Option<NaiveDateTime>,
    /// Hash of the access token.
    pub access_token_hash: Option<String>,
    /// Access token expiry.
    pub access_token_expires_at: Option<NaiveDateTime>,
    /// When what it issued was revoked.
    pub revoked_at: Option<NaiveDateTime>,
}

impl PendingRequest {
    /// Requested scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether an aidant who last typed a code at `otp_at` must authenticate again before this
    /// request can complete (`prompt=login` since the request, or `max_age` exceeded).
    pub fn needs_reauthentication(&self, otp_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let login_prompted = self
            .prompt
            .as_deref()
            .is_some_and(|p| p.split(' ').any(|v| v == "login"));
        let too_old = self
            .max_age
            .is_some_and(|max| now - otp_at > Duration::seconds(max));
        (login_prompted && otp_at < from_db(self.created_at)) || too_old
    }

    /// An error redirect for this request.
    pub fn error_redirect(&self, error: &'static str, description: &str) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            error,
            description: description.to_owned(),
            state: Some(self.state.clone()),
        }
    }
}

/// The request behind an interaction id, while its interaction is open (not expired, not
/// completed, not cancelled).
pub fn pending_request(
    conn: &mut DbConnection,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<PendingRequest>, ProviderError> {
    Ok(oidc_requests::table
        .find(id)
        .filter(oidc_requests::expires_at.gt(to_db(now)))
        .filter(oidc_requests::code_hash.is_null())
        .filter(oidc_requests::revoked_at.is_null())
        .select(PendingRequest::as_select())
        .first(conn)
        .optional()?)
}

/// Records the usager the aidant chose, binding the request to that aidant. Refused (false)
/// when the organisation holds no active mandate for that usager, or when another aidant
/// already took the request.
pub fn select_usager(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    request: &PendingRequest,
    verified: &VerifiedAidant,
    usager_id: &str,
) -> Result<bool, ProviderError> {
    if mandate::active_demarches(conn, verified.organisation_id(), usager_id, now)?.is_empty() {
        return Ok(false);
    }
    let updated = diesel::update(
        oidc_requests::table
            .find(&request.id)
            .filter(oidc_requests::code_hash.is_null())
            .filter(oidc_requests::revoked_at.is_null())
            .filter(
                oidc_requests::aidant_id
                    .is_null()
                    .or(oidc_requests::aidant_id.eq(verified.aidant_id())),
            ),
    )
    .set((
        oidc_requests::aidant_id.eq(verified.aidant_id()),
        oidc_requests::organisation_id.eq(verified.organisation_id()),
        oidc_requests::usager_id.eq(usager_id),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Why [`complete`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteRefusal {
    /// The proofs are not about this request's aidant, organisation and usager, or are stale.
    Mismatch,
    /// `prompt=login` or `max_age` asks for a fresh authentication first.
    ReauthenticationRequired,
    /// The request was completed, cancelled or expired meanwhile.
    NoLongerPending,
}

/// Completes a request with the two proofs: issues a single-use code and returns the
/// `Location` that sends it to the client with its state.
pub fn complete(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    now: DateTime<Utc>,
    lifetimes: &Lifetimes,
    request: &PendingRequest,
    verified: &VerifiedAidant,
    coverage: &Coverage,
) -> Result<Result<String, CompleteRefusal>, ProviderError> {
    let consistent = request.aidant_id.as_deref() == Some(verified.aidant_id())
        && request.organisation_id.as_deref() == Some(verified.organisation_id())
        && coverage.organisation_id() == verified.organisation_id()
        && request.usager_id.as_deref() == Some(coverage.usager_id())
        && coverage.checked_at() == now;
    if !consistent {
        return Ok(Err(CompleteRefusal::Mismatch));
    }
    if request.needs_reauthentication(verified.otp_at(), now) {
        return Ok(Err(CompleteRefusal::ReauthenticationRequired));
    }
    let code = new_secret(rng)?;
    let updated = diesel::update(
        oidc_requests::table
            .find(&request.id)
            .filter(oidc_requests::code_hash.is_null())
            .filter(oidc_requests::revoked_at.is_null())
            .filter(oidc_requests::expires_at.gt(to_db(now))),
    )
    .set((
        oidc_requests::demarche.eq(coverage.demarche().id()),
        oidc_requests::autorisation_id.eq(coverage.autorisation_id()),
        oidc_requests::auth_time.eq(to_db(verified.otp_at())),
        oidc_requests::code_hash.eq(hash_secret(&code)),
        oidc_requests::code_expires_at.eq(to_db(now + lifetimes.code)),
    ))
    .execute(conn)?;
    if updated != 1 {
        return Ok(Err(CompleteRefusal::NoLongerPending));
    }
    Ok(Ok(with_query(
        &request.redirect_uri,
        &[("code", &code), ("state", &request.state)],
    )))
}

/// The aidant gave up: the request is closed and `access_denied` goes back to the client.
pub fn cancel(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    request: &PendingRequest,
) -> Result<ErrorRedirect, ProviderError> {
    diesel::update(oidc_requests::table.find(&request.id))
        .set(oidc_requests::revoked_at.eq(Some(to_db(now))))
        .execute(conn)?;
    Ok(request.error_redirect("access_denied", "l'aidant a annulé la connexion"))
}
