//! `pull`: resolve a reference against the search registries and mirrors, fetch the manifest
//! (choosing a platform from an index), then download every missing layer in parallel, each
//! streamed straight into its unpacker thread, and commit the image.
//!
//! Digests from the registry (manifest, config, layers, diff ids) become [`Digest`]s as they
//! arrive, so a malformed one is refused before it names a file or a lock.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::Semaphore;

use super::ImageError;
use super::ingest::{self, LayerIngest, StagedLayer};
use super::progress::{Progress, short_digest};
use super::registry::credentials::{CredentialSource, Lookup};
use super::registry::reference::Reference;
use super::registry::retry::{MAX_ATTEMPTS, backoff, with_retries};
use super::registry::scope::Access;
use super::registry::{RegistryClient, RegistryError};
use super::spec::{self, Descriptor, ImageConfig, Manifest, ManifestKind, Platform};
use crate::config::Settings;
use crate::store::{Algorithm, BadDigest, Digest, NewImage, Store, StoreError, chain_digests};

const MAX_SMALL_BLOB: u64 = 32 << 20;

pub struct PullRequest<'a> {
    /// The image as the user wrote it: NAME[:TAG|@DIGEST].
    pub reference: &'a str,
    pub platform: Option<Platform>,
    /// No progress output (warnings still show).
    pub quiet: bool,
    pub credentials: &'a CredentialSource,
}

#[derive(Debug)]
pub struct PullOutcome {
    pub id: Digest,
    /// The fully qualified reference that was pulled.
    pub reference: Reference,
    /// The digest of the manifest (or index) the reference resolved to.
    pub digest: Digest,
    /// False when the image was already complete in the store.
    pub downloaded: bool,
}

/// Pulls an image into the store. Takes the ingest lock, shared, for the whole pull, and the
/// image lock briefly to commit. Runs the registry traffic on [`super::registry::block_on`]'s
/// runtime: call it from a process that has entered its namespaces already.
pub fn pull(store: &Store, settings: &Settings, request: &PullRequest) -> Result<PullOutcome, ImageError> {
    let _ingest = store.lock_ingest_shared()?;
    let outcome = super::registry::block_on(pull_async(store, settings, request)).map_err(ImageError::Runtime)??;
    super::event::record(store, "pull", &outcome.reference.to_string());
    Ok(outcome)
}

struct Resolved {
    client: Arc<RegistryClient>,
    reference: Reference,
    top_digest: Digest,
    manifest_bytes: Vec<u8>,
    manifest: Manifest,
}

/// The registries to try for a reference, each with the reference qualified for it, and for
/// each registry its mirrors first.
fn candidates(settings: &Settings, reference: &Reference) -> Vec<(String, Reference)> {
    let qualified: Vec<Reference> = if reference.is_short_name() {
        settings.search_registries.iter().map(|r| reference.qualified_with(r)).collect()
    } else {
        vec![reference.qualified_with(reference.registry_or_hub())]
    };
    let mut out = Vec::new();
    for q in qualified {
        let registry = q.registry_or_hub().to_owned();
        for mirror in settings.mirrors.get(&registry).into_iter().flatten() {
            out.push((mirror.clone(), q.clone()));
        }
        out.push((registry, q));
    }
    out
}

