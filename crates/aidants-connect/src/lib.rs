//! The `aidants-connect` binary's library: configuration, wiring of the crates into a running
//! service, and the command-line sub-commands (the demo seed and the volume are in `devtools`). Tests start the service through
//! [`start`] exactly as `aidants-connect serve` does.

pub mod admin;
pub mod config;
pub mod jobs;
pub mod logging;
pub mod maintenance;

use anyhow::Context;
use authenticator::{Backoff, SeedCipher, SessionPolicy};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Duration;
use config::Config;
use provider::{KeySet, Lifetimes, Provider};
use ring::rand::{SecureRandom, SystemRandom};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use web::{AppState, Clock};

/// Opens the database pool and applies pending migrations.
pub fn open_database(config: &Config) -> anyhow::Result<store::DbPool> {
    if let Some(path) = config.database_url.strip_prefix("sqlite://") {
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("création de {}", parent.display()))?;
        }
    }
    let pool = store::pool(
        &config.database_url,
        config.database_pool_size,
        config.database_test_on_checkout,
        std::time::Duration::from_secs(config.database_pool_wait_seconds),
    )
    .context("base de données")?;
    let mut conn = pool.get().context("connexion à la base de données")?;
    let applied = store::migrate(&mut conn).context("migrations")?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    let rebuilt = store::write_transaction(&mut conn, |tx| {
        if journal::stats::is_missing(tx.conn())? {
            journal::stats::rebuild(tx).map(Some)
        } else {
            Ok(None)
        }
    })
    .context("statistiques du journal")?;
    if let Some(entries) = rebuilt {
        tracing::info!(entries, "journal statistics rebuilt");
    }
    let bound =
        authenticator::bind_legacy_seeds(&mut conn, &SystemRandom::new(), &seed_cipher(config)?)
            .context("graines des cartes")?;
    if bound > 0 {
        tracing::info!(cards = bound, "card seeds bound to their card");
    }
    Ok(pool)
}

/// The seed cipher: the configured key, or in development a key kept in `keys_dir/seed.key`.
pub fn seed_cipher(config: &Config) -> anyhow::Result<SeedCipher> {
    let key = secret_key(config, &config.seed_key, "seed.key").context("seed_key")?;
    Ok(SeedCipher::new(&key)?)
}

/// The attestation key: the configured one, or in development a key kept in
/// `keys_dir/attestation.key`.
pub fn attestation_key(config: &Config) -> anyhow::Result<mandate::AttestationKey> {
    let key = secret_key(config, &config.attestation_key, "attestation.key")
        .context("attestation_key")?;
    Ok(mandate::AttestationKey::new(&key)?)
}

/// The key of the links e-mailed to habilitation issuers: the configured one, or in
/// development a key kept in `keys_dir/link.key`.
pub fn link_key(config: &Config) -> anyhow::Result<mail::LinkKey> {
    let key = secret_key(config, &config.link_key, "link.key").context("link_key")?;
    mail::LinkKey::derive(&key).map_err(|_| anyhow::anyhow!("link_key inutilisable"))
}

/// A secret key: `configured` (base64), or when empty 32 random bytes kept in
/// `keys_dir/file_name` (created on first use, mode 0600).
fn secret_key(config: &Config, configured: &str, file_name: &str) -> anyhow::Result<Vec<u8>> {
    let encoded = if configured.is_empty() {
        let path = config.keys_dir.join(file_name);
        match std::fs::read_to_string(&path) {
            Ok(k) => k.trim().to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| anyhow::anyhow!("générateur aléatoire indisponible"))?;
                let encoded = STANDARD.encode(key);
                std::fs::create_dir_all(&config.keys_dir)?;
                write_secret_file(&path, &encoded)?;
                tracing::info!(path = %path.display(), "generated a development key");
                encoded
            }
            Err(e) => return Err(e).with_context(|| path.display().to_string()),
        }
    } else {
        configured.to_owned()
    };
    STANDARD.decode(encoded.trim()).context("base64 attendu")
}

fn write_secret_file(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(content.as_bytes())?;
    Ok(())
}

