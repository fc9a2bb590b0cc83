//! The authorization endpoint: request validation, the stored request that the aidant's
//! interaction walks through, and its completion into a single-use code.

use crate::OAuthError;
use crate::{new_secret, param, Lifetimes, PromptLogin, Provider, ProviderError, ACR_EIDAS1};
use authenticator::VerifiedAidant;
use chrono::Duration;
use diesel::prelude::*;
use mandate::{Coverage, Demarche};
use ring::rand::SecureRandom;
use store::schema::oidc_requests;
use store::{
    hash_secret, AidantId, AutorisationId, DbConnection, OrganisationId, Timestamp, UsagerId,
};

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
    /// The PKCE S256 challenge, if any.
    pub code_challenge: Option<String>,
    /// The values of `claims.id_token.rep_scope`, as sent (FranceConnect's perimeter labels
    /// or our catalogue ids), when the request asked for it.
    pub rep_scope: Option<Vec<String>>,
}

/// An OIDC error to send back to the client's redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    /// Where.
    pub redirect_uri: String,
    /// RFC 6749 / OIDC error code.
    pub error: OAuthError,
    /// Human-readable description.
    pub description: String,
    /// The client's state, when known.
    pub state: Option<String>,
}

impl ErrorRedirect {
    /// The `Location` to redirect the browser to.
    pub fn location(&self) -> String {
        let mut pairs = vec![
            ("error", self.error.as_str()),
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
    /// The client or its redirect URI cannot be trusted: tell the person, never redirect.
    Untrusted(Untrusted),
    /// Redirect the error to the client.
    Redirect(ErrorRedirect),
}

/// What makes an authorization request impossible to answer at the client's redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untrusted {
    /// `client_id` given more than once.
    RepeatedClientId,
    /// No `client_id`.
    MissingClientId,
    /// No client has this `client_id`.
    UnknownClient,
    /// `redirect_uri` given more than once.
    RepeatedRedirectUri,
    /// No `redirect_uri`.
    MissingRedirectUri,
    /// The `redirect_uri` is not one the client registered.
    UnregisteredRedirectUri,
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
        return Err(AuthorizeError::Untrusted(Untrusted::RepeatedClientId));
    }
    let Some(client_id) = param(&params, "client_id") else {
        return Err(AuthorizeError::Untrusted(Untrusted::MissingClientId));
    };
    let Some(client) = provider.client(client_id) else {
        return Err(AuthorizeError::Untrusted(Untrusted::UnknownClient));
    };
    if count("redirect_uri") > 1 {
        return Err(AuthorizeError::Untrusted(Untrusted::RepeatedRedirectUri));
    }
    let Some(redirect_uri) = param(&params, "redirect_uri") else {
        return Err(AuthorizeError::Untrusted(Untrusted::MissingRedirectUri));
    };
    if !client.has_redirect_uri(redirect_uri) {
        return Err(AuthorizeError::Untrusted(
            Untrusted::UnregisteredRedirectUri,
        ));
    }
    let state = param(&params, "state").map(str::to_owned);
    let refuse = |error: OAuthError, description: &str| {
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
                OAuthError::InvalidRequest,
                &format!("paramètre répété: {name}"),
            ));
        }
    }
    if param(&params, "request").is_some() {
        return Err(refuse(
            OAuthError::RequestNotSupported,
            "le paramètre request n'est pas pris en charge",
        ));
    }
    if param(&params, "request_uri").is_some() {
        return Err(refuse(
            OAuthError::RequestUriNotSupported,
            "le paramètre request_uri n'est pas pris en charge",
        ));
    }
    match param(&params, "response_type") {
        None => return Err(refuse(OAuthError::InvalidRequest, "response_type manquant")),
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                OAuthError::UnsupportedResponseType,
                "seul response_type=code est pris en charge",
            ))
        }
    }
    if param(&params, "response_mode").is_some_and(|m| m != "query") {
        return Err(refuse(
            OAuthError::InvalidRequest,
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
        return Err(refuse(
            OAuthError::InvalidScope,
            "le scope openid est obligatoire",
        ));
    }
    let Some(state_value) = state.clone() else {
        return Err(refuse(OAuthError::InvalidRequest, "state manquant"));
    };
    let nonce = match param(&params, "nonce") {
        Some(nonce) => nonce,
        None if client.require_nonce => {
            return Err(refuse(OAuthError::InvalidRequest, "nonce manquant"));
        }
        None => "",
    };
    if state_value.len() > MAX_OPAQUE_LEN || nonce.len() > MAX_OPAQUE_LEN {
        return Err(refuse(
            OAuthError::InvalidRequest,
            "state ou nonce trop long",
        ));
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
        return Err(refuse(
            OAuthError::InvalidRequest,
            "valeur de prompt inconnue",
        ));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(refuse(
            OAuthError::InvalidRequest,
            "prompt=none ne se combine avec aucune autre valeur",
        ));
    }
    let max_age = match param(&params, "max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(refuse(
                    OAuthError::InvalidRequest,
                    "max_age doit être un entier positif",
                ))
            }
        },
    };
    let code_challenge = match (
        param(&params, "code_challenge"),
        param(&params, "code_challenge_method"),
    ) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(refuse(
                OAuthError::InvalidRequest,
                "code_challenge_method sans code_challenge",
            ))
        }
        (Some(challenge), Some("S256")) if is_pkce_value(challenge) => Some(challenge.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(refuse(
                OAuthError::InvalidRequest,
                "code_challenge invalide (43 à 128 caractères non réservés)",
            ))
        }
        (Some(_), _) => {
            return Err(refuse(
                OAuthError::InvalidRequest,
                "seule la méthode PKCE S256 est prise en charge",
            ))
        }
    };
    let rep_scope = match param(&params, "claims") {
        None => None,
        Some(claims) => match requested_rep_scope(provider, claims) {
            Ok(values) => values,
            Err(description) => return Err(refuse(OAuthError::InvalidRequest, description)),
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
        code_challenge,
        rep_scope,
    })
}