async fn resolve(settings: &Settings, request: &PullRequest<'_>, progress: &Progress) -> Result<Resolved, ImageError> {
    let reference = Reference::parse(request.reference)?;
    let wanted = request.platform.clone().unwrap_or_else(spec::host_platform);
    let mut last_error = None;
    for (endpoint, qualified) in candidates(settings, &reference) {
        let credentials = match request.credentials.lookup(&endpoint) {
            // Pulling anonymously may still work (public images); say why credentials were not used.
            Lookup::Unreadable(e) => {
                progress.warning(&format!("reading credentials for {endpoint}: {e}"));
                None
            }
            found => found.basic(),
        };
        let client = Arc::new(RegistryClient::new(settings, &endpoint, credentials));
        match resolve_at(&client, &qualified, &wanted).await {
            Ok((top_digest, manifest_bytes, manifest)) => {
                return Ok(Resolved { client, reference: qualified, top_digest, manifest_bytes, manifest });
            }
            Err(
                e @ ImageError::Registry(
                    RegistryError::NotFound(_)
                    | RegistryError::Unauthorized { .. }
                    | RegistryError::Transport { .. }
                    | RegistryError::Token { .. },
                ),
            ) => {
                if reference.is_short_name() || endpoint != qualified.registry_or_hub() {
                    progress.message(&format!("trying next registry: {endpoint}: {e}"));
                }
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or(ImageError::NoSearchRegistries))
}

async fn resolve_at(
    client: &RegistryClient,
    reference: &Reference,
    wanted: &Platform,
) -> Result<(Digest, Vec<u8>, Manifest), ImageError> {
    let access = Access::Pull { repository: reference.repository.clone() };
    with_retries(|| client.authorize(&access)).await?;
    let (bytes, digest) = with_retries(|| client.manifest(reference)).await?;
    match spec::parse_manifest(&bytes, None)? {
        ManifestKind::Image(manifest) => Ok((digest, bytes, *manifest)),
        ManifestKind::Index(index) => {
            let chosen = spec::choose_platform(&index, wanted, &reference.to_string())?;
            let chosen_digest = checked_digest(reference, &chosen.digest)?;
            let by_digest = Reference { digest: Some(chosen_digest), tag: None, ..reference.clone() };
            let (bytes, _) = with_retries(|| client.manifest(&by_digest)).await?;
            match spec::parse_manifest(&bytes, Some(&chosen.media_type))? {
                ManifestKind::Image(manifest) => Ok((digest, bytes, *manifest)),
                ManifestKind::Index(_) => Err(ImageError::NestedIndex { reference: reference.to_string() }),
            }
        }
    }
}

/// A digest of content the store will keep, checked: sha256, the only kind the store holds.
fn checked_digest(reference: &Reference, digest: &str) -> Result<Digest, ImageError> {
    Digest::parse(digest)
        .ok()
        .filter(|d| d.algorithm() == Algorithm::Sha256)
        .ok_or_else(|| ImageError::BadDigest { reference: reference.to_string(), error: BadDigest(digest.to_owned()) })
}

async fn fetch_small_blob(
    client: &RegistryClient,
    reference: &Reference,
    descriptor: &Descriptor,
) -> Result<Vec<u8>, ImageError> {
    if descriptor.size > MAX_SMALL_BLOB {
        return Err(ImageError::ConfigTooLarge { digest: descriptor.digest.clone(), size: descriptor.size });
    }
    let digest = checked_digest(reference, &descriptor.digest)?;
    with_retries(|| async {
        let (mut stream, _) = client.blob(reference, &digest, 0).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| RegistryError::Transport {
                registry: client.registry().to_owned(),
                detail: e.to_string(),
                retryable: true,
            })?;
            out.extend_from_slice(&chunk);
            if out.len() as u64 > descriptor.size {
                break;
            }
        }
        Ok(out)
    })
    .await
    .map_err(ImageError::from)
    .and_then(|bytes| {
        let actual = Digest::sha256_of(&bytes);
        if actual != digest {
            return Err(ImageError::DigestMismatch {
                what: format!("config {digest}"),
                expected: digest.to_string(),
                actual: actual.into(),
            });
        }
        Ok(bytes)
    })
}

async fn pull_async(store: &Store, settings: &Settings, request: &PullRequest<'_>) -> Result<PullOutcome, ImageError> {
    let progress = Progress::new(request.quiet);
    let resolved = resolve(settings, request, &progress).await?;
    let manifest = &resolved.manifest;
    let config_bytes = fetch_small_blob(&resolved.client, &resolved.reference, &manifest.config).await?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|error| ImageError::BadConfig { reference: resolved.reference.to_string(), error })?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::LayerCountMismatch {
            reference: resolved.reference.to_string(),
            layers: manifest.layers.len(),
            diff_ids: config.rootfs.diff_ids.len(),
        });
    }
    let check = |d: &String| checked_digest(&resolved.reference, d);
    let diff_ids: Vec<Digest> = config.rootfs.diff_ids.iter().map(check).collect::<Result<_, _>>()?;
    let blobs: Vec<Digest> = manifest.layers.iter().map(|l| check(&l.digest)).collect::<Result<_, _>>()?;
    let chains = chain_digests(&diff_ids);

    let semaphore = Arc::new(Semaphore::new(settings.parallel_downloads));
    let fetches = manifest.layers.iter().enumerate().map(|(i, layer)| {
        let job = LayerJob {
            store: store.clone(),
            client: resolved.client.clone(),
            reference: resolved.reference.clone(),
            descriptor: layer.clone(),
            blob: blobs[i].clone(),
            chain_id: chains[i].clone(),
            parent: i.checked_sub(1).map(|p| chains[p].clone()),
            diff_id: diff_ids[i].clone(),
        };
        let semaphore = semaphore.clone();
        let progress = progress.clone();
        async move {
            let _permit = semaphore.acquire_owned().await.expect("semaphore never closed");
            job.run(&progress).await
        }
    });
    let downloaded = futures_util::future::try_join_all(fetches).await?.into_iter().any(|d| d);

    let mut names = Vec::new();
    let digests = vec![resolved.reference.with_digest(&resolved.top_digest)];
    if let Some(tagged) = resolved.reference.tagged_name()
        && resolved.reference.digest.is_none()
    {
        names.push(tagged);
    }
    let size = {
        let _lock = store.lock_images_shared()?;
        chains.iter().map(|c| store.layer(c).ok().flatten().map_or(0, |l| l.size)).sum()
    };
    let record = NewImage {
        names,
        digests,
        layers: chains.iter().map(Digest::to_string).collect(),
        size,
        created: config.created.clone(),
        added: crate::store::now_rfc3339(),
    };
    let existing = {
        let _lock = store.lock_images_shared()?;
        store.images()?.get(&manifest.config.digest).map(|r| r.names.clone())
    };
    let id = Digest::parse(&ingest::commit_image(store, &resolved.manifest_bytes, &config_bytes, record)?)
        .map_err(StoreError::from)?;
    let was_complete = !downloaded
        && existing.is_some_and(|names| resolved.reference.tagged_name().is_none_or(|t| names.contains(&t)));
    Ok(PullOutcome { id, reference: resolved.reference, digest: resolved.top_digest, downloaded: !was_complete })
}

