//! Configuration: embedded defaults (`config/default.toml`), an optional file, then `AC_*`
//! environment variables.

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The embedded defaults.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/default.toml");
/// The development client secret, refused in production.
const DEV_SECRET: &str = "secret-de-developpement-du-simulateur-franceconnect";
/// Our development secret at fc-sim's FranceConnect, refused in production.
const DEV_FC_SECRET: &str = "secret-de-developpement-d-aidants-connect-chez-franceconnect";
/// The development host of the legal pages, refused in production.
const DEV_HOSTING: &str =
    "Instance de développement : l'ordinateur qui l'exécute (aucun hébergeur)";
/// The development webhook token, refused in production.
const DEV_WEBHOOK_TOKEN: &str = "jeton-de-developpement-du-webhook-sms-0123456789";

/// FranceConnect as seen by Aidants Connect the service provider.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FranceConnectSection {
    /// FranceConnect's issuer.
    pub issuer: String,
    /// Our client_id there.
    pub client_id: String,
    /// Our client_secret there.
    pub client_secret: String,
    /// Scopes asked besides `openid` (within Aidants Connect's habilitation).
    pub scopes: Vec<String>,
    /// Minutes FranceConnect's keys are kept before being fetched again (sooner when a token
    /// names a key we do not know).
    pub keys_minutes: u64,
}

/// SMS sending and receiving.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSection {
    /// `log` or `http`.
    pub sender: String,
    /// The HTTP provider's URL.
    pub provider_url: String,
    /// The HTTP provider's token.
    pub provider_token: String,
    /// The token the provider presents on the inbound webhook.
    pub webhook_token: String,
}

/// E-mail: who it comes from, how it leaves, how failures are tried again.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    /// `file` (development: `.eml` files in `directory`) or `smtp`.
    pub transport: String,
    /// Where the `file` transport writes.
    pub directory: PathBuf,
    /// The sender, `Nom <adresse>`.
    pub from: String,
    /// Where answers go, `Nom <adresse>`; empty: the sender.
    pub reply_to: String,
    /// The national team's address: told when a consent SMS cannot be sent.
    pub national_team: String,
    /// `smtps://host:465`, or `smtp://host:587?tls=required` (STARTTLS).
    pub smtp_url: String,
    /// SMTP user name; empty: no authentication.
    pub smtp_username: String,
    /// SMTP password (from the environment: `AC_EMAIL__SMTP_PASSWORD`).
    pub smtp_password: String,
    /// Longest wait for the SMTP server at each step.
    pub timeout_seconds: u64,
    /// How often each instance sends what is due; 0: never (a test drives it).
    pub every_seconds: u64,
    /// Attempts after which a message stays failed.
    pub max_attempts: i32,
    /// Delay after a first failure (it doubles at each further one)…
    pub first_retry_seconds: i64,
    /// …up to this.
    pub max_retry_minutes: i64,
}

/// The national team's back office.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffSection {
    /// A session unused for this long ends.
    pub idle_minutes: i64,
    /// A session ends this long after sign-in.
    pub absolute_hours: i64,
    /// An enrolment link works this long.
    pub enrolment_hours: i64,
}

/// The habilitation journey.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HabilitationSection {
    /// An aidant to train who attended a session and passed Pix is activated at once (the
    /// national team activates them otherwise).
    pub auto_activation: bool,
}

/// Who answers for the service, as its legal pages name them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalSection {
    /// The publisher (éditeur) and data controller: name and postal address.
    pub publisher: String,
    /// The director of publication.
    pub publication_director: String,
    /// The host (hébergeur): name, postal address, telephone.
    pub hosting: String,
    /// Where people write about the service and their personal data.
    pub contact: String,
}

/// The upkeep's scheduled jobs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSection {
    /// The Paris hour at which periods begin (0–23).
    pub hour: u32,
    /// The weekly digest of mandates about to end, to aidants.
    pub expiring_mandates: bool,
    /// The weekly reminder of aidants without a card, to référents.
    pub aidants_without_card: bool,
    /// The inactivity rule: `auto` (production only), `on` or `off`.
    pub inactivity: String,
    /// Days without a sign-in before the warning.
    pub inactivity_warning_days: i64,
    /// Days without a sign-in before the memberships are deactivated.
    pub inactivity_deactivation_days: i64,
}

