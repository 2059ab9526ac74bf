//! `/networks`: list, inspect, create, delete, connect, disconnect, prune, through the network
//! module and `container::net_connect` / `net_locks` (what `berth network` runs).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::create_body::string_map;
use super::error::ApiError;
use super::http::{ApiResponse, Query, blocking, ok_json, read_json, status};
use super::service::State;
use crate::container::net_locks::with_network_locks;
use crate::network::manage::{self, CreateOptions};
use crate::network::record::NetworkRecord;
use crate::network::state::NetworkState;
use crate::network::{NetworkError, inspect};
use crate::store::Store;

pub async fn route(
    state: Arc<State>,
    request: Request<Incoming>,
    method: &Method,
    path: &[&str],
    query: Query,
) -> Result<ApiResponse, ApiError> {
    match (method, path) {
        (&Method::GET, []) => list(state, query).await,
        (&Method::POST, ["create"]) => create(state, request).await,
        (&Method::POST, ["prune"]) => prune(state).await,
        (&Method::GET, [id]) => inspect_one(state, id).await,
        (&Method::DELETE, [id]) => delete(state, id).await,
        (&Method::POST, [id, "connect"]) => connect(state, request, id, true).await,
        (&Method::POST, [id, "disconnect"]) => connect(state, request, id, false).await,
        _ => Err(ApiError::NoRoute),
    }
}

/// Every network with its runtime state, dead containers' endpoints left out.
fn with_state(store: &Store) -> Result<Vec<(NetworkRecord, NetworkState)>, ApiError> {
    let records = manage::load(store)?;
    let _lock = store.lock_networks_shared()?;
    records
        .into_iter()
        .map(|r| {
            let mut state: NetworkState = store.network_state(&r.id)?;
            state.endpoints.retain(|_, e| crate::container::liveness::is_alive(e.owner.pid, e.owner.start_time));
            Ok((r, state))
        })
        .collect()
}

fn not_found(e: NetworkError) -> ApiError {
    match e {
        NetworkError::NotFound(name) => ApiError::NotFound(format!("network {name} not found")),
        e => e.into(),
    }
}

async fn list(state: Arc<State>, query: Query) -> Result<ApiResponse, ApiError> {
    let words = super::filters::parse(query.get("filters"))?;
    blocking(move || {
        let names: Vec<&str> = super::filters::values(&words, "name").collect();
        let labels: Vec<&str> = super::filters::values(&words, "label").collect();
        let rows: Vec<Value> = with_state(&state.store)?
            .iter()
            .filter(|(r, _)| names.is_empty() || names.iter().any(|n| r.name.contains(n)))
            .filter(|(r, _)| {
                labels.iter().all(|l| match l.split_once('=') {
                    Some((k, v)) => r.labels.get(k).is_some_and(|x| x == v),
                    None => r.labels.contains_key(*l),
                })
            })
            .map(|(r, s)| inspect::inspect_json(r, s))
            .collect();
        Ok(ok_json(&Value::Array(rows)))
    })
    .await
}

async fn inspect_one(state: Arc<State>, id: &str) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    blocking(move || {
        let all = with_state(&state.store)?;
        let records: Vec<NetworkRecord> = all.iter().map(|(r, _)| r.clone()).collect();
        let found = manage::find(&records, &id).map_err(not_found)?;
        let (record, network) = all.iter().find(|(r, _)| r.id == found.id).ok_or(ApiError::NoRoute)?;
        Ok(ok_json(&inspect::inspect_json(record, network)))
    })
    .await
}

async fn create(state: Arc<State>, request: Request<Incoming>) -> Result<ApiResponse, ApiError> {
    let body = read_json(request.into_body()).await?;
    let name = body
        .get("Name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad("Name is required"))?;
    let mut opts = CreateOptions {
        name: name.to_owned(),
        driver: body.get("Driver").and_then(Value::as_str).unwrap_or("").to_owned(),
        internal: body.get("Internal").and_then(Value::as_bool).unwrap_or(false),
        ipv6: body.get("EnableIPv6").and_then(Value::as_bool).unwrap_or(false),
        labels: string_map(body.get("Labels"), "Labels")?,
        options: string_map(body.get("Options"), "Options")?,
        ..Default::default()
    };
    for config in body.pointer("/IPAM/Config").and_then(Value::as_array).into_iter().flatten() {
        let field = |key: &str| config.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some(subnet) = field("Subnet") {
            opts.subnets.push(subnet);
            opts.gateways.extend(field("Gateway"));
            opts.ip_ranges.extend(field("IPRange"));
        }
    }
    blocking(move || {
        let record = manage::create(&state.store, &opts).map_err(|e| match e {
            NetworkError::Exists(_) => ApiError::Conflict(e.to_string()),
            e => e.into(),
        })?;
        Ok(super::http::json(StatusCode::CREATED, &json!({ "Id": record.id, "Warning": "" })))
    })
    .await
}

async fn delete(state: Arc<State>, id: &str) -> Result<ApiResponse, ApiError> {
    let id = id.to_owned();
    blocking(move || {
        let store = &state.store;
        match with_network_locks(store, |kernel, named_by| manage::remove_locked(store, kernel, &id, named_by)) {
            Ok(_) => Ok(status(StatusCode::NO_CONTENT)),
            Err(crate::container::index::ContainerError::Network(e)) => match e {
                NetworkError::InUse { .. } | NetworkError::Predefined(_) => Err(ApiError::Conflict(e.to_string())),
                e => Err(not_found(e)),
            },
            Err(e) => Err(e.into()),
        }
    })
    .await
}

async fn connect(state: Arc<State>, request: Request<Incoming>, id: &str, on: bool) -> Result<ApiResponse, ApiError> {
    let body = read_json(request.into_body()).await?;
    let container = body
        .get("Container")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad("Container is required"))?
        .to_owned();
    let aliases: Vec<String> = body
        .pointer("/EndpointConfig/Aliases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    let address = |key: &str| {
        body.pointer(&format!("/EndpointConfig/IPAMConfig/{key}")).and_then(Value::as_str).filter(|s| !s.is_empty())
    };
    let ipv4 = address("IPv4Address")
        .map(|a| a.parse().map_err(|_| ApiError::bad(format!("invalid IPv4Address {a:?}"))))
        .transpose()?;
    let ipv6 = address("IPv6Address")
        .map(|a| a.parse().map_err(|_| ApiError::bad(format!("invalid IPv6Address {a:?}"))))
        .transpose()?;
    let network = id.to_owned();
    blocking(move || {
        if on {
            crate::container::net_connect::connect(&state.store, &container, &network, &aliases, ipv4, ipv6)?;
        } else {
            crate::container::net_connect::disconnect(&state.store, &container, &network)?;
        }
        Ok(status(StatusCode::OK))
    })
    .await
}

async fn prune(state: Arc<State>) -> Result<ApiResponse, ApiError> {
    blocking(move || {
        let store = &state.store;
        let removed =
            with_network_locks(store, |kernel, named_by| manage::prune_locked(store, kernel, named_by, &|_| false))?;
        Ok(ok_json(&json!({ "NetworksDeleted": removed.iter().map(|r| r.name.clone()).collect::<Vec<_>>() })))
    })
    .await
}