struct LayerJob {
    store: Store,
    client: Arc<RegistryClient>,
    reference: Reference,
    descriptor: Descriptor,
    /// `descriptor.digest`, checked.
    blob: Digest,
    chain_id: Digest,
    parent: Option<Digest>,
    diff_id: Digest,
}

impl LayerJob {
    fn have_layer(&self) -> Result<bool, ImageError> {
        let _lock = self.store.lock_images_shared()?;
        Ok(self.store.layer(&self.chain_id)?.is_some())
    }

    /// Returns whether anything was downloaded.
    async fn run(self, progress: &Progress) -> Result<bool, ImageError> {
        let short = short_digest(&self.blob);
        if self.have_layer()? {
            progress.message(&format!("{short}: already exists"));
            return Ok(false);
        }
        // Lock level LayerDownload: one download of this layer at a time across processes.
        let store = self.store.clone();
        let chain = self.chain_id.clone();
        let _download_lock = tokio::task::spawn_blocking(move || store.lock_layer_download(&chain))
            .await
            .map_err(ImageError::Task)??;
        if self.have_layer()? {
            progress.message(&format!("{short}: already exists"));
            return Ok(false);
        }
        let bar = progress.layer(&self.blob, self.descriptor.size);
        let ingest = LayerIngest::start(&self.store, self.store.new_staging()?, &self.descriptor.media_type)?;
        let download = self.download_into(&ingest, &bar).await;
        let staged: Result<StagedLayer, ImageError> =
            tokio::task::spawn_blocking(move || ingest.finish()).await.map_err(ImageError::Task)?;
        download?;
        let staged = staged?;
        let what = format!("layer {}", self.blob);
        staged.verify(Some(&self.blob), Some(&self.diff_id), &what)?;
        for warning in &staged.warnings {
            progress.message(&format!("{short}: warning: {warning}"));
        }
        let size = staged.blob_size;
        let store = self.store.clone();
        let (chain, parent) = (self.chain_id.clone(), self.parent.clone());
        tokio::task::spawn_blocking(move || staged.commit(&store, &chain, parent.as_deref()))
            .await
            .map_err(ImageError::Task)??;
        bar.finish("pull complete", size);
        Ok(true)
    }

    /// Streams the blob into `ingest`, resuming with a Range request after a broken transfer.
    async fn download_into(
        &self,
        ingest: &LayerIngest,
        bar: &super::progress::LayerProgress,
    ) -> Result<(), ImageError> {
        let expected = self.descriptor.size;
        let mut received: u64 = 0;
        let mut attempt = 1;
        let mut last_error: Option<RegistryError> = None;
        while received < expected || (expected == 0 && attempt == 1 && last_error.is_none() && received == 0) {
            if attempt > MAX_ATTEMPTS {
                break;
            }
            let before = received;
            match self.client.blob(&self.reference, &self.blob, received).await {
                Ok((mut stream, honoured_offset)) => {
                    let mut skip = if honoured_offset { 0 } else { received };
                    if !honoured_offset {
                        bar.restart_at(received);
                    }
                    while let Some(chunk) = stream.next().await {
                        let mut chunk = match chunk {
                            Ok(c) => c,
                            Err(e) => {
                                last_error = Some(RegistryError::Transport {
                                    registry: self.client.registry().to_owned(),
                                    detail: format!("reading {}: {e}", self.blob),
                                    retryable: true,
                                });
                                break;
                            }
                        };
                        if skip > 0 {
                            let drop_n = skip.min(chunk.len() as u64) as usize;
                            chunk = chunk.slice(drop_n..);
                            skip -= drop_n as u64;
                        }
                        received += chunk.len() as u64;
                        if received > expected {
                            return Err(ImageError::Oversized { digest: self.blob.to_string(), expected });
                        }
                        bar.advance(chunk.len() as u64);
                        if !ingest.feed(chunk).await {
                            // The unpacker stopped (bad layer): its error is the one to report.
                            return Ok(());
                        }
                    }
                    if expected == 0 {
                        break;
                    }
                }
                Err(e) if e.is_retryable() => last_error = Some(e),
                Err(e) => return Err(e.into()),
            }
            if received < expected {
                if received == before {
                    attempt += 1;
                } else {
                    attempt = 1;
                }
                tokio::time::sleep(backoff(attempt.min(3))).await;
            }
        }
        if received < expected {
            let why = last_error.map_or_else(|| "connection closed early".to_owned(), |e| e.to_string());
            return Err(ImageError::Incomplete { digest: self.blob.to_string(), received, expected, why });
        }
        Ok(())
    }
}
