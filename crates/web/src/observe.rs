//! Operations: Prometheus metrics, the request-id and access-log middleware, `/readyz` and
//! `/metrics`. Logs carry the route pattern, never the path or query (they may hold codes and
//! identifiers), and no secret.

use crate::{AppState, WebError};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};
use ring::rand::SecureRandom;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tracing::Instrument;

/// The header carrying the request id, echoed on every response.
pub const REQUEST_ID: &str = "x-request-id";

/// Requests the HTTP layer (actix-http) refused before routing — malformed, oversized — in
/// this process. They are counted, not logged: anyone can send them, and a log line each
/// would let anyone fill the log.
static PROTOCOL_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Counts a request the HTTP layer refused before routing (`ac_http_protocol_errors_total`).
pub fn count_protocol_error() {
    PROTOCOL_ERRORS.fetch_add(1, Ordering::Relaxed);
}

/// The service's metrics, exposed at `/metrics`.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    flows: IntCounterVec,
    refusals: IntCounterVec,
    otp_failures: IntCounterVec,
    protocol_errors: IntCounter,
    emails: IntCounterVec,
    email_queue: prometheus::IntGaugeVec,
    job_last_run: prometheus::IntGaugeVec,
    job_succeeded: prometheus::IntGaugeVec,
    job_items: prometheus::IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "ac_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "ac_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )?;
        let flows = IntCounterVec::new(
            Opts::new(
                "ac_flows_completed_total",
                "Completed flows: autorisation (code sent back to FranceConnect), jeton (tokens issued), mandat (mandate created)",
            ),
            &["flow"],
        )?;
        let refusals = IntCounterVec::new(
            Opts::new("ac_refusals_total", "Requests refused, by reason"),
            &["reason"],
        )?;
        let otp_failures = IntCounterVec::new(
            Opts::new(
                "ac_otp_failures_total",
                "Refused sign-ins and code checks, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(flows.clone()))?;
        registry.register(Box::new(refusals.clone()))?;
        let protocol_errors = IntCounter::new(
            "ac_http_protocol_errors_total",
            "Requests refused by the HTTP layer before routing (malformed, oversized); not logged",
        )?;
        registry.register(Box::new(otp_failures.clone()))?;
        registry.register(Box::new(protocol_errors.clone()))?;
        let emails = IntCounterVec::new(
            Opts::new(
                "ac_emails_total",
                "E-mails handed to the transport (sent), failed and to be tried again (deferred), or given up (failed)",
            ),
            &["outcome"],
        )?;
        let email_queue = prometheus::IntGaugeVec::new(
            Opts::new(
                "ac_email_queue",
                "E-mails in the outbox at the last delivery round: waiting (pending) or given up (failed)",
            ),
            &["state"],
        )?;
        registry.register(Box::new(emails.clone()))?;
        registry.register(Box::new(email_queue.clone()))?;
        let job_gauge = |name: &str, help: &str| -> Result<_, prometheus::Error> {
            let gauge = prometheus::IntGaugeVec::new(Opts::new(name, help), &["job"])?;
            registry.register(Box::new(gauge.clone()))?;
            Ok(gauge)
        };
        let job_last_run = job_gauge(
            "ac_job_last_run_timestamp_seconds",
            "When each scheduled job last ran, by whichever instance (Unix time)",
        )?;
        let job_succeeded = job_gauge(
            "ac_job_last_run_succeeded",
            "Whether each scheduled job's last run succeeded (1) or failed (0)",
        )?;
        let job_items = job_gauge(
            "ac_job_last_run_items",
            "What each scheduled job's last successful run did: e-mails written, memberships deactivated",
        )?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            flows,
            refusals,
            otp_failures,
            protocol_errors,
            emails,
            email_queue,
            job_last_run,
            job_succeeded,
            job_items,
        })
    }

    /// A scheduled job's last run as the database records it: when (Unix time), whether it
    /// succeeded, what it did.
    pub fn job_state(&self, job: &str, last_run: i64, succeeded: bool, items: i64) {
        self.job_last_run.with_label_values(&[job]).set(last_run);
        self.job_succeeded
            .with_label_values(&[job])
            .set(i64::from(succeeded));
        self.job_items.with_label_values(&[job]).set(items);
    }

    /// A round of e-mail delivery: what it sent, deferred and gave up, and what the outbox
    /// holds after it.
    pub fn email_round(&self, sent: u64, deferred: u64, failed: u64, pending: i64, given_up: i64) {
        self.emails.with_label_values(&["sent"]).inc_by(sent);
        self.emails
            .with_label_values(&["deferred"])
            .inc_by(deferred);
        self.emails.with_label_values(&["failed"]).inc_by(failed);
        self.email_queue
            .with_label_values(&["pending"])
            .set(pending);
        self.email_queue
            .with_label_values(&["failed"])
            .set(given_up);
    }

    /// A flow reached its end.
    pub fn flow_completed(&self, flow: &str) {
        self.flows.with_label_values(&[flow]).inc();
    }

    /// A request was refused for `reason` (a fixed, low-cardinality name).
    pub fn refused(&self, reason: &str) {
        self.refusals.with_label_values(&[reason]).inc();
    }

    /// A code or sign-in was refused for `reason`.
    pub fn otp_failure(&self, reason: &str) {
        self.otp_failures.with_label_values(&[reason]).inc();
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, status.to_string().as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let seen = PROTOCOL_ERRORS.load(Ordering::Relaxed);
        let shown = self.protocol_errors.get();
        if seen > shown {
            self.protocol_errors.inc_by(seen - shown);
        }
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A request id sent by a proxy, if it is a plain token.
fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    let plain = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    plain.then(|| value.to_owned())
}

