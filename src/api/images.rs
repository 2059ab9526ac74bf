//! `/images/...`: create (a pull, with Docker's JSON progress stream), json, inspect, history,
//! tag, delete and prune. Image names hold slashes (`127.0.0.1:5000/team/app`), so the path is split
//! at its last segment, not by `/`.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::error::ApiError;
use super::http::{ApiResponse, Query, blocking, channel, ok_json, status, streaming};
use super::service::{Activity, State};
use super::stream::{json_error, json_line};
use crate::image::reference::{Reference, familiar_name};
use crate::store::ImageRecord;

pub async fn route(
    state: Arc<State>,
    request: Request<Incoming>,
    method: &Method,
    path: &str,
    query: Query,
) -> Result<ApiResponse, ApiError> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (name, last) = match rest.rsplit_once('/') {
        Some((name, last)) => (name, last),
        None => ("", rest),
    };
    match (method, name, last) {
        (&Method::GET, "", "json") => list(state).await,
        (&Method::POST, "", "create") => create(state, query).await,
        (&Method::POST, "", "prune") => prune(state, query).await,
        (&Method::GET, name, "json") if !name.is_empty() => inspect(state, name.to_owned()).await,
        (&Method::GET, name, "history") if !name.is_empty() => history(state, name.to_owned()).await,
        (&Method::POST, name, "tag") if !name.is_empty() => tag(state, name.to_owned(), query).await,
        (&Method::DELETE, _, _) if !rest.is_empty() => delete(state, rest.to_owned(), query).await,
        (&Method::POST, "", "load") => super::archive::load(state, request).await,
        (&Method::GET, "", "get") => super::archive::save(state, query.all("names")).await,
        (&Method::GET, name, "get") if !name.is_empty() => super::archive::save(state, vec![name.to_owned()]).await,
        (&Method::GET, "", "search") => Err(ApiError::NotImplemented("image search is not supported by berth".into())),
        _ => Err(ApiError::NoRoute),
    }
}

/// The image `input` names, read under the shared image lock.
fn find(state: &State, input: &str) -> Result<ImageRecord, ApiError> {
    let _lock = state.store.lock_images_shared()?;
    let index = state.store.images()?;
    Ok(crate::image::lookup::find_image(&index, &state.settings, input)?.clone())
}

fn unix_seconds(text: Option<&str>) -> i64 {
    text.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map_or(0, |t| t.timestamp())
}

async fn list(state: Arc<State>) -> Result<ApiResponse, ApiError> {
    blocking(move || {
        let images = {
            let _lock = state.store.lock_images_shared()?;
            state.store.images()?.images
        };
        let mut rows: Vec<Value> = images
            .iter()
            .map(|image| {
                json!({
                    "Id": image.id,
                    "ParentId": "",
                    "RepoTags": image.names.iter().map(|n| familiar_name(n)).collect::<Vec<_>>(),
                    "RepoDigests": image.digests.iter().map(|n| familiar_name(n)).collect::<Vec<_>>(),
                    "Created": unix_seconds(image.created.as_deref().or(Some(&image.added))),
                    "Size": image.size,
                    "VirtualSize": image.size,
                    "SharedSize": -1,
                    "Labels": {},
                    "Containers": -1,
                })
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r["Created"].as_i64()));
        Ok(ok_json(&Value::Array(rows)))
    })
    .await
}

/// `?fromImage=NAME&tag=TAG`: pulls, answering 200 at once and then JSON lines (errors too).
async fn create(state: Arc<State>, query: Query) -> Result<ApiResponse, ApiError> {
    if query.get("fromSrc").is_some() {
        return Err(ApiError::NotImplemented(
            "importing through /images/create is not supported yet (berth import is)".into(),
        ));
    }
    let from =
        query.get("fromImage").filter(|f| !f.is_empty()).ok_or_else(|| ApiError::bad("fromImage is required"))?;
    let tag = query.get("tag").filter(|t| !t.is_empty());
    let reference = match tag {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_owned(),
    };
    let parsed = Reference::parse(&reference).map_err(|e| ApiError::bad(e.to_string()))?;
    let platform = query.get("platform").filter(|p| !p.is_empty()).map(str::to_owned);
    let (tx, body) = channel();
    let busy = Activity::busy(&state);
    std::thread::spawn(move || {
        let _busy = busy;
        let shown = parsed.tag.clone().unwrap_or_else(|| "latest".into());
        let _ = tx.blocking_send(json_line(
            &json!({ "status": format!("Pulling from {}", familiar_name(&parsed.repository)), "id": shown }),
        ));
        let credentials = crate::image::registry::CredentialSource::default();
        let platform = match platform.as_deref().map(|p| crate::image::spec::Platform::parse(p).ok_or(p)).transpose() {
            Ok(p) => p,
            Err(p) => {
                let _ = tx.blocking_send(json_error(&format!("invalid platform {p:?}: expected os/arch[/variant]")));
                return;
            }
        };
        let request =
            crate::image::pull::PullRequest { reference: &reference, platform, quiet: true, credentials: &credentials };
        match crate::image::pull::pull(&state.store, &state.settings, &request) {
            Ok(outcome) => {
                let name = familiar_name(&outcome.reference.to_string()).to_owned();
                let _ = tx.blocking_send(json_line(&json!({ "status": format!("Digest: {}", outcome.digest) })));
                let status = if outcome.downloaded {
                    format!("Status: Downloaded newer image for {name}")
                } else {
                    format!("Status: Image is up to date for {name}")
                };
                let _ = tx.blocking_send(json_line(&json!({ "status": status })));
            }
            Err(e) => {
                let message = ApiError::from_error(&e).to_string();
                let _ = tx.blocking_send(json_error(&message));
            }
        }
    });
    Ok(streaming("application/json", body))
}

