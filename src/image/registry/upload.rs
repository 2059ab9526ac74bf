//! The upload half of the distribution protocol, for push: HEAD a blob, mount it from another
//! repository, upload it (small ones in one PUT; large ones streamed from their file in one
//! PATCH, resumed from the registry's own count after a broken transfer), and PUT a manifest's
//! exact bytes.
//!
//! Written on reqwest rather than oci-client: oci-client's push holds blobs whole in memory,
//! has no resume, treats a mount's 202 as an error and re-serialises manifests (so the digest
//! pushed would not be the digest berth stored). Tokens come from `token`, for every scope the
//! push needs at once (push on the target, pull on each mount source).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Body, RequestBuilder, Response, StatusCode, Url};

use super::credentials::Basic;
use super::scope::Scope;
use super::token::{self, Authorization};
use super::{RegistryError, api_base_url, describe_request_error};
use crate::config::Settings;
use crate::store::Digest;

/// Attempts at one blob before its push fails; progress (more bytes received) starts the count
/// again.
const MAX_ATTEMPTS: u32 = 5;
/// Bytes read from a blob file per chunk of a streamed upload.
const READ_CHUNK: usize = 1 << 20;

/// A connection to one registry for one push, authorised for `scopes`.
pub struct Uploader {
    http: reqwest::Client,
    base: Url,
    registry: String,
    credentials: Option<Basic>,
    scopes: Vec<Scope>,
    /// The `Authorization` header to send, if the registry wants one.
    authorization: Mutex<Option<String>>,
}

/// What a mount request came to.
pub enum Mounted {
    Yes,
    /// The registry started an ordinary upload instead, here.
    UploadAt(Url),
}

impl Uploader {
    /// Runs the token flow for `scopes` and keeps what it gives.
    pub async fn connect(
        settings: &Settings,
        registry: &str,
        credentials: Option<Basic>,
        scopes: Vec<Scope>,
    ) -> Result<Uploader, RegistryError> {
        let transport =
            |detail: String| RegistryError::Transport { registry: registry.to_owned(), detail, retryable: false };
        let base = api_base_url(settings, registry).map_err(transport)?;
        let http = http_client_without_timeout(settings, registry).map_err(transport)?;
        let uploader = Uploader {
            http,
            base,
            registry: registry.to_owned(),
            credentials,
            scopes,
            authorization: Mutex::new(None),
        };
        uploader.authorize().await?;
        Ok(uploader)
    }

    async fn authorize(&self) -> Result<(), RegistryError> {
        let registry = || self.registry.clone();
        let credentials = self.credentials.as_ref().map(|b| (b.username.as_str(), b.password.as_str()));
        let authorization =
            token::authorize(&self.http, &self.base, credentials, &self.scopes).await.map_err(|e| match e {
                token::TokenError::Unauthorized(detail) => RegistryError::Unauthorized { registry: registry(), detail },
                token::TokenError::Transport(detail) => {
                    RegistryError::Transport { registry: registry(), detail, retryable: true }
                }
                other @ token::TokenError::Protocol(_) => {
                    RegistryError::Token { registry: registry(), detail: other.to_string() }
                }
            })?;
        let header = match authorization {
            Authorization::Anonymous => None,
            Authorization::Basic => self.credentials.as_ref().map(|b| {
                let pair = format!("{}:{}", b.username, b.password);
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
            }),
            Authorization::Bearer(token) => Some(format!("Bearer {token}")),
        };
        *self.authorization.lock().expect("not poisoned") = header;
        Ok(())
    }

