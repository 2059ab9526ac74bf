//! `/_ping`, `/version` and `/info`: what clients read to negotiate and to describe the engine.

use std::sync::Arc;

use hyper::header::HeaderValue;
use hyper::{Method, Response};
use serde_json::json;

use super::error::ApiError;
use super::http::{ApiResponse, empty, full, ok_json};
use super::service::State;
use crate::container::record::Status;

/// `OK`, with the negotiation headers (`Builder-Version: 1`: the classic builder's `/build`).
pub fn ping(method: &Method) -> ApiResponse {
    let body = if method == Method::HEAD { empty() } else { full("OK") };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert("Content-Type", HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert("Builder-Version", HeaderValue::from_static("1"));
    headers.insert("Cache-Control", HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    headers.insert("Pragma", HeaderValue::from_static("no-cache"));
    headers.insert("Swarm", HeaderValue::from_static("inactive"));
    response
}

fn kernel() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn version() -> ApiResponse {
    let version = env!("CARGO_PKG_VERSION");
    ok_json(&json!({
        "Platform": { "Name": "berth" },
        "Components": [{ "Name": "Engine", "Version": version, "Details": {
            "ApiVersion": super::API_VERSION, "MinAPIVersion": super::MIN_API_VERSION, "Os": "linux",
            "Arch": go_arch(), "KernelVersion": kernel(), "Experimental": "false",
        }}],
        "Version": version,
        "ApiVersion": super::API_VERSION,
        "MinAPIVersion": super::MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel(),
        "BuildTime": "",
    }))
}

pub async fn info(state: Arc<State>) -> Result<ApiResponse, ApiError> {
    tokio::task::spawn_blocking(move || -> Result<ApiResponse, ApiError> {
        let store = &state.store;
        let images = {
            let _lock = store.lock_images_shared()?;
            store.images()?.images.len()
        };
        let mut containers = crate::container::index::load_all(store)?.containers;
        let mut counts = [0usize; 3];
        for c in &mut containers {
            match crate::container::index::refresh(store, c) {
                Status::Running | Status::Starting => counts[0] += 1,
                Status::Paused => counts[1] += 1,
                Status::Created | Status::Exited => counts[2] += 1,
            }
        }
        let settings = &state.settings;
        let cgroup = match crate::sandbox::cgroup::detect() {
            crate::sandbox::cgroup::CgroupVersion::V2 => "2",
            crate::sandbox::cgroup::CgroupVersion::V1 => "1",
        };
        let mut security = vec!["name=seccomp,profile=builtin".to_owned()];
        if settings.rootless {
            security.push("name=rootless".into());
        }
        let hostname = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(ok_json(&json!({
            "ID": hostname,
            "Containers": containers.len(),
            "ContainersRunning": counts[0],
            "ContainersPaused": counts[1],
            "ContainersStopped": counts[2],
            "Images": images,
            "Driver": "overlay",
            "DriverStatus": [["Backing Filesystem", "overlay"]],
            "DockerRootDir": settings.root,
            "Name": hostname,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "OperatingSystem": "berth",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "KernelVersion": kernel(),
            "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "MemTotal": crate::container::top::host_memory(),
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup,
            "LoggingDriver": "json-file",
            "Runtimes": { "berth": { "path": "berth" } },
            "DefaultRuntime": "berth",
            "SecurityOptions": security,
            "Swarm": { "LocalNodeState": "inactive", "ControlAvailable": false, "NodeID": "", "NodeAddr": "" },
            "RegistryConfig": { "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": [] },
            "Plugins": { "Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"] },
            "Labels": [],
            "ExperimentalBuild": false,
            "Warnings": [],
        })))
    })
    .await?
}
