//! Routing: the optional `/v1.NN` prefix (any version is served the same way: clients
//! negotiate down to what `/_ping` says), then method and path to an endpoint group. Every
//! reply carries Docker's `Api-Version`, `OSType` and `Server` headers.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request};

use super::error::ApiError;
use super::http::{ApiResponse, Query};
use super::service::State;
use super::{containers, events, exec, images, networks, system, volumes};

pub async fn route(state: Arc<State>, request: Request<Incoming>) -> ApiResponse {
    let mut response = match dispatch(state, request).await {
        Ok(response) => response,
        Err(e) => e.response(),
    };
    let headers = response.headers_mut();
    headers.insert("Api-Version", HeaderValue::from_static(super::API_VERSION));
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    headers.insert("OSType", HeaderValue::from_static("linux"));
    headers.insert("Server", HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"))));
    response
}

/// The path without a `/vMAJOR.MINOR` prefix.
pub fn unversioned(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let version = &rest[..end];
        if let Some((major, minor)) = version.split_once('.')
            && !major.is_empty()
            && !minor.is_empty()
            && major.bytes().chain(minor.bytes()).all(|b| b.is_ascii_digit())
        {
            return if end == rest.len() { "/" } else { &rest[end..] };
        }
    }
    path
}

async fn dispatch(state: Arc<State>, request: Request<Incoming>) -> Result<ApiResponse, ApiError> {
    let path = unversioned(request.uri().path()).trim_end_matches('/').to_owned();
    let query = Query::parse(request.uri().query());
    let method = request.method().clone();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (&method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::ping(&method)),
        (&Method::GET, ["version"]) => Ok(system::version()),
        (&Method::GET, ["events"]) => events::events(state, &query).await,
        (&Method::GET, ["info"]) => system::info(state).await,
        (_, ["containers", ..]) => containers::route(state, request, &method, &segments[1..], query).await,
        (_, ["images", ..]) => images::route(state, request, &method, &path["/images".len()..], query).await,
        (_, ["exec", ..]) => exec::route(state, request, &method, &segments[1..], query).await,
        (_, ["volumes", ..]) => volumes::route(state, request, &method, &segments[1..], query).await,
        (_, ["networks", ..]) => networks::route(state, request, &method, &segments[1..], query).await,
        _ => Err(ApiError::NoRoute),
    }
}

#[cfg(test)]
mod tests {
    use super::unversioned;

    #[test]
    fn version_prefixes_are_stripped() {
        assert_eq!(unversioned("/v1.50/containers/json"), "/containers/json");
        assert_eq!(unversioned("/v1.24/_ping"), "/_ping");
        assert_eq!(unversioned("/_ping"), "/_ping");
        assert_eq!(unversioned("/volumes/v1.2x"), "/volumes/v1.2x");
        assert_eq!(unversioned("/vx.1/info"), "/vx.1/info");
    }
}