    /// Sends the request `build` makes, with the authorisation; on a 401 (an expired token)
    /// authorises again and sends a second one.
    async fn send(&self, build: impl Fn() -> Result<RequestBuilder, RegistryError>) -> Result<Response, RegistryError> {
        let mut renewed = false;
        loop {
            let mut request = build()?;
            if let Some(header) = self.authorization.lock().expect("not poisoned").clone() {
                request = request.header(AUTHORIZATION, header);
            }
            let response = request.send().await.map_err(|e| self.transport(&e))?;
            if response.status() == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                self.authorize().await?;
                continue;
            }
            return Ok(response);
        }
    }

    fn transport(&self, e: &reqwest::Error) -> RegistryError {
        RegistryError::Transport { registry: self.registry.clone(), detail: describe_request_error(e), retryable: true }
    }

    fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.base.join(path).map_err(|e| RegistryError::Transport {
            registry: self.registry.clone(),
            detail: format!("{path}: {e}"),
            retryable: false,
        })
    }

    /// Whether `repository` has the blob `digest` already.
    pub async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("{repository}/blobs/{digest}"))?;
        let response = self.send(|| Ok(self.http.head(url.clone()))).await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.refused(&format!("checking for blob {digest}"), response).await),
        }
    }

    /// Asks the registry to mount `digest` from `source` into `repository` (no bytes sent).
    pub async fn mount(&self, repository: &str, digest: &Digest, source: &str) -> Result<Mounted, RegistryError> {
        let mut url = self.url(&format!("{repository}/blobs/uploads/"))?;
        url.query_pairs_mut().append_pair("mount", digest.as_str()).append_pair("from", source);
        let response = self.send(|| Ok(self.http.post(url.clone()).header(CONTENT_LENGTH, 0))).await?;
        match response.status() {
            StatusCode::CREATED => Ok(Mounted::Yes),
            StatusCode::ACCEPTED => Ok(Mounted::UploadAt(self.location(&response)?)),
            _ => Err(self.refused(&format!("mounting blob {digest} from {source}"), response).await),
        }
    }

    /// Starts an upload to `repository`; returns where to send the bytes.
    pub async fn start_upload(&self, repository: &str) -> Result<Url, RegistryError> {
        let url = self.url(&format!("{repository}/blobs/uploads/"))?;
        let response = self.send(|| Ok(self.http.post(url.clone()).header(CONTENT_LENGTH, 0))).await?;
        match response.status() {
            StatusCode::ACCEPTED => self.location(&response),
            _ => Err(self.refused("starting a blob upload", response).await),
        }
    }

    /// Uploads a small blob held in memory: one PUT of all its bytes at `location`.
    pub async fn put_blob(&self, location: &Url, bytes: &[u8], digest: &Digest) -> Result<(), RegistryError> {
        let url = with_digest(location, digest);
        let body = bytes::Bytes::copy_from_slice(bytes);
        let response = self
            .send(|| {
                Ok(self
                    .http
                    .put(url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, body.len())
                    .body(body.clone()))
            })
            .await?;
        self.finished(digest, response).await
    }

    /// Uploads the blob in `path` (`size` bytes, `digest`), starting at `location` (an upload
    /// the caller started in `repository`): one streamed PATCH of the whole file and a closing
    /// PUT. A broken transfer asks the registry how much arrived and sends the rest; an upload
    /// the registry lost is started again.
    pub async fn upload_file(
        &self,
        repository: &str,
        mut location: Url,
        path: &Path,
        size: u64,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let mut offset = 0;
        let mut attempt = 1;
        loop {
            match self.patch(&location, path, offset, size).await {
                Ok(next) => {
                    location = next;
                    break;
                }
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
            match self.upload_status(&location).await {
                Ok((next, received)) if received <= size => {
                    if received > offset {
                        attempt = 1;
                    }
                    (location, offset) = (next, received);
                }
                // Lost (404), or an answer that makes no sense: start again.
                _ => match self.start_upload(repository).await {
                    Ok(fresh) => (location, offset) = (fresh, 0),
                    // Unreachable still: the next PATCH fails too and counts an attempt.
                    Err(e) if e.is_retryable() => {}
                    Err(e) => return Err(e),
                },
            }
        }
        let url = with_digest(&location, digest);
        let response = self.send(|| Ok(self.http.put(url.clone()).header(CONTENT_LENGTH, 0))).await?;
        self.finished(digest, response).await
    }

    /// One PATCH of the file from `offset` to its end; returns the next location.
    async fn patch(&self, location: &Url, path: &Path, offset: u64, size: u64) -> Result<Url, RegistryError> {
        let body_error = |e: std::io::Error| RegistryError::Transport {
            registry: self.registry.clone(),
            detail: format!("reading {}: {e}", path.display()),
            retryable: false,
        };
        let remaining = size - offset;
        let response = self
            .send(|| {
                let mut request = self
                    .http
                    .patch(location.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, remaining)
                    .body(file_body(path, offset).map_err(body_error)?);
                if offset > 0 {
                    request = request.header(CONTENT_RANGE, format!("{offset}-{}", size - 1));
                }
                Ok(request)
            })
            .await?;
        match response.status() {
            StatusCode::ACCEPTED | StatusCode::NO_CONTENT | StatusCode::CREATED => self.location(&response),
            // A 416: the registry holds another offset than we sent from; asking it (the retry
            // path) puts that right.
            status if status.is_server_error() || status == StatusCode::RANGE_NOT_SATISFIABLE => {
                let mut error = self.refused("uploading a blob", response).await;
                if let RegistryError::Transport { retryable, .. } = &mut error {
                    *retryable = true;
                }
                Err(error)
            }
            _ => Err(self.refused("uploading a blob", response).await),
        }
    }

    /// How many bytes of the upload at `location` the registry holds, and where to go on.
    async fn upload_status(&self, location: &Url) -> Result<(Url, u64), RegistryError> {
        let response = self.send(|| Ok(self.http.get(location.clone()))).await?;
        if response.status() != StatusCode::NO_CONTENT && response.status() != StatusCode::OK {
            return Err(self.refused("asking how much of an upload arrived", response).await);
        }
        let received = response
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|range| range.rsplit_once('-'))
            .and_then(|(_, end)| end.trim().parse::<u64>().ok())
            // "0-N" names the last byte held; "0-0" (nothing yet, or one byte) restarts from 0.
            .map_or(0, |end| if end == 0 { 0 } else { end + 1 });
        let next = self.location(&response).unwrap_or_else(|_| location.clone());
        Ok((next, received))
    }

    /// PUTs a manifest's bytes as `reference` (a tag or digest) with its media type; checks the
    /// digest the registry says it stored.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("{repository}/manifests/{reference}"))?;
        let body = bytes::Bytes::copy_from_slice(bytes);
        let response =
            self.send(|| Ok(self.http.put(url.clone()).header(CONTENT_TYPE, media_type).body(body.clone()))).await?;
        if response.status() != StatusCode::CREATED && response.status() != StatusCode::OK {
            return Err(self.refused(&format!("storing the manifest as {reference}"), response).await);
        }
        self.check_digest("the manifest", &Digest::sha256_of(bytes), &response)
    }

    async fn finished(&self, digest: &Digest, response: Response) -> Result<(), RegistryError> {
        if response.status() != StatusCode::CREATED {
            return Err(self.refused(&format!("completing the upload of {digest}"), response).await);
        }
        self.check_digest(digest.as_str(), digest, &response)
    }

    fn check_digest(&self, what: &str, expected: &Digest, response: &Response) -> Result<(), RegistryError> {
        match response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()) {
            Some(actual) if actual != expected.as_str() => Err(RegistryError::DigestMismatch {
                what: format!("{}: {what}", self.registry),
                expected: expected.to_string(),
                actual: actual.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    fn location(&self, response: &Response) -> Result<Url, RegistryError> {
        let bad =
            |detail: String| RegistryError::Transport { registry: self.registry.clone(), detail, retryable: false };
        let text = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| bad(format!("{} {}: no Location header", response.status(), response.url().path())))?;
        response.url().join(text).map_err(|e| bad(format!("Location {text:?}: {e}")))
    }

    /// The registry's refusal as an error: 401/403 and `denied` are authorisation failures,
    /// 5xx and 429 may be retried, the rest is final. The text is the registry's own error
    /// codes and messages (`denied: requested access to the resource is denied`), as Docker
    /// shows them.
    async fn refused(&self, what: &str, response: Response) -> RegistryError {
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        let reason = registry_errors(&body).unwrap_or_else(|| format!("HTTP {status}"));
        let registry = self.registry.clone();
        let detail = format!("{what}: {reason}");
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN || reason.starts_with("denied") {
            return RegistryError::Unauthorized { registry, detail };
        }
        let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
        RegistryError::Transport { registry, detail, retryable }
    }
}

/// The registry client's HTTP settings, without the whole-request timeout: a large blob's
/// upload may take longer than any fixed limit (the connect timeout still applies).
fn http_client_without_timeout(settings: &Settings, registry: &str) -> Result<reqwest::Client, String> {
    let certificates = super::ca_certificate_pems(settings, registry)
        .iter()
        .filter_map(|pem| reqwest::Certificate::from_pem(pem).ok())
        .collect::<Vec<_>>();
    reqwest::Client::builder()
        .tls_certs_merge(certificates)
        .connect_timeout(super::CONNECT_TIMEOUT)
        .read_timeout(super::READ_TIMEOUT)
        .user_agent(super::USER_AGENT)
        .build()
        .map_err(|e| describe_request_error(&e))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(5)))
}

