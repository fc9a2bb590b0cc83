//! Mandate durations.

use crate::MandateError;
use chrono::Duration;
use store::Timestamp;

store::text_enum! {
    /// How long a mandate lasts (stored as its keyword).
    pub enum MandateDuration(MandateError, MandateError::UnknownDuration) {
        /// Until the end of the day it was made (French metropolitan time).
        Short = "SHORT",
        /// 31 days.
        Month = "MONTH",
        /// 182 days.
        Semester = "SEMESTER",
        /// 365 days, the longest.
        Long = "LONG",
    }
}

impl MandateDuration {
    /// Every duration, shortest first.
    pub const ALL: [MandateDuration; 4] = [
        MandateDuration::Short,
        MandateDuration::Month,
        MandateDuration::Semester,
        MandateDuration::Long,
    ];

    /// How the duration is shown.
    pub fn label(self) -> &'static str {
        match self {
            MandateDuration::Short => "1 jour (jusqu'à minuit ce soir)",
            MandateDuration::Month => "1 mois (31 jours)",
            MandateDuration::Semester => "6 mois (182 jours)",
            MandateDuration::Long => "1 an (365 jours)",
        }
    }

    /// When a mandate made at `now` ends.
    pub fn expires_at(self, now: Timestamp) -> Timestamp {
        match self {
            MandateDuration::Short => Timestamp::from(paris::next_midnight(now)),
            MandateDuration::Month => now + Duration::days(31),
            MandateDuration::Semester => now + Duration::days(182),
            MandateDuration::Long => now + Duration::days(365),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn utc(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Utc)
            .into()
    }

    #[test]
    fn short_mandates_end_at_paris_midnight() {
        // Winter: UTC+1, so midnight in Paris is 23:00 UTC.
        assert_eq!(
            MandateDuration::Short.expires_at(utc("2026-01-15T10:00:00Z")),
            utc("2026-01-15T23:00:00Z")
        );
        // Summer: UTC+2.
        assert_eq!(
            MandateDuration::Short.expires_at(utc("2026-07-01T08:00:00Z")),
            utc("2026-07-01T22:00:00Z")
        );
        // 23:30 UTC in winter is already the next day in Paris.
        assert_eq!(
            MandateDuration::Short.expires_at(utc("2026-01-15T23:30:00Z")),
            utc("2026-01-16T23:00:00Z")
        );
    }

    #[test]
    fn other_durations_count_days() {
        let now = utc("2026-01-15T10:00:00Z");
        assert_eq!(
            MandateDuration::Month.expires_at(now),
            utc("2026-02-15T10:00:00Z")
        );
        assert_eq!(
            MandateDuration::Long.expires_at(now),
            utc("2027-01-15T10:00:00Z")
        );
        assert_eq!(
            MandateDuration::Semester.expires_at(now) - now,
            Duration::days(182)
        );
    }

    #[test]
    fn keywords_round_trip() {
        for d in [
            MandateDuration::Short,
            MandateDuration::Month,
            MandateDuration::Semester,
            MandateDuration::Long,
        ] {
            assert_eq!(MandateDuration::parse(d.as_str()).ok(), Some(d));
        }
        assert!(MandateDuration::parse("FOREVER").is_err());
    }
}
