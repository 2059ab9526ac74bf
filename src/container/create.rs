//! `create`: turn what the user asked for plus the image's defaults into a container record,
//! following Docker's precedence rules, and store it.

use std::collections::BTreeMap;

use super::index::{ContainerError, Index};
use super::net_config::{DEFAULT_NETWORK, NetConfig, add_image_exposed};
use super::options::OptionsError;
use super::record::{
    Container, ContainerConfig, ContainerState, DeviceMapping, Mount, NetworkMode, Resources, Ulimit, UsernsMode,
    generate_name, is_valid_name, new_id,
};
use crate::config::Settings;
use crate::image::ImageError;
use crate::image::ensure::{EnsureRequest, PullPolicy, ensure_image};
use crate::image::registry::CredentialSource;
use crate::image::spec::{ImageConfig, Platform, RunConfig};
use crate::store::now_rfc3339;
use crate::store::{ImageRecord, Store};

/// What `run`/`create` were told, already parsed.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    /// The image as the user typed it (for `ps`).
    pub image_name: String,
    /// None: the image's entrypoint. Some(vec![]) (`--entrypoint ""`): none.
    pub entrypoint: Option<Vec<String>>,
    /// Arguments after the image name; empty: the image's Cmd.
    pub cmd: Vec<String>,
    /// KEY=VALUE, env files first then -e, in order.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub interactive: bool,
    pub auto_remove: bool,
    pub init: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub network: NetworkMode,
    pub net: super::net_config::NetConfig,
    pub userns: UsernsMode,
    pub resources: Resources,
    pub ulimits: Vec<Ulimit>,
    /// Canonical capability names (see sandbox::caps::normalize).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// `--security-opt no-new-privileges=false` (no_new_privs is on by default).
    pub allow_new_privileges: bool,
    /// As ContainerConfig::seccomp_profile: None (default), "unconfined", or a profile's text.
    pub seccomp_profile: Option<String>,
    pub devices: Vec<DeviceMapping>,
    /// `-v`, `--mount` and `--tmpfs`, parsed (see container::mounts).
    pub mounts: Vec<Mount>,
    pub read_only: bool,
    pub volumes_from: Vec<String>,
    /// `--health-*` / `--no-healthcheck`; None: the image's check (see container::health).
    pub healthcheck: Option<crate::image::spec::HealthConfig>,
    pub restart: super::restart::RestartPolicy,
    pub sdnotify: super::sdnotify::SdNotify,
    pub create_command: Vec<String>,
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Later entries win; the order of first appearance is kept.
pub fn merge_env(layers: &[&[String]]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in layers {
        for entry in *list {
            let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
            match out.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
                Some(existing) => *existing = entry.clone(),
                None => out.push(entry.clone()),
            }
        }
    }
    out
}

