//! A registry client for one registry host: TLS or plain HTTP as configured, credentials, and
//! the two calls pull needs (manifest by reference, blob as a byte stream from an offset).

use futures_util::stream::BoxStream;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;

use super::reference::{DOCKER_HUB, Reference};
use super::spec::ACCEPTED_MANIFESTS;
use crate::config::Settings;

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
}

impl RegistryError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, RegistryError::Transport { retryable: true, .. })
    }
}

pub struct RegistryClient {
    client: oci_client::Client,
    auth: RegistryAuth,
    registry: String,
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

/// The host oci-client actually talks to for `registry` (Docker Hub's API host differs).
pub(crate) fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB { "index.docker.io" } else { registry }
}

impl RegistryClient {
    pub fn new(settings: &Settings, registry: &str, credentials: Option<(String, String)>) -> RegistryClient {
        let insecure = is_insecure(settings, registry);
        let config = ClientConfig {
            protocol: if insecure {
                ClientProtocol::HttpsExcept(vec![api_host(registry).to_owned()])
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: insecure,
            extra_root_certificates: ca_certificate_pems(settings, registry)
                .into_iter()
                .map(|data| Certificate { encoding: CertificateEncoding::Pem, data })
                .collect(),
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let auth = match credentials {
            Some((user, password)) => RegistryAuth::Basic(user, password),
            None => RegistryAuth::Anonymous,
        };
        RegistryClient { client: oci_client::Client::new(config), auth, registry: registry.to_owned() }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    fn oci_reference(&self, reference: &Reference) -> oci_client::Reference {
        let registry = self.registry.clone();
        let repository = reference.repository.clone();
        match (&reference.tag, &reference.digest) {
            (Some(tag), Some(digest)) => {
                oci_client::Reference::with_tag_and_digest(registry, repository, tag.clone(), digest.clone())
            }
            (_, Some(digest)) => oci_client::Reference::with_digest(registry, repository, digest.clone()),
            (Some(tag), None) => oci_client::Reference::with_tag(registry, repository, tag.clone()),
            (None, None) => oci_client::Reference::with_tag(registry, repository, "latest".into()),
        }
    }

    /// Fetches a manifest (image manifest or index) and its digest, verified against the
    /// reference's digest when it has one.
    pub async fn manifest(&self, reference: &Reference) -> Result<(Vec<u8>, String), RegistryError> {
        let oci_ref = self.oci_reference(reference);
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&oci_ref, &self.auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| self.classify(e, &reference.to_string()))?;
        Ok((bytes.to_vec(), digest))
    }

    /// Streams a blob from byte `offset`. Returns the stream and whether the registry honoured
    /// the offset (false: the stream starts at byte 0). Even from byte 0 a range is asked for:
    /// the caller hashes every byte itself (it must, to verify resumed transfers), and a ranged
    /// answer spares the client library a second hash of the same bytes.
    pub async fn blob(
        &self,
        reference: &Reference,
        digest: &str,
        offset: u64,
    ) -> Result<(BoxStream<'static, std::io::Result<bytes::Bytes>>, bool), RegistryError> {
        let oci_ref = self.oci_reference(reference);
        let what = || format!("{}@{digest}", reference.repo_name());
        match self
            .client
            .pull_blob_stream_partial(&oci_ref, digest, offset, None)
            .await
            .map_err(|e| self.classify(e, &what()))?
        {
            oci_client::client::BlobResponse::Full(s) => Ok((s.stream, offset == 0)),
            oci_client::client::BlobResponse::Partial(s) => Ok((s.stream, true)),
        }
    }

    fn classify(&self, error: OciDistributionError, what: &str) -> RegistryError {
        let registry = self.registry.clone();
        match error {
            OciDistributionError::ImageManifestNotFoundError(_) => RegistryError::NotFound(registry),
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
                RegistryError::Unauthorized { registry, detail: error.to_string() }
            }
            OciDistributionError::RegistryError { ref envelope, .. } => {
                let text = envelope.to_string().to_lowercase();
                if text.contains("unknown") || text.contains("not found") {
                    RegistryError::NotFound(registry)
                } else if text.contains("unauthorized") || text.contains("denied") {
                    RegistryError::Unauthorized { registry, detail: error.to_string() }
                } else {
                    RegistryError::Transport { registry, detail: error.to_string(), retryable: false }
                }
            }
            OciDistributionError::ServerError { code, .. } => match code {
                404 => RegistryError::NotFound(registry),
                401 | 403 => RegistryError::Unauthorized { registry, detail: error.to_string() },
                _ => RegistryError::Transport {
                    registry,
                    detail: error.to_string(),
                    retryable: code >= 500 || code == 429,
                },
            },
            OciDistributionError::DigestError(ref d) => {
                RegistryError::DigestMismatch { what: what.to_owned(), expected: String::new(), actual: d.to_string() }
            }
            OciDistributionError::RequestError(ref e) => {
                let detail = describe_request_error(e);
                RegistryError::Transport { registry, detail, retryable: !e.is_builder() }
            }
            OciDistributionError::IoError(ref e) => {
                RegistryError::Transport { registry, detail: e.to_string(), retryable: true }
            }
            other => RegistryError::Transport { registry, detail: other.to_string(), retryable: false },
        }
    }
}

/// reqwest's Display hides the cause ("error sending request"); walk the source chain so the user
/// sees "connection refused" or the TLS reason.
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