fn new_id(state: Option<&web::Data<AppState>>) -> String {
    let mut bytes = [0u8; 8];
    match state.map(|s| s.rng.fill(&mut bytes)) {
        Some(Ok(())) => hex::encode(bytes),
        _ => "inconnu".to_owned(),
    }
}

/// Routes that are polled (health, metrics): logged at debug level only.
fn is_probe(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/metrics")
}

/// Gives every request an id (the proxy's `X-Request-Id` or a new one) in a tracing span,
/// echoes it on the response, logs one line per request and feeds the metrics.
pub(crate) async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let request_id = incoming_id(&req).unwrap_or_else(|| new_id(state.as_ref()));
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = tracing::field::Empty
    );
    let outcome = next.call(req).instrument(span.clone()).await;
    let seconds = started.elapsed().as_secs_f64();
    let (route, status) = match &outcome {
        Ok(res) => (
            res.request()
                .match_pattern()
                .unwrap_or_else(|| "<inconnue>".to_owned()),
            res.status().as_u16(),
        ),
        Err(e) => (
            "<erreur>".to_owned(),
            e.as_response_error().status_code().as_u16(),
        ),
    };
    span.record("route", route.as_str());
    let duration_ms = (seconds * 1000.0 * 10.0).round() / 10.0;
    span.in_scope(|| {
        if is_probe(&route) {
            tracing::debug!(status, duration_ms, "request");
        } else if status >= 500 {
            tracing::warn!(status, duration_ms, "request");
        } else {
            tracing::info!(status, duration_ms, "request");
        }
    });
    if let Some(state) = &state {
        state.metrics.observe(&method, &route, status, seconds);
    }
    outcome.map(|mut res| {
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            res.headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID), value);
        }
        res
    })
}

/// Refuses every request whose body is framed by `Transfer-Encoding` (411, connection
/// closed), before any handler reads it. actix-http accepts a chunked body ending with a bare
/// LF (`0\r\n\n`) and swallows what follows as trailers, where a front proxy may see a second
/// request: request smuggling. Browsers, FranceConnect and the SMS provider send
/// `Content-Length`; nothing the service serves needs chunked uploads. Closing the connection
/// leaves nothing of the refused request behind to be read as another one.
pub(crate) async fn refuse_transfer_encoding(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !req.headers().contains_key(header::TRANSFER_ENCODING) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        state.metrics.refused("transfer_encoding");
    }
    let mut response = if matches!(
        req.path(),
        "/token" | "/token/" | "/userinfo" | "/userinfo/"
    ) {
        HttpResponse::LengthRequired()
            .content_type("application/json")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(
                serde_json::json!({
                    "error": "invalid_request",
                    "error_description": "corps avec Content-Length attendu (Transfer-Encoding refusé)",
                })
                .to_string(),
            )
    } else {
        HttpResponse::LengthRequired()
            .content_type("text/plain; charset=utf-8")
            .body("Requête refusée : le corps doit être envoyé avec un en-tête Content-Length.")
    };
    response
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(req.into_response(response).map_into_right_body())
}

/// GET /healthz: the process answers.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body("ok")
}

/// What `/readyz` found of the database.
struct DatabaseReadiness {
    /// It answers a query.
    reads: bool,
    /// It commits a write.
    writes: bool,
}

/// GET /readyz: the database answers and commits a write, its disk (SQLite) has room, and the
/// signing keys are loaded; 503 otherwise.
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // A short wait for a connection: a load balancer asks often and must hear back quickly.
    let pool = state.pool.clone();
    let now = state.clock.now();
    let database = web::block(move || {
        let mut conn = match pool.get_timeout(std::time::Duration::from_secs(2)) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: database unreachable");
                return DatabaseReadiness {
                    reads: false,
                    writes: false,
                };
            }
        };
        let reads = store::ping(&mut conn)
            .map_err(|e| tracing::warn!(error = %e, "readiness: database unreachable"))
            .is_ok();
        let writes = reads
            && store::probe_write(&mut conn, now)
                .map_err(|e| tracing::warn!(error = %e, "readiness: database refuses writes"))
                .is_ok();
        DatabaseReadiness { reads, writes }
    })
    .await
    .unwrap_or(DatabaseReadiness {
        reads: false,
        writes: false,
    });
    let disk = store::sqlite_free_bytes(&state.database_url).map(|free| {
        let enough = free >= state.min_free_bytes;
        if !enough {
            tracing::warn!(free, "readiness: little disk space left for the database");
        }
        enough
    });
    let keys = state.provider.keys().jwks()["keys"]
        .as_array()
        .is_some_and(|k| k.len() >= 2);
    let database_ok = database.reads;
    let ready = database.reads && database.writes && disk.unwrap_or(true) && keys;
    let verdict = |ok: bool| if ok { "ok" } else { "indisponible" };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "statut": verdict(ready),
            "base_de_donnees": verdict(database_ok),
            "ecriture": verdict(database.writes),
            "espace_disque": match disk {
                None => "sans objet",
                Some(true) => "ok",
                Some(false) => "insuffisant",
            },
            "cles_de_signature": verdict(keys),
        }))
}

/// GET /metrics: the Prometheus exposition, behind the configured Bearer token if any.
pub(crate) async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    if !state.metrics_token.is_empty() {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let expected = store::hash_secret(&state.metrics_token);
        let given = store::hash_secret(presented);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            given.as_bytes(),
        )) {
            return Ok(HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .content_type("text/plain; charset=utf-8")
                .body("jeton requis"));
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.render()))
}
