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
/// The development webhook token, refused in production.
const DEV_WEBHOOK_TOKEN: &str = "jeton-de-developpement-du-webhook-sms-0123456789";

/// FranceConnect as seen by Aidants Connect the service provider.
#[derive(Debug, Clone, Deserialize)]
pub struct FranceConnectSection {
    /// FranceConnect's issuer.
    pub issuer: String,
    /// Our client_id there.
    pub client_id: String,
    /// Our client_secret there.
    pub client_secret: String,
}

/// SMS sending and receiving.
#[derive(Debug, Clone, Deserialize)]
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

/// Session rules.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionConfig {
    /// Idle lifetime.
    pub idle_minutes: i64,
    /// Absolute lifetime.
    pub absolute_hours: i64,
    /// Activity window.
    pub activity_check_minutes: i64,
    /// Wrong codes in a row before a card locks.
    pub max_failures: i32,
    /// Failed sign-ins in a row before a source address locks.
    pub source_max_failures: i32,
    /// Wait after a first failure (doubles with each failure).
    pub first_delay_seconds: i64,
    /// Longest wait between two attempts.
    pub max_delay_seconds: i64,
    /// Lock length; failures older than this are forgotten.
    pub lock_minutes: i64,
}

/// Lifetimes of what the provider issues.
#[derive(Debug, Clone, Deserialize)]
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

/// The journal's upkeep.
#[derive(Debug, Clone, Deserialize)]
pub struct JournalConfig {
    /// Minutes between two rounds of upkeep (daily checkpoint, purge); 0 turns it off.
    pub upkeep_minutes: u64,
}

/// Operations: logs and metrics.
#[derive(Debug, Clone, Deserialize)]
pub struct ObservabilityConfig {
    /// `json` (one object per line) or `text`; empty: json in production, text in development.
    pub log_format: String,
    /// Bearer token `/metrics` requires; empty: open (development only).
    pub metrics_token: String,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
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
    /// HTTP worker threads.
    pub workers: usize,
    /// Keys directory.
    pub keys_dir: PathBuf,
    /// Seed key, base64.
    pub seed_key: String,
    /// Attestation key, base64.
    pub attestation_key: String,
    /// Secure cookies.
    pub secure_cookies: bool,
    /// Served behind a reverse proxy that appends the client's address to X-Forwarded-For.
    pub behind_proxy: bool,
    /// FranceConnect (service-provider side).
    pub franceconnect: FranceConnectSection,
    /// SMS.
    pub sms: SmsSection,
    /// Sessions.
    pub session: SessionConfig,
    /// Lifetimes.
    pub lifetimes: LifetimesConfig,
    /// Journal upkeep.
    pub journal: JournalConfig,
    /// Logs and metrics.
    pub observability: ObservabilityConfig,
    /// Registered clients.
    pub clients: Vec<provider::Client>,
}

impl Config {
    /// Loads the configuration: defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Toml::string(DEFAULT_CONFIG));
        if let Some(path) = file {
            if !path.exists() {
                bail!("fichier de configuration introuvable: {}", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(
                Env::prefixed("AC_")
                    .split("__")
                    .ignore(&["config", "test_postgres_url"]),
            )
            .extract()
            .context("configuration invalide")?;
        config.check()?;
        Ok(config)
    }

    /// Whether logs are JSON lines.
    pub fn json_logs(&self) -> bool {
        match self.observability.log_format.as_str() {
            "json" => true,
            "text" => false,
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
            if client.userinfo_alg == Some(provider::SigningAlg::Hs256) {
                bail!(
                    "le client {}: userinfo signé en HS256 n'est pas proposé",
                    client.client_id
                );
            }
        }
        url::Url::parse(&self.franceconnect.issuer).context("franceconnect.issuer invalide")?;
        match self.sms.sender.as_str() {
            "log" => {}
            "http" => {
                url::Url::parse(&self.sms.provider_url).context("sms.provider_url invalide")?;
            }
            other => bail!("sms.sender doit valoir log ou http, pas {other}"),
        }
        if self.session.max_failures < 1 || self.session.source_max_failures < 1 {
            bail!("session.max_failures et session.source_max_failures doivent valoir au moins 1");
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
            if self.sms.webhook_token == DEV_WEBHOOK_TOKEN {
                bail!("production: le jeton de développement du webhook SMS est interdit");
            }
            if self.attestation_key.is_empty() {
                bail!("production: attestation_key doit être configurée");
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
        }
        Ok(())
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
}
