//! A hand-written registry for the failures a real one will not produce: it serves the
//! distribution API subset that pulls and pushes use, can misbehave per blob (see [`BlobMode`]),
//! and records every request with the status it got, so a test can count what a client asked for
//! (the HEADs, POSTs and PUTs of each blob a push makes, the Range requests of a resumed pull).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{BuiltImage, sha256_digest};

/// How [`FakeRegistry`] serves one blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobMode {
    /// Correctly, honouring `Range: bytes=N-`.
    Normal,
    /// Announces the full length, sends half, closes, and stops listening: a registry that dies
    /// mid-transfer.
    DieHalfway,
    /// The right length of different bytes that still unpack to the same content (a gzip blob
    /// gets another header mtime; anything else a flipped last byte): only the blob digest
    /// check can catch it.
    Corrupt,
    /// The right length with a run of bytes in the middle overwritten: garbage.
    Garbled,
    /// The first response is cut short (connection closed), later ones are served normally.
    CutOnce,
    /// 4 KiB every 20 ms, for killing a pull mid-way.
    Slow,
}

/// How [`FakeRegistry`] breaks the next streamed blob upload (a PATCH with a body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadFault {
    /// Takes half the body, keeps it, and closes the connection without an answer; the
    /// registry stays up and reports the half it holds (`GET` on the upload), so the client
    /// can resume.
    CutOnce,
    /// Takes half the body, closes the connection and stops listening: a registry that dies
    /// mid-upload.
    Die,
}

/// One request the fake registry answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Without the query: "/v2/repo/blobs/sha256:…", "/v2/repo/blobs/uploads/3".
    pub path: String,
    /// After the '?', empty when there was none: "digest=sha256:…", "mount=…&from=…".
    pub query: String,
    /// The status sent (200 also for a response cut short on purpose).
    pub status: u16,
}

/// What the fake registry holds; tests may change it directly through [`FakeRegistry::state`].
#[derive(Default)]
pub struct FakeState {
    /// Manifests by tag and by digest: (media type, bytes). Repository names are ignored.
    pub manifests: HashMap<String, (String, Vec<u8>)>,
    pub blobs: HashMap<String, Vec<u8>>,
    modes: HashMap<String, BlobMode>,
    /// Blob requests seen: (digest, Range header).
    blob_requests: Vec<(String, Option<String>)>,
    requests: Vec<RecordedRequest>,
    /// Blob uploads under way, by upload id: the bytes received so far.
    uploads: HashMap<String, Vec<u8>>,
    next_upload: u64,
    cut_done: bool,
    /// What happens to the next streamed upload (then cleared).
    pub upload_fault: Option<UploadFault>,
}

/// A registry on 127.0.0.1 that serves pulls (manifests by tag or digest, blobs with Range) and
/// pushes (blob uploads: monolithic, chunked with PATCH, or mounted from another repository;
/// manifests), misbehaves per blob as told and records every request. Stops on drop.
pub struct FakeRegistry {
    /// "127.0.0.1:PORT".
    pub addr: String,
    pub state: Arc<Mutex<FakeState>>,
    /// Bytes of Slow blobs sent so far.
    pub slow_sent: Arc<AtomicU64>,
    server: Server,
}

/// What every connection's thread shares.
#[derive(Clone)]
struct Server {
    addr: String,
    state: Arc<Mutex<FakeState>>,
    /// Set to stop listening (drop: the whole server; DieHalfway: the registry "dies").
    stop: Arc<AtomicBool>,
    slow_sent: Arc<AtomicU64>,
}

impl FakeRegistry {
    pub fn start() -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let server = Server {
            addr: listener.local_addr().expect("addr").to_string(),
            state: Arc::default(),
            stop: Arc::default(),
            slow_sent: Arc::default(),
        };
        let accepting = server.clone();
        std::thread::spawn(move || {
            // Blocking accepts; whoever sets `stop` connects once to wake this loop, which then
            // drops the listener, so later connections are refused.
            for stream in listener.incoming() {
                if accepting.stopped() {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let server = accepting.clone();
                std::thread::spawn(move || {
                    let _ = server.serve_connection(stream);
                });
            }
        });
        FakeRegistry {
            addr: server.addr.clone(),
            state: server.state.clone(),
            slow_sent: server.slow_sent.clone(),
            server,
        }
    }

    /// Serves `image` as `repo:tag` (any repository name works: the fake ignores it).
    pub fn add_image(&self, image: &BuiltImage, tag: &str) {
        let mut state = self.state.lock().unwrap();
        let entry = (image.manifest_media_type.to_owned(), image.manifest.clone());
        state.manifests.insert(tag.to_owned(), entry.clone());
        state.manifests.insert(image.manifest_digest.clone(), entry);
        state.blobs.insert(image.config_digest.clone(), image.config.clone());
        for layer in &image.layers {
            state.blobs.insert(layer.digest.clone(), layer.blob.clone());
        }
    }