/// Session rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Idle lifetime.
    pub idle_minutes: i64,
    /// Absolute lifetime.
    pub absolute_hours: i64,
    /// Activity window.
    pub activity_check_minutes: i64,
    /// Wrong codes from unrecognised browsers before a card locks for them; from one
    /// recognised browser before it is no longer recognised.
    pub max_failures: i32,
    /// Failed sign-ins in a row before a source address locks.
    pub source_max_failures: i32,
    /// Wait after a first failure (doubles with each failure).
    pub first_delay_seconds: i64,
    /// Longest wait between two attempts.
    pub max_delay_seconds: i64,
    /// Length of a source address's lock and of a card's first lock.
    pub lock_minutes: i64,
    /// A card's locks double up to this.
    pub max_lock_hours: i64,
    /// A card forgets wrong codes from unrecognised browsers this long after the last one.
    pub forget_failures_days: i64,
    /// A browser not used to sign in for this long is no longer recognised.
    pub device_days: i64,
    /// Every failed sign-in is answered after at least this long, so that its timing tells
    /// nothing of why it failed.
    pub failure_answer_ms: u64,
}

/// Lifetimes of what the provider issues.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifetimesConfig {
    /// Interaction.
    pub interaction_minutes: i64,
    /// Code.
    pub code_seconds: i64,
    /// Access token.
    pub access_token_seconds: i64,
    /// ID token.
    pub id_token_seconds: i64,
}

/// How long what expired is kept before the upkeep deletes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Authorization requests, after their creation.
    pub oidc_requests_hours: i64,
    /// Aidant sessions, after their absolute end.
    pub sessions_days: i64,
    /// The mandate wizard's drafts (with the usager's FranceConnect identity), after they expire.
    pub mandate_drafts_hours: i64,
    /// E-mails of the outbox (their data names aidants and usagers), after they were sent or
    /// given up (and, if refused, reported).
    pub emails_days: i64,
}

/// The journal's upkeep.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Minutes between two rounds of upkeep (daily checkpoint, purge); 0 turns it off.
    pub upkeep_minutes: u64,
}

/// Operations: logs and metrics.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservabilityConfig {
    /// `json` (one object per line) or `text`; empty: json in production, text in development.
    pub log_format: String,
    /// Bearer token `/metrics` requires; empty: open (development only).
    pub metrics_token: String,
}

/// The whole configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// development / production.
    pub environment: String,
    /// Public URL (issuer).
    pub public_url: String,
    /// Listen address.
    pub bind: String,
    /// Database URL.
    pub database_url: String,
    /// Pool size.
    pub database_pool_size: u32,
    /// Ping every pooled connection before lending it.
    pub database_test_on_checkout: bool,
    /// Longest wait for a pooled connection before the request is answered 503.
    pub database_pool_wait_seconds: u64,
    /// With SQLite, `/readyz` fails when the database's disk has less free space than this.
    pub database_min_free_mb: u64,
    /// HTTP worker threads.
    pub workers: usize,
    /// Keys directory.
    pub keys_dir: PathBuf,
    /// Seed key, base64.
    pub seed_key: String,
    /// Attestation key, base64.
    pub attestation_key: String,
    /// Key of the links that open an issuer's space, base64.
    pub link_key: String,
    /// Secure cookies.
    pub secure_cookies: bool,
    /// Served behind a reverse proxy that appends the client's address to X-Forwarded-For.
    pub behind_proxy: bool,
    /// FranceConnect (service-provider side).
    pub franceconnect: FranceConnectSection,
    /// SMS.
    pub sms: SmsSection,
    /// E-mail.
    pub email: EmailSection,
    /// Sessions.
    pub session: SessionConfig,
    /// Lifetimes.
    pub lifetimes: LifetimesConfig,
    /// Journal upkeep.
    pub journal: JournalConfig,
    /// Scheduled jobs of the upkeep.
    pub jobs: JobsSection,
    /// The national team's back office.
    pub staff: StaffSection,
    /// The habilitation journey.
    pub habilitation: HabilitationSection,
    /// What expired, how long it is kept.
    pub retention: RetentionConfig,
    /// Who answers for the service (its legal pages).
    pub legal: LegalSection,
    /// Logs and metrics.
    pub observability: ObservabilityConfig,
    /// The e-mail sent to FranceConnect for an usager who gave none (it requires one).
    pub usager_email_placeholder: String,
    /// Names FranceConnect gives démarches in `rep_scope` (its perimeter labels), each to a
    /// catalogue id.
    pub rep_scope_aliases: std::collections::BTreeMap<String, String>,
    /// Registered clients.
    pub clients: Vec<provider::Client>,
}

