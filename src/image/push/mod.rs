//! `push`: send a stored image to its registry. For each tag: plan what to send (`plan`), then
//! for each blob HEAD it and skip what the registry has, mount what another repository of the
//! same registry has (known from the `registry/repo@digest` records of pulls and pushes), and
//! upload the rest from the store's own files (`registry::upload`); then PUT the manifest.
//!
//! Pulled layers are pushed as the compressed blobs they came as, never recompressed; a tar
//! blob (import, load, an uncompressed commit) is compressed once and the copy remembered.

mod plan;

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::ImageError;
use super::lookup::qualified_candidates;
use super::progress::short_digest;
use super::registry::credentials::{CredentialSource, Lookup};
use super::registry::reference::Reference;
use super::registry::retry::{MAX_ATTEMPTS, backoff, with_retries};
use super::registry::scope::Access;
use super::registry::upload::{Mounted, Uploader};
use super::registry::{RegistryError, block_on};
use super::spec::Compression;
use crate::config::Settings;
use crate::store::{Digest, ImageIndex, ImageRecord, Store};
use plan::{BlobToPush, Plan};

/// Blobs up to this size go in one PUT; larger ones are streamed with PATCH (resumable).
const SMALL_BLOB: u64 = 1 << 20;
/// Attempts at one registry request that failed in a way worth retrying (5xx, 429, transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Oci,
    V2s2,
}

pub struct PushRequest<'a> {
    /// NAME[:TAG] as the user wrote it.
    pub image: &'a str,
    pub all_tags: bool,
    /// The manifest format to push; None: as stored.
    pub format: Option<Format>,
    /// How to compress layers whose blob is an uncompressed tar.
    pub compression: Compression,
    pub credentials: &'a CredentialSource,
    /// False: plain HTTP to this registry, as for one named insecure.
    pub tls_verify: bool,
}

#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: Reference,
    pub digest: Digest,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("an image does not exist locally with the tag: {0}")]
    NoSuchImage(String),
    #[error("{0}: a tag cannot be used with --all-tags")]
    TagWithAllTags(String),
    #[error("{0}: cannot push a reference by digest; name a tag")]
    DigestReference(String),
    #[error("the stored manifest of image {image}: {detail}")]
    BadManifest { image: String, detail: String },
    #[error("layer {diff_id} is zstd-compressed, which the Docker v2s2 format cannot express (use --format oci)")]
    ZstdInV2s2 { diff_id: String },
    #[error("{what}")]
    Registry {
        what: String,
        #[source]
        source: RegistryError,
    },
}

/// What the user sees as the push goes: Docker's lines ("The push refers to repository [...]",
/// "<id>: Pushed", "<tag>: digest: <digest> size: <n>").
pub type Report<'a> = &'a (dyn Fn(&str) + Sync);

