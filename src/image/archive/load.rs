//! `load`: every image of a docker-archive or oci-archive into the store, all or nothing.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use super::extract::{ExtractedArchive, extract_archive, normalize_member};
use super::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ArchiveError, DockerManifestEntry, MAX_INDEX_DEPTH, blob_member,
    decompressed_archive, io_error, layer_media_type, parse_config, sniff_file,
};
use crate::image::ImageError;
use crate::image::assemble::{Assembled, qualify_name};
use crate::image::ingest::{self, StagedLayer};
use crate::image::progress::{Progress, human_size, short_digest};
use crate::image::reference::DOCKER_HUB;
use crate::image::spec::{self, Descriptor, ImageConfig, Index, Manifest, ManifestKind, OCI_INDEX, Platform};
use crate::store::{LayerRecord, Store, chain_ids, is_valid_digest, sha256_digest};

/// One image found in an archive, checked as far as its documents go.
struct ImagePlan {
    id: String,
    names: Vec<String>,
    config_bytes: Vec<u8>,
    config: ImageConfig,
    /// The archive's own manifest (OCI layout), kept if it names the blobs that end up stored.
    manifest_bytes: Option<Vec<u8>>,
    layers: Vec<PlannedLayer>,
    chains: Vec<String>,
}

struct PlannedLayer {
    /// The member holding the layer blob, links resolved.
    member: String,
    /// From an OCI manifest; docker-archive layers are sniffed.
    media_type: Option<String>,
    /// Known when the member is named by its digest.
    expected_blob: Option<String>,
    diff_id: String,
}

/// What `load` brought into the store.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedImage {
    pub id: String,
    /// Fully qualified names; empty for an untagged image.
    pub names: Vec<String>,
}

/// Loads every image in a docker-archive or oci-archive (maybe gzip- or zstd-compressed) read
/// from `input`. Takes the ingest lock, shared, for the whole load, and the image lock briefly
/// per commit. Nothing is committed unless every image's documents and layers check out.
pub fn load(store: &Store, input: impl Read + 'static, progress: &Progress) -> Result<Vec<LoadedImage>, ArchiveError> {
    let _ingest = store.lock_ingest_shared()?;
    let extraction = store.new_staging()?;
    let archive = extract_archive(decompressed_archive(input)?, &extraction.path().join("archive"))?;
    let plans = plan_images(&archive)?;
    let staged = stage_missing_layers(store, &archive, &plans, progress)?;
    drop(extraction);
    let loaded = commit_plans(store, plans, staged)?;
    for image in &loaded {
        crate::image::event::record_id(store, "load", &image.id, image.names.first().map(String::as_str));
    }
    Ok(loaded)
}

fn plan_images(archive: &ExtractedArchive) -> Result<Vec<ImagePlan>, ArchiveError> {
    // Docker's loader reads manifest.json when there is one, even in an archive that is also
    // an OCI layout (Docker 25+); so does berth.
    let plans = if archive.contains("manifest.json") {
        plan_docker_archive(archive)?
    } else if archive.contains("index.json") {
        plan_oci_layout(archive)?
    } else {
        return Err(ArchiveError::Invalid(
            "not an image archive: it has neither manifest.json (docker-archive) nor index.json (oci-archive)".into(),
        ));
    };
    let mut merged: Vec<ImagePlan> = Vec::new();
    for plan in plans {
        match merged.iter_mut().find(|m| m.id == plan.id) {
            Some(existing) => {
                for name in plan.names {
                    if !existing.names.contains(&name) {
                        existing.names.push(name);
                    }
                }
            }
            None => merged.push(plan),
        }
    }
    Ok(merged)
}

/// A name as an archive carries it, fully qualified. Archive names are Docker's: a RepoTag
/// "busybox:latest" is docker.io/library/busybox:latest whatever the search registries, as
/// Docker and Podman read it.
fn archive_name(name: &str) -> Result<String, ArchiveError> {
    Ok(qualify_name(name, DOCKER_HUB)?)
}

