//! What a running container is doing: `top`, `stats` (one-shot or streamed every second) and
//! `resize` of its terminal, from the same sources `berth top` and `berth stats` read.

use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use super::http::{ApiResponse, Query, blocking, channel, ok_json, status};
use super::service::{Activity, State};
use crate::container::lifecycle::cgroup_of;
use crate::container::record::{Container, Status};

fn running(c: &Container) -> Result<(), ApiError> {
    if matches!(c.state.status, Status::Running | Status::Paused) {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!("container {} is not running", c.name)))
    }
}

pub async fn top(state: Arc<State>, id: &str) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    blocking(move || {
        let c = super::containers::load_current(&state, &id)?;
        running(&c)?;
        let rows = crate::container::top::top_rows(&crate::container::top::container_pids(&c));
        Ok(ok_json(&json!({ "Titles": crate::container::top::TOP_HEADER, "Processes": rows })))
    })
    .await
}

/// `POST /containers/{id}/resize?h=&w=`: the supervisor sets the terminal's size.
pub async fn resize(state: Arc<State>, id: &str, query: &Query) -> Result<ApiResponse, ApiError> {
    let rows: u16 = query.number("h")?.unwrap_or(0);
    let cols: u16 = query.number("w")?.unwrap_or(0);
    let id = id.to_owned();
    blocking(move || {
        let c = super::containers::load_current(&state, &id)?;
        running(&c)?;
        if c.config.tty && rows > 0 && cols > 0 {
            use crate::container::protocol::{Message, connect_attach, send_message};
            let connection = connect_attach(&state.store.container_run_dir(&c.id))
                .map_err(|e| ApiError::Conflict(format!("container {} cannot be reached: {e}", c.name)))?;
            let _ = send_message(std::os::fd::AsFd::as_fd(&connection), &Message::Resize { rows, cols });
        }
        Ok(status(StatusCode::OK))
    })
    .await
}

/// All CPUs' time since boot in nanoseconds (`/proc/stat`'s first line), Docker's
/// `system_cpu_usage`.
fn system_cpu_ns() -> u64 {
    let ticks = 100u64; // USER_HZ on Linux
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| l.split_whitespace().skip(1).filter_map(|v| v.parse::<u64>().ok()).sum::<u64>())
        })
        .map_or(0, |jiffies| jiffies * (1_000_000_000 / ticks))
}

/// One sample in Docker's Stats shape.
fn sample(c: &Container) -> Value {
    let stats = cgroup_of(c).map(|g| g.stats());
    let net = crate::container::top::network_io(c.state.pid);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let host_memory = crate::container::top::host_memory();
    let (usage, limit, inactive, cpu, pids) = stats.map_or((0, host_memory, 0, 0, 0), |s| {
        (s.memory_usage, s.memory_limit.unwrap_or(host_memory), s.memory_inactive_file, s.cpu_usage_ns, s.pids_current)
    });
    json!({
        "read": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "id": c.id,
        "name": format!("/{}", c.name),
        "pids_stats": { "current": pids },
        "cpu_stats": { "cpu_usage": { "total_usage": cpu }, "system_cpu_usage": system_cpu_ns(), "online_cpus": cpus },
        "memory_stats": { "usage": usage, "limit": limit, "stats": { "inactive_file": inactive, "total_inactive_file": inactive } },
        "networks": net.map_or(json!({}), |(rx, tx)| json!({ "eth0": { "rx_bytes": rx, "tx_bytes": tx } })),
        "blkio_stats": { "io_service_bytes_recursive": [] },
    })
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: each sample carries the previous one's CPU
/// figures (`precpu_stats`), as Docker's do, so clients can compute a percentage.
pub async fn stats(state: Arc<State>, id: &str, query: &Query) -> Result<ApiResponse, ApiError> {
    let stream = query.get("stream").is_none_or(|v| !matches!(v, "0" | "false" | "False"));
    let one_shot = query.flag("one-shot");
    let lookup = state.clone();
    let input = id.to_owned();
    let c = blocking(move || super::containers::load_current(&lookup, &input)).await?;
    let (tx, body) = channel();
    let busy = Activity::busy(&state);
    std::thread::spawn(move || {
        let _busy = busy;
        let mut previous = if one_shot {
            json!({})
        } else {
            let first = sample(&c);
            std::thread::sleep(Duration::from_millis(500));
            first
        };
        loop {
            let mut now = sample(&c);
            now["precpu_stats"] = previous["cpu_stats"].clone();
            if tx.blocking_send(super::stream::json_line(&now)).is_err() || !stream {
                return;
            }
            previous = now;
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    Ok(super::http::streaming("application/json", body))
}
