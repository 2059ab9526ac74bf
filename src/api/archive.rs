//! `/containers/{id}/archive`: GET (a tar of a path, with dockerd's
//! `X-Docker-Container-Path-Stat` header), HEAD (the header only) and PUT (a tar extracted at a
//! directory). The copy itself is berth's `cp` verb with a `-` stream end, run as a child: the
//! library code forks a helper that joins the container's mount namespace, which a
//! multi-threaded service must not do itself.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::error::ApiError;
use super::http::{ApiResponse, Query, blocking, channel, empty, status};
use super::service::{Activity, State};
use crate::store::Store;

/// `berth --root R --runroot RR cp ARGS`.
fn cp_command(store: &Store, source: &str, destination: &str) -> Command {
    let mut command = Command::new("/proc/self/exe");
    command.arg("--root").arg(store.root()).arg("--runroot").arg(store.runroot()).arg("cp");
    command.arg("--").arg(source).arg(destination);
    command.stderr(Stdio::piped());
    command
}

fn failed(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Failed { status: StatusCode::INTERNAL_SERVER_ERROR, message: format!("{what}: {e}") }
}

/// The failed child's error.
fn child_error(mut child: Child) -> ApiError {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    let _ = child.wait();
    failure(&text)
}

/// berth's one-line error as an API error: 404 for a missing path or container.
fn failure(stderr: &str) -> ApiError {
    let message = stderr.trim().trim_start_matches("berth: ").to_owned();
    let lower = message.to_lowercase();
    let status = if lower.contains("no such") || lower.contains("not found") || lower.contains("could not find") {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError::Failed { status, message }
}

fn octal(field: &[u8]) -> u64 {
    let text: String = field.iter().take_while(|b| **b != 0 && **b != b' ').map(|b| *b as char).collect();
    u64::from_str_radix(text.trim(), 8).unwrap_or(0)
}

fn nul_terminated(field: &[u8]) -> String {
    String::from_utf8_lossy(&field[..field.iter().position(|b| *b == 0).unwrap_or(field.len())]).into_owned()
}

/// dockerd's ContainerPathStat of the archive's first entry, base64 JSON. The mode is Go's
/// os.FileMode: permission bits, and 1<<31 for a directory, 1<<27 for a symlink.
fn path_stat(header: &[u8; 512], path: &str) -> String {
    let name = path.trim_end_matches("/.").trim_end_matches('/').rsplit('/').next().unwrap_or("").to_owned();
    let mut mode = octal(&header[100..108]) & 0o7777;
    match header[156] {
        b'5' => mode |= 1 << 31,
        b'2' => mode |= 1 << 27,
        _ => {}
    }
    let size = octal(&header[124..136]);
    let mtime = chrono::DateTime::from_timestamp(octal(&header[136..148]) as i64, 0).unwrap_or_default();
    let stat = json!({
        "name": if name.is_empty() { "/".to_owned() } else { name },
        "size": size,
        "mode": mode,
        "mtime": mtime.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "linkTarget": nul_terminated(&header[157..257]),
    });
    base64::engine::general_purpose::STANDARD.encode(stat.to_string())
}

/// Starts the copy out of the container and reads the archive's first header, so a missing
/// path is a 404 before any byte of the reply.
fn open_archive(store: &Store, container: &str, path: &str) -> Result<(Child, [u8; 512]), ApiError> {
    let mut child = cp_command(store, &format!("{container}:{path}"), "-")
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| failed("starting berth cp", e))?;
    let mut header = [0u8; 512];
    let read = child.stdout.as_mut().map(|out| out.read_exact(&mut header));
    match read {
        Some(Ok(())) => Ok((child, header)),
        _ => Err(child_error(child)),
    }
}

fn with_stat(mut response: ApiResponse, stat: String) -> ApiResponse {
    if let Ok(value) = HeaderValue::from_str(&stat) {
        response.headers_mut().insert("X-Docker-Container-Path-Stat", value);
    }
    response
}

fn required_path(query: &Query) -> Result<String, ApiError> {
    query.get("path").filter(|p| !p.is_empty()).map(str::to_owned).ok_or_else(|| ApiError::bad("path is required"))
}

/// HEAD: the stat header of `path`, no body.
pub async fn head(state: Arc<State>, id: &str, query: &Query) -> Result<ApiResponse, ApiError> {
    let path = required_path(query)?;
    let id = id.to_owned();
    blocking(move || {
        let (mut child, header) = open_archive(&state.store, &id, &path)?;
        let _ = child.kill();
        let _ = child.wait();
        Ok(with_stat(status(StatusCode::OK), path_stat(&header, &path)))
    })
    .await
}