/// The digest a member named "blobs/sha256/<hex>" claims for its content.
fn digest_from_blob_member(member: &str) -> Option<String> {
    let normalized = normalize_member(Path::new(member)).ok().flatten()?;
    let digest = format!("sha256:{}", normalized.strip_prefix("blobs/sha256/")?);
    is_valid_digest(&digest).then_some(digest)
}

/// The digest a config member claims: "blobs/sha256/<hex>" or the legacy "<hex>.json".
fn digest_from_config_member(member: &str) -> Option<String> {
    digest_from_blob_member(member).or_else(|| {
        let digest = format!("sha256:{}", member.strip_suffix(".json")?);
        is_valid_digest(&digest).then_some(digest)
    })
}

fn check_layer_count(config: &ImageConfig, layers: usize, what: &str) -> Result<(), ArchiveError> {
    if config.rootfs.diff_ids.len() == layers {
        Ok(())
    } else {
        Err(ArchiveError::Invalid(format!(
            "{what}: lists {layers} layers but its config has {} diff ids",
            config.rootfs.diff_ids.len()
        )))
    }
}

fn plan_docker_archive(archive: &ExtractedArchive) -> Result<Vec<ImagePlan>, ArchiveError> {
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&archive.read_document("manifest.json")?)
        .map_err(|e| ArchiveError::Invalid(format!("manifest.json: malformed: {e}")))?;
    if entries.is_empty() {
        return Err(ArchiveError::Invalid("manifest.json lists no images".into()));
    }
    entries
        .into_iter()
        .map(|entry| {
            let config_bytes = archive
                .read_document(&entry.config)
                .map_err(|e| ArchiveError::Invalid(format!("manifest.json names config {}: {e}", entry.config)))?;
            let id = sha256_digest(&config_bytes);
            if let Some(expected) = digest_from_config_member(&entry.config)
                && expected != id
            {
                return Err(ImageError::DigestMismatch {
                    what: format!("config {}", entry.config),
                    expected,
                    actual: id,
                }
                .into());
            }
            let config = parse_config(&config_bytes, &entry.config)?;
            check_layer_count(&config, entry.layers.len(), &format!("manifest.json entry for {}", entry.config))?;
            let names = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|tag| archive_name(tag))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ArchiveError::Invalid(format!("manifest.json: {e}")))?;
            let layers = entry
                .layers
                .iter()
                .zip(&config.rootfs.diff_ids)
                .map(|(member, diff_id)| {
                    Ok(PlannedLayer {
                        member: archive
                            .resolve(member)
                            .map_err(|e| ArchiveError::Invalid(format!("manifest.json names layer {member}: {e}")))?,
                        media_type: None,
                        expected_blob: digest_from_blob_member(member),
                        diff_id: diff_id.clone(),
                    })
                })
                .collect::<Result<Vec<_>, ArchiveError>>()?;
            Ok(ImagePlan {
                id,
                names,
                chains: chain_ids(&config.rootfs.diff_ids),
                config_bytes,
                config,
                manifest_bytes: None,
                layers,
            })
        })
        .collect()
}

/// The name an index.json entry gives its image: containerd's full-name annotation, or an OCI
/// ref.name that is a full reference. A bare ref.name ("latest", "v1.0") is a tag without a
/// repository, as Docker writes it beside the containerd name, and names nothing on its own.
fn annotated_name(descriptor: &Descriptor) -> Result<Option<String>, ArchiveError> {
    let Some(annotations) = &descriptor.annotations else { return Ok(None) };
    if let Some(name) = annotations.get(ANNOTATION_CONTAINERD_NAME) {
        return archive_name(name)
            .map(Some)
            .map_err(|e| ArchiveError::Invalid(format!("index.json: {ANNOTATION_CONTAINERD_NAME}: {e}")));
    }
    Ok(annotations.get(ANNOTATION_REF_NAME).filter(|r| r.contains(['/', ':'])).and_then(|r| archive_name(r).ok()))
}

