//! The service's legal and help pages (mentions légales, données personnelles, aide,
//! ressources), written in Markdown under `content/` and rendered when the service is built
//! (`build.rs`). A page names the deployment's facts between braces (`{hebergeur}`,
//! `{courriels_jours}`…): they are filled in from the configuration as the page is served, so
//! what the pages say of who answers for the service and of how long data is kept is what the
//! service applies.

use crate::pages::{error_page, render};
use crate::{AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

include!(concat!(env!("OUT_DIR"), "/content.rs"));

/// What the legal pages say of the deployment, from its configuration.
#[derive(Debug, Clone)]
pub struct LegalFacts {
    /// The publisher and data controller: name and address.
    pub publisher: String,
    /// The director of publication.
    pub publication_director: String,
    /// The host: name, address, telephone.
    pub hosting: String,
    /// Where to write.
    pub contact: String,
    /// Aidant sessions are deleted this long after their end.
    pub sessions_days: i64,
    /// Authorization requests, after their creation.
    pub oidc_requests_hours: i64,
    /// The mandate wizard's drafts, after they expire.
    pub mandate_drafts_hours: i64,
    /// Sent e-mails.
    pub emails_days: i64,
    /// A recognised browser, after its last use.
    pub device_days: i64,
    /// An aidant who has not signed in this long loses their access.
    pub inactivity_days: i64,
}

impl LegalFacts {
    /// Each fact under the name the pages give it.
    fn named(&self) -> [(&'static str, String); 10] {
        [
            ("editeur", self.publisher.clone()),
            ("directeur", self.publication_director.clone()),
            ("hebergeur", self.hosting.clone()),
            ("contact", self.contact.clone()),
            ("sessions_jours", self.sessions_days.to_string()),
            ("demandes_heures", self.oidc_requests_hours.to_string()),
            ("brouillons_heures", self.mandate_drafts_hours.to_string()),
            ("courriels_jours", self.emails_days.to_string()),
            ("appareils_jours", self.device_days.to_string()),
            ("inactivite_jours", self.inactivity_days.to_string()),
        ]
    }

    /// `html` with every fact filled in (escaped).
    fn fill(&self, html: &str) -> String {
        let mut filled = html.to_owned();
        for (name, value) in self.named() {
            filled = filled.replace(&format!("{{{name}}}"), &escape(&value));
        }
        filled
    }
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[derive(Template)]
#[template(path = "content.html")]
struct ContentPage<'a> {
    slug: &'a str,
    title: &'a str,
    html: String,
}

/// The addresses of the pages, for the routes.
pub(crate) fn addresses() -> impl Iterator<Item = String> {
    PAGES.iter().map(|(slug, _, _)| format!("/{slug}"))
}

/// GET /{page}: one of the pages under `content/`.
pub(crate) async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let wanted = req.path().trim_start_matches('/');
    let Some((slug, title, html)) = PAGES.iter().find(|(slug, _, _)| *slug == wanted) else {
        return Ok(error_page(
            StatusCode::NOT_FOUND,
            "Page introuvable",
            "Cette page n'existe pas.",
        ));
    };
    let page = ContentPage {
        slug,
        title,
        html: state.legal.fill(html),
    };
    render(StatusCode::OK, &page, None, state.secure_cookies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> LegalFacts {
        LegalFacts {
            publisher: "Éditeur <test>".into(),
            publication_director: "Directrice".into(),
            hosting: "Hébergeur".into(),
            contact: "contact@example.fr".into(),
            sessions_days: 7,
            oidc_requests_hours: 24,
            mandate_drafts_hours: 1,
            emails_days: 30,
            device_days: 90,
            inactivity_days: 180,
        }
    }

    #[test]
    fn every_page_names_only_facts_the_configuration_gives() {
        assert!(PAGES.len() >= 4);
        for (slug, title, html) in PAGES {
            assert!(!title.is_empty(), "{slug}");
            let filled = facts().fill(html);
            assert!(
                !filled.contains('{'),
                "{slug}: a fact has no value: {filled}"
            );
        }
    }

    #[test]
    fn facts_are_escaped() {
        assert_eq!(
            facts().fill("<p>{editeur}</p>"),
            "<p>Éditeur &lt;test&gt;</p>"
        );
    }
}