/// Docker's rules: `--entrypoint` replaces the image's entrypoint and drops the image's Cmd;
/// arguments after the image replace its Cmd.
pub fn resolve_command(
    image: &RunConfig,
    entrypoint: Option<&Vec<String>>,
    cmd: &[String],
) -> (Vec<String>, Vec<String>) {
    let entry = match entrypoint {
        Some(e) => e.iter().filter(|s| !s.is_empty()).cloned().collect(),
        None => image.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = if !cmd.is_empty() {
        cmd.to_vec()
    } else if entrypoint.is_some() {
        Vec::new()
    } else {
        image.cmd.clone().unwrap_or_default()
    };
    (entry, cmd)
}

/// The network mode and configuration of a new container: the flags', with the image's EXPOSE.
/// Rootless, the default network is loopback only until pasta is wired in, and user networks
/// are refused.
fn network_config(
    options: &CreateOptions,
    defaults: &RunConfig,
    rootless: bool,
) -> Result<(NetworkMode, NetConfig), ContainerError> {
    let mut net = options.net.clone();
    if let Some(exposed) = &defaults.exposed_ports {
        add_image_exposed(&mut net, exposed.keys());
    }
    let mut mode = options.network;
    if rootless && mode == NetworkMode::Bridge {
        if let Some(other) = net.network_names().find(|n| *n != DEFAULT_NETWORK) {
            return Err(ContainerError::RootlessNetwork(other.to_owned()));
        }
        mode = NetworkMode::Private;
        net.networks.clear();
    }
    Ok((mode, net))
}

/// Each network a new container names exists (Docker's check at create); names are kept as
/// given, but `container:X` becomes X's id. Takes the networks lock (or the containers lock).
fn check_networks(store: &Store, config: &mut ContainerConfig) -> Result<(), ContainerError> {
    if config.network == NetworkMode::Container {
        // Docker keeps the other container's id: a rename does not break the link.
        config.net.container = super::index::load(store, &config.net.container)?.id;
        return Ok(());
    }
    if config.network != NetworkMode::Bridge {
        return Ok(());
    }
    let records = crate::network::manage::load(store)?;
    for name in config.net.network_names() {
        crate::network::manage::find(&records, name)?;
    }
    Ok(())
}

pub fn build_config(
    options: &CreateOptions,
    image: &ImageRecord,
    image_config: &ImageConfig,
    rootless: bool,
) -> Result<ContainerConfig, ContainerError> {
    let defaults = image_config.config.clone().unwrap_or_default();
    let (entrypoint, cmd) = resolve_command(&defaults, options.entrypoint.as_ref(), &options.cmd);
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(ContainerError::NoCommand);
    }
    let image_env = defaults.env.clone().unwrap_or_default();
    let base: Vec<String> =
        if image_env.iter().any(|e| e.starts_with("PATH=")) { Vec::new() } else { vec![DEFAULT_PATH.to_owned()] };
    let env = merge_env(&[&base, &image_env, &options.env]);
    let working_dir = options
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or(defaults.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !working_dir.starts_with('/') {
        return Err(ContainerError::RelativeWorkingDir(working_dir));
    }
    let mut labels = defaults.labels.clone().unwrap_or_default();
    labels.extend(options.labels.clone());
    if options.userns == UsernsMode::KeepId && !rootless {
        return Err(ContainerError::KeepIdNeedsRootless);
    }
    let (network, net) = network_config(options, &defaults, rootless)?;
    Ok(ContainerConfig {
        image_id: image.id.to_string(),
        image_name: options.image_name.clone(),
        layers: image.layers.iter().map(|l| l.to_string()).collect(),
        entrypoint,
        cmd,
        env,
        working_dir,
        user: options.user.clone().or(defaults.user.clone()).unwrap_or_default(),
        hostname: options.hostname.clone().unwrap_or_default(),
        labels,
        tty: options.tty,
        open_stdin: options.interactive,
        auto_remove: options.auto_remove,
        init: options.init,
        stop_signal: options.stop_signal.clone().or(defaults.stop_signal.clone()).unwrap_or_else(|| "SIGTERM".into()),
        stop_timeout: options.stop_timeout,
        network,
        net,
        userns: options.userns,
        resources: options.resources.clone(),
        ulimits: options.ulimits.clone(),
        cap_add: options.cap_add.clone(),
        cap_drop: options.cap_drop.clone(),
        privileged: options.privileged,
        no_new_privileges: !options.allow_new_privileges,
        seccomp_profile: options.seccomp_profile.clone(),
        devices: options.devices.clone(),
        rootless,
        mounts: options.mounts.clone(),
        read_only: options.read_only,
        volumes_from: options.volumes_from.clone(),
        volumes: defaults.volumes.as_ref().map(|v| v.keys().cloned().collect()).unwrap_or_default(),
        healthcheck: super::health::merge(options.healthcheck.clone(), defaults.healthcheck.as_ref()),
        restart: options.restart,
        sdnotify: options.sdnotify,
        create_command: options.create_command.clone(),
    })
}

/// Adds a new container to the index with a unique name (the caller holds the containers lock,
/// exclusive, and writes the index back).
pub fn add_to_index(
    index: &mut Index,
    name: Option<&str>,
    mut config: ContainerConfig,
) -> Result<Container, ContainerError> {
    let name = match name {
        Some(n) => {
            if !is_valid_name(n) {
                return Err(ContainerError::InvalidName(n.to_owned()));
            }
            let n = n.strip_prefix('/').unwrap_or(n).to_owned();
            if let Some(other) = index.containers.iter().find(|c| c.name == n) {
                return Err(ContainerError::NameInUse { name: n, id: other.id.clone() });
            }
            n
        }
        None => generate_name(|n| index.containers.iter().any(|c| c.name == n)),
    };
    let id = new_id();
    if config.hostname.is_empty() {
        config.hostname = id[..12].to_owned();
    }
    let container = Container { id, name, created: now_rfc3339(), config, state: ContainerState::default() };
    index.containers.push(container.clone());
    Ok(container)
}

/// Where the image of a new container comes from: the local store, or a registry as the pull
/// policy says.
#[derive(Debug, Clone)]
pub struct ImageSource<'a> {
    pub policy: PullPolicy,
    pub platform: Option<Platform>,
    pub credentials: &'a CredentialSource,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("reading the image config: {0}")]
    ImageConfig(serde_json::Error),
}

