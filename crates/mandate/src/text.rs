//! The mandate's text, versioned. Each version's wording is a file of `texts/`, published with
//! the day it applies from; a mandate records the version in force the day it is made (Paris
//! time), its attestation names that version (the fingerprint covers it) and reproduces that
//! wording forever. A published version is never edited (a test pins each file's digest): a
//! new wording is a new file and a new entry of [`PUBLISHED`], for new mandates only. Its
//! reviewed translations ([`Translation`]) are files of `texts/v{version}/`, listed
//! in [`TRANSLATIONS`].

use crate::translation::{Translation, TranslationError};
use chrono::NaiveDate;

/// One version of the mandate's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandateText {
    /// Its number, from 1.
    pub version: u32,
    /// The first day (Paris time) mandates are made under it.
    pub applies_from: NaiveDate,
    /// Its articles, one a line.
    pub text: &'static str,
}

impl MandateText {
    /// Its articles, in order.
    pub fn articles(&self) -> impl Iterator<Item = &'static str> {
        self.text.lines().map(str::trim).filter(|l| !l.is_empty())
    }
}

/// The published versions: number, first day (year, month, day), wording.
const PUBLISHED: &[(u32, (i32, u32, u32), &str)] =
    &[(1, (2026, 1, 1), include_str!("../texts/mandat-v1.txt"))];

/// The reviewed translations published: version translated, file. None yet: each awaits a
/// translator and a reviewer (`docs/translations.md`).
const TRANSLATIONS: &[(u32, &str)] = &[];

/// The versions a service knows, oldest first, with their translations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandateTexts {
    texts: Vec<MandateText>,
    translations: Vec<Translation>,
}

impl MandateTexts {
    /// The versions published in this build, with their reviewed translations (a test checks
    /// that none is left out).
    pub fn published() -> MandateTexts {
        let mut texts = MandateTexts {
            texts: Self::published_versions(),
            translations: Vec::new(),
        };
        for (version, source) in TRANSLATIONS {
            // Each is checked by `every_listed_translation_is_accepted`.
            let _ = texts.add_translation(*version, source);
        }
        texts
    }

    fn published_versions() -> Vec<MandateText> {
        PUBLISHED
            .iter()
            .filter_map(|(version, (y, m, d), text)| {
                Some(MandateText {
                    version: *version,
                    applies_from: NaiveDate::from_ymd_opt(*y, *m, *d)?,
                    text,
                })
            })
            .collect()
    }

    /// These versions and a further one, which must come after the last (its number the next,
    /// its first day later); `None` otherwise.
    pub fn with(mut self, text: MandateText) -> Option<MandateTexts> {
        let follows = self.texts.last().is_none_or(|last| {
            text.version == last.version + 1 && text.applies_from > last.applies_from
        });
        follows.then(|| {
            self.texts.push(text);
            self
        })
    }

    /// Adds the translation written in `source` of version `version`: it must be a reviewed
    /// translation (see [`Translation::parse`]) with as many articles as the version, the
    /// first of the version in its language.
    pub fn add_translation(
        &mut self,
        version: u32,
        source: &'static str,
    ) -> Result<(), TranslationError> {
        let translation = Translation::parse(version, source)?;
        let expected = self
            .version(version)
            .ok_or(TranslationError::UnknownVersion(version))?
            .articles()
            .count();
        let found = translation.articles().count();
        if found != expected {
            return Err(TranslationError::Articles {
                version,
                expected,
                found,
            });
        }
        if self
            .translation(version, translation.language.code)
            .is_some()
        {
            return Err(TranslationError::Duplicate {
                version,
                language: translation.language.french_name,
            });
        }
        self.translations.push(translation);
        Ok(())
    }

    /// The translation of version `version` in the language tagged `code`, if published.
    pub fn translation(&self, version: u32, code: &str) -> Option<&Translation> {
        self.translations
            .iter()
            .find(|t| t.version == version && t.language.code == code)
    }

