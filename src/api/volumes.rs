//! `/volumes`: list, create, inspect, delete, prune, through `container::volumes` (what
//! `berth volume` runs).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::create_body::string_map;
use super::error::ApiError;
use super::http::{ApiResponse, Query, blocking, ok_json, read_json, status};
use super::service::State;
use crate::container::volumes;

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
        (&Method::POST, ["prune"]) => prune(state, query).await,
        (&Method::GET, [name]) => inspect(state, name).await,
        (&Method::DELETE, [name]) => delete(state, name, query).await,
        _ => Err(ApiError::NoRoute),
    }
}

async fn list(state: Arc<State>, query: Query) -> Result<ApiResponse, ApiError> {
    let words = super::filters::parse(query.get("filters"))?;
    blocking(move || {
        let (all, users) = volumes::list_with_users(&state.store)?;
        let names: Vec<&str> = super::filters::values(&words, "name").collect();
        let labels: Vec<&str> = super::filters::values(&words, "label").collect();
        let dangling: Vec<&str> = super::filters::values(&words, "dangling").collect();
        let selected: Vec<Value> = all
            .iter()
            .filter(|v| names.is_empty() || names.iter().any(|n| v.name.contains(n)))
            .filter(|v| {
                labels.iter().all(|l| match l.split_once('=') {
                    Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
                    None => v.labels.contains_key(*l),
                })
            })
            .filter(|v| {
                dangling.iter().all(|d| {
                    let unused = users.get(&v.name).is_none_or(|u| u.is_empty());
                    matches!(*d, "true" | "1") == unused
                })
            })
            .map(|v| volumes::inspect_json(&state.store, v))
            .collect();
        Ok(ok_json(&json!({ "Volumes": selected, "Warnings": [] })))
    })
    .await
}

async fn create(state: Arc<State>, request: Request<Incoming>) -> Result<ApiResponse, ApiError> {
    let body = read_json(request.into_body()).await?;
    if !(body.is_object() || body.is_null()) {
        return Err(ApiError::bad("the request body must be a JSON object"));
    }
    let name = match body.get("Name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad("Name: expected a string")),
    };
    match body.get("Driver").and_then(Value::as_str) {
        None | Some("" | "local") => {}
        Some(other) => return Err(ApiError::bad(format!("volume driver {other:?} is not supported: only local"))),
    }
    let labels = string_map(body.get("Labels"), "Labels")?;
    let options = string_map(body.get("DriverOpts"), "DriverOpts")?;
    blocking(move || {
        let record = volumes::create(&state.store, name.as_deref(), labels, options)?;
        Ok(super::http::json(StatusCode::CREATED, &volumes::inspect_json(&state.store, &record)))
    })
    .await
}

async fn inspect(state: Arc<State>, name: &str) -> Result<ApiResponse, ApiError> {
    let name = name.to_owned();
    blocking(move || {
        let all = volumes::list(&state.store)?;
        let volume = all
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| ApiError::NotFound(format!("get {name}: no such volume")))?;
        Ok(ok_json(&volumes::inspect_json(&state.store, volume)))
    })
    .await
}

async fn delete(state: Arc<State>, name: &str, query: Query) -> Result<ApiResponse, ApiError> {
    let name = name.to_owned();
    let force = query.flag("force");
    blocking(move || {
        volumes::remove(&state.store, &name, force)?;
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

async fn prune(state: Arc<State>, query: Query) -> Result<ApiResponse, ApiError> {
    let words = super::filters::parse(query.get("filters"))?;
    let all = super::filters::values(&words, "all").any(|v| matches!(v, "true" | "1"));
    blocking(move || {
        let pruned = volumes::prune(&state.store, all)?;
        Ok(ok_json(&json!({ "VolumesDeleted": pruned.names, "SpaceReclaimed": pruned.bytes })))
    })
    .await
}