/// `location` with `digest=` added to its query (which may hold the registry's upload state).
fn with_digest(location: &Url, digest: &Digest) -> Url {
    let mut url = location.clone();
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    url
}

/// The `errors` of a registry's error body, Docker's way: `code in lower case: message`.
fn registry_errors(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let errors = value.get("errors")?.as_array()?;
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("error").to_lowercase().replace('_', " ");
            match e.get("message").and_then(|m| m.as_str()).filter(|m| !m.is_empty()) {
                Some(message) => format!("{code}: {message}"),
                None => code,
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The file from `offset` to its end as a request body, read in 1 MiB chunks by a blocking
/// thread a few chunks ahead of the network: never the whole blob in memory.
fn file_body(path: &Path, offset: u64) -> std::io::Result<Body> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buffer = vec![0; READ_CHUNK];
            let n = match read_full(&mut file, &mut buffer) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            buffer.truncate(n);
            // The receiver is gone when the request ended (sent, or failed): stop reading.
            if tx.blocking_send(Ok(bytes::Bytes::from(buffer))).is_err() {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { Some((rx.recv().await?, rx)) });
    Ok(Body::wrap_stream(stream))
}

fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_read_like_dockers() {
        let body = br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        assert_eq!(registry_errors(body).unwrap(), "denied: requested access to the resource is denied");
        let body = br#"{"errors":[{"code":"BLOB_UNKNOWN","message":""},{"code":"NAME_INVALID","message":"x"}]}"#;
        assert_eq!(registry_errors(body).unwrap(), "blob unknown; name invalid: x");
        assert_eq!(registry_errors(b"<html>"), None);
    }

    #[test]
    fn the_digest_joins_the_upload_state() {
        let digest = Digest::sha256_of(b"x");
        let url = Url::parse("http://r/v2/a/blobs/uploads/1?_state=abc").unwrap();
        assert_eq!(
            with_digest(&url, &digest).query(),
            Some(format!("_state=abc&digest=sha256%3A{}", digest.hex()).as_str())
        );
    }
}