/// Creates a container as `run`/`create` (and compose, and the API) describe it: the image made
/// sure of per `source` (pulled if need be), Docker's precedence between the image's config and
/// `options`, then the record and directories (see [`create`]).
pub fn create_container(
    store: &Store,
    settings: &Settings,
    options: &CreateOptions,
    source: &ImageSource,
) -> Result<Container, CreateError> {
    let request = EnsureRequest {
        reference: &options.image_name,
        policy: source.policy,
        platform: source.platform.clone(),
        credentials: source.credentials,
    };
    let image = ensure_image(store, settings, &request)?;
    let config_bytes = {
        let _lock = store.lock_images_shared().map_err(ContainerError::from)?;
        store.read_blob(&image.id).map_err(ContainerError::from)?
    };
    let image_config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(CreateError::ImageConfig)?;
    let mut config = build_config(options, &image, &image_config, settings.rootless)?;
    check_networks(store, &mut config)?;
    Ok(create(store, options.name.as_deref(), config)?)
}

/// Stores a new container: record and directories. Takes the containers lock, exclusive.
pub fn create(store: &Store, name: Option<&str>, config: ContainerConfig) -> Result<Container, ContainerError> {
    let _lock = store.lock_containers_exclusive()?;
    {
        // Lock order: containers, then images. An `rmi` between reading the image and taking
        // the containers lock must not leave a container pointing at a removed image.
        let _images = store.lock_images_shared()?;
        if store.images()?.get(&config.image_id).is_none() {
            return Err(ContainerError::ImageRemoved(config.image_id));
        }
    }
    let container = insert(store, name, config)?;
    crate::container::event::record(store, "create", &container);
    Ok(container)
}

/// A build step's container: its layers are the build's own (some in no image yet), kept from
/// garbage collection by the ingest lock the build holds, so no image is checked. Its network
/// goes through the same defaults as `run`'s (rootless: what a rootless `run` gets).
pub fn create_for_build(store: &Store, mut config: ContainerConfig) -> Result<Container, ContainerError> {
    let options = CreateOptions { network: config.network, net: std::mem::take(&mut config.net), ..Default::default() };
    (config.network, config.net) = network_config(&options, &RunConfig::default(), config.rootless)?;
    check_networks(store, &mut config)?;
    let _lock = store.lock_containers_exclusive()?;
    insert(store, None, config)
}

/// The record and directories of a new container; the caller holds the containers lock.
fn insert(store: &Store, name: Option<&str>, config: ContainerConfig) -> Result<Container, ContainerError> {
    let mut index: Index = store.containers()?;
    let mut container = add_to_index(&mut index, name, config)?;
    // Only once the name is known to be free, so a refused create leaves no new volume behind.
    super::volumes::prepare_mounts(store, &index, &mut container.config)?;
    if let Some(stored) = index.containers.last_mut() {
        stored.config.mounts = container.config.mounts.clone();
    }
    // The record first: a kill between leaves a container whose start makes its (still empty)
    // directories, never directories no record owns.
    store.write_containers(&index)?;
    if let Err(e) = store.create_container_dirs(&container.id) {
        index.containers.retain(|c| c.id != container.id);
        let _ = store.write_releasing_reserve(|| store.write_containers(&index));
        return Err(e.into());
    }
    Ok(container)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_precedence_follows_docker() {
        let image = RunConfig { entrypoint: Some(v(&["/ep"])), cmd: Some(v(&["a"])), ..Default::default() };
        assert_eq!(resolve_command(&image, None, &[]), (v(&["/ep"]), v(&["a"])));
        assert_eq!(resolve_command(&image, None, &v(&["b"])), (v(&["/ep"]), v(&["b"])));
        assert_eq!(resolve_command(&image, Some(&v(&["/x"])), &[]), (v(&["/x"]), v(&[])));
        assert_eq!(resolve_command(&image, Some(&v(&[""])), &v(&["sh"])), (v(&[]), v(&["sh"])));
    }

    #[test]
    fn later_env_wins_and_keeps_order() {
        let merged = merge_env(&[&v(&["A=1", "B=2"]), &v(&["B=3", "C=4"])]);
        assert_eq!(merged, v(&["A=1", "B=3", "C=4"]));
    }

    #[test]
    fn names_are_unique() {
        let mut index = Index::default();
        add_to_index(&mut index, Some("web"), ContainerConfig::default()).unwrap();
        assert!(matches!(
            add_to_index(&mut index, Some("web"), ContainerConfig::default()),
            Err(ContainerError::NameInUse { .. })
        ));
        assert!(matches!(
            add_to_index(&mut index, Some("-bad"), ContainerConfig::default()),
            Err(ContainerError::InvalidName(_))
        ));
        let generated = add_to_index(&mut index, None, ContainerConfig::default()).unwrap();
        assert_eq!(generated.config.hostname, generated.id[..12]);
    }
}
