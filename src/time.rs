//! Time as the project shows it: milliseconds since the epoch (Flink's unit) and RFC 3339
//! in UTC with milliseconds, by jiff (the time library k8s-openapi brings).

use k8s_openapi::jiff::Timestamp;

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// `2026-11-25T11:33:56.846Z`: always three fraction digits, always UTC. None outside
/// jiff's range (years -9999 to 9999).
pub fn rfc3339(ms: i64) -> Option<String> {
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| format!("{t:.3}"))
}

/// `rfc3339`, or the raw milliseconds for a time jiff cannot write: for messages, which
/// must say something either way.
pub fn rfc3339_or_ms(ms: i64) -> String {
    rfc3339(ms).unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_always_written() {
        assert_eq!(
            rfc3339(1_764_070_436_846).as_deref(),
            Some("2025-11-25T11:33:56.846Z")
        );
        assert_eq!(
            rfc3339(1_764_070_436_000).as_deref(),
            Some("2025-11-25T11:33:56.000Z")
        );
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(rfc3339(-1).as_deref(), Some("1969-12-31T23:59:59.999Z"));
    }

    #[test]
    fn times_out_of_range_are_none() {
        assert_eq!(rfc3339(i64::MAX), None);
        assert_eq!(rfc3339(i64::MIN), None);
    }

    #[test]
    fn messages_show_a_time_out_of_range_as_milliseconds() {
        assert_eq!(rfc3339_or_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_or_ms(i64::MAX), i64::MAX.to_string());
    }
}
