//! Where composed messages go: an SMTP server (production), or `.eml` files in a directory
//! (development: `scripts/dev.sh` needs no mail server, and a person can open what was sent).

use lettre::Transport as _;
use std::time::Duration;

/// Why a message was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The address does not exist or is not one: the recipient's server refused the mailbox
    /// (550, 551, 553) or the address cannot be read. Reported, never tried again.
    #[error("adresse non distribuable : {0}")]
    Undeliverable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// It will never go: the message cannot be composed, or the server refused it for good
    /// (another 5xx).
    #[error("refusé définitivement : {0}")]
    Permanent(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// It may go later: the server is unreachable, timed out or asked to try again (4xx).
    #[error("échec passager : {0}")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl SendError {
    /// Whether trying again is useless.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, SendError::Transient(_))
    }

    /// Whether the address itself was refused.
    pub fn is_undeliverable(&self) -> bool {
        matches!(self, SendError::Undeliverable(_))
    }
}

/// Something that hands a composed message over for delivery.
pub trait Transport: Send + Sync {
    /// Hands `message` over; `Ok` once the server (or the directory) accepted it.
    fn send(&self, message: &lettre::Message) -> Result<(), SendError>;
}

/// How to reach the SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `smtps://host:465` (implicit TLS), `smtp://host:587?tls=required` (STARTTLS) or
    /// `smtp://host:25` (no TLS: a relay on the same host or a test server only).
    pub url: String,
    /// User name, if the server asks for authentication.
    pub username: String,
    /// Password (from the environment).
    pub password: String,
    /// Longest wait for the server at each step.
    pub timeout: Duration,
}

/// The replies by which a server says the mailbox does not exist: unavailable, not local,
/// name not allowed (RFC 5321, 4.2.3).
const MAILBOX_REFUSED: [&str; 3] = ["550", "551", "553"];

/// Sends through an SMTP server (lettre), one connection per message.
#[derive(Clone)]
pub struct SmtpTransport {
    inner: lettre::SmtpTransport,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpTransport")
    }
}

impl SmtpTransport {
    /// A transport to the server of `settings`; the URL is checked, the server is not reached.
    pub fn new(settings: &SmtpSettings) -> Result<SmtpTransport, lettre::transport::smtp::Error> {
        let mut builder =
            lettre::SmtpTransport::from_url(&settings.url)?.timeout(Some(settings.timeout));
        if !settings.username.is_empty() {
            builder =
                builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    settings.username.clone(),
                    settings.password.clone(),
                ));
        }
        Ok(SmtpTransport {
            inner: builder.build(),
        })
    }
}

impl Transport for SmtpTransport {
    fn send(&self, message: &lettre::Message) -> Result<(), SendError> {
        self.inner.send(message).map(|_| ()).map_err(|e| {
            let mailbox_refused = e
                .status()
                .is_some_and(|code| MAILBOX_REFUSED.contains(&code.to_string().as_str()));
            if mailbox_refused {
                SendError::Undeliverable(Box::new(e))
            } else if e.is_permanent() {
                SendError::Permanent(Box::new(e))
            } else {
                SendError::Transient(Box::new(e))
            }
        })
    }
}

/// Writes each message as an `.eml` file in a directory (development only: the configuration
/// refuses it in production), and logs where.
#[derive(Debug, Clone)]
pub struct FileTransport {
    dir: std::path::PathBuf,
}

impl FileTransport {
    /// A transport into `dir`, created if missing.
    pub fn new(dir: &std::path::Path) -> std::io::Result<FileTransport> {
        std::fs::create_dir_all(dir)?;
        Ok(FileTransport {
            dir: dir.to_owned(),
        })
    }
}

impl Transport for FileTransport {
    fn send(&self, message: &lettre::Message) -> Result<(), SendError> {
        let id = lettre::FileTransport::new(&self.dir)
            .send(message)
            .map_err(|e| SendError::Transient(Box::new(e)))?;
        tracing::info!(file = %self.dir.join(format!("{id}.eml")).display(), "e-mail written");
        Ok(())
    }
}