async fn inspect(state: Arc<State>, name: String) -> Result<ApiResponse, ApiError> {
    blocking(move || {
        let image = find(&state, &name)?;
        Ok(ok_json(&crate::image::inspect::inspect_json(&state.store, &image)?))
    })
    .await
}

async fn history(state: Arc<State>, name: String) -> Result<ApiResponse, ApiError> {
    blocking(move || {
        let image = find(&state, &name)?;
        let (config_bytes, mut sizes) = {
            let _lock = state.store.lock_images_shared()?;
            let sizes: Vec<u64> =
                image.layers.iter().map(|c| state.store.layer(c).ok().flatten().map_or(0, |l| l.size)).collect();
            (state.store.read_blob(&image.id)?, sizes.into_iter())
        };
        let config: crate::image::spec::ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| ApiError::Failed { status: StatusCode::INTERNAL_SERVER_ERROR, message: format!("image config: {e}") })?;
        let count = config.history.len();
        let mut rows: Vec<Value> = config
            .history
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let size = if h.empty_layer { 0 } else { sizes.next().unwrap_or(0) };
                let last = i + 1 == count;
                json!({
                    "Id": if last { image.id.to_string() } else { "<missing>".into() },
                    "Created": unix_seconds(h.created.as_deref()),
                    "CreatedBy": h.created_by.clone().unwrap_or_default(),
                    "Tags": if last { json!(image.names.iter().map(|n| familiar_name(n)).collect::<Vec<_>>()) } else { Value::Null },
                    "Size": size,
                    "Comment": h.comment.clone().unwrap_or_default(),
                })
            })
            .collect();
        rows.reverse();
        Ok(ok_json(&Value::Array(rows)))
    })
    .await
}

async fn tag(state: Arc<State>, name: String, query: Query) -> Result<ApiResponse, ApiError> {
    let repo = query.get("repo").filter(|r| !r.is_empty()).ok_or_else(|| ApiError::bad("repo is required"))?;
    let target = match query.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_owned(),
    };
    let target = Reference::parse(&target).map_err(|e| ApiError::bad(e.to_string()))?;
    if target.digest.is_some() {
        return Err(ApiError::bad("a tag cannot contain a digest"));
    }
    blocking(move || {
        let default_registry = crate::image::lookup::default_registry(&state.settings);
        let full = target.qualified_with(default_registry).tagged_name().ok_or_else(|| ApiError::bad("no tag"))?;
        let image = find(&state, &name)?;
        let _lock = state.store.lock_images_exclusive()?;
        let mut index = state.store.images()?;
        index.tag(&image.id, &full).map_err(|e| ApiError::bad(e.to_string()))?;
        state.store.write_images(&index)?;
        Ok(status(StatusCode::CREATED))
    })
    .await
}

async fn delete(state: Arc<State>, name: String, query: Query) -> Result<ApiResponse, ApiError> {
    let force = query.flag("force");
    blocking(move || {
        let inputs = vec![name.clone()];
        let mut results = crate::image::remove::remove_images(
            &state.store,
            &state.settings,
            &inputs,
            force,
            crate::container::query::image_users,
        )?;
        match results.pop() {
            Some(Ok(removal)) => {
                let mut rows: Vec<Value> =
                    removal.untagged.iter().map(|n| json!({ "Untagged": familiar_name(n) })).collect();
                if let Some(id) = removal.deleted {
                    rows.push(json!({ "Deleted": id }));
                }
                Ok(ok_json(&Value::Array(rows)))
            }
            Some(Err(crate::image::remove::RemoveError::Lookup(e))) => Err(e.into()),
            Some(Err(e)) => Err(ApiError::Conflict(e.to_string())),
            None => Err(ApiError::NotFound(format!("No such image: {name}"))),
        }
    })
    .await
}

/// `?filters={"dangling":["false"]}` prunes every unused image, else the unnamed ones only.
async fn prune(state: Arc<State>, query: Query) -> Result<ApiResponse, ApiError> {
    let words = super::filters::parse(query.get("filters"))?;
    let all = super::filters::values(&words, "dangling").any(|v| matches!(v, "false" | "0"));
    blocking(move || {
        let pruned =
            crate::image::remove::prune_images(&state.store, all, crate::container::query::image_users, &|_| false)?;
        let deleted: Vec<Value> = pruned.removed.iter().map(|i| json!({ "Deleted": i.id })).collect();
        Ok(ok_json(&json!({ "ImagesDeleted": deleted, "SpaceReclaimed": pruned.reclaimed })))
    })
    .await
}
