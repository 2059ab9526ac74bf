//! A registry client for one registry host: TLS or plain HTTP as configured, credentials, the
//! calls pull needs (manifest by reference, blob as a byte stream from an offset), and tokens
//! for wider access (push, cross-repository mounts) ahead of the calls that need them.

use futures_util::stream::BoxStream;
use oci_client::RegistryOperation;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;

use super::credentials::Basic;
use super::reference::Reference;
use super::scope::Access;
use super::token::{self, Authorization};
use super::{CONNECT_TIMEOUT, READ_TIMEOUT, RegistryError, USER_AGENT, api_host, ca_certificate_pems, is_insecure};
use crate::config::Settings;
use crate::image::spec::ACCEPTED_MANIFESTS;
use crate::store::Digest;

pub struct RegistryClient {
    client: oci_client::Client,
    auth: RegistryAuth,
    registry: String,
    settings: Settings,
}

impl RegistryClient {
    pub fn new(settings: &Settings, registry: &str, credentials: Option<Basic>) -> RegistryClient {
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
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: USER_AGENT,
            ..Default::default()
        };
        let auth = match credentials {
            Some(Basic { username, password }) => RegistryAuth::Basic(username, password),
            None => RegistryAuth::Anonymous,
        };
        RegistryClient {
            client: oci_client::Client::new(config),
            auth,
            registry: registry.to_owned(),
            settings: settings.clone(),
        }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    fn repository_reference(&self, repository: &str) -> oci_client::Reference {
        oci_client::Reference::with_tag(self.registry.clone(), repository.to_owned(), "latest".into())
    }

    fn oci_reference(&self, reference: &Reference) -> oci_client::Reference {
        let registry = self.registry.clone();
        let repository = reference.repository.clone();
        match (&reference.tag, &reference.digest) {
            (Some(tag), Some(digest)) => {
                oci_client::Reference::with_tag_and_digest(registry, repository, tag.clone(), digest.to_string())
            }
            (_, Some(digest)) => oci_client::Reference::with_digest(registry, repository, digest.to_string()),
            (Some(tag), None) => oci_client::Reference::with_tag(registry, repository, tag.clone()),
            (None, None) => oci_client::Reference::with_tag(registry, repository, "latest".into()),
        }
    }

    /// Fetches a manifest (image manifest or index) and its digest, verified against the
    /// reference's digest when it has one.
    pub async fn manifest(&self, reference: &Reference) -> Result<(Vec<u8>, Digest), RegistryError> {
        let oci_ref = self.oci_reference(reference);
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&oci_ref, &self.auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| self.classify(e, &reference.to_string()))?;
        let digest = Digest::parse(&digest)
            .map_err(|error| RegistryError::BadDigest { registry: self.registry.clone(), error })?;
        Ok((bytes.to_vec(), digest))
    }

    /// Streams a blob from byte `offset`. Returns the stream and whether the registry honoured
    /// the offset (false: the stream starts at byte 0). Even from byte 0 a range is asked for:
    /// the caller hashes every byte itself (it must, to verify resumed transfers), and a ranged
    /// answer spares the client library a second hash of the same bytes.
    pub async fn blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        offset: u64,
    ) -> Result<(BoxStream<'static, std::io::Result<bytes::Bytes>>, bool), RegistryError> {
        let oci_ref = self.oci_reference(reference);
        let what = || format!("{}@{digest}", reference.repo_name());
        match self
            .client
            .pull_blob_stream_partial(&oci_ref, digest.as_str(), offset, None)
            .await
            .map_err(|e| self.classify(e, &what()))?
        {
            oci_client::client::BlobResponse::Full(s) => Ok((s.stream, offset == 0)),
            oci_client::client::BlobResponse::Partial(s) => Ok((s.stream, true)),
        }
    }

    /// Gets a token for `access` now and keeps it for the requests of that operation, so a push
    /// can ask for `pull,push` and a cross-repository mount for push on the target and pull on
    /// the source in one token (oci-client asks for one repository's scope only). A registry
    /// that wants Basic credentials or none needs nothing here.
    pub async fn authorize(&self, access: &Access) -> Result<(), RegistryError> {
        let Some(repository) = access.repository() else { return Ok(()) };
        let token_error = |detail: String| RegistryError::Token { registry: self.registry.clone(), detail };
        let base = super::api_base_url(&self.settings, &self.registry).map_err(token_error)?;
        let http = super::http_client(&self.settings, &self.registry).map_err(token_error)?;
        let credentials = match &self.auth {
            RegistryAuth::Basic(user, password) => Some((user.as_str(), password.as_str())),
            _ => None,
        };
        let registry = || self.registry.clone();
        let authorization =
            token::authorize(&http, &base, credentials, &access.scopes()).await.map_err(|e| match e {
                token::TokenError::Unauthorized(detail) => RegistryError::Unauthorized { registry: registry(), detail },
                token::TokenError::Transport(detail) => {
                    RegistryError::Transport { registry: registry(), detail, retryable: true }
                }
                other @ token::TokenError::Protocol(_) => token_error(other.to_string()),
            })?;
        if let Authorization::Bearer(bearer) = authorization {
            let target = self.repository_reference(repository);
            let operation = if access.needs_push() { RegistryOperation::Push } else { RegistryOperation::Pull };
            // The registry's own credentials stay the ones oci-client falls back to for other
            // repositories; the token is filed for this repository and operation only.
            self.client.store_auth_if_needed(&self.registry, &self.auth).await;
            self.client
                .auth(&target, &RegistryAuth::Bearer(bearer), operation)
                .await
                .map_err(|e| self.classify(e, repository))?;
        }
        Ok(())
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
                let detail = super::describe_request_error(e);
                RegistryError::Transport { registry, detail, retryable: !e.is_builder() }
            }
            OciDistributionError::IoError(ref e) => {
                RegistryError::Transport { registry, detail: e.to_string(), retryable: true }
            }
            other => RegistryError::Transport { registry, detail: other.to_string(), retryable: false },
        }
    }
}
