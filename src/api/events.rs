//! `GET /events?since=&until=&filters=`: berth's event journal (crate::events) as dockerd streams
//! it, one JSON object a line. Past events only when a time bound is given (as dockerd's); with
//! `until` the stream ends once that time has passed, else it follows until the client goes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::ApiError;
use super::http::{ApiResponse, Query, channel, streaming};
use super::service::{Activity, State};
use super::stream::json_line;
use crate::events::{Filter, Follower};

const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Docker's encoding of a time bound: Unix seconds with an optional `.nanoseconds` part (the CLI
/// turns relative times into these), or RFC 3339.
fn parse_time(text: &str) -> Result<DateTime<Utc>, ApiError> {
    let bad = || ApiError::bad(format!("invalid time {text:?}: expected Unix seconds or RFC 3339"));
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i64 = seconds.parse().map_err(|_| bad())?;
    let nanos: u32 = if fraction.is_empty() {
        0
    } else if fraction.len() <= 9 && fraction.bytes().all(|b| b.is_ascii_digit()) {
        format!("{fraction:0<9}").parse().map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    DateTime::from_timestamp(seconds, nanos).ok_or_else(bad)
}

fn bound(query: &Query, key: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    query.get(key).filter(|v| !v.is_empty()).map(parse_time).transpose()
}

pub async fn events(state: Arc<State>, query: &Query) -> Result<ApiResponse, ApiError> {
    let since = bound(query, "since")?;
    let until = bound(query, "until")?;
    let words = super::filters::parse(query.get("filters"))?;
    let filter = Filter::parse(&words).map_err(|e| ApiError::bad(e.to_string()))?;
    let mut follower = if since.is_some() || until.is_some() {
        Follower::from_start(&state.store)
    } else {
        Follower::from_end(&state.store)
    };
    let (tx, body) = channel();
    let busy = Activity::busy(&state);
    std::thread::spawn(move || {
        let _busy = busy;
        let in_range = |time: DateTime<Utc>| since.is_none_or(|s| time >= s) && until.is_none_or(|u| time <= u);
        loop {
            let events = match follower.poll() {
                Ok(events) => events,
                Err(e) => {
                    let _ = tx.blocking_send(super::stream::json_error(&format!("reading the event journal: {e}")));
                    return;
                }
            };
            for event in events {
                if in_range(DateTime::from_timestamp_nanos(event.time_nano))
                    && filter.matches(&event)
                    && tx.blocking_send(json_line(&serde_json::to_value(&event).unwrap_or_default())).is_err()
                {
                    return;
                }
            }
            if until.is_some_and(|u| Utc::now() > u) || tx.is_closed() {
                return;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    });
    Ok(streaming("application/json", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_read_dockers_encodings() {
        assert_eq!(parse_time("0").unwrap().timestamp(), 0);
        let t = parse_time("1700000000.5").unwrap();
        assert_eq!((t.timestamp(), t.timestamp_subsec_nanos()), (1_700_000_000, 500_000_000));
        assert_eq!(parse_time("2024-01-02T03:04:05Z").unwrap().timestamp(), 1_704_164_645);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("1.x").is_err());
    }
}
