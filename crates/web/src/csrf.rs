//! CSRF protection: a random token in a `SameSite=Strict` cookie, repeated in every form and
//! compared in constant time. A cross-site form post carries no such cookie and fails. A
//! token is never made without randomness: if the generator fails, the request fails.

use crate::cookies::Jar;
use crate::{AppState, WebError};
use actix_web::cookie::Cookie;
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

/// The CSRF token of this browser: the cookie's, or a new one to set.
pub(crate) struct CsrfToken {
    pub value: String,
    pub is_new: bool,
}

impl CsrfToken {
    /// The browser's token, or a new one.
    pub fn for_request(req: &HttpRequest, state: &AppState) -> Result<CsrfToken, WebError> {
        if let Some(value) = Jar::Csrf.read(req, state).filter(|v| v.len() == 43) {
            return Ok(CsrfToken {
                value,
                is_new: false,
            });
        }
        CsrfToken::fresh(|bytes| state.rng.fill(bytes))
    }

    /// A new token from 32 bytes that `fill` draws.
    fn fresh(
        fill: impl FnOnce(&mut [u8]) -> Result<(), ring::error::Unspecified>,
    ) -> Result<CsrfToken, WebError> {
        let mut bytes = [0u8; 32];
        fill(&mut bytes).map_err(|_| WebError::Random)?;
        Ok(CsrfToken {
            value: URL_SAFE_NO_PAD.encode(bytes),
            is_new: true,
        })
    }

    /// The cookie to set when the token is new.
    pub fn cookie(&self, secure: bool) -> Option<Cookie<'static>> {
        self.is_new
            .then(|| Jar::Csrf.build(secure, self.value.clone(), None))
    }
}

/// Whether the form's token matches the cookie's.
pub(crate) fn is_valid(req: &HttpRequest, state: &AppState, submitted: &str) -> bool {
    match Jar::Csrf.read(req, state) {
        Some(cookie) if !submitted.is_empty() => {
            cookie.as_bytes().ct_eq(submitted.as_bytes()).into()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_token_is_made_when_randomness_fails() {
        let failed = CsrfToken::fresh(|_| Err(ring::error::Unspecified));
        assert!(matches!(failed, Err(WebError::Random)));
        let made = CsrfToken::fresh(|bytes| {
            bytes.fill(7);
            Ok(())
        })
        .unwrap();
        assert_eq!(made.value.len(), 43);
        assert!(made.is_new);
    }
}