/// Pushes the image (or every tag of its repository) to its registry. Runs the registry traffic
/// on [`block_on`]'s runtime: call it after the namespaces are entered.
pub fn push(
    store: &Store,
    settings: &Settings,
    request: &PushRequest,
    report: Report,
) -> Result<Vec<Pushed>, PushError> {
    let targets = resolve(store, settings, request)?;
    let mut settings = settings.clone();
    let registry = targets[0].0.registry_or_hub().to_owned();
    if !request.tls_verify {
        settings.insecure_registries.push(registry.clone());
    }
    let mut plans = Vec::new();
    for (reference, image) in &targets {
        plans.push((reference.clone(), image.clone(), plan::plan(store, image, request.format, request.compression)?));
    }
    let repository = targets[0].0.repository.clone();
    let sources = {
        let _lock = store.lock_images_shared().map_err(ImageError::from)?;
        mount_sources(&store.images().map_err(ImageError::from)?, &registry, &repository)
    };
    let credentials = match request.credentials.lookup(&registry) {
        Lookup::Found(basic) => Some(basic),
        Lookup::None => None,
        Lookup::Unreadable(e) => {
            eprintln!("berth: warning: reading credentials for {registry}: {e}");
            None
        }
    };
    let outcome = block_on(async {
        // One token for push here and pull on every repository a blob may be mounted from.
        let mut scopes = Access::Push { repository: repository.clone() }.scopes();
        for repo in sources.iter().flat_map(|(_, repos)| repos) {
            let mount = Access::Mount { target: repository.clone(), source: repo.clone() };
            for scope in mount.scopes() {
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
        }
        let uploader = with_retries(|| Uploader::connect(&settings, &registry, credentials.clone(), scopes.clone()))
            .await
            .map_err(|source| PushError::Registry { what: "connecting to the registry".into(), source })?;
        let uploader = Arc::new(uploader);
        let mut pushed = Vec::new();
        report(&format!("The push refers to repository [{}]", targets[0].0.repo_name()));
        for (reference, _, plan) in &plans {
            let digest =
                push_one(&uploader, settings.parallel_downloads, &repository, reference, plan, &sources, report)
                    .await?;
            let tag = reference.tag.as_deref().unwrap_or("latest");
            report(&format!("{tag}: digest: {digest} size: {}", plan.manifest.len()));
            pushed.push(Pushed { reference: reference.clone(), digest });
        }
        Ok::<_, PushError>(pushed)
    })
    .map_err(ImageError::Runtime)??;
    record_digests(store, &plans, &outcome)?;
    for pushed in &outcome {
        crate::image::event::record(store, "push", &pushed.reference.to_string());
    }
    Ok(outcome)
}

/// The local images the request names, each with the reference to push it as.
fn resolve(
    store: &Store,
    settings: &Settings,
    request: &PushRequest,
) -> Result<Vec<(Reference, ImageRecord)>, PushError> {
    let reference = Reference::parse(request.image).map_err(ImageError::from)?;
    if reference.digest.is_some() {
        return Err(PushError::DigestReference(request.image.to_owned()));
    }
    if request.all_tags && reference.tag.is_some() {
        return Err(PushError::TagWithAllTags(request.image.to_owned()));
    }
    let _lock = store.lock_images_shared().map_err(ImageError::from)?;
    let index = store.images().map_err(ImageError::from)?;
    for candidate in qualified_candidates(settings, &reference) {
        if request.all_tags {
            let prefix = format!("{}:", candidate.repo_name());
            let mut found: Vec<(Reference, ImageRecord)> = Vec::new();
            for image in &index.images {
                for name in image.names.iter().filter(|n| n.starts_with(&prefix)) {
                    found.push((Reference::parse(name).map_err(ImageError::from)?, image.clone()));
                }
            }
            if !found.is_empty() {
                found.sort_by(|a, b| a.0.tag.cmp(&b.0.tag));
                return Ok(found);
            }
        } else if let Some(image) = candidate.tagged_name().and_then(|t| index.by_name(&t)) {
            return Ok(vec![(candidate, image.clone())]);
        }
    }
    Err(PushError::NoSuchImage(request.image.to_owned()))
}

/// For each layer (chain id) and config (image id), the other repositories of `registry` known
/// to hold its blob: those an image with it was pulled from or pushed to.
fn mount_sources(index: &ImageIndex, registry: &str, repository: &str) -> Vec<(Digest, Vec<String>)> {
    let mut out: Vec<(Digest, Vec<String>)> = Vec::new();
    for image in &index.images {
        let repos: Vec<String> = image
            .digests
            .iter()
            .filter_map(|d| Reference::parse(d).ok())
            .filter(|r| r.registry.as_deref() == Some(registry) && r.repository != repository)
            .map(|r| r.repository)
            .collect();
        if repos.is_empty() {
            continue;
        }
        for chain in image.layers.iter().chain([&image.id]) {
            match out.iter_mut().find(|(c, _)| c == chain) {
                Some((_, known)) => {
                    known.extend(repos.iter().filter(|r| !known.contains(r)).cloned().collect::<Vec<_>>())
                }
                None => out.push((chain.clone(), repos.clone())),
            }
        }
    }
    out
}

async fn push_one(
    uploader: &Arc<Uploader>,
    parallel: usize,
    repository: &str,
    reference: &Reference,
    plan: &Plan,
    sources: &[(Digest, Vec<String>)],
    report: Report<'_>,
) -> Result<Digest, PushError> {
    let semaphore = Arc::new(Semaphore::new(parallel.max(1)));
    let mut seen = BTreeSet::new();
    let layers: Vec<&BlobToPush> = plan.layers.iter().filter(|b| seen.insert(b.digest.clone())).collect();
    let jobs = layers.into_iter().map(|blob| {
        let semaphore = semaphore.clone();
        let from = sources_of(blob, sources);
        async move {
            let _permit = semaphore.acquire_owned().await.expect("semaphore never closed");
            let status = push_blob(uploader, repository, blob, from).await?;
            if let Some(diff_id) = &blob.diff_id {
                report(&format!("{}: {status}", short_digest(diff_id)));
            }
            Ok::<_, PushError>(())
        }
    });
    futures_util::future::try_join_all(jobs).await?;
    push_blob(uploader, repository, &plan.config, sources_of(&plan.config, sources)).await?;
    let tag = reference.tag.as_deref().unwrap_or("latest");
    uploader
        .put_manifest(repository, tag, &plan.manifest_media_type, &plan.manifest)
        .await
        .map_err(|source| PushError::Registry { what: format!("pushing the manifest of {reference}"), source })?;
    Ok(Digest::sha256_of(&plan.manifest))
}

fn sources_of<'a>(blob: &BlobToPush, sources: &'a [(Digest, Vec<String>)]) -> &'a [String] {
    sources.iter().find(|(key, _)| key == &blob.mount_key).map_or(&[], |(_, repos)| repos.as_slice())
}

