//! The cookies the service sets: their names (with the `__Host-` prefix when they are
//! `Secure`, so that no other site or sub-domain can plant one) and their flags (`HttpOnly`,
//! path `/`, never a `Domain`). The national team's session is the exception: sent to
//! `/administration` only, `SameSite=Strict`, hence `__Secure-` (which allows a path); a
//! habilitation issuer's is sent to `/habilitation` only.

use crate::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

/// The service's cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jar {
    /// The aidant's session token.
    Session,
    /// The CSRF token repeated in every form.
    Csrf,
    /// The browsers an aidant signed in from ("appareil reconnu").
    Device,
    /// A national team member's session, sent to `/administration` only.
    Staff,
    /// A habilitation issuer's session, sent to `/habilitation` only.
    Issuer,
    /// An usager's session of their own space, sent to `/mon-espace` only.
    Usager,
    /// An usager's sign-in through FranceConnect, waiting for its answer (`/fc/callback`) and
    /// their confirmation (`/mon-espace/confirmation`).
    UsagerLogin,
}

impl Jar {
    /// The cookie's name: `__Host-…` when cookies are `Secure`.
    pub(crate) fn name(self, secure: bool) -> &'static str {
        match (self, secure) {
            (Jar::Session, true) => "__Host-ac_session",
            (Jar::Session, false) => "ac_session",
            (Jar::Csrf, true) => "__Host-ac_csrf",
            (Jar::Csrf, false) => "ac_csrf",
            (Jar::Device, true) => "__Host-ac_appareil",
            (Jar::Device, false) => "ac_appareil",
            // `__Host-` requires the path `/`; `__Secure-` still forbids planting it over http.
            (Jar::Staff, true) => "__Secure-ac_equipe",
            (Jar::Staff, false) => "ac_equipe",
            (Jar::Issuer, true) => "__Secure-ac_demandeur",
            (Jar::Issuer, false) => "ac_demandeur",
            (Jar::Usager, true) => "__Secure-ac_usager",
            (Jar::Usager, false) => "ac_usager",
            (Jar::UsagerLogin, true) => "__Host-ac_usager_connexion",
            (Jar::UsagerLogin, false) => "ac_usager_connexion",
        }
    }

    fn same_site(self) -> SameSite {
        match self {
            // Followed from FranceConnect's redirect to the interaction: a top-level navigation.
            // Followed from the links of the issuer's e-mails.
            // Set on FranceConnect's redirect back, then followed to the usager's space.
            Jar::Session | Jar::Device | Jar::Issuer | Jar::Usager | Jar::UsagerLogin => {
                SameSite::Lax
            }
            Jar::Csrf | Jar::Staff => SameSite::Strict,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Jar::Staff => "/administration",
            Jar::Issuer => "/habilitation",
            Jar::Usager => "/mon-espace",
            Jar::Session | Jar::Csrf | Jar::Device | Jar::UsagerLogin => "/",
        }
    }

    /// The value the request carries under this cookie's name.
    pub(crate) fn read(self, req: &HttpRequest, state: &AppState) -> Option<String> {
        req.cookie(self.name(state.secure_cookies))
            .map(|c| c.value().to_owned())
    }

    /// The cookie holding `value`, for the browser's session (or `max_age` when given).
    pub(crate) fn build(
        self,
        secure: bool,
        value: String,
        max_age: Option<chrono::Duration>,
    ) -> Cookie<'static> {
        let mut cookie = Cookie::build(self.name(secure), value)
            .path(self.path())
            .http_only(true)
            .secure(secure)
            .same_site(self.same_site())
            .finish();
        if let Some(age) = max_age.and_then(|a| {
            actix_web::cookie::time::Duration::try_from(a.to_std().unwrap_or_default()).ok()
        }) {
            cookie.set_max_age(age);
        }
        cookie
    }

    /// The cookie that removes this one from the browser.
    pub(crate) fn removal(self, state: &AppState) -> Cookie<'static> {
        let mut gone = self.build(state.secure_cookies, String::new(), None);
        gone.make_removal();
        gone
    }
}
