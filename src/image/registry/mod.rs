//! Talking to registries: references (`reference`), the client for one registry host
//! (`client`), credentials on disk and where to look for them (`auth`, `credentials`), the
//! token protocol and the scopes a token is asked for (`token`, `scope`), the check behind
//! `login` (`login_probe`), and the upload calls of push (`upload`).
//!
//! Everything here that does network I/O is async and runs on the one runtime [`block_on`]
//! makes; the transport settings every request shares (TLS or plain HTTP, extra CA
//! certificates, timeouts, user agent) are the functions and constants below, so pull, login
//! and push behave the same towards one registry.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod download;
pub mod login_probe;
pub mod reference;
pub mod retry;
pub mod scope;
pub mod token;
pub mod upload;

use std::time::Duration;

pub use client::RegistryClient;
pub use credentials::CredentialSource;
pub use reference::DOCKER_HUB;

use crate::config::Settings;

/// How long to wait for a TCP (and TLS) connection to a registry.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a registry may stay silent in the middle of an answer (a read, not the whole
/// transfer: a large layer can take minutes).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
pub const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("not found in {0} (or access denied)")]
    NotFound(String),
    #[error("{registry}: authentication failed (wrong or missing credentials): {detail}")]
    Unauthorized { registry: String, detail: String },
    #[error("{registry}: {detail}")]
    Transport { registry: String, detail: String, retryable: bool },
    #[error("{what}: digest mismatch: the registry sent {actual}, expected {expected}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("{registry}: the token server: {detail}")]
    Token { registry: String, detail: String },
    #[error("{registry}: {error}")]
    BadDigest { registry: String, error: crate::store::BadDigest },
}

impl RegistryError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, RegistryError::Transport { retryable: true, .. })
    }
}

/// Runs `future` to completion on a current-thread tokio runtime made for it.
///
/// The runtime is made here, on demand, and never earlier: a process that creates namespaces
/// must still be single-threaded when it does (see ARCHITECTURE.md), so nothing may start
/// tokio before the command has entered its user namespace. A current-thread runtime starts
/// no worker threads at all; only `spawn_blocking` work (unpacking) gets threads.
pub fn block_on<F: std::future::Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(future))
}

/// Plain HTTP is allowed for loopback registries (as Docker does) and for ones named insecure.
pub fn is_insecure(settings: &Settings, registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .map_or(registry, |(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { registry });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback || settings.insecure_registries.iter().any(|r| r == registry || r == host)
}

/// The PEM contents of every `*.crt` under `<cert dir>/<registry>/`.
pub(crate) fn ca_certificate_pems(settings: &Settings, registry: &str) -> Vec<Vec<u8>> {
    settings
        .cert_dirs
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir.join(registry)).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// The host the API of `registry` is served from (Docker Hub's differs from its name).
pub(crate) fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB { "index.docker.io" } else { registry }
}

/// The URL of the registry's API root, `/v2/`, over the scheme every request to it uses.
pub(crate) fn api_base_url(settings: &Settings, registry: &str) -> Result<reqwest::Url, String> {
    let scheme = if is_insecure(settings, registry) { "http" } else { "https" };
    reqwest::Url::parse(&format!("{scheme}://{}/v2/", api_host(registry)))
        .map_err(|e| format!("{registry:?} is not a registry host name: {e}"))
}

/// An HTTP client for the requests berth makes itself (login, tokens with several scopes),
/// trusting what the registry client trusts and with the same timeouts.
pub(crate) fn http_client(settings: &Settings, registry: &str) -> Result<reqwest::Client, String> {
    let certificates = ca_certificate_pems(settings, registry)
        .iter()
        .filter_map(|pem| reqwest::Certificate::from_pem(pem).ok())
        .collect::<Vec<_>>();
    reqwest::Client::builder()
        .tls_certs_merge(certificates)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(READ_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| describe_request_error(&e))
}

/// reqwest's Display hides the cause ("error sending request"); walk the source chain so the user
/// sees "connection refused" or the TLS reason. The result is one text: callers keep it as a
/// message and return no source, so nothing is shown twice.
pub(crate) fn describe_request_error(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn settings() -> Settings {
        Settings {
            root: "/nonexistent".into(),
            runroot: "/nonexistent".into(),
            rootless: false,
            parallel_downloads: 1,
            search_registries: vec![DOCKER_HUB.into()],
            insecure_registries: Vec::new(),
            mirrors: Default::default(),
            cert_dirs: Vec::new(),
            config_files: Vec::new(),
            default_network: None,
        }
    }

    #[test]
    fn loopback_and_named_registries_are_insecure() {
        let mut settings = settings();
        assert!(is_insecure(&settings, "localhost:5000"));
        assert!(is_insecure(&settings, "127.0.0.1:5000"));
        assert!(is_insecure(&settings, "[::1]:5000"));
        assert!(!is_insecure(&settings, "reg.example"));
        settings.insecure_registries = vec!["reg.example".into()];
        assert!(is_insecure(&settings, "reg.example:5000"));
        assert_eq!(api_base_url(&settings, "reg.example").unwrap().as_str(), "http://reg.example/v2/");
        assert_eq!(api_base_url(&settings, DOCKER_HUB).unwrap().as_str(), "https://index.docker.io/v2/");
    }

    #[test]
    fn block_on_runs_on_the_calling_thread() {
        let caller = std::thread::current().id();
        assert!(block_on(async move { std::thread::current().id() == caller }).unwrap());
    }
}