/// GET: the tar of `path`, streamed as the copy produces it.
pub async fn get(state: Arc<State>, id: &str, query: &Query) -> Result<ApiResponse, ApiError> {
    let path = required_path(query)?;
    let id = id.to_owned();
    let store = state.store.clone();
    let lookup_path = path.clone();
    let (child, header) = blocking(move || open_archive(&store, &id, &lookup_path)).await?;
    let stat = path_stat(&header, &path);
    Ok(with_stat(tar_from_child(&state, child, header.to_vec()), stat))
}

/// A tar response streamed from `child`'s standard output, `first` (already read from it)
/// first; the child is killed when the client goes away.
fn tar_from_child(state: &Arc<State>, mut child: Child, first: Vec<u8>) -> ApiResponse {
    let (tx, body) = channel();
    let busy = Activity::busy(state);
    std::thread::spawn(move || {
        let _busy = busy;
        let Some(mut out) = child.stdout.take() else { return };
        let mut chunk = first;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if !chunk.is_empty() && tx.blocking_send(Bytes::from(std::mem::take(&mut chunk))).is_err() {
                let _ = child.kill();
                break;
            }
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => chunk = buf[..n].to_vec(),
            }
        }
        let _ = child.wait();
    });
    let mut response = Response::new(body);
    response.headers_mut().insert("Content-Type", HeaderValue::from_static("application/x-tar"));
    response
}

/// PUT: the request's tar extracted in the directory `path`.
pub async fn put(
    state: Arc<State>,
    request: Request<Incoming>,
    id: &str,
    query: &Query,
) -> Result<ApiResponse, ApiError> {
    let path = required_path(query)?;
    let mut child = cp_command(&state.store, "-", &format!("{id}:{path}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| failed("starting berth cp", e))?;
    let writer = feed_body(&mut child, request).await?;
    blocking(move || {
        let _ = writer.join();
        let mut text = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        match child.wait() {
            Ok(s) if s.success() => Ok(Response::new(empty())),
            _ => Err(failure(&text)),
        }
    })
    .await
}

/// `berth ARGS` with its stdout streamed as a tar reply; a failure before the first byte is the
/// reply's error instead.
async fn stream_verb(state: Arc<State>, args: Vec<String>) -> Result<ApiResponse, ApiError> {
    let store = state.store.clone();
    let (child, first) = blocking(move || {
        let mut command = Command::new("/proc/self/exe");
        command.arg("--root").arg(store.root()).arg("--runroot").arg(store.runroot()).args(&args);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed("starting berth", e))?;
        let mut first = vec![0u8; 64 * 1024];
        let n = child.stdout.as_mut().map_or(Ok(0), |out| out.read(&mut first)).unwrap_or(0);
        if n == 0 {
            return Err(child_error(child));
        }
        first.truncate(n);
        Ok((child, first))
    })
    .await?;
    Ok(tar_from_child(&state, child, first))
}

/// `GET /containers/{id}/export`: the container's filesystem as a tar (`berth export`).
pub async fn export(state: Arc<State>, id: &str) -> Result<ApiResponse, ApiError> {
    stream_verb(state, vec!["export".into(), "--".into(), id.to_owned()]).await
}

/// `GET /images/{name}/get` and `GET /images/get?names=`: a docker-archive (`berth save`).
pub async fn save(state: Arc<State>, names: Vec<String>) -> Result<ApiResponse, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad("no image named"));
    }
    let mut args = vec!["save".to_owned(), "--".to_owned()];
    args.extend(names);
    stream_verb(state, args).await
}

/// Writes the request's body to `child`'s stdin (closed at the body's end); the writer thread.
async fn feed_body(child: &mut Child, request: Request<Incoming>) -> Result<std::thread::JoinHandle<()>, ApiError> {
    let Some(stdin) = child.stdin.take() else { return Err(failed("starting berth", "no stdin")) };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(16);
    let writer = std::thread::spawn(move || {
        let mut stdin = stdin;
        for chunk in rx {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data()
            && tx.send(data).is_err()
        {
            break;
        }
    }
    Ok(writer)
}

/// `POST /images/load`: the body's archive loaded by `berth load`; its report as JSON lines.
pub async fn load(state: Arc<State>, request: Request<Incoming>) -> Result<ApiResponse, ApiError> {
    let store = &state.store;
    let mut child = Command::new("/proc/self/exe")
        .arg("--root")
        .arg(store.root())
        .arg("--runroot")
        .arg(store.runroot())
        .args(["load", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed("starting berth load", e))?;
    let writer = feed_body(&mut child, request).await?;
    blocking(move || {
        let _ = writer.join();
        let mut report = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut report);
        }
        let mut text = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        match child.wait() {
            Ok(s) if s.success() => {
                let lines: Vec<u8> = report
                    .lines()
                    .flat_map(|l| super::stream::json_line(&json!({ "stream": format!("{l}\n") })).to_vec())
                    .collect();
                let mut response = Response::new(super::http::full(lines));
                response.headers_mut().insert("Content-Type", HeaderValue::from_static("application/json"));
                Ok(response)
            }
            _ => Err(failure(&text)),
        }
    })
    .await
}
