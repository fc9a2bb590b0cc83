//! The mandate's text in other languages, for the usager to read it in theirs: for a version,
//! every language the service seeks, each with its reviewed translation or said to have none
//! yet, and the version printed beside its translation, the French text authoritative (the
//! translated column carries its language's `lang` and `dir`). Public: the text names no one.

use crate::pages::{error_page, render};
use crate::{AppState, WebError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

/// A language as the listing shows it.
struct Offered {
    code: &'static str,
    french_name: &'static str,
    endonym: &'static str,
    dir: &'static str,
    available: bool,
}

#[derive(Template)]
#[template(path = "mandate_languages.html")]
struct LanguagesPage {
    version: u32,
    since: String,
    languages: Vec<Offered>,
}

#[derive(Template)]
#[template(path = "mandate_translation.html")]
struct TranslationPage {
    version: u32,
    code: &'static str,
    french_name: &'static str,
    endonym: &'static str,
    dir: &'static str,
    notice: &'static str,
    articles: Vec<(&'static str, &'static str)>,
    translated_by: &'static str,
    reviewed_by: &'static str,
    reviewed_on: String,
}

fn unknown_version() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Texte introuvable",
        "Cette version du texte du mandat n'existe pas.",
    )
}

/// Version `version` of the text, if published.
fn text<'a>(state: &'a AppState, version: &str) -> Option<&'a mandate::MandateText> {
    version
        .parse()
        .ok()
        .and_then(|v| state.mandate_texts.version(v))
}

/// GET /mandats/texte/{version}: the languages, each with its translation or its absence.
pub(crate) async fn languages(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let Some(text) = text(&state, &path) else {
        return Ok(unknown_version());
    };
    let page = LanguagesPage {
        version: text.version,
        since: text.applies_from.format("%d/%m/%Y").to_string(),
        languages: mandate::LANGUAGES
            .iter()
            .map(|l| Offered {
                code: l.code,
                french_name: l.french_name,
                endonym: l.endonym,
                dir: l.dir(),
                available: state
                    .mandate_texts
                    .translation(text.version, l.code)
                    .is_some(),
            })
            .collect(),
    };
    render(StatusCode::OK, &page, None, state.secure_cookies)
}

/// GET /mandats/texte/{version}/{langue}: the version beside its translation, to print.
pub(crate) async fn side_by_side(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (version, code) = path.into_inner();
    let Some(text) = text(&state, &version) else {
        return Ok(unknown_version());
    };
    let Some(translation) = state.mandate_texts.translation(text.version, &code) else {
        let message = match mandate::language(&code) {
            Some(l) => format!(
                "Ce texte n'a pas encore de traduction relue en {}. Seul le texte français existe.",
                l.french_name
            ),
            None => "Aidants Connect ne propose pas de traduction dans cette langue.".to_owned(),
        };
        return Ok(error_page(
            StatusCode::NOT_FOUND,
            "Traduction introuvable",
            &message,
        ));
    };
    let language = translation.language;
    let page = TranslationPage {
        version: text.version,
        code: language.code,
        french_name: language.french_name,
        endonym: language.endonym,
        dir: language.dir(),
        notice: translation.notice,
        articles: text.articles().zip(translation.articles()).collect(),
        translated_by: translation.translated_by,
        reviewed_by: translation.reviewed_by,
        reviewed_on: translation.reviewed_on.format("%d/%m/%Y").to_string(),
    };
    render(StatusCode::OK, &page, None, state.secure_cookies)
}
