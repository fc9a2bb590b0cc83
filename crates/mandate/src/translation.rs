//! Translations of the mandate's text, for the usager to read it in their language. A
//! translation is never the mandate: the French text alone is authoritative, and each
//! translation says so in its own language. It is of one version of the text (a new version
//! has none until its own are made), made by a translator and reviewed by another person, both
//! named in its file with the day of the review: only such files are published. A language
//! without a reviewed translation is shown as absent, never filled by machine translation.
//!
//! A file is a header of `field: value` lines (`langue`, `avertissement`, `traduit-par`,
//! `relu-par`, `relu-le` as `YYYY-MM-DD`), a blank line, then the articles, one a line, as
//! many as the version translated has.

use chrono::NaiveDate;

/// A language the service seeks translations into.
#[derive(Debug, PartialEq, Eq)]
pub struct Language {
    /// Its BCP 47 tag, as the `lang` attribute takes it.
    pub code: &'static str,
    /// Its name in French.
    pub french_name: &'static str,
    /// Its name in itself.
    pub endonym: &'static str,
    /// Written from right to left.
    pub rtl: bool,
}

impl Language {
    /// The `dir` attribute of text in this language.
    pub fn dir(&self) -> &'static str {
        if self.rtl {
            "rtl"
        } else {
            "ltr"
        }
    }
}

/// The languages of the usagers the structures meet most, in the order the pages list them.
pub const LANGUAGES: &[Language] = &[
    Language {
        code: "en",
        french_name: "anglais",
        endonym: "English",
        rtl: false,
    },
    Language {
        code: "ar",
        french_name: "arabe",
        endonym: "العربية",
        rtl: true,
    },
    Language {
        code: "es",
        french_name: "espagnol",
        endonym: "Español",
        rtl: false,
    },
    Language {
        code: "pt",
        french_name: "portugais",
        endonym: "Português",
        rtl: false,
    },
    Language {
        code: "ro",
        french_name: "roumain",
        endonym: "Română",
        rtl: false,
    },
    Language {
        code: "tr",
        french_name: "turc",
        endonym: "Türkçe",
        rtl: false,
    },
    Language {
        code: "prs",
        french_name: "dari",
        endonym: "دری",
        rtl: true,
    },
    Language {
        code: "ps",
        french_name: "pachto",
        endonym: "پښتو",
        rtl: true,
    },
];

/// The language tagged `code`, if the service knows it.
pub fn language(code: &str) -> Option<&'static Language> {
    LANGUAGES.iter().find(|l| l.code == code)
}

/// A reviewed translation of one version of the mandate's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The version of the text translated.
    pub version: u32,
    /// Its language.
    pub language: &'static Language,
    /// « Only the French text is authoritative », in its language.
    pub notice: &'static str,
    /// Who translated it.
    pub translated_by: &'static str,
    /// Who reviewed it (another person).
    pub reviewed_by: &'static str,
    /// The day of the review.
    pub reviewed_on: NaiveDate,
    body: &'static str,
}

/// Why a translation's file cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslationError {
    /// `langue` names no language of [`LANGUAGES`].
    #[error("langue inconnue : « {0} »")]
    UnknownLanguage(String),
    /// A header field is missing or empty.
    #[error("champ « {0} » manquant")]
    Missing(&'static str),
    /// A header line is not a known field.
    #[error("ligne d'en-tête inconnue : « {0} »")]
    UnknownField(&'static str),
    /// `relu-le` is not a date `YYYY-MM-DD`.
    #[error("date de relecture illisible : « {0} »")]
    BadDate(&'static str),
    /// The translator reviewed their own translation.
    #[error(
        "la traduction doit être relue par une autre personne que sa traductrice ou son traducteur"
    )]
    SelfReviewed,
    /// The version translated is not published.
    #[error("version {0} du texte du mandat inconnue")]
    UnknownVersion(u32),
    /// Articles missing or added.
    #[error("{found} articles traduits pour les {expected} de la version {version}")]
    Articles {
        /// The version translated.
        version: u32,
        /// Its articles.
        expected: usize,
        /// The translation's.
        found: usize,
    },
    /// The version already has a translation in this language.
    #[error("la version {version} a déjà une traduction en {language}")]
    Duplicate {
        /// The version translated.
        version: u32,
        /// The language's French name.
        language: &'static str,
    },
}

