//! `/containers/...`: list, create, inspect, start, stop, restart, kill, pause, unpause,
//! rename, delete, prune; the streaming ones (attach, wait, logs) and the live views (top,
//! stats, resize) in their own files.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::error::ApiError;
use super::http::{ApiResponse, Query, blocking, ok_json, read_json, status};
use super::service::State;
use crate::container::index::{self, ContainerError};
use crate::container::lifecycle::{self, LifecycleError};
use crate::container::net_view::LiveNetworks;
use crate::container::query::{Filters, Query as ListQuery, list};
use crate::container::record::{Container, Status};
use crate::container::signals::parse_signal;

pub async fn route(
    state: Arc<State>,
    request: Request<Incoming>,
    method: &Method,
    path: &[&str],
    query: Query,
) -> Result<ApiResponse, ApiError> {
    match (method, path) {
        (&Method::GET, ["json"]) => list_json(state, query).await,
        (&Method::POST, ["create"]) => create(state, request, query).await,
        (&Method::POST, ["prune"]) => prune(state).await,
        (&Method::GET, [id, "json"]) => inspect(state, id).await,
        (&Method::POST, [id, "start"]) => start(state, id).await,
        (&Method::POST, [id, "stop"]) => stop(state, id, query, false).await,
        (&Method::POST, [id, "restart"]) => stop(state, id, query, true).await,
        (&Method::POST, [id, "kill"]) => kill(state, id, query).await,
        (&Method::POST, [id, "pause"]) => pause(state, id, true).await,
        (&Method::POST, [id, "unpause"]) => pause(state, id, false).await,
        (&Method::POST, [id, "rename"]) => rename(state, id, query).await,
        (&Method::POST, [id, "wait"]) => super::wait::wait(state, id, &query).await,
        (&Method::GET, [id, "export"]) => super::archive::export(state, id).await,
        (&Method::GET, [id, "archive"]) => super::archive::get(state, id, &query).await,
        (&Method::HEAD, [id, "archive"]) => super::archive::head(state, id, &query).await,
        (&Method::PUT, [id, "archive"]) => super::archive::put(state, request, id, &query).await,
        (&Method::POST, [id, "exec"]) => super::exec::create(state, request, id).await,
        (&Method::POST, [id, "attach"]) => super::attach::attach(state, request, id, &query).await,
        (&Method::GET, [id, "logs"]) => super::logs::logs(state, id, &query).await,
        (&Method::GET, [id, "top"]) => super::live::top(state, id).await,
        (&Method::GET, [id, "stats"]) => super::live::stats(state, id, &query).await,
        (&Method::POST, [id, "resize"]) => super::live::resize(state, id, &query).await,
        (&Method::DELETE, [id]) => delete(state, id, query).await,
        _ => Err(ApiError::NoRoute),
    }
}

/// The container `input` names, its state refreshed (waiting out a start in progress).
pub fn load_current(state: &State, input: &str) -> Result<Container, ApiError> {
    Ok(lifecycle::load_current(&state.store, input)?)
}

fn created_seconds(c: &Container) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&c.created).map_or(0, |t| t.timestamp())
}

/// One container as `GET /containers/json` lists it (dockerd's ContainerSummary fields).
fn summary(c: &Container, live: &LiveNetworks, now: chrono::DateTime<chrono::Utc>) -> Value {
    let ports: Vec<Value> = live
        .ports(c)
        .iter()
        .map(|m| {
            json!({ "IP": m.host_ip.map_or("0.0.0.0".to_owned(), |ip| ip.to_string()), "PrivatePort": m.container_port,
                    "PublicPort": m.host_port, "Type": m.protocol.to_string() })
        })
        .collect();
    let networks: serde_json::Map<String, Value> = live
        .of(c)
        .iter()
        .map(|(record, endpoint)| {
            (record.name.clone(), json!({ "NetworkID": record.id, "IPAddress": endpoint.addresses.iter().find(|a| a.is_ipv4()).map(|a| a.to_string()).unwrap_or_default() }))
        })
        .collect();
    json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.config.image_name,
        "ImageID": c.config.image_id,
        "Command": crate::container::inspect::command_line(c),
        "Created": created_seconds(c),
        "Ports": ports,
        "Labels": c.config.labels,
        "State": c.state.status.as_str(),
        "Status": crate::container::inspect::status_text(c, now),
        "HostConfig": { "NetworkMode": network_mode(c) },
        "NetworkSettings": { "Networks": networks },
        "Mounts": [],
    })
}

fn network_mode(c: &Container) -> String {
    use crate::container::record::NetworkMode;
    match c.config.network {
        NetworkMode::None => "none".into(),
        NetworkMode::Host => "host".into(),
        _ => c.config.net.networks.first().map_or("bridge".into(), |j| j.network.clone()),
    }
}

async fn list_json(state: Arc<State>, query: Query) -> Result<ApiResponse, ApiError> {
    let words = super::filters::parse(query.get("filters"))?;
    let all = query.flag("all");
    let limit: Option<i64> = query.number("limit")?;
    blocking(move || {
        let filters = Filters::parse(&words).map_err(|e| ApiError::bad(e.to_string()))?;
        let q = ListQuery { all, last: limit.filter(|&n| n > 0).map(|n| n as usize), filters };
        let containers = list(&state.store, &state.settings, &q)?;
        let live = LiveNetworks::load(&state.store);
        let now = chrono::Utc::now();
        Ok(ok_json(&Value::Array(containers.iter().map(|c| summary(c, &live, now)).collect())))
    })
    .await
}