/// The session rules of the configuration.
pub fn session_policy(config: &Config) -> SessionPolicy {
    let s = &config.session;
    let lock = Duration::minutes(s.lock_minutes);
    let delays = |max_failures, max_lock, forget_after| Backoff {
        max_failures,
        lock_for: lock,
        max_lock,
        forget_after,
        first_delay: Duration::seconds(s.first_delay_seconds),
        max_delay: Duration::seconds(s.max_delay_seconds),
    };
    SessionPolicy {
        idle: Duration::minutes(s.idle_minutes),
        absolute: Duration::hours(s.absolute_hours),
        activity_window: Duration::minutes(s.activity_check_minutes),
        card: delays(
            s.max_failures,
            Duration::hours(s.max_lock_hours),
            Duration::days(s.forget_failures_days),
        ),
        source: delays(s.source_max_failures, lock, lock),
        device_lifetime: Duration::days(s.device_days),
    }
}

/// What the upkeep follows, from the configuration.
pub fn upkeep_rules(config: &Config) -> maintenance::Rules {
    let r = &config.retention;
    maintenance::Rules {
        policy: session_policy(config),
        retention: maintenance::Retention {
            oidc_requests: Duration::hours(r.oidc_requests_hours),
            sessions: Duration::days(r.sessions_days),
            mandate_drafts: Duration::hours(r.mandate_drafts_hours),
            emails: Duration::days(r.emails_days),
        },
    }
}

/// How long the national team's sessions last.
pub fn staff_lifetimes(config: &Config) -> authenticator::StaffLifetimes {
    let s = &config.staff;
    authenticator::StaffLifetimes {
        idle: Duration::minutes(s.idle_minutes),
        absolute: Duration::hours(s.absolute_hours),
        enrolment: Duration::hours(s.enrolment_hours),
    }
}

/// The scheduled jobs of the configuration.
pub fn schedule(config: &Config) -> jobs::Schedule {
    let j = &config.jobs;
    jobs::Schedule {
        hour: j.hour,
        expiring_mandates: j.expiring_mandates,
        aidants_without_card: j.aidants_without_card,
        inactivity: config
            .applies_inactivity()
            .then(|| accounts::InactivityRule {
                warn_after: Duration::days(j.inactivity_warning_days),
                deactivate_after: Duration::days(j.inactivity_deactivation_days),
            }),
    }
}

/// Builds the application state from the configuration (database migrated, keys loaded).
pub fn build_state(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let pool = open_database(config)?;
    let keys = KeySet::load_or_generate(&config.keys_dir).context("clés de signature")?;
    let lifetimes = Lifetimes {
        interaction: Duration::minutes(config.lifetimes.interaction_minutes),
        code: Duration::seconds(config.lifetimes.code_seconds),
        access_token: Duration::seconds(config.lifetimes.access_token_seconds),
        id_token: Duration::seconds(config.lifetimes.id_token_seconds),
    };
    Ok(AppState {
        pool,
        database_url: config.database_url.clone(),
        min_free_bytes: config.database_min_free_mb.saturating_mul(1024 * 1024),
        provider: Provider::new(&config.public_url, config.clients.clone(), keys, lifetimes)
            .with_rep_scope_aliases(config.rep_scope_aliases())
            .with_email_placeholder(&config.usager_email_placeholder),
        cipher: seed_cipher(config)?,
        policy: session_policy(config),
        failure_answer: std::time::Duration::from_millis(config.session.failure_answer_ms),
        rng: SystemRandom::new(),
        clock,
        secure_cookies: config.secure_cookies,
        behind_proxy: config.behind_proxy,
        franceconnect: franceconnect_client(config)?,
        sms: sms_sender(config)?,
        sms_webhook_token: config.sms.webhook_token.clone(),
        national_team_email: config.email.national_team.clone(),
        attestation_key: attestation_key(config)?,
        metrics: web::Metrics::new().context("métriques")?,
        metrics_token: config.observability.metrics_token.clone(),
        staff: staff_lifetimes(config),
        links: link_key(config)?,
        auto_activation: config.habilitation.auto_activation,
        legal: web::LegalFacts {
            publisher: config.legal.publisher.clone(),
            publication_director: config.legal.publication_director.clone(),
            hosting: config.legal.hosting.clone(),
            contact: config.legal.contact.clone(),
            sessions_days: config.retention.sessions_days,
            oidc_requests_hours: config.retention.oidc_requests_hours,
            mandate_drafts_hours: config.retention.mandate_drafts_hours,
            emails_days: config.retention.emails_days,
            device_days: config.session.device_days,
            inactivity_days: config.jobs.inactivity_deactivation_days,
        },
        mandate_texts: mandate::MandateTexts::published(),
    })
}