impl Translation {
    /// The translation of version `version` written in `source` (checked against the version
    /// by [`crate::MandateTexts::add_translation`]).
    pub fn parse(version: u32, source: &'static str) -> Result<Translation, TranslationError> {
        let mut end = 0;
        for line in source.split_inclusive('\n') {
            end += line.len();
            if line.trim().is_empty() {
                break;
            }
        }
        let (header, body) = source.split_at(end);
        let mut fields: [(&'static str, &'static str); 5] = [
            ("langue", ""),
            ("avertissement", ""),
            ("traduit-par", ""),
            ("relu-par", ""),
            ("relu-le", ""),
        ];
        for line in header.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or(TranslationError::UnknownField(line))?;
            let field = fields
                .iter_mut()
                .find(|(known, _)| *known == name.trim())
                .ok_or(TranslationError::UnknownField(line))?;
            field.1 = value.trim();
        }
        if let Some((name, _)) = fields.iter().find(|(_, value)| value.is_empty()) {
            return Err(TranslationError::Missing(name));
        }
        let [(_, code), (_, notice), (_, translated_by), (_, reviewed_by), (_, reviewed_on)] =
            fields;
        let language =
            language(code).ok_or_else(|| TranslationError::UnknownLanguage(code.to_owned()))?;
        let reviewed_on = NaiveDate::parse_from_str(reviewed_on, "%Y-%m-%d")
            .map_err(|_| TranslationError::BadDate(reviewed_on))?;
        if translated_by.to_lowercase() == reviewed_by.to_lowercase() {
            return Err(TranslationError::SelfReviewed);
        }
        Ok(Translation {
            version,
            language,
            notice,
            translated_by,
            reviewed_by,
            reviewed_on,
            body,
        })
    }

    /// Its articles, in order.
    pub fn articles(&self) -> impl Iterator<Item = &'static str> {
        self.body.lines().map(str::trim).filter(|l| !l.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REVIEWED: &str = "langue: es\navertissement: Solo el texto francés es válido.\ntraduit-par: Ana\nrelu-par: Luis\nrelu-le: 2026-11-02\n\nArtículo 1.\n\nArtículo 2.\n";

    #[test]
    fn a_reviewed_file_gives_its_language_signatures_and_articles() {
        let t = Translation::parse(1, REVIEWED).unwrap();
        assert_eq!(t.language.french_name, "espagnol");
        assert_eq!(t.language.dir(), "ltr");
        assert_eq!(t.notice, "Solo el texto francés es válido.");
        assert_eq!((t.translated_by, t.reviewed_by), ("Ana", "Luis"));
        assert_eq!(t.reviewed_on, NaiveDate::from_ymd_opt(2026, 11, 2).unwrap());
        assert_eq!(
            t.articles().collect::<Vec<_>>(),
            ["Artículo 1.", "Artículo 2."]
        );
    }

    #[test]
    fn a_file_without_its_review_is_not_a_translation() {
        let without = |field: &str| {
            let source: String = REVIEWED
                .lines()
                .filter(|l| !l.starts_with(field))
                .map(|l| format!("{l}\n"))
                .collect();
            Translation::parse(1, Box::leak(source.into_boxed_str()))
        };
        assert_eq!(
            without("relu-par"),
            Err(TranslationError::Missing("relu-par"))
        );
        assert_eq!(
            without("relu-le"),
            Err(TranslationError::Missing("relu-le"))
        );
        assert_eq!(
            without("avertissement"),
            Err(TranslationError::Missing("avertissement"))
        );
        let own = REVIEWED.replace("relu-par: Luis", "relu-par: ana");
        assert_eq!(
            Translation::parse(1, Box::leak(own.into_boxed_str())),
            Err(TranslationError::SelfReviewed)
        );
        let undated = REVIEWED.replace("2026-11-02", "novembre");
        assert_eq!(
            Translation::parse(1, Box::leak(undated.into_boxed_str())),
            Err(TranslationError::BadDate("novembre"))
        );
        let unknown = REVIEWED.replace("langue: es", "langue: xx");
        assert_eq!(
            Translation::parse(1, Box::leak(unknown.into_boxed_str())),
            Err(TranslationError::UnknownLanguage("xx".into()))
        );
        let typo = REVIEWED.replace("relu-le", "relu-l");
        assert_eq!(
            Translation::parse(1, Box::leak(typo.into_boxed_str())),
            Err(TranslationError::UnknownField("relu-l: 2026-11-02"))
        );
    }

    #[test]
    fn arabic_dari_and_pashto_are_written_right_to_left() {
        let rtl: Vec<_> = LANGUAGES.iter().filter(|l| l.rtl).map(|l| l.code).collect();
        assert_eq!(rtl, ["ar", "prs", "ps"]);
        assert_eq!(language("ar").unwrap().dir(), "rtl");
        assert!(language("fr").is_none());
    }
}
