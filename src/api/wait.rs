//! `POST /containers/{id}/wait?condition=not-running|next-exit|removed`: the status line and
//! headers go out at once (clients wait before they start), the body `{StatusCode, Error}`
//! once the condition holds.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::error::ApiError;
use super::http::{ApiResponse, Query, blocking, channel};
use super::service::{Activity, State};
use crate::container::index::{find_index, load_all, read_exit_record, refresh};
use crate::container::record::{Container, Status};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    NotRunning,
    NextExit,
    Removed,
}

/// How often the record is read while waiting.
const POLL: Duration = Duration::from_millis(10);

pub async fn wait(state: Arc<State>, id: &str, query: &Query) -> Result<ApiResponse, ApiError> {
    let condition = match query.get("condition").unwrap_or("") {
        "" | "not-running" => Condition::NotRunning,
        "next-exit" => Condition::NextExit,
        "removed" => Condition::Removed,
        other => {
            return Err(ApiError::bad(format!("invalid condition {other:?}: use not-running, next-exit or removed")));
        }
    };
    let lookup = state.clone();
    let input = id.to_owned();
    // Looked up before the reply, so a missing container is a 404, not a stream.
    let first = blocking(move || Ok(crate::container::index::load(&lookup.store, &input)?)).await?;
    let (tx, body) = channel();
    let busy = Activity::busy(&state);
    std::thread::spawn(move || {
        let _busy = busy;
        let Some(code) = wait_for(&state, &first, condition, || tx.is_closed()) else { return };
        let _ = tx.blocking_send(super::stream::json_line(&json!({ "StatusCode": code, "Error": null })));
    });
    Ok(super::http::streaming("application/json", body))
}

/// The exit code once `condition` holds; None if `gone()` says the client left first.
fn wait_for(state: &State, first: &Container, condition: Condition, gone: impl Fn() -> bool) -> Option<i64> {
    let live = |s: Status| matches!(s, Status::Running | Status::Paused | Status::Starting);
    let id = &first.id;
    let started_at = first.state.started_at.clone();
    let mut ended_code = None;
    loop {
        if gone() {
            return None;
        }
        // A relay holds the starting connection: the supervisor tells it the exit code, even
        // of a --rm container whose record goes at once.
        if state.hub.relaying(id) {
            std::thread::sleep(POLL);
            continue;
        }
        let current = load(state, id);
        let code = match &current {
            None => Some(
                ended_code
                    .or_else(|| state.hub.exit_code(id))
                    .or_else(|| read_exit_record(&state.store, id).map(|e| e.exit_code))
                    .unwrap_or(0),
            ),
            Some(c) if live(c.state.status) => {
                // Blocks until it ends: `berth wait`'s code, which asks the supervisor.
                let code = crate::container::lifecycle::wait(&state.store, c).unwrap_or(-1);
                ended_code = Some(code);
                (condition != Condition::Removed).then_some(code)
            }
            Some(c) => {
                let restarted = c.state.started_at != started_at
                    || state.hub.exit_code(id).is_some() && first.state.status == Status::Created;
                let code =
                    state.hub.exit_code(id).filter(|_| c.state.exit_code.is_none()).or(c.state.exit_code).unwrap_or(0);
                match condition {
                    Condition::NotRunning => Some(code),
                    Condition::NextExit if restarted || ended_code.is_some() => Some(code),
                    Condition::Removed if restarted || ended_code.is_some() => {
                        ended_code = Some(code);
                        None
                    }
                    _ => None,
                }
            }
        };
        if let Some(code) = code {
            return Some(i64::from(code));
        }
        std::thread::sleep(POLL);
    }
}

/// The container's record, its state refreshed; None once it is gone.
fn load(state: &State, id: &str) -> Option<Container> {
    let index = load_all(&state.store).ok()?;
    let i = find_index(&index, id).ok()?;
    let mut c = index.containers[i].clone();
    refresh(&state.store, &mut c);
    Some(c)
}
