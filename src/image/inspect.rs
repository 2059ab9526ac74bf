//! Docker's ImageInspect document for an image record, as `inspect` and the API show it.

use serde_json::{Value, json};

use super::ImageError;
use super::spec::ImageConfig;
use crate::store::{ImageRecord, Store};

/// Takes the image lock, shared, to read the config and the layers' diff ids.
pub fn inspect_json(store: &Store, image: &ImageRecord) -> Result<Value, ImageError> {
    let (config_bytes, layers) = {
        let _lock = store.lock_images_shared()?;
        let layers: Vec<String> = image
            .layers
            .iter()
            .map(|c| store.layer(c).ok().flatten().map(|l| l.diff_id).unwrap_or_else(|| c.to_string()))
            .collect();
        (store.read_blob(&image.id)?, layers)
    };
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|error| ImageError::BadConfig { reference: image.short_id().to_owned(), error })?;
    let config_json = serde_json::to_value(config.config.clone().unwrap_or_default())
        .map_err(|error| ImageError::BadConfig { reference: image.short_id().to_owned(), error })?;
    let repo_digests: Vec<String> =
        image.digests.iter().map(|d| crate::image::reference::familiar_name(d).to_owned()).collect();
    let repo_tags: Vec<String> =
        image.names.iter().map(|d| crate::image::reference::familiar_name(d).to_owned()).collect();
    Ok(json!({
        "Id": image.id,
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": config.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": config.created.clone().unwrap_or_default(),
        "DockerVersion": "",
        "Author": config.author.clone().unwrap_or_default(),
        "Config": config_json,
        "Architecture": config.architecture,
        "Variant": config.variant,
        "Os": config.os,
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": { "Name": "overlay", "Data": null },
        "RootFS": { "Type": "layers", "Layers": layers },
        "Metadata": { "LastTagTime": image.added },
        "ManifestDigest": image.manifest_digest,
    }))
}