/// The index.json entries to load: every entry, except that several entries of one name that
/// all declare platforms are alternatives, of which the host's is chosen.
fn entries_to_load<'a>(
    index: &'a Index,
    host: &Platform,
) -> Result<Vec<(&'a Descriptor, Option<String>)>, ArchiveError> {
    let mut groups: Vec<(Option<String>, Vec<&Descriptor>)> = Vec::new();
    for descriptor in &index.manifests {
        let name = annotated_name(descriptor)?;
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, members)) => members.push(descriptor),
            None => groups.push((name, vec![descriptor])),
        }
    }
    let mut chosen = Vec::new();
    for (name, members) in groups {
        if members.len() > 1 && members.iter().all(|d| d.platform.is_some()) {
            let alternatives =
                Index { manifests: members.iter().map(|d| (*d).clone()).collect(), ..Default::default() };
            let pick = spec::choose_platform(&alternatives, host, "the archive")?;
            let original = members.into_iter().find(|d| *d == pick).expect("picked from these");
            chosen.push((original, name));
        } else {
            chosen.extend(members.into_iter().map(|d| (d, name.clone())));
        }
    }
    Ok(chosen)
}

/// Follows a descriptor through nested indexes (choosing the host platform) to an image manifest.
fn resolve_image_manifest(
    archive: &ExtractedArchive,
    descriptor: &Descriptor,
    host: &Platform,
    depth: usize,
) -> Result<(Vec<u8>, Manifest), ArchiveError> {
    if depth > MAX_INDEX_DEPTH {
        return Err(ArchiveError::Invalid(format!("index.json: indexes nested more than {MAX_INDEX_DEPTH} deep")));
    }
    let what = format!("manifest {}", descriptor.digest);
    let bytes = archive.read_blob(descriptor, &what)?;
    match spec::parse_manifest(&bytes, Some(&descriptor.media_type))
        .map_err(|e| ArchiveError::Invalid(format!("{what}: {e}")))?
    {
        ManifestKind::Image(manifest) => Ok((bytes, *manifest)),
        ManifestKind::Index(index) => {
            let chosen = spec::choose_platform(&index, host, "the archive")?;
            resolve_image_manifest(archive, chosen, host, depth + 1)
        }
    }
}

fn plan_oci_layout(archive: &ExtractedArchive) -> Result<Vec<ImagePlan>, ArchiveError> {
    let index = match spec::parse_manifest(&archive.read_document("index.json")?, Some(OCI_INDEX)) {
        Ok(ManifestKind::Index(index)) => index,
        Ok(ManifestKind::Image(_)) => {
            return Err(ArchiveError::Invalid("index.json is an image manifest, not an index".into()));
        }
        Err(e) => return Err(ArchiveError::Invalid(format!("index.json: {e}"))),
    };
    if index.manifests.is_empty() {
        return Err(ArchiveError::Invalid("index.json lists no images".into()));
    }
    let host = spec::host_platform();
    entries_to_load(&index, &host)?
        .into_iter()
        .map(|(descriptor, name)| {
            let (manifest_bytes, manifest) = resolve_image_manifest(archive, descriptor, &host, 0)?;
            let config_bytes = archive.read_blob(&manifest.config, &format!("config {}", manifest.config.digest))?;
            let config = parse_config(&config_bytes, &format!("config {}", manifest.config.digest))?;
            check_layer_count(&config, manifest.layers.len(), &format!("manifest {}", descriptor.digest))?;
            let layers = manifest
                .layers
                .iter()
                .zip(&config.rootfs.diff_ids)
                .map(|(layer, diff_id)| {
                    let member = blob_member(&layer.digest)?;
                    Ok(PlannedLayer {
                        member: archive.resolve(&member).map_err(|_| {
                            ArchiveError::Invalid(format!("layer {} is missing from the archive", layer.digest))
                        })?,
                        media_type: Some(layer.media_type.clone()),
                        expected_blob: Some(layer.digest.clone()),
                        diff_id: diff_id.clone(),
                    })
                })
                .collect::<Result<Vec<_>, ArchiveError>>()?;
            Ok(ImagePlan {
                id: sha256_digest(&config_bytes),
                names: name.into_iter().collect(),
                chains: chain_ids(&config.rootfs.diff_ids),
                config_bytes,
                config,
                manifest_bytes: Some(manifest_bytes),
                layers,
            })
        })
        .collect()
}

