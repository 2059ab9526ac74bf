//! Timestamps as the store records them: RFC 3339 in UTC with nanoseconds, Docker's format for
//! `Created`, `StartedAt`, `FinishedAt` and image history.

/// Now, e.g. `2026-12-03T18:14:39.123456789Z`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