async fn create(state: Arc<State>, request: Request<Incoming>, query: Query) -> Result<ApiResponse, ApiError> {
    let body = read_json(request.into_body()).await?;
    let mut flags = super::create_body::create_flags(&body, query.get("name"))?;
    blocking(move || {
        if flags.net.networks.is_empty() {
            flags.net.networks.extend(state.settings.default_network.clone());
        }
        let options = crate::container::options::parse(&flags)?;
        let credentials = crate::image::registry::CredentialSource::default();
        // Never pulled here: a missing image is Docker's 404, on which the client pulls
        // (with its progress shown) and creates again.
        let source = crate::container::create::ImageSource {
            policy: crate::image::ensure::PullPolicy::Never,
            platform: None,
            credentials: &credentials,
        };
        let container = crate::container::create::create_container(&state.store, &state.settings, &options, &source)?;
        Ok(super::http::json(StatusCode::CREATED, &json!({ "Id": container.id, "Warnings": [] })))
    })
    .await
}

async fn inspect(state: Arc<State>, id: &str) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    blocking(move || {
        let c = load_current(&state, &id)?;
        Ok(ok_json(&crate::container::inspect::inspect_json(&state.store, &c)))
    })
    .await
}

async fn start(state: Arc<State>, id: &str) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    blocking(move || {
        let c = index::load(&state.store, &id)?;
        Ok(if super::attach::start(&state, &c)? {
            status(StatusCode::NO_CONTENT)
        } else {
            status(StatusCode::NOT_MODIFIED)
        })
    })
    .await
}

fn is_live(c: &Container) -> bool {
    matches!(c.state.status, Status::Running | Status::Paused | Status::Starting)
}

async fn stop(state: Arc<State>, id: &str, query: Query, restart: bool) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    let timeout: Option<i64> = query.number("t")?;
    let timeout = timeout.map(|t| t.max(0) as u32);
    let signal = query
        .get("signal")
        .filter(|s| !s.is_empty())
        .map(parse_signal)
        .transpose()
        .map_err(|e| ApiError::bad(e.to_string()))?;
    blocking(move || {
        let c = load_current(&state, &id)?;
        if restart {
            if is_live(&c) {
                lifecycle::stop(&state.store, &c, timeout, signal)?;
            }
            let stopped = index::load(&state.store, &c.id)?;
            super::attach::start(&state, &stopped)?;
            return Ok(status(StatusCode::NO_CONTENT));
        }
        if !is_live(&c) {
            return Ok(status(StatusCode::NOT_MODIFIED));
        }
        lifecycle::stop(&state.store, &c, timeout, signal)?;
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

async fn kill(state: Arc<State>, id: &str, query: Query) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    let signal = match query.get("signal").filter(|s| !s.is_empty()) {
        None => crate::container::signals::SignalNumber::KILL,
        Some(s) => parse_signal(s).map_err(|e| ApiError::bad(e.to_string()))?,
    };
    blocking(move || {
        let c = load_current(&state, &id)?;
        match lifecycle::kill(&state.store, &c, signal) {
            Ok(()) => Ok(status(StatusCode::NO_CONTENT)),
            Err(LifecycleError::NotRunning(name)) => {
                Err(ApiError::Conflict(format!("cannot kill container: {name}: container {} is not running", c.id)))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}

async fn pause(state: Arc<State>, id: &str, pause: bool) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    blocking(move || {
        let c = load_current(&state, &id)?;
        if pause {
            lifecycle::pause(&state.store, &c)?;
        } else {
            lifecycle::unpause(&state.store, &c)?;
        }
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

async fn rename(state: Arc<State>, id: &str, query: Query) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    let name =
        query.get("name").filter(|n| !n.is_empty()).ok_or_else(|| ApiError::bad("rename: ?name= is required"))?;
    let name = name.trim_start_matches('/').to_owned();
    blocking(move || {
        lifecycle::rename(&state.store, &id, &name)?;
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

async fn delete(state: Arc<State>, id: &str, query: Query) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    let (force, volumes) = (query.flag("force"), query.flag("v"));
    blocking(move || {
        let c = match lifecycle::load_current(&state.store, &id) {
            Ok(c) => c,
            Err(LifecycleError::Container(ContainerError::NotFound(_))) => {
                return Err(ApiError::NotFound(format!("No such container: {id}")));
            }
            Err(e) => return Err(e.into()),
        };
        match lifecycle::remove(&state.store, &c, force) {
            Ok(()) => {}
            Err(LifecycleError::Running) => {
                return Err(ApiError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    c.name
                )));
            }
            Err(e) => return Err(e.into()),
        }
        if volumes {
            crate::container::volumes::remove_anonymous(&state.store, &c)?;
        }
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

async fn prune(state: Arc<State>) -> Result<ApiResponse, ApiError> {
    blocking(move || {
        let pruned = lifecycle::prune(&state.store, &|_| false)?;
        Ok(ok_json(&json!({ "ContainersDeleted": pruned.ids, "SpaceReclaimed": pruned.bytes })))
    })
    .await
}
