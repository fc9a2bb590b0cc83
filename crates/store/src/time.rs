//! The one type of a point in time: UTC, to the microsecond, the precision both backends keep.
//!
//! The clock gives a [`Timestamp`], the rows hold [`Timestamp`]s and the queries compare with
//! them, so a value read back equals the value written and no code converts between chrono's
//! types. Pages show it in Paris time (crate `paris`), tokens in seconds since the epoch.

use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, Utc};
use diesel_derive_newtype::DieselNewType;

/// A point in time, UTC, truncated to the microsecond (stored as SQL `TIMESTAMP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType)]
pub struct Timestamp(NaiveDateTime);

impl Timestamp {
    /// The same point in time as a chrono UTC date-time.
    pub fn utc(self) -> DateTime<Utc> {
        self.0.and_utc()
    }

    /// Whole seconds since 1970-01-01 UTC (JWT's `iat`, `exp`, `auth_time`).
    pub fn timestamp(self) -> i64 {
        self.0.and_utc().timestamp()
    }

    /// From seconds since the epoch; `None` out of chrono's range.
    pub fn from_timestamp(seconds: i64) -> Option<Timestamp> {
        DateTime::from_timestamp(seconds, 0).map(Timestamp::from)
    }

    /// Formats the UTC date and time with chrono's `strftime` items (`%Y-%m-%d %H:%M:%S%.6f`).
    pub fn format<'a>(
        &self,
        items: &'a str,
    ) -> chrono::format::DelayedFormat<chrono::format::StrftimeItems<'a>> {
        self.0.format(items)
    }

    /// RFC 3339 as chrono writes it (`2026-03-01T09:30:00.123456+00:00`), for JSON and the
    /// journal's details.
    pub fn to_rfc3339(self) -> String {
        self.utc().to_rfc3339()
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Timestamp {
        Timestamp(at.trunc_subsecs(6).naive_utc())
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(at: Timestamp) -> DateTime<Utc> {
        at.utc()
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, length: Duration) -> Timestamp {
        Timestamp::from(self.utc() + length)
    }
}

impl std::ops::AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, length: Duration) {
        *self = *self + length;
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, length: Duration) -> Timestamp {
        Timestamp::from(self.utc() - length)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = Duration;
    fn sub(self, earlier: Timestamp) -> Duration {
        self.0 - earlier.0
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.utc().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keeps_the_microsecond_both_backends_keep() {
        let at = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 59).unwrap()
            + Duration::nanoseconds(123_456_789);
        let stamp = Timestamp::from(at);
        assert_eq!(stamp.utc().timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(stamp.to_rfc3339(), "2026-03-29T00:59:59.123456+00:00");
        assert_eq!((stamp + Duration::nanoseconds(999)).utc(), stamp.utc());
        assert_eq!(stamp + Duration::hours(1) - stamp, Duration::hours(1));
        assert_eq!(
            Timestamp::from_timestamp(stamp.timestamp()).map(|s| s.timestamp()),
            Some(stamp.timestamp())
        );
    }
}
