//! The static files (`/static/...`): our stylesheet and the vendored DSFR, embedded at build
//! time (see `build.rs`). Each answer carries a strong ETag so that a browser revalidates with
//! a 304 instead of downloading the design system again on a slow connection.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The ETag of each asset, in the order of `ASSETS`, computed on first use.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, bytes)| {
                let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
                format!("\"{}\"", hex::encode(&digest.as_ref()[..16]))
            })
            .collect()
    })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("webmanifest") => "application/manifest+json",
        Some("md") | Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Looks an asset up by its path under `/static/`.
fn find(name: &str) -> Option<usize> {
    ASSETS.binary_search_by(|(n, _)| (*n).cmp(name)).ok()
}

/// GET `/static/{path}`.
pub(crate) async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(index) = find(path.as_str()) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("Fichier introuvable.");
    };
    let (name, bytes) = ASSETS[index];
    let etag = &etags()[index];
    let cache = (header::CACHE_CONTROL, "public, max-age=86400");
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.as_str()))
            .insert_header(cache)
            .finish();
    }
    HttpResponse::Ok()
        .content_type(content_type(name))
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header(cache)
        .body(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_holds_the_design_system() {
        assert!(ASSETS.windows(2).all(|w| w[0].0 < w[1].0));
        for name in [
            "style.css",
            "dsfr/dsfr.min.css",
            "dsfr/dsfr.print.min.css",
            "dsfr/dsfr.module.min.js",
            "dsfr/dsfr.nomodule.min.js",
            "dsfr/fonts/Marianne-Regular.woff2",
            "dsfr/favicon/favicon.svg",
            "dsfr/LICENSE.md",
        ] {
            assert!(find(name).is_some(), "{name} is not embedded");
        }
        assert_eq!(content_type("dsfr/fonts/Marianne-Bold.woff2"), "font/woff2");
    }

    #[test]
    fn every_file_the_stylesheets_reference_is_embedded() {
        for sheet in ["dsfr/dsfr.min.css", "dsfr/dsfr.print.min.css"] {
            let css = std::str::from_utf8(ASSETS[find(sheet).expect("sheet")].1).expect("UTF-8");
            for part in css.split("url(").skip(1) {
                let target = part.split(')').next().expect("closing parenthesis");
                let target = target.trim_matches(|c| c == '"' || c == '\'');
                if !target.starts_with("data:") {
                    assert!(
                        find(&format!("dsfr/{target}")).is_some(),
                        "{target} missing"
                    );
                }
            }
        }
    }
}
