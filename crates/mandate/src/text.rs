//! The mandate's text, versioned. Each version's wording is a file of `texts/`, published with
//! the day it applies from; a mandate records the version in force the day it is made (Paris
//! time), its attestation names that version (the fingerprint covers it) and reproduces that
//! wording forever. A published version is never edited (a test pins each file's digest): a
//! new wording is a new file and a new entry of [`PUBLISHED`], for new mandates only.

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

/// The versions a service knows, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandateTexts(Vec<MandateText>);

impl MandateTexts {
    /// The versions published in this build.
    pub fn published() -> MandateTexts {
        MandateTexts(
            PUBLISHED
                .iter()
                .filter_map(|(version, (y, m, d), text)| {
                    Some(MandateText {
                        version: *version,
                        applies_from: NaiveDate::from_ymd_opt(*y, *m, *d)?,
                        text,
                    })
                })
                .collect(),
        )
    }

    /// These versions and a further one, which must come after the last (its number the next,
    /// its first day later); `None` otherwise.
    pub fn with(mut self, text: MandateText) -> Option<MandateTexts> {
        let follows = self.0.last().is_none_or(|last| {
            text.version == last.version + 1 && text.applies_from > last.applies_from
        });
        follows.then(|| {
            self.0.push(text);
            self
        })
    }

    /// The version in force on `day`: the last that applies from it or before (the first
    /// version for an earlier day).
    pub fn in_force(&self, day: NaiveDate) -> Option<&MandateText> {
        self.0
            .iter()
            .rev()
            .find(|t| t.applies_from <= day)
            .or(self.0.first())
    }

    /// Version `version`, if known.
    pub fn version(&self, version: u32) -> Option<&MandateText> {
        self.0.iter().find(|t| t.version == version)
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
}