/// The FranceConnect service-provider client of the configuration.
pub fn franceconnect_client(config: &Config) -> anyhow::Result<franceconnect::FranceConnect> {
    let base = config.public_url.trim_end_matches('/');
    Ok(franceconnect::FranceConnect::new(
        franceconnect::FranceConnectConfig {
            issuer: config.franceconnect.issuer.clone(),
            client_id: config.franceconnect.client_id.clone(),
            client_secret: config.franceconnect.client_secret.clone(),
            redirect_uri: format!("{base}/fc/callback"),
            post_logout_redirect_uri: format!("{base}/fc/deconnexion"),
            scopes: config.franceconnect.scopes.clone(),
            keys_lifetime: std::time::Duration::from_secs(
                config.franceconnect.keys_minutes.saturating_mul(60),
            ),
        },
    )?)
}

/// The SMS sender of the configuration.
pub fn sms_sender(config: &Config) -> anyhow::Result<Arc<dyn sms::SmsSender>> {
    Ok(match config.sms.sender.as_str() {
        "http" => Arc::new(sms::HttpSmsSender::new(
            &config.sms.provider_url,
            &config.sms.provider_token,
        )?),
        _ => Arc::new(sms::LogSmsSender),
    })
}

/// The e-mail sender of the configuration, named for this instance (random, so that
/// instances never share a name).
pub fn mailer(config: &Config) -> anyhow::Result<mail::Mailer> {
    let e = &config.email;
    let transport: Box<dyn mail::Transport> = match e.transport.as_str() {
        "smtp" => Box::new(
            mail::SmtpTransport::new(&mail::SmtpSettings {
                url: e.smtp_url.clone(),
                username: e.smtp_username.clone(),
                password: e.smtp_password.clone(),
                timeout: std::time::Duration::from_secs(e.timeout_seconds),
            })
            .context("email.smtp_url")?,
        ),
        _ => Box::new(mail::FileTransport::new(&e.directory).context("email.directory")?),
    };
    let reply_to = if e.reply_to.is_empty() {
        None
    } else {
        Some(e.reply_to.parse().context("email.reply_to")?)
    };
    Ok(mail::Mailer {
        transport,
        letterhead: mail::Letterhead {
            from: e.from.parse().context("email.from")?,
            reply_to,
            public_url: config.public_url.clone(),
            links: link_key(config)?,
        },
        policy: mail::RetryPolicy {
            first_delay: Duration::seconds(e.first_retry_seconds),
            max_delay: Duration::minutes(e.max_retry_minutes),
            max_attempts: e.max_attempts,
            lease: Duration::seconds(
                i64::try_from(e.timeout_seconds.saturating_mul(6)).unwrap_or(i64::MAX) + 60,
            ),
        },
        instance: store::new_id(&SystemRandom::new())?,
    })
}

/// Starts the service on `listener`; the returned server runs until stopped.
pub fn start(
    config: &Config,
    listener: TcpListener,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<actix_web::dev::Server> {
    start_with(config, listener, build_state(config, clock)?)
}

/// As [`start`], with a state already built from `config` (and maybe changed: a test adds a
/// version of the mandate's text to come).
pub fn start_with(
    config: &Config,
    listener: TcpListener,
    state: AppState,
) -> anyhow::Result<actix_web::dev::Server> {
    let state = actix_web::web::Data::new(state);
    if config.journal.upkeep_minutes > 0 {
        maintenance::spawn(
            state.clone(),
            upkeep_rules(config),
            schedule(config),
            std::time::Duration::from_secs(config.journal.upkeep_minutes * 60),
        );
    }
    if config.email.every_seconds > 0 {
        maintenance::spawn_mail(
            state.clone(),
            Arc::new(mailer(config)?),
            std::time::Duration::from_secs(config.email.every_seconds),
        );
    }
    Ok(web::serve(state, listener, config.workers)?)
}
