//! `system df`: the space images, containers, volumes and the build cache take, counted as
//! Docker's /system/df counts it (a layer shared by images once in the total; a container's
//! size is its writable layer; the build cache only what no image holds). Library code so that
//! the CLI and the API answer alike.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use super::index::ContainerError;
use super::index::{Index, refresh};
use super::record::{Container, Status};
use super::volumes::{disk_usage as bytes_under, users};
use crate::store::{Digest, ImageRecord, Store, VolumeRecord};

/// One image: its size, the part of it other images share, and how many containers use it.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    pub image: ImageRecord,
    pub size: u64,
    pub shared_size: u64,
    pub containers: usize,
}

impl ImageUsage {
    pub fn unique_size(&self) -> u64 {
        self.size - self.shared_size
    }
}

/// One container: the bytes of its writable layer, its state refreshed.
#[derive(Debug, Clone)]
pub struct ContainerUsage {
    pub container: Container,
    pub size_rw: u64,
    /// Named or anonymous volumes it mounts.
    pub volumes: usize,
}

impl ContainerUsage {
    /// Running or paused: what `system prune` keeps (Docker's "active").
    pub fn active(&self) -> bool {
        matches!(self.container.state.status, Status::Running | Status::Paused | Status::Starting)
    }
}

/// One volume: the containers that mount it and the bytes of its files.
#[derive(Debug, Clone)]
pub struct VolumeUsage {
    pub volume: VolumeRecord,
    pub links: usize,
    pub size: u64,
}

/// One build cache entry: a step's result.
#[derive(Debug, Clone)]
pub struct CacheUsage {
    /// The step key (hex).
    pub id: String,
    /// The bytes of the layer the step made (0 for a step that changed nothing).
    pub size: u64,
    /// An image holds the layer too: its bytes are counted with the images, and removing the
    /// entry frees nothing.
    pub shared: bool,
    pub created: Option<SystemTime>,
}

#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    pub images: Vec<ImageUsage>,
    /// The bytes of every layer any image uses, each layer once.
    pub layers_size: u64,
    pub containers: Vec<ContainerUsage>,
    pub volumes: Vec<VolumeUsage>,
    pub build_cache: Vec<CacheUsage>,
    /// Bytes the build cache alone holds: unshared entries' layers, stat caches, cache mounts.
    pub build_cache_size: u64,
}

impl DiskUsage {
    /// Docker's reclaimable image bytes: the total less the unique bytes of the images a
    /// container uses.
    pub fn images_reclaimable(&self) -> u64 {
        let used: u64 = self.images.iter().filter(|i| i.containers > 0).map(ImageUsage::unique_size).sum();
        self.layers_size.saturating_sub(used)
    }

    pub fn containers_size(&self) -> u64 {
        self.containers.iter().map(|c| c.size_rw).sum()
    }

    pub fn containers_reclaimable(&self) -> u64 {
        self.containers.iter().filter(|c| !c.active()).map(|c| c.size_rw).sum()
    }

    pub fn volumes_size(&self) -> u64 {
        self.volumes.iter().map(|v| v.size).sum()
    }

    pub fn volumes_reclaimable(&self) -> u64 {
        self.volumes.iter().filter(|v| v.links == 0).map(|v| v.size).sum()
    }
}

/// Measures the store. Takes the containers lock, then the volumes lock, then the image lock,
/// then the build cache lock, each shared and in turn (the lock order).
pub fn disk_usage(store: &Store) -> Result<DiskUsage, ContainerError> {
    let index: Index = {
        let _lock = store.lock_containers_shared()?;
        store.containers()?
    };
    let mut usage = DiskUsage::default();
    let volume_users = users(&index);
    let mut image_users: BTreeMap<String, usize> = BTreeMap::new();
    for container in &index.containers {
        *image_users.entry(container.config.image_id.clone()).or_default() += 1;
        let mut current = container.clone();
        refresh(store, &mut current);
        let size_rw = bytes_under(&store.container_dir(&current.id).join("upper"));
        let volumes = super::mounts::volume_names(&current.config).collect::<BTreeSet<_>>().len();
        usage.containers.push(ContainerUsage { container: current, size_rw, volumes });
    }
    {
        let _lock = store.lock_volumes_shared()?;
        for volume in store.volumes()?.volumes {
            let links = volume_users.get(&volume.name).map_or(0, Vec::len);
            let size = bytes_under(&store.volume_data_dir(&volume.name));
            usage.volumes.push(VolumeUsage { volume, links, size });
        }
    }
    let _images = store.lock_images_shared()?;
    let images = store.images()?.images;
    let mut layer_size: BTreeMap<String, u64> = BTreeMap::new();
    for chain in images.iter().flat_map(|i| i.layers.iter()) {
        if !layer_size.contains_key(chain.as_str()) {
            let size = store.layer(chain)?.map_or(0, |l| l.size);
            layer_size.insert(chain.to_string(), size);
        }
    }
    let mut holders: BTreeMap<&str, usize> = BTreeMap::new();
    for image in &images {
        for chain in image.layers.iter().map(Digest::as_str).collect::<BTreeSet<_>>() {
            *holders.entry(chain).or_default() += 1;
        }
    }
    usage.layers_size = layer_size.values().sum();
    for image in &images {
        let distinct: BTreeSet<&str> = image.layers.iter().map(Digest::as_str).collect();
        let size = distinct.iter().map(|c| layer_size[*c]).sum();
        let shared_size = distinct.iter().filter(|c| holders[*c] > 1).map(|c| layer_size[*c]).sum();
        let containers = image_users.get(image.id.as_str()).copied().unwrap_or(0);
        usage.images.push(ImageUsage { image: image.clone(), size, shared_size, containers });
    }
    // Still under the image lock, so no layer goes while the cache's are measured.
    let _cache = store.lock_build_cache_shared()?;
    // A layer several entries name is counted once.
    let mut counted = BTreeSet::new();
    usage.build_cache_size = store.build_cache_side_dirs().iter().map(|d| bytes_under(d)).sum();
    for stored in store.build_cache_entries()? {
        let (size, shared) = match &stored.entry.chain_id {
            Some(chain) => match layer_size.get(chain) {
                Some(size) => (*size, true),
                None => (store.layer(chain)?.map_or(0, |l| l.size), false),
            },
            None => (0, false),
        };
        if !shared && stored.entry.chain_id.as_ref().is_none_or(|chain| counted.insert(chain.clone())) {
            usage.build_cache_size += size;
        }
        usage.build_cache.push(CacheUsage { id: stored.key_hex, size, shared, created: stored.modified });
    }
    Ok(usage)
}
