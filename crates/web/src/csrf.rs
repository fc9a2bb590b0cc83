//! CSRF protection: a random token in a `SameSite=Strict` cookie, repeated in every form and
//! compared in constant time. A cross-site form post carries no such cookie and fails.

use crate::{AppState, CSRF_COOKIE};
use actix_web::cookie::{Cookie, SameSite};
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
    pub fn for_request(req: &HttpRequest, state: &AppState) -> CsrfToken {
        if let Some(c) = req.cookie(CSRF_COOKIE).filter(|c| c.value().len() == 43) {
            return CsrfToken {
                value: c.value().to_owned(),
                is_new: false,
            };
        }
        let mut bytes = [0u8; 32];
        if state.rng.fill(&mut bytes).is_err() {
            tracing::error!("random generator failed");
        }
        CsrfToken {
            value: URL_SAFE_NO_PAD.encode(bytes),
            is_new: true,
        }
    }

    /// The cookie to set when the token is new.
    pub fn cookie(&self, secure: bool) -> Option<Cookie<'static>> {
        self.is_new.then(|| {
            Cookie::build(CSRF_COOKIE, self.value.clone())
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Strict)
                .finish()
        })
    }
}

/// Whether the form's token matches the cookie's.
pub(crate) fn is_valid(req: &HttpRequest, submitted: &str) -> bool {
    match req.cookie(CSRF_COOKIE) {
        Some(cookie) if !submitted.is_empty() => {
            cookie.value().as_bytes().ct_eq(submitted.as_bytes()).into()
        }
        _ => false,
    }
}