    /// The version in force on `day`: the last that applies from it or before (the first
    /// version for an earlier day).
    pub fn in_force(&self, day: NaiveDate) -> Option<&MandateText> {
        self.texts
            .iter()
            .rev()
            .find(|t| t.applies_from <= day)
            .or(self.texts.first())
    }

    /// Version `version`, if known.
    pub fn version(&self, version: u32) -> Option<&MandateText> {
        self.texts.iter().find(|t| t.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_version_is_never_edited() {
        // Changing a published wording would change what signed mandates say: publish a new
        // version instead. (SHA-256 of texts/mandat-v1.txt.)
        let digests = [(
            1,
            "bc9bd6bbb4278d2eda7b277f1e2cda2c31f8ec57781aaf30fa50b52c6862ac34",
        )];
        for (version, digest) in digests {
            let text = MandateTexts::published().version(version).unwrap().text;
            let actual = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
            assert_eq!(hex::encode(actual.as_ref()), digest, "version {version}");
        }
    }

    #[test]
    fn each_day_has_the_version_then_in_force() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let texts = MandateTexts::published()
            .with(MandateText {
                version: 2,
                applies_from: day(2027, 3, 1),
                text: "Article 1 — Objet.",
            })
            .unwrap();
        assert_eq!(texts.in_force(day(2026, 6, 1)).unwrap().version, 1);
        assert_eq!(texts.in_force(day(2027, 2, 28)).unwrap().version, 1);
        assert_eq!(texts.in_force(day(2027, 3, 1)).unwrap().version, 2);
        assert_eq!(texts.in_force(day(2020, 1, 1)).unwrap().version, 1);
        assert!(texts
            .clone()
            .with(MandateText {
                version: 4,
                applies_from: day(2028, 1, 1),
                text: "",
            })
            .is_none());
        assert_eq!(texts.version(1).unwrap().articles().count(), 7);
    }

    #[test]
    fn every_listed_translation_is_accepted() {
        let mut texts = MandateTexts {
            texts: MandateTexts::published_versions(),
            translations: Vec::new(),
        };
        for (version, source) in TRANSLATIONS {
            assert_eq!(texts.add_translation(*version, source), Ok(()), "{source}");
        }
        assert_eq!(texts, MandateTexts::published());
    }

    /// A reviewed translation of version 1 into `code`: its header, then `articles` articles.
    fn translation_of_v1(code: &str, articles: usize) -> &'static str {
        let mut source = format!(
            "langue: {code}\navertissement: Notice.\ntraduit-par: Ana\nrelu-par: Luis\nrelu-le: 2026-11-02\n\n"
        );
        for n in 1..=articles {
            source.push_str(&format!("Article {n}.\n"));
        }
        Box::leak(source.into_boxed_str())
    }

    #[test]
    fn a_translation_has_the_articles_of_its_version_and_is_the_only_one_in_its_language() {
        let mut texts = MandateTexts::published();
        assert_eq!(
            texts.add_translation(1, translation_of_v1("ar", 6)),
            Err(TranslationError::Articles {
                version: 1,
                expected: 7,
                found: 6
            })
        );
        assert_eq!(
            texts.add_translation(9, translation_of_v1("ar", 7)),
            Err(TranslationError::UnknownVersion(9))
        );
        assert!(texts.translation(1, "ar").is_none());
        assert_eq!(texts.add_translation(1, translation_of_v1("ar", 7)), Ok(()));
        assert_eq!(
            texts.add_translation(1, translation_of_v1("ar", 7)),
            Err(TranslationError::Duplicate {
                version: 1,
                language: "arabe"
            })
        );
        let arabic = texts.translation(1, "ar").unwrap();
        assert_eq!(arabic.language.dir(), "rtl");
        assert_eq!(arabic.articles().nth(6), Some("Article 7."));
        assert!(texts.translation(1, "en").is_none());
        assert!(texts.translation(2, "ar").is_none());
    }
}