/// Sends one blob unless the registry has it; returns Docker's word for what happened.
async fn push_blob(
    uploader: &Uploader,
    repository: &str,
    blob: &BlobToPush,
    from: &[String],
) -> Result<String, PushError> {
    let what = match &blob.diff_id {
        Some(diff_id) => format!("pushing layer {}", short_digest(diff_id)),
        None => format!("pushing the image config {}", blob.digest),
    };
    let failed = |source| PushError::Registry { what: what.clone(), source };
    if with_retries(|| uploader.blob_exists(repository, &blob.digest)).await.map_err(failed)? {
        return Ok("Layer already exists".into());
    }
    // One mount try: a failed mount starts an upload, which is then used (Docker's DELETE of it
    // is not honoured by every registry, and a second mount would leave it dangling).
    let mut location = None;
    if let Some(source) = from.first() {
        match with_retries(|| uploader.mount(repository, &blob.digest, source)).await.map_err(failed)? {
            Mounted::Yes => return Ok(format!("Mounted from {source}")),
            Mounted::UploadAt(url) => location = Some(url),
        }
    }
    let location = match location {
        Some(url) => url,
        None => with_retries(|| uploader.start_upload(repository)).await.map_err(failed)?,
    };
    if blob.size <= SMALL_BLOB {
        let bytes =
            std::fs::read(&blob.path).map_err(|e| ImageError::io(format!("reading {}", blob.path.display()), e))?;
        let (mut location, mut attempt) = (location, 1);
        loop {
            match uploader.put_blob(&location, &bytes, &blob.digest).await {
                Ok(()) => break,
                // The upload may be gone with the connection: start another.
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    location = with_retries(|| uploader.start_upload(repository)).await.map_err(failed)?;
                }
                Err(e) => return Err(failed(e)),
            }
        }
    } else {
        uploader.upload_file(repository, location, &blob.path, blob.size, &blob.digest).await.map_err(failed)?;
    }
    Ok("Pushed".into())
}

/// Records `registry/repo@digest` on each pushed image, as Docker records a push's RepoDigest:
/// `images --digests` shows it, and a later push to another repository of that registry mounts
/// the image's blobs from there. Takes the image lock, exclusive.
fn record_digests(store: &Store, plans: &[(Reference, ImageRecord, Plan)], pushed: &[Pushed]) -> Result<(), PushError> {
    let _lock = store.lock_images_exclusive().map_err(ImageError::from)?;
    let mut index = store.images().map_err(ImageError::from)?;
    let mut changed = false;
    for ((_, image, _), done) in plans.iter().zip(pushed) {
        let entry = done.reference.with_digest(done.digest.as_str());
        if let Some(record) = index.images.iter_mut().find(|i| i.id == image.id)
            && !record.digests.contains(&entry)
        {
            record.digests.push(entry);
            changed = true;
        }
    }
    if changed {
        store.write_images(&index).map_err(ImageError::from)?;
    }
    Ok(())
}