impl Config {
    /// Loads the configuration: defaults, then `file` if given, then the environment. A key
    /// no section knows is refused, naming where it was found and the nearest known key:
    /// a misspelt setting must not be silently ignored. Environment variables are read for
    /// the known top-level keys only (`AC_` names of other tools are left alone).
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Toml::string(DEFAULT_CONFIG));
        if let Some(path) = file {
            if !path.exists() {
                bail!("fichier de configuration introuvable: {}", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        let top_level = top_level_keys();
        let extracted = figment
            .merge(Env::prefixed("AC_").split("__").filter(move |key| {
                let first = key.as_str().split('.').next().unwrap_or_default();
                top_level.iter().any(|k| k.eq_ignore_ascii_case(first))
            }))
            .extract::<Config>();
        let config = match extracted {
            Ok(config) => config,
            Err(error) => match unknown_key_message(&error, file) {
                Some(message) => bail!(message),
                None => return Err(error).context("configuration invalide"),
            },
        };
        config.check()?;
        Ok(config)
    }

    /// The `rep_scope` aliases, as the provider reads them.
    pub fn rep_scope_aliases(&self) -> Vec<(String, mandate::Demarche)> {
        self.rep_scope_aliases
            .iter()
            .filter_map(|(alias, id)| Some((alias.clone(), mandate::Demarche::parse(id).ok()?)))
            .collect()
    }

    /// Whether logs are JSON lines.
    pub fn json_logs(&self) -> bool {
        match self.observability.log_format.as_str() {
            "json" => true,
            "text" => false,
            _ => self.is_production(),
        }
    }

    fn check_email(&self) -> anyhow::Result<()> {
        let e = &self.email;
        e.from
            .parse::<lettre::message::Mailbox>()
            .with_context(|| format!("email.from invalide : {}", e.from))?;
        e.national_team
            .parse::<lettre::Address>()
            .with_context(|| format!("email.national_team invalide : {}", e.national_team))?;
        if !e.reply_to.is_empty() {
            e.reply_to
                .parse::<lettre::message::Mailbox>()
                .with_context(|| format!("email.reply_to invalide : {}", e.reply_to))?;
        }
        match e.transport.as_str() {
            "file" => {}
            "smtp" => {
                url::Url::parse(&e.smtp_url).context("email.smtp_url invalide")?;
            }
            other => bail!("email.transport doit valoir file ou smtp, pas {other}"),
        }
        if e.max_attempts < 1 || e.first_retry_seconds < 1 || e.max_retry_minutes < 1 {
            bail!("email: max_attempts, first_retry_seconds et max_retry_minutes doivent être positifs");
        }
        Ok(())
    }

    /// Whether the inactivity rule applies here.
    pub fn applies_inactivity(&self) -> bool {
        match self.jobs.inactivity.as_str() {
            "on" => true,
            "off" => false,
            _ => self.is_production(),
        }
    }

    /// Whether this is a production deployment.
    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    fn check(&self) -> anyhow::Result<()> {
        if !matches!(self.environment.as_str(), "development" | "production") {
            bail!("environment doit valoir development ou production");
        }
        url::Url::parse(&self.public_url).context("public_url invalide")?;
        let s = &self.staff;
        if s.idle_minutes < 1 || s.absolute_hours < 1 || s.enrolment_hours < 1 {
            bail!("staff: durées d'au moins 1 attendues");
        }
        let j = &self.jobs;
        if j.hour > 23 {
            bail!("jobs.hour doit être une heure de 0 à 23");
        }
        if !matches!(j.inactivity.as_str(), "auto" | "on" | "off") {
            bail!("jobs.inactivity doit valoir auto, on ou off");
        }
        if j.inactivity_warning_days < 1
            || j.inactivity_deactivation_days <= j.inactivity_warning_days
        {
            bail!("jobs.inactivity_deactivation_days doit dépasser jobs.inactivity_warning_days (≥ 1)");
        }
        for client in &self.clients {
            if client.redirect_uris.is_empty() {
                bail!("le client {} n'a aucune redirect_uri", client.client_id);
            }
            if client.client_secret.len() < 32 {
                bail!(
                    "le secret du client {} doit faire au moins 32 caractères",
                    client.client_id
                );
            }
        }
        url::Url::parse(&self.franceconnect.issuer).context("franceconnect.issuer invalide")?;
        if !identity::is_valid_email(&self.usager_email_placeholder) {
            bail!("usager_email_placeholder doit être une adresse électronique valide");
        }
        for (alias, id) in &self.rep_scope_aliases {
            if mandate::Demarche::parse(id).is_err() {
                bail!("rep_scope_aliases: « {alias} » désigne une démarche inconnue ({id})");
            }
        }
        match self.sms.sender.as_str() {
            "log" => {}
            "http" => {
                url::Url::parse(&self.sms.provider_url).context("sms.provider_url invalide")?;
            }
            other => bail!("sms.sender doit valoir log ou http, pas {other}"),
        }
        self.check_email()?;
        let r = &self.retention;
        if r.sessions_days < 0 || r.mandate_drafts_hours < 0 || r.emails_days < 1 {
            bail!("retention: durées positives attendues");
        }
        let request_life_seconds = self.lifetimes.interaction_minutes * 60
            + self.lifetimes.code_seconds
            + self.lifetimes.access_token_seconds;
        if r.oidc_requests_hours * 3600 < request_life_seconds {
            bail!(
                "retention.oidc_requests_hours doit couvrir la vie d'une demande (interaction, code et jeton d'accès : {request_life_seconds} s)"
            );
        }
        if self.database_pool_wait_seconds == 0 {
            bail!("database_pool_wait_seconds doit valoir au moins 1");
        }
        if self.session.max_failures < 1 || self.session.source_max_failures < 1 {
            bail!("session.max_failures et session.source_max_failures doivent valoir au moins 1");
        }
        let s = &self.session;
        if s.lock_minutes < 1
            || s.max_lock_hours * 60 < s.lock_minutes
            || s.forget_failures_days < 1
            || s.device_days < 1
        {
            bail!("session: lock_minutes ≥ 1, max_lock_hours ≥ lock_minutes, forget_failures_days ≥ 1 et device_days ≥ 1 attendus");
        }
        if self.session.first_delay_seconds < 0
            || self.session.max_delay_seconds < self.session.first_delay_seconds
        {
            bail!("session: 0 ≤ first_delay_seconds ≤ max_delay_seconds attendu");
        }
        if !self.sms.webhook_token.is_empty() && self.sms.webhook_token.len() < 32 {
            bail!("sms.webhook_token doit faire au moins 32 caractères");
        }
        if !matches!(self.observability.log_format.as_str(), "" | "json" | "text") {
            bail!("observability.log_format doit valoir json ou text");
        }
        if !self.observability.metrics_token.is_empty()
            && self.observability.metrics_token.len() < 32
        {
            bail!("observability.metrics_token doit faire au moins 32 caractères");
        }
        if self.is_production() {
            if self.observability.metrics_token.is_empty() {
                bail!("production: observability.metrics_token doit être configuré");
            }
            if self.franceconnect.client_secret == DEV_FC_SECRET {
                bail!("production: le secret de développement chez FranceConnect est interdit");
            }
            if !self.franceconnect.issuer.starts_with("https://") {
                bail!("production: franceconnect.issuer doit être en https");
            }
            if self.sms.sender != "http" {
                bail!("production: sms.sender doit valoir http");
            }
            if self.email.transport != "smtp" {
                bail!("production: email.transport doit valoir smtp");
            }
            if self.sms.webhook_token == DEV_WEBHOOK_TOKEN {
                bail!("production: le jeton de développement du webhook SMS est interdit");
            }
            if self.attestation_key.is_empty() {
                bail!("production: attestation_key doit être configurée");
            }
            if self.link_key.is_empty() {
                bail!("production: link_key doit être configurée");
            }
            if self.clients.iter().any(|c| c.client_secret == DEV_SECRET) {
                bail!("production: le secret de développement du simulateur est interdit");
            }
            if !self.secure_cookies {
                bail!("production: secure_cookies doit valoir true");
            }
            if self.seed_key.is_empty() {
                bail!("production: seed_key doit être configurée");
            }
            if !self.public_url.starts_with("https://") {
                bail!("production: public_url doit être en https");
            }
            if self.legal.hosting == DEV_HOSTING || self.legal.hosting.trim().is_empty() {
                bail!("production: legal.hosting doit nommer l'hébergeur (mentions légales)");
            }
        }
        Ok(())
    }
}

/// The top-level keys of the configuration, as the embedded defaults list them.
fn top_level_keys() -> Vec<String> {
    DEFAULT_CONFIG
        .parse::<toml::Table>()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// The message for the first unknown key of `error`: where it is (the file, an environment
/// variable or the embedded defaults), the key, and the nearest known key if one is close.
fn unknown_key_message(error: &figment::Error, file: Option<&Path>) -> Option<String> {
    let (path, field, expected) = error.clone().into_iter().find_map(|e| match e.kind {
        figment::error::Kind::UnknownField(field, expected) => Some((e.path, field, expected)),
        _ => None,
    })?;
    // figment's path ends with the unknown field, array elements by their index.
    let mut key: Vec<String> = path;
    if key.last() != Some(&field) {
        key.push(field.clone());
    }
    let in_file = file.and_then(|f| {
        let table = std::fs::read_to_string(f)
            .ok()?
            .parse::<toml::Table>()
            .ok()?;
        let shown = locate(&toml::Value::Table(table), &key)?;
        Some(format!(
            "le fichier {} contient la clé inconnue « {shown} »",
            f.display()
        ))
    });
    let env_name = format!("AC_{}", key.join("__").to_uppercase());
    let shown_key = key.iter().fold(String::new(), |shown, part| {
        if part.parse::<usize>().is_ok() {
            format!("{shown}[{part}]")
        } else if shown.is_empty() {
            part.clone()
        } else {
            format!("{shown}.{part}")
        }
    });
    let place = in_file.unwrap_or_else(|| {
        if std::env::var_os(&env_name).is_some() {
            format!("la variable d'environnement {env_name} désigne une clé inconnue")
        } else {
            format!("la configuration contient la clé inconnue « {shown_key} »")
        }
    });
    let nearest = expected
        .iter()
        .map(|k| (strsim::levenshtein(k, &field), *k))
        .min()
        .filter(|(distance, k)| *distance <= (k.len() / 3).max(2));
    Some(match nearest {
        Some((_, k)) => format!("configuration refusée : {place} ; vouliez-vous dire « {k} » ?"),
        None => format!(
            "configuration refusée : {place} ; clés possibles à cet endroit : {}",
            expected.join(", ")
        ),
    })
}

/// Where `key` (array elements by their index) is in a TOML value, as a person reads it
/// (`clients[1].userinfo_algo`).
fn locate(value: &toml::Value, key: &[String]) -> Option<String> {
    let Some((first, rest)) = key.split_first() else {
        return Some(String::new());
    };
    let join = |head: String, tail: String| {
        if tail.is_empty() || tail.starts_with('[') {
            format!("{head}{tail}")
        } else {
            format!("{head}.{tail}")
        }
    };
    match value {
        toml::Value::Table(table) => {
            let inner = table.get(first)?;
            Some(join(first.clone(), locate(inner, rest)?))
        }
        toml::Value::Array(items) => {
            let index: usize = first.parse().ok()?;
            let tail = locate(items.get(index)?, rest)?;
            Some(join(format!("[{index}]"), tail))
        }
        _ => None,
    }
}

/// How a secret shows in `Debug`.
const REDACTED: &str = "<masqué>";

/// A database URL with its password, if any, hidden.
fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("masqué"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

impl std::fmt::Debug for FranceConnectSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FranceConnectSection")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("scopes", &self.scopes)
            .field("keys_minutes", &self.keys_minutes)
            .finish()
    }
}

impl std::fmt::Debug for SmsSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSection")
            .field("sender", &self.sender)
            .field("provider_url", &self.provider_url)
            .field("provider_token", &REDACTED)
            .field("webhook_token", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for ObservabilityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservabilityConfig")
            .field("log_format", &self.log_format)
            .field("metrics_token", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("public_url", &self.public_url)
            .field("bind", &self.bind)
            .field("database_url", &redacted_url(&self.database_url))
            .field("database_pool_size", &self.database_pool_size)
            .field("database_test_on_checkout", &self.database_test_on_checkout)
            .field(
                "database_pool_wait_seconds",
                &self.database_pool_wait_seconds,
            )
            .field("database_min_free_mb", &self.database_min_free_mb)
            .field("workers", &self.workers)
            .field("keys_dir", &self.keys_dir)
            .field("seed_key", &REDACTED)
            .field("attestation_key", &REDACTED)
            .field("link_key", &REDACTED)
            .field("secure_cookies", &self.secure_cookies)
            .field("behind_proxy", &self.behind_proxy)
            .field("franceconnect", &self.franceconnect)
            .field("sms", &self.sms)
            .field("session", &self.session)
            .field("lifetimes", &self.lifetimes)
            .field("journal", &self.journal)
            .field("retention", &self.retention)
            .field("observability", &self.observability)
            .field("rep_scope_aliases", &self.rep_scope_aliases)
            .field("usager_email_placeholder", &self.usager_email_placeholder)
            .field("clients", &self.clients)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/production.example.toml")
    }

    #[test]
    fn the_production_example_is_a_valid_production_configuration() {
        let config = Config::load(Some(&example())).unwrap();
        assert!(config.is_production());
        assert!(config.json_logs());
        assert!(config.database_url.starts_with("postgres://"));
        assert_eq!(
            config.clients.len(),
            1,
            "the example replaces the simulator client"
        );
    }

    #[test]
    fn production_refuses_an_open_metrics_endpoint() {
        let text = std::fs::read_to_string(example()).unwrap().replace(
            "metrics_token = \"REMPLACER-PAR-UN-JETON-D-AU-MOINS-32-CARACTERES\"",
            "metrics_token = \"\"",
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.toml");
        std::fs::write(&path, text).unwrap();
        let error = Config::load(Some(&path)).unwrap_err();
        assert!(format!("{error:#}").contains("metrics_token"), "{error:#}");
    }

    #[test]
    fn production_names_its_host_on_the_legal_pages() {
        let text = std::fs::read_to_string(example())
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("hosting = "))
            .collect::<Vec<_>>()
            .join("\n");
        let (loaded, _path, _dir) = load_text(&text);
        let error = loaded.unwrap_err();
        assert!(format!("{error:#}").contains("legal.hosting"), "{error:#}");
    }

    fn load_text(text: &str) -> (anyhow::Result<Config>, PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aidants-connect.toml");
        std::fs::write(&path, text).unwrap();
        (Config::load(Some(&path)), path, dir)
    }

    #[test]
    fn a_misspelt_key_is_refused_with_its_file_and_the_nearest_known_key() {
        let (loaded, path, _dir) = load_text("secure_cookie = true\n");
        let message = format!("{:#}", loaded.unwrap_err());
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("« secure_cookie »"), "{message}");
        assert!(
            message.contains("vouliez-vous dire « secure_cookies »"),
            "{message}"
        );

        let (loaded, _, _dir) = load_text("[session]\nmax_failure = 3\n");
        let message = format!("{:#}", loaded.unwrap_err());
        assert!(message.contains("« session.max_failure »"), "{message}");
        assert!(message.contains("« max_failures »"), "{message}");
    }

    #[test]
    fn a_misspelt_security_setting_of_a_client_is_refused() {
        let client = |extra: &str| {
            format!(
                "[[clients]]\nclient_id = \"a\"\nclient_secret = \"{s}\"\nredirect_uris = [\"https://a.example/cb\"]\n\n\
                 [[clients]]\nclient_id = \"b\"\nclient_secret = \"{s}\"\nredirect_uris = [\"https://b.example/cb\"]\n{extra}",
                s = "s".repeat(40)
            )
        };
        let (loaded, _, _dir) = load_text(&client(""));
        assert_eq!(loaded.unwrap().clients.len(), 2);
        let (loaded, path, _dir) = load_text(&client("userinfo_algo = \"RS256\"\n"));
        let message = format!("{:#}", loaded.unwrap_err());
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains("« clients[1].userinfo_algo »"),
            "{message}"
        );
        assert!(message.contains("« userinfo_alg »"), "{message}");
    }

    #[test]
    fn debug_output_hides_every_secret() {
        let mut config = Config::load(None).unwrap();
        config.database_url = "postgres://ac:mot-de-passe-de-la-base@db.example/ac".into();
        config.seed_key = "CLE-DES-GRAINES".into();
        config.attestation_key = "CLE-DES-ATTESTATIONS".into();
        config.link_key = "CLE-DES-LIENS".into();
        config.franceconnect.client_secret = "SECRET-FRANCECONNECT".into();
        config.sms.provider_token = "JETON-FOURNISSEUR".into();
        config.sms.webhook_token = "JETON-WEBHOOK".into();
        config.observability.metrics_token = "JETON-METRIQUES".into();
        config.clients[0].client_secret = "SECRET-CLIENT".into();
        let shown = format!("{config:?}");
        for secret in [
            "mot-de-passe-de-la-base",
            "CLE-DES-GRAINES",
            "CLE-DES-ATTESTATIONS",
            "SECRET-FRANCECONNECT",
            "JETON-FOURNISSEUR",
            "JETON-WEBHOOK",
            "JETON-METRIQUES",
            "SECRET-CLIENT",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("db.example"), "{shown}");
        assert!(shown.contains("fc-sim"), "{shown}");
    }
}