    /// Breaks the next streamed blob upload as `fault` says.
    pub fn break_next_upload(&self, fault: UploadFault) {
        self.state.lock().unwrap().upload_fault = Some(fault);
    }

    pub fn set_mode(&self, digest: &str, mode: BlobMode) {
        self.state.lock().unwrap().modes.insert(digest.to_owned(), mode);
    }

    /// GET and HEAD requests of blobs so far: (digest, Range header).
    pub fn blob_requests(&self) -> Vec<(String, Option<String>)> {
        self.state.lock().unwrap().blob_requests.clone()
    }

    /// Every request answered so far, in the order they were answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// How many requests with `method` had a path or query containing `needle` (a digest, say):
    /// `count("PUT", &layer.digest)` is the uploads of that layer that were completed or tried.
    pub fn count(&self, method: &str, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && (r.path.contains(needle) || r.query.contains(needle)))
            .count()
    }

    /// "127.0.0.1:PORT/NAME" — `name` may carry ":tag" or "@digest".
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.server.stop();
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    range: Option<String>,
    content_type: Option<String>,
    content_range: Option<String>,
    /// Only the first half of the body was read (an [`UploadFault`]).
    cut: bool,
    body: Vec<u8>,
}

/// Reads one request; with `cut_patch`, a PATCH's body only half (see [`UploadFault`]).
fn read_request(stream: &TcpStream, cut_patch: bool) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (mut range, mut content_type, mut content_range, mut length, mut chunked) = (None, None, None, 0, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { continue };
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "range" => range = Some(value),
            "content-type" => content_type = Some(value),
            "content-range" => content_range = Some(value),
            "content-length" => length = value.parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let cut = cut_patch && method == "PATCH" && !chunked && length > 1;
    let body = if chunked {
        read_chunked(&mut reader)?
    } else {
        read_exactly(&mut reader, if cut { length / 2 } else { length })?
    };
    let (path, query) = (path.to_owned(), query.to_owned());
    Ok(Some(Request { method, path, query, range, content_type, content_range, cut, body }))
}

fn read_exactly(reader: &mut impl Read, len: usize) -> std::io::Result<Vec<u8>> {
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
        let mut chunk = read_exactly(reader, size + 2)?;
        chunk.truncate(size);
        body.extend(chunk);
        if size == 0 {
            return Ok(body);
        }
    }
}

/// The value of `key` in a query string ("digest=sha256:…&from=x"), percent-decoded as far
/// as digests and repository names need (Go's clients send `sha256%3A…`, `a%2Fb`).
fn query_value(query: &str, key: &str) -> Option<String> {
    let raw = query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?;
    Some(raw.replace("%3A", ":").replace("%3a", ":").replace("%2F", "/").replace("%2f", "/"))
}

/// Sends a whole response; returns its status code.
fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
    head: bool,
) -> std::io::Result<u16> {
    let mut text =
        format!("HTTP/1.1 {status}\r\nConnection: close\r\nDocker-Distribution-Api-Version: registry/2.0\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(text.as_bytes())?;
    if !head {
        stream.write_all(body)?;
    }
    stream.flush()?;
    Ok(status.split(' ').next().and_then(|s| s.parse().ok()).unwrap_or(0))
}

fn error(stream: &mut TcpStream, status: &str, code: &str, head: bool) -> std::io::Result<u16> {
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"not known here"}}]}}"#);
    respond(stream, status, &[("Content-Type", "application/json".into())], body.as_bytes(), head)
}

fn not_found(stream: &mut TcpStream, code: &str, head: bool) -> std::io::Result<u16> {
    error(stream, "404 Not Found", code, head)
}

/// Parses a Range header "bytes=N-" into N.
pub fn range_start(range: Option<&str>) -> Option<usize> {
    range?.strip_prefix("bytes=")?.split('-').next()?.parse().ok()
}

