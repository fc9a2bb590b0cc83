//! Sending SMS to usagers (the consent request of a remote mandate), behind the [`SmsSender`]
//! interface: an HTTP provider configured by URL and token ([`HttpSmsSender`]), or the log
//! for development ([`LogSmsSender`]). Receiving the answers is the web layer's webhook.

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Why an SMS was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The provider could not be reached.
    #[error("fournisseur SMS injoignable : {0}")]
    Unreachable(String),
    /// The provider refused the message (its HTTP status).
    #[error("le fournisseur SMS a refusé le message (statut {0})")]
    Refused(u16),
    /// The sender is misconfigured.
    #[error("configuration SMS invalide : {0}")]
    Config(String),
}

/// A future returned by [`SmsSender::send`].
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// Something that sends an SMS.
pub trait SmsSender: Send + Sync {
    /// Sends `text` to `to` (E.164).
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> SendFuture<'a>;
}

/// What the HTTP provider receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingSms {
    /// Recipient, E.164.
    pub to: String,
    /// Text.
    pub message: String,
}

/// Posts each SMS as JSON ([`OutgoingSms`]) to a provider URL with a Bearer token; any 2xx
/// answer means accepted.
#[derive(Debug, Clone)]
pub struct HttpSmsSender {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl HttpSmsSender {
    /// A sender to `url` authenticated by `token`.
    pub fn new(url: &str, token: &str) -> Result<HttpSmsSender, SmsError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| SmsError::Config(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SmsError::Config(format!(
                "schéma non pris en charge : {url}"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SmsError::Config(e.to_string()))?;
        Ok(HttpSmsSender {
            url: url.to_owned(),
            token: token.to_owned(),
            http,
        })
    }
}

impl SmsSender for HttpSmsSender {
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let response = self
                .http
                .post(&self.url)
                .bearer_auth(&self.token)
                .json(&OutgoingSms {
                    to: to.to_owned(),
                    message: text.to_owned(),
                })
                .send()
                .await
                .map_err(|e| SmsError::Unreachable(e.without_url().to_string()))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(SmsError::Refused(response.status().as_u16()))
            }
        })
    }
}

/// Development sender: writes the message to the log, with the number masked but for its
/// last two digits.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSmsSender;

/// A phone number with all but its last two digits hidden.
pub fn masked(phone: &str) -> String {
    let digits = phone.chars().count();
    phone
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i + 2 < digits && c.is_ascii_digit() {
                '•'
            } else {
                c
            }
        })
        .collect()
}

impl SmsSender for LogSmsSender {
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(to = %masked(to), message = %text, "SMS (development: not sent)");
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_in_logs() {
        assert_eq!(masked("+33612345678"), "+•••••••••78");
    }

    #[test]
    fn provider_urls_are_checked() {
        assert!(HttpSmsSender::new("https://sms.example/send", "t").is_ok());
        assert!(HttpSmsSender::new("ftp://sms.example", "t").is_err());
        assert!(HttpSmsSender::new("pas une url", "t").is_err());
    }
}
