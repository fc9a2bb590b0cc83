//! Metropolitan France's civil time (Europe/Paris, from the IANA time-zone database through
//! `chrono-tz`): the wall-clock time pages show, where the service's days begin (a mandate
//! "for the day" ends at midnight in Paris, the journal's checkpoints are daily) and which
//! month a statistic counts in. Everything else in the service is UTC.

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;

/// The wall-clock time in metropolitan France at `at` (any UTC point in time, e.g. a
/// `store::Timestamp`).
pub fn local(at: impl Into<DateTime<Utc>>) -> NaiveDateTime {
    at.into().with_timezone(&Paris).naive_local()
}

/// The first midnight in Paris after `at`, in UTC. (Paris never changes its offset at
/// midnight, so that midnight exists and is unique.)
pub fn next_midnight(at: impl Into<DateTime<Utc>>) -> DateTime<Utc> {
    let day = local(at).date();
    day_start(day.checked_add_days(Days::new(1)).unwrap_or(day))
}

/// The point in time a Paris wall-clock time names, in UTC: the first of two in the autumn's
/// repeated hour, `None` in the spring's skipped hour.
pub fn from_local(at: NaiveDateTime) -> Option<DateTime<Utc>> {
    match Paris.from_local_datetime(&at) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// Where `day` begins in Paris (its midnight), in UTC.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    match Paris.from_local_datetime(&midnight) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => Utc.from_utc_datetime(&midnight),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn shown(at: &str) -> String {
        local(utc(at)).format("%Y-%m-%d %H:%M").to_string()
    }

    #[test]
    fn winter_is_one_hour_ahead_and_summer_two() {
        assert_eq!(shown("2026-01-15T12:00:00Z"), "2026-01-15 13:00");
        assert_eq!(shown("2026-07-15T12:00:00Z"), "2026-07-15 14:00");
    }

    #[test]
    fn clocks_change_on_the_last_sundays_of_march_and_october_at_one_utc() {
        // 29 March 2026: 02:00 becomes 03:00.
        assert_eq!(shown("2026-03-29T00:59:00Z"), "2026-03-29 01:59");
        assert_eq!(shown("2026-03-29T01:00:00Z"), "2026-03-29 03:00");
        // 25 October 2026: 03:00 becomes 02:00.
        assert_eq!(shown("2026-10-25T00:59:00Z"), "2026-10-25 02:59");
        assert_eq!(shown("2026-10-25T01:00:00Z"), "2026-10-25 02:00");
    }

    #[test]
    fn the_day_ends_at_midnight_in_paris() {
        assert_eq!(
            next_midnight(utc("2026-01-15T10:00:00Z")),
            utc("2026-01-15T23:00:00Z")
        );
        assert_eq!(
            next_midnight(utc("2026-07-15T10:00:00Z")),
            utc("2026-07-15T22:00:00Z")
        );
        // 23:30 UTC in winter is already the next day in Paris.
        assert_eq!(
            next_midnight(utc("2026-01-15T23:30:00Z")),
            utc("2026-01-16T23:00:00Z")
        );
        // On the days the clocks change, the day is 23 or 25 hours long.
        assert_eq!(
            next_midnight(utc("2026-03-29T08:00:00Z")),
            utc("2026-03-29T22:00:00Z")
        );
        assert_eq!(
            next_midnight(utc("2026-10-25T08:00:00Z")),
            utc("2026-10-25T23:00:00Z")
        );
    }
}