/// Unpacks and verifies every layer the store lacks, each in its own staging directory; commits
/// nothing.
fn stage_missing_layers(
    store: &Store,
    archive: &ExtractedArchive,
    plans: &[ImagePlan],
    progress: &Progress,
) -> Result<HashMap<String, StagedLayer>, ArchiveError> {
    let present: BTreeSet<String> = {
        let _lock = store.lock_images_shared()?;
        let mut present = BTreeSet::new();
        for chain in plans.iter().flat_map(|p| &p.chains) {
            if store.layer(chain)?.is_some() {
                present.insert(chain.clone());
            }
        }
        present
    };
    let mut staged: HashMap<String, StagedLayer> = HashMap::new();
    for plan in plans {
        for (layer, chain) in plan.layers.iter().zip(&plan.chains) {
            if present.contains(chain) || staged.contains_key(chain) {
                continue;
            }
            let what = format!("layer {}", layer.member);
            let layer_error = |error: ImageError| ArchiveError::Layer { what: what.clone(), error };
            let media_type = match &layer.media_type {
                Some(m) => m.clone(),
                None => {
                    let kind = sniff_file(&archive.open(&layer.member)?).map_err(io_error(&what))?;
                    layer_media_type(kind, &what)?.to_owned()
                }
            };
            let path = archive.path(&layer.member)?;
            let staged_layer =
                ingest::stage_layer_file(store, store.new_staging()?, &path, &media_type).map_err(layer_error)?;
            staged_layer.verify(layer.expected_blob.as_deref(), Some(&layer.diff_id), &what)?;
            for warning in &staged_layer.warnings {
                progress.message(&format!("{}: warning: {warning}", short_digest(&layer.diff_id)));
            }
            progress.message(&format!(
                "{}: loaded layer ({})",
                short_digest(&layer.diff_id),
                human_size(staged_layer.size)
            ));
            staged.insert(chain.clone(), staged_layer);
        }
    }
    Ok(staged)
}

fn commit_plans(
    store: &Store,
    plans: Vec<ImagePlan>,
    mut staged: HashMap<String, StagedLayer>,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let mut loaded = Vec::new();
    for plan in plans {
        for (i, chain) in plan.chains.iter().enumerate() {
            if let Some(layer) = staged.remove(chain) {
                let parent = i.checked_sub(1).map(|p| plan.chains[p].as_str());
                layer.commit(store, chain, parent)?;
            }
        }
        let records = layer_records(store, &plan.chains)?;
        let image = Assembled::from_config(plan.config_bytes, plan.config.created, records, plan.manifest_bytes)?;
        let id = image.commit(store, plan.names.clone())?;
        loaded.push(LoadedImage { id, names: plan.names });
    }
    Ok(loaded)
}

/// The layer records of an image's chain ids, read under the shared image lock.
fn layer_records(store: &Store, chains: &[String]) -> Result<Vec<LayerRecord>, ArchiveError> {
    let _lock = store.lock_images_shared()?;
    chains
        .iter()
        .map(|chain| {
            store.layer(chain)?.ok_or_else(|| {
                ArchiveError::Invalid(format!("layer {chain} was removed while the image was being stored; try again"))
            })
        })
        .collect()
}