/// Whether `value` is a PKCE code challenge or verifier: 43 to 128 characters among
/// `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The values of `claims.id_token.rep_scope` (OpenID Connect Core §5.5): `None` when the
/// claims do not ask for it. Every value must name a démarche of the catalogue (by its id or
/// a configured alias, such as FranceConnect's perimeter labels).
fn requested_rep_scope(
    provider: &Provider,
    claims: &str,
) -> Result<Option<Vec<String>>, &'static str> {
    let parsed: serde_json::Value =
        serde_json::from_str(claims).map_err(|_| "le paramètre claims n'est pas du JSON")?;
    let Some(object) = parsed.as_object() else {
        return Err("le paramètre claims doit être un objet JSON");
    };
    let Some(id_token) = object.get("id_token") else {
        return Ok(None);
    };
    let Some(rep_scope) = id_token.as_object().and_then(|o| o.get("rep_scope")) else {
        return Ok(None);
    };
    let request = match rep_scope {
        serde_json::Value::Null => return Ok(Some(Vec::new())),
        serde_json::Value::Object(request) => request,
        _ => return Err("claims.id_token.rep_scope doit être un objet ou null"),
    };
    if request.get("essential").is_some_and(|e| !e.is_boolean()) {
        return Err("claims.id_token.rep_scope.essential doit être un booléen");
    }
    let mut values: Vec<String> = Vec::new();
    match request.get("values") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Array(items)) => {
            for item in items {
                let Some(text) = item.as_str() else {
                    return Err("claims.id_token.rep_scope.values doit être une liste de textes");
                };
                values.push(text.to_owned());
            }
        }
        Some(_) => return Err("claims.id_token.rep_scope.values doit être une liste"),
    }
    match request.get("value") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(text)) => values.push(text.clone()),
        Some(_) => return Err("claims.id_token.rep_scope.value doit être un texte"),
    }
    if values.iter().any(|v| provider.demarche_of(v).is_none()) {
        return Err("claims.id_token.rep_scope nomme une démarche inconnue");
    }
    values.dedup();
    Ok(Some(values))
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
                OAuthError::InteractionRequired
            } else {
                OAuthError::LoginRequired
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
pub fn purge_requests(conn: &mut DbConnection, before: Timestamp) -> Result<usize, ProviderError> {
    Ok(
        diesel::delete(oidc_requests::table.filter(oidc_requests::created_at.lt(before)))
            .execute(conn)?,
    )
}

/// The error sent back to the client when the request cannot be stored now (the database is
/// unavailable): `temporarily_unavailable`, RFC 6749 §4.1.2.1.
pub fn unavailable_refusal(request: &AuthorizationRequest) -> ErrorRedirect {
    ErrorRedirect {
        redirect_uri: request.redirect_uri.clone(),
        error: OAuthError::TemporarilyUnavailable,
        description: "Aidants Connect est momentanément indisponible, réessayez plus tard".into(),
        state: Some(request.state.clone()),
    }
}

/// Stores a validated request; returns the interaction id the browser carries.
pub fn store_request(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    now: Timestamp,
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
            oidc_requests::code_challenge.eq(&request.code_challenge),
            oidc_requests::rep_scope.eq(request
                .rep_scope
                .as_ref()
                .map(|values| serde_json::Value::from(values.clone()).to_string())),
            oidc_requests::created_at.eq(now),
            oidc_requests::expires_at.eq(now + lifetimes.interaction),
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
    pub created_at: Timestamp,
    /// The interaction must finish before.
    pub expires_at: Timestamp,
    /// Aidant, once chosen.
    pub aidant_id: Option<AidantId>,
    /// Organisation, once chosen.
    pub organisation_id: Option<OrganisationId>,
    /// Usager, once chosen.
    pub usager_id: Option<UsagerId>,
    /// Démarche, once chosen.
    pub demarche: Option<String>,
    /// Autorisation used.
    pub autorisation_id: Option<AutorisationId>,
    /// When the aidant last authenticated.
    pub auth_time: Option<Timestamp>,
    /// Hash of the code.
    pub code_hash: Option<String>,
    /// Code expiry.
    pub code_expires_at: Option<Timestamp>,
    /// When the code was exchanged.
    pub code_consumed_at: Option<Timestamp>,
    /// Hash of the access token.
    pub access_token_hash: Option<String>,
    /// Access token expiry.
    pub access_token_expires_at: Option<Timestamp>,
    /// When what it issued was revoked.
    pub revoked_at: Option<Timestamp>,
    /// The PKCE S256 challenge, if the request carried one.
    pub code_challenge: Option<String>,
    /// The démarches the request asked for (`claims.id_token.rep_scope`), a JSON array.
    pub rep_scope: Option<String>,
}

impl PendingRequest {
    /// Requested scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether an aidant who last typed a code at `otp_at` must authenticate again before this
    /// request can complete: `prompt=login` with a code older than the request (unless the
    /// client's `prompt_login` is the activity window, which the session's own check already
    /// enforces), or a code older than `max_age` when the request arrived — checked against
    /// the request, so that it is not asked again at each step.
    pub fn needs_reauthentication(&self, provider: &Provider, otp_at: Timestamp) -> bool {
        let prompt_login = provider
            .client(&self.client_id)
            .map(|c| c.prompt_login)
            .unwrap_or_default();
        let received = self.created_at;
        let login_prompted = self
            .prompt
            .as_deref()
            .is_some_and(|p| p.split(' ').any(|v| v == "login"));
        let fresh_required =
            login_prompted && prompt_login == PromptLogin::Reauthenticate && otp_at < received;
        let too_old = self
            .max_age
            .is_some_and(|max| otp_at < received && received - otp_at > Duration::seconds(max));
        fresh_required || too_old
    }

    /// The values of `claims.id_token.rep_scope` the request sent, if it asked for it.
    pub fn rep_scope_values(&self) -> Option<Vec<String>> {
        let values: serde_json::Value = serde_json::from_str(self.rep_scope.as_deref()?).ok()?;
        Some(
            values
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )
    }

    /// The démarches the request is limited to, when it names some (`rep_scope` with values);
    /// `None`: any démarche.
    pub fn requested_demarches(&self, provider: &Provider) -> Option<Vec<Demarche>> {
        let values = self.rep_scope_values().filter(|v| !v.is_empty())?;
        let mut demarches: Vec<Demarche> = Vec::new();
        for demarche in values.iter().filter_map(|v| provider.demarche_of(v)) {
            if !demarches.contains(&demarche) {
                demarches.push(demarche);
            }
        }
        Some(demarches)
    }

    /// An error redirect for this request.
    pub fn error_redirect(&self, error: OAuthError, description: &str) -> ErrorRedirect {
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
    now: Timestamp,
) -> Result<Option<PendingRequest>, ProviderError> {
    Ok(oidc_requests::table
        .find(id)
        .filter(oidc_requests::expires_at.gt(now))
        .filter(oidc_requests::code_hash.is_null())
        .filter(oidc_requests::revoked_at.is_null())
        .select(PendingRequest::as_select())
        .first(conn)
        .optional()?)
}

/// Records the usager the aidant chose, binding the request to that aidant. Refused (false)
/// when the organisation holds no active mandate for that usager covering a démarche the
/// request accepts, or when another aidant already took the request.
pub fn select_usager(
    conn: &mut DbConnection,
    now: Timestamp,
    provider: &Provider,
    request: &PendingRequest,
    verified: &VerifiedAidant,
    usager_id: &UsagerId,
) -> Result<bool, ProviderError> {
    let within = request.requested_demarches(provider);
    if mandate::active_demarches(
        conn,
        verified.organisation_id(),
        usager_id,
        within.as_deref(),
        now,
    )?
    .is_empty()
    {
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
    /// The démarche is not among those the request was limited to (`rep_scope`).
    OutsideRepScope,
}

/// Completes a request with the two proofs: issues a single-use code and returns the
/// `Location` that sends it to the client with its state.
pub fn complete(
    conn: &mut DbConnection,
    rng: &dyn SecureRandom,
    now: Timestamp,
    provider: &Provider,
    request: &PendingRequest,
    verified: &VerifiedAidant,
    coverage: &Coverage,
) -> Result<Result<String, CompleteRefusal>, ProviderError> {
    let consistent = request.aidant_id.as_ref() == Some(verified.aidant_id())
        && request.organisation_id.as_ref() == Some(verified.organisation_id())
        && coverage.organisation_id() == verified.organisation_id()
        && request.usager_id.as_ref() == Some(coverage.usager_id())
        && coverage.checked_at() == now;
    if !consistent {
        return Ok(Err(CompleteRefusal::Mismatch));
    }
    if request.needs_reauthentication(provider, verified.otp_at()) {
        return Ok(Err(CompleteRefusal::ReauthenticationRequired));
    }
    if request
        .requested_demarches(provider)
        .is_some_and(|allowed| !allowed.contains(&coverage.demarche()))
    {
        return Ok(Err(CompleteRefusal::OutsideRepScope));
    }
    let lifetimes = provider.lifetimes();
    let code = new_secret(rng)?;
    let updated = diesel::update(
        oidc_requests::table
            .find(&request.id)
            .filter(oidc_requests::code_hash.is_null())
            .filter(oidc_requests::revoked_at.is_null())
            .filter(oidc_requests::expires_at.gt(now)),
    )
    .set((
        oidc_requests::demarche.eq(coverage.demarche().id()),
        oidc_requests::autorisation_id.eq(coverage.autorisation_id()),
        oidc_requests::auth_time.eq(verified.otp_at()),
        oidc_requests::code_hash.eq(hash_secret(&code)),
        oidc_requests::code_expires_at.eq(now + lifetimes.code),
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
    now: Timestamp,
    request: &PendingRequest,
) -> Result<ErrorRedirect, ProviderError> {
    diesel::update(oidc_requests::table.find(&request.id))
        .set(oidc_requests::revoked_at.eq(Some(now)))
        .execute(conn)?;
    Ok(request.error_redirect(OAuthError::AccessDenied, "l'aidant a annulé la connexion"))
}
