//! RFC 3339 timestamps in UTC, formatted the way Go prints them (runc's state `created` uses
//! `time.RFC3339Nano`, logrus log lines use `time.RFC3339`).
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in wall-clock time (CLOCK_REALTIME) as seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    /// The current time: one clock_gettime(CLOCK_REALTIME) (vDSO, no syscall).
    pub fn now() -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: since.as_secs() as i64,
            nanos: since.subsec_nanos(),
        }
    }

    /// `2026-12-04T15:15:01.123456789Z`, with trailing zeros of the fraction removed (and no fraction
    /// at all when it is zero), exactly as Go's `time.RFC3339Nano` does.
    pub fn rfc3339_nano(&self) -> String {
        let mut out = self.rfc3339_secs_only();
        if self.nanos != 0 {
            out.pop(); // the 'Z'
            let fraction = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(fraction.trim_end_matches('0'));
            out.push('Z');
        }
        out
    }

    /// `2026-12-04T15:15:01Z` (Go's `time.RFC3339`).
    pub fn rfc3339(&self) -> String {
        self.rfc3339_secs_only()
    }

    fn rfc3339_secs_only(&self) -> String {
        let days = self.secs.div_euclid(86_400);
        let secs_of_day = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> Timestamp {
        Timestamp { secs, nanos }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0, 0).rfc3339_nano(), "1970-01-01T00:00:00Z");
        // date -u -d @1796397301 = 2026-12-04T15:15:01Z
        assert_eq!(
            at(1_796_397_301, 123_456_789).rfc3339_nano(),
            "2026-12-04T15:15:01.123456789Z"
        );
        assert_eq!(
            at(1_796_397_301, 120_000_000).rfc3339_nano(),
            "2026-12-04T15:15:01.12Z"
        );
        assert_eq!(
            at(1_796_397_301, 5).rfc3339_nano(),
            "2026-12-04T15:15:01.000000005Z"
        );
        assert_eq!(at(1_796_397_301, 999).rfc3339(), "2026-12-04T15:15:01Z");
        // Leap day and the end of a century year.
        assert_eq!(at(951_782_400, 0).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(at(4_107_542_399, 0).rfc3339(), "2100-02-28T23:59:59Z");
        assert_eq!(at(-1, 0).rfc3339(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn now_is_after_the_time_this_test_was_written() {
        let now = Timestamp::now();
        assert!(now.secs > 1_796_000_000);
        assert!(now.rfc3339_nano().ends_with('Z'));
    }
}