impl Server {
    /// Stops the accept loop: sets the flag, then wakes the blocked `accept` with a connection.
    fn stop(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            let _ = TcpStream::connect(&self.addr);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn serve_connection(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let cut = self.state.lock().unwrap().upload_fault.is_some();
        let Some(request) = read_request(&stream, cut)? else { return Ok(()) };
        let status = self.serve(&mut stream, &request)?;
        let recorded = RecordedRequest { method: request.method, path: request.path, query: request.query, status };
        self.state.lock().unwrap().requests.push(recorded);
        Ok(())
    }

    /// Answers one request; returns the status sent.
    fn serve(&self, stream: &mut TcpStream, request: &Request) -> std::io::Result<u16> {
        let head = request.method == "HEAD";
        let state = &self.state;
        if request.path == "/v2/" || request.path == "/v2" {
            return respond(stream, "200 OK", &[("Content-Type", "application/json".into())], b"{}", head);
        }
        if let Some((repo, reference)) = request.path.rsplit_once("/manifests/") {
            return if request.method == "PUT" {
                put_manifest(stream, request, repo, reference, state)
            } else {
                get_manifest(stream, reference, state, head)
            };
        }
        if let Some((repo, upload)) = request.path.split_once("/blobs/uploads") {
            let upload = upload.trim_start_matches('/');
            if request.cut {
                return self.cut_upload(stream, request, upload);
            }
            return serve_upload(stream, request, repo, upload, state);
        }
        let Some((_, digest)) = request.path.rsplit_once("/blobs/") else {
            return not_found(stream, "NAME_UNKNOWN", head);
        };
        self.serve_blob(stream, request, digest)
    }

    /// A streamed upload broken as the pending [`UploadFault`] says: the half read is kept.
    fn cut_upload(&self, stream: &mut TcpStream, request: &Request, upload: &str) -> std::io::Result<u16> {
        let fault = {
            let mut s = self.state.lock().unwrap();
            if let Some(bytes) = s.uploads.get_mut(upload) {
                bytes.extend_from_slice(&request.body);
            }
            s.upload_fault.take()
        };
        if fault == Some(UploadFault::Die) {
            self.stop();
        }
        stream.shutdown(Shutdown::Both)?;
        Ok(0)
    }

    fn serve_blob(&self, stream: &mut TcpStream, request: &Request, digest: &str) -> std::io::Result<u16> {
        let head = request.method == "HEAD";
        let (blob, mode, first_cut) = {
            let mut s = self.state.lock().unwrap();
            s.blob_requests.push((digest.to_owned(), request.range.clone()));
            let mode = s.modes.get(digest).copied().unwrap_or(BlobMode::Normal);
            let first_cut = mode == BlobMode::CutOnce && !s.cut_done;
            if first_cut {
                s.cut_done = true;
            }
            (s.blobs.get(digest).cloned(), mode, first_cut)
        };
        let Some(blob) = blob else { return not_found(stream, "BLOB_UNKNOWN", head) };
        let octet = ("Content-Type", "application/octet-stream".to_owned());
        match mode {
            BlobMode::DieHalfway | BlobMode::CutOnce if first_cut || mode == BlobMode::DieHalfway => {
                if mode == BlobMode::DieHalfway {
                    self.stop();
                }
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    blob.len()
                );
                stream.write_all(header.as_bytes())?;
                stream.write_all(&blob[..blob.len() / 2])?;
                stream.flush()?;
                stream.shutdown(Shutdown::Both)?;
                Ok(200)
            }
            BlobMode::Corrupt => {
                let mut wrong = blob.clone();
                if wrong.starts_with(&[0x1f, 0x8b]) {
                    wrong[4] ^= 0x01;
                } else {
                    let last = wrong.len() - 1;
                    wrong[last] ^= 0xff;
                }
                respond(stream, "200 OK", &[octet], &wrong, head)
            }
            BlobMode::Garbled => {
                let mut wrong = blob.clone();
                let mid = wrong.len() / 2;
                let end = (mid + 512).min(wrong.len());
                wrong[mid..end].fill(0x55);
                respond(stream, "200 OK", &[octet], &wrong, head)
            }
            BlobMode::Slow => {
                let header = format!(
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    blob.len()
                );
                stream.write_all(header.as_bytes())?;
                for chunk in blob.chunks(4096) {
                    if self.stopped() {
                        break;
                    }
                    stream.write_all(chunk)?;
                    stream.flush()?;
                    self.slow_sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    // The throttle that makes this blob slow (not a wait for anything).
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(200)
            }
            _ => match range_start(request.range.as_deref()) {
                Some(start) if start > 0 && start < blob.len() => {
                    let content_range = format!("bytes {start}-{}/{}", blob.len() - 1, blob.len());
                    let headers = [octet, ("Content-Range", content_range)];
                    respond(stream, "206 Partial Content", &headers, &blob[start..], head)
                }
                _ => respond(stream, "200 OK", &[octet], &blob, head),
            },
        }
    }
}

fn get_manifest(stream: &mut TcpStream, reference: &str, state: &Mutex<FakeState>, head: bool) -> std::io::Result<u16> {
    let found = state.lock().unwrap().manifests.get(reference).cloned();
    let Some((media_type, bytes)) = found else { return not_found(stream, "MANIFEST_UNKNOWN", head) };
    let digest = sha256_digest(&bytes);
    respond(stream, "200 OK", &[("Content-Type", media_type), ("Docker-Content-Digest", digest)], &bytes, head)
}

fn put_manifest(
    stream: &mut TcpStream,
    request: &Request,
    repo: &str,
    reference: &str,
    state: &Mutex<FakeState>,
) -> std::io::Result<u16> {
    let digest = sha256_digest(&request.body);
    if reference.starts_with("sha256:") && reference != digest {
        return error(stream, "400 Bad Request", "DIGEST_INVALID", false);
    }
    let media_type = request.content_type.clone().unwrap_or_default();
    let entry = (media_type, request.body.clone());
    {
        let mut s = state.lock().unwrap();
        s.manifests.insert(reference.to_owned(), entry.clone());
        s.manifests.insert(digest.clone(), entry);
    }
    let location = format!("{repo}/manifests/{digest}");
    respond(stream, "201 Created", &[("Location", location), ("Docker-Content-Digest", digest)], b"", false)
}

/// POST `…/blobs/uploads/` (start; `?digest=` monolithic; `?mount=&from=` mount), PATCH
/// `…/blobs/uploads/ID` (a chunk), PUT `…/blobs/uploads/ID?digest=` (the last chunk, commit).
fn serve_upload(
    stream: &mut TcpStream,
    request: &Request,
    repo: &str,
    upload: &str,
    state: &Mutex<FakeState>,
) -> std::io::Result<u16> {
    let digest = query_value(&request.query, "digest");
    let mut s = state.lock().unwrap();
    let finished = |s: &mut FakeState, stream: &mut TcpStream, digest: &str, bytes: Vec<u8>| {
        if sha256_digest(&bytes) != digest {
            return error(stream, "400 Bad Request", "DIGEST_INVALID", false);
        }
        s.blobs.insert(digest.to_owned(), bytes);
        let location = format!("{repo}/blobs/{digest}");
        respond(
            stream,
            "201 Created",
            &[("Location", location), ("Docker-Content-Digest", digest.to_owned())],
            b"",
            false,
        )
    };
    match request.method.as_str() {
        "POST" if upload.is_empty() => {
            if let Some(mounted) = query_value(&request.query, "mount")
                && s.blobs.contains_key(&mounted)
            {
                let location = format!("{repo}/blobs/{mounted}");
                let headers = [("Location", location), ("Docker-Content-Digest", mounted.clone())];
                return respond(stream, "201 Created", &headers, b"", false);
            }
            if let Some(digest) = digest {
                return finished(&mut s, stream, &digest, request.body.clone());
            }
            s.next_upload += 1;
            let id = s.next_upload.to_string();
            s.uploads.insert(id.clone(), Vec::new());
            let headers = [
                ("Location", format!("{repo}/blobs/uploads/{id}")),
                ("Docker-Upload-UUID", id),
                ("Range", "0-0".to_owned()),
            ];
            respond(stream, "202 Accepted", &headers, b"", false)
        }
        "GET" if s.uploads.contains_key(upload) => {
            let held = s.uploads[upload].len();
            let headers = [
                ("Location", format!("{repo}/blobs/uploads/{upload}")),
                ("Docker-Upload-UUID", upload.to_owned()),
                ("Range", format!("0-{}", held.saturating_sub(1))),
            ];
            respond(stream, "204 No Content", &headers, b"", false)
        }
        "PATCH" | "PUT" if s.uploads.contains_key(upload) => {
            let start =
                request.content_range.as_deref().and_then(|r| r.split('-').next()?.trim().parse::<usize>().ok());
            if start.is_some_and(|start| start != s.uploads[upload].len()) {
                return error(stream, "416 Range Not Satisfiable", "BLOB_UPLOAD_INVALID", false);
            }
            let mut bytes = s.uploads.remove(upload).expect("present");
            bytes.extend_from_slice(&request.body);
            if request.method == "PUT" {
                let Some(digest) = digest else { return error(stream, "400 Bad Request", "DIGEST_INVALID", false) };
                return finished(&mut s, stream, &digest, bytes);
            }
            let headers = [
                ("Location", format!("{repo}/blobs/uploads/{upload}")),
                ("Docker-Upload-UUID", upload.to_owned()),
                ("Range", format!("0-{}", bytes.len().saturating_sub(1))),
            ];
            s.uploads.insert(upload.to_owned(), bytes);
            respond(stream, "202 Accepted", &headers, b"", false)
        }
        _ => not_found(stream, "BLOB_UPLOAD_UNKNOWN", false),
    }
}
