use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use clap::Args;

use super::Ctx;
use crate::image::lookup::find_image;
use crate::image::reference::{Reference, familiar_name};
use crate::store::{ImageIndex, Store};

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Remove the image even if it has several names
    #[arg(short, long)]
    pub force: bool,
    /// Images to remove (names or ids)
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// What removing one image did, in Docker's words.
pub struct Removal {
    pub untagged: Vec<String>,
    pub deleted: Option<String>,
}

/// The images containers were created from (their layers are those containers' lower dirs), each
/// with one such container's short id. Needs the containers lock, shared or exclusive.
pub fn images_in_use(store: &Store) -> Result<BTreeMap<String, String>> {
    let index: crate::container::store::Index = store.containers()?;
    Ok(index.containers.iter().rev().map(|c| (c.config.image_id.clone(), c.short_id().to_owned())).collect())
}

/// Untags or deletes one image in `index` (the caller writes it back). An image a container
/// uses (`in_use`, see [`images_in_use`]) is never deleted: it is refused, or with `force` only
/// untagged. Needs the image lock, exclusive.
pub fn remove_from_index(
    ctx: &Ctx,
    index: &mut ImageIndex,
    input: &str,
    force: bool,
    in_use: &BTreeMap<String, String>,
) -> Result<Removal> {
    let image = find_image(index, &ctx.settings, input)?.clone();
    let by_name = Reference::parse(input)
        .ok()
        .filter(|_| !image.id[7..].starts_with(input.strip_prefix("sha256:").unwrap_or(input)));
    let mut untagged = Vec::new();
    if let Some(reference) = &by_name {
        let name = crate::image::lookup::qualified_candidates(&ctx.settings, reference)
            .into_iter()
            .filter_map(|c| c.tagged_name())
            .find(|n| image.names.contains(n));
        if let Some(name) = name
            && image.names.len() > 1
        {
            index.untag(&name);
            return Ok(Removal { untagged: vec![name], deleted: None });
        }
    } else if image.names.len() > 1 && !force {
        bail!(
            "conflict: unable to delete {} (must be forced): image is referenced in multiple repositories",
            image.short_id()
        );
    }
    if let Some(container) = in_use.get(&image.id) {
        if !force {
            match &by_name {
                Some(_) => bail!(
                    "conflict: unable to remove repository reference {input:?} (must force) - container {container} is \
                     using its referenced image {}",
                    image.short_id()
                ),
                None => bail!(
                    "conflict: unable to delete {} (must be forced) - image is being used by container {container}",
                    image.short_id()
                ),
            }
        }
        // Forced: the names go, the image stays for as long as the container needs its layers.
        let names: Vec<String> = match &by_name {
            Some(reference) => crate::image::lookup::qualified_candidates(&ctx.settings, reference)
                .into_iter()
                .filter_map(|c| c.tagged_name())
                .filter(|n| image.names.contains(n))
                .take(1)
                .collect(),
            None => image.names.clone(),
        };
        for name in &names {
            index.untag(name);
        }
        return Ok(Removal { untagged: names, deleted: None });
    }
    untagged.extend(image.names.iter().cloned());
    untagged.extend(image.digests.iter().cloned());
    index.remove(&image.id);
    Ok(Removal { untagged, deleted: Some(image.id) })
}

/// Removes the layers and blobs that the removed images alone used. Needs the image lock,
/// exclusive.
pub fn collect_after_removal(store: &Store, before: &ImageIndex, after: &ImageIndex) -> Result<()> {
    let removed: Vec<_> = before.images.iter().filter(|i| after.get(&i.id).is_none()).collect();
    let layers: BTreeSet<String> = removed.iter().flat_map(|i| i.layers.iter().cloned()).collect();
    let blobs: BTreeSet<String> = removed.iter().flat_map(|i| [i.id.clone(), i.manifest_digest.clone()]).collect();
    store.collect_garbage(after, &layers, &blobs)?;
    Ok(())
}

pub fn run(ctx: &Ctx, args: RmiArgs) -> Result<u8> {
    let store = ctx.store()?;
    // Lock order: containers before images. Held shared throughout, so the containers that use
    // the images stay those read here.
    let _containers = store.lock_containers_shared()?;
    let in_use = images_in_use(store)?;
    let _lock = store.lock_images_exclusive()?;
    let before = store.images()?;
    let mut index = before.clone();
    let mut failed = false;
    for input in &args.images {
        match remove_from_index(ctx, &mut index, input, args.force, &in_use) {
            Ok(removal) => {
                for name in removal.untagged {
                    println!("Untagged: {}", familiar_name(&name));
                }
                if let Some(id) = removal.deleted {
                    println!("Deleted: {id}");
                }
            }
            Err(e) => {
                eprintln!("berth: removing {input}: {e:#}");
                failed = true;
            }
        }
    }
    store.write_images(&index)?;
    collect_after_removal(store, &before, &index)?;
    Ok(if failed { 1 } else { 0 })
}
