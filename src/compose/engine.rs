//! The project operations behind `up`, `down` and the container verbs, through the container,
//! image, volume and network libraries. Everything compose made is found again by its
//! `com.docker.compose.*` labels, never by name, so `down` removes what a failed or older
//! `up` left even when the file changed since.

use std::collections::BTreeMap;

use crate::config::Settings;
use crate::container::create::{CreateError, ImageSource, create_container};
use crate::container::index::{ContainerError, load_all, refresh};
use crate::container::lifecycle::{self, LifecycleError};
use crate::container::options::{self, CreateFlags, OptionsError};
use crate::container::record::{Container, Status};
use crate::container::restart::RestartPolicy;
use crate::container::start::{StartError, launch};
use crate::container::volumes::{self, VolumeError};
use crate::image::ImageError;
use crate::image::ensure::{EnsureRequest, PullPolicy, ensure_image};
use crate::image::registry::CredentialSource;
use crate::network::NetworkError;
use crate::store::Store;

use super::build::{BuildOptions, BuildPolicy};
use super::load::start_order;
use super::model::{Project, Service};

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_VERSION: &str = "com.docker.compose.version";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("service {service}")]
    Options {
        service: String,
        #[source]
        source: OptionsError,
    },
    #[error("service {service}: {message}")]
    Unsupported { service: String, message: String },
    #[error("creating container {name}")]
    Create {
        name: String,
        #[source]
        source: Box<CreateError>,
    },
    #[error("starting container {name}")]
    Start {
        name: String,
        #[source]
        source: Box<StartError>,
    },
    #[error("container {name}")]
    Lifecycle {
        name: String,
        #[source]
        source: LifecycleError,
    },
    #[error("service {service}: image {image}")]
    Image {
        service: String,
        image: String,
        #[source]
        source: Box<ImageError>,
    },
    #[error("volume {name}")]
    Volume {
        name: String,
        #[source]
        source: VolumeError,
    },
    #[error("network {name}")]
    Network {
        name: String,
        #[source]
        source: NetworkError,
    },
    #[error(transparent)]
    Containers(#[from] ContainerError),
    #[error("service {service}: build")]
    Build {
        service: String,
        #[source]
        source: Box<crate::build::builder::BuildError>,
    },
    #[error("service {service} did not complete successfully: it exited with {code}")]
    DependencyFailed { service: String, code: i32 },
    /// Docker Compose's "dependency failed to start: container X is unhealthy".
    #[error("dependency failed to start: container {name} {why}")]
    Dependency { name: String, why: String },
    /// `up --wait`.
    #[error("container {name} {why}")]
    NotReady { name: String, why: String },
    #[error("service {service}: restart")]
    Restart {
        service: String,
        #[source]
        source: crate::container::restart::RestartPolicyError,
    },
    #[error("creating the bind source {path}")]
    BindSource {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

type R<T> = Result<T, EngineError>;

/// The project's containers (one-off `run` containers too when `oneoff`), in creation order,
/// states refreshed. Takes the containers lock, shared.
pub fn containers(store: &Store, project: &str, oneoff: bool) -> R<Vec<Container>> {
    let index = load_all(store)?;
    let mut out: Vec<Container> = index
        .containers
        .into_iter()
        .filter(|c| c.config.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project))
        .filter(|c| oneoff || c.config.labels.get(LABEL_ONEOFF).map(String::as_str) != Some("True"))
        .collect();
    for c in &mut out {
        refresh(store, c);
    }
    Ok(out)
}

pub fn service_of(c: &Container) -> &str {
    c.config.labels.get(LABEL_SERVICE).map(String::as_str).unwrap_or("")
}

pub fn number_of(c: &Container) -> u32 {
    c.config.labels.get(LABEL_NUMBER).and_then(|n| n.parse().ok()).unwrap_or(0)
}

pub fn is_running(c: &Container) -> bool {
    matches!(c.state.status, Status::Running | Status::Paused)
}

#[derive(Debug, Default, Clone)]
pub struct UpOptions {
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub no_deps: bool,
    pub remove_orphans: bool,
    pub no_start: bool,
    pub scale: BTreeMap<String, u32>,
    /// Only these services (and, without no_deps, what they depend on); empty: all.
    pub services: Vec<String>,
    /// `--build` / `--no-build`, and what a build is given.
    pub build: BuildPolicy,
    pub build_options: BuildOptions,
    /// `--pull`: over each service's pull_policy.
    pub pull: Option<PullPolicy>,
}

/// What `up` reports as it goes (Docker Compose's progress lines).
pub trait Progress {
    fn event(&mut self, kind: &str, name: &str, what: &str);
    /// Something in the file that is accepted but not carried out yet.
    fn warn(&mut self, message: &str);
}

/// The services `wanted` names plus, unless `no_deps`, everything they depend on.
pub fn selected(project: &Project, wanted: &[String], no_deps: bool) -> Vec<String> {
    if wanted.is_empty() {
        return start_order(project);
    }
    let mut chosen: Vec<String> = wanted.to_vec();
    if !no_deps {
        let mut i = 0;
        while i < chosen.len() {
            if let Some(s) = project.services.get(&chosen[i]) {
                for dep in s.depends_on.keys() {
                    if !chosen.contains(dep) && project.services.contains_key(dep) {
                        chosen.push(dep.clone());
                    }
                }
            }
            i += 1;
        }
    }
    start_order(project).into_iter().filter(|s| chosen.contains(s)).collect()
}

/// `up`: networks and volumes first, then each service in dependency order, recreating a
/// container only when its config hash or image changed. A failure stops there; what was made
/// carries the labels, so `down` removes it.
pub fn up(
    store: &Store,
    settings: &Settings,
    project: &Project,
    opts: &UpOptions,
    progress: &mut dyn Progress,
) -> R<Vec<Container>> {
    // Rootless, containers do not join project networks yet (see netmap::flags): none is made.
    if !settings.rootless {
        ensure_networks(store, project, progress)?;
    }
    ensure_volumes(store, project, progress)?;
    let existing = containers(store, &project.name, false)?;
    if opts.remove_orphans {
        for c in existing.iter().filter(|c| {
            !project.services.contains_key(service_of(c)) && !project.disabled.iter().any(|d| d == service_of(c))
        }) {
            remove_container(store, c, None, progress)?;
        }
    }
    let mut result = Vec::new();
    for name in selected(project, &opts.services, opts.no_deps) {
        let service = &project.services[&name];
        if settings.rootless && service.network_mode.is_none() {
            progress
                .warn(&format!("service {name}: rootless containers do not join project networks yet (loopback only)"));
        }
        wait_for_dependencies(store, project, service, progress)?;
        let replicas = opts.scale.get(&name).copied().unwrap_or_else(|| service.replicas());
        let mut mine: Vec<&Container> = existing.iter().filter(|c| service_of(c) == name).collect();
        mine.sort_by_key(|c| number_of(c));
        let hash = service.config_hash();
        let image_id = image_id(store, settings, project, &name, service, opts, progress)?;
        for number in 1..=replicas {
            let current = mine.iter().find(|c| number_of(c) == number);
            let container = match current {
                Some(c) => {
                    let stale = c.config.labels.get(LABEL_HASH) != Some(&hash) || c.config.image_id != image_id;
                    if opts.force_recreate || (stale && !opts.no_recreate) {
                        progress.event("Container", &c.name, "Recreate");
                        stop_and_remove(store, c, service)?;
                        let created = create(store, settings, project, &name, service, number, &hash)?;
                        progress.event("Container", &created.name, "Recreated");
                        created
                    } else {
                        (*c).clone()
                    }
                }
                None => {
                    let created = create(store, settings, project, &name, service, number, &hash)?;
                    progress.event("Container", &created.name, "Created");
                    created
                }
            };
            if !opts.no_start {
                start(store, &container, progress)?;
            }
            result.push(container);
        }
        // Scaled down: the highest numbers go, as Docker Compose does.
        for c in mine.iter().filter(|c| number_of(c) > replicas) {
            remove_container(store, c, service.stop_grace_period.as_deref(), progress)?;
        }
    }
    Ok(result)
}

/// depends_on conditions, before the dependent service is created: `service_healthy` waits on
/// the supervisor's checks, `service_completed_successfully` on the exit; `service_started`
/// holds already (dependencies start first, in order).
fn wait_for_dependencies(store: &Store, project: &Project, service: &Service, progress: &mut dyn Progress) -> R<()> {
    for (dep, d) in &service.depends_on {
        if !project.services.contains_key(dep) {
            continue;
        }
        match d.condition.as_str() {
            "service_completed_successfully" => {
                for c in containers(store, &project.name, false)?.iter().filter(|c| service_of(c) == dep) {
                    progress.event("Container", &c.name, "Waiting");
                    let code = super::readiness::wait_exited(store, c)?;
                    if code != 0 {
                        return Err(EngineError::DependencyFailed { service: dep.clone(), code });
                    }
                    progress.event("Container", &c.name, "Exited");
                }
            }
            "service_healthy" => {
                for c in containers(store, &project.name, false)?.iter().filter(|c| service_of(c) == dep) {
                    progress.event("Container", &c.name, "Waiting");
                    super::readiness::wait_healthy(store, c)?;
                    progress.event("Container", &c.name, "Healthy");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The image a service's containers run: built (by `up`'s build policy) when the service has
/// `build:`, else made sure of by its pull policy (or `--pull`).
fn image_id(
    store: &Store,
    settings: &Settings,
    project: &Project,
    name: &str,
    service: &Service,
    opts: &UpOptions,
    progress: &mut dyn Progress,
) -> R<String> {
    let reference = super::build::image_name(project, name, service);
    if service.build.is_some() {
        let policy = if service.pull_policy.as_deref() == Some("build") { BuildPolicy::Always } else { opts.build };
        let existing = crate::image::lookup::lookup(store, settings, &reference).ok();
        return match (policy, existing) {
            (BuildPolicy::Always, _) | (BuildPolicy::Missing, None) => {
                super::build::build_service(store, settings, project, name, service, &opts.build_options, progress)
            }
            (_, Some(record)) => Ok(record.id.to_string()),
            (BuildPolicy::Never, None) => Err(EngineError::Unsupported {
                service: name.into(),
                message: format!("image {reference} is not built (up --no-build)"),
            }),
        };
    }
    let credentials = CredentialSource::default();
    let policy = opts.pull.unwrap_or_else(|| pull_policy(service));
    let request = EnsureRequest { reference: &reference, policy, platform: None, credentials: &credentials };
    let record = ensure_image(store, settings, &request).map_err(|e| EngineError::Image {
        service: name.into(),
        image: reference.clone(),
        source: Box::new(e),
    })?;
    Ok(record.id.to_string())
}

fn pull_policy(service: &Service) -> PullPolicy {
    match service.pull_policy.as_deref() {
        Some("always") => PullPolicy::Always,
        Some("never") => PullPolicy::Never,
        _ => PullPolicy::Missing,
    }
}

fn ensure_networks(store: &Store, project: &Project, progress: &mut dyn Progress) -> R<()> {
    let existing =
        crate::network::manage::load(store).map_err(|source| EngineError::Network { name: "(all)".into(), source })?;
    for (key, net) in &project.networks {
        if net.external || existing.iter().any(|n| n.name == net.name) {
            continue;
        }
        let mut labels = net.labels.clone();
        labels.insert(LABEL_PROJECT.into(), project.name.clone());
        labels.insert(LABEL_NETWORK.into(), key.clone());
        let pools = &net.ipam.config;
        let opts = crate::network::manage::CreateOptions {
            name: net.name.clone(),
            driver: net.driver.clone().unwrap_or_default(),
            subnets: pools.iter().filter_map(|p| p.subnet.clone()).collect(),
            gateways: pools.iter().filter_map(|p| p.gateway.clone()).collect(),
            ip_ranges: pools.iter().filter_map(|p| p.ip_range.clone()).collect(),
            internal: net.internal,
            labels,
            options: net.driver_opts.clone(),
            ..Default::default()
        };
        match crate::network::manage::create(store, &opts) {
            Ok(_) => progress.event("Network", &net.name, "Created"),
            Err(NetworkError::Exists(_)) => {}
            Err(source) => return Err(EngineError::Network { name: net.name.clone(), source }),
        }
    }
    Ok(())
}

fn ensure_volumes(store: &Store, project: &Project, progress: &mut dyn Progress) -> R<()> {
    let existing = volumes::list(store).map_err(|source| EngineError::Volume { name: "(all)".into(), source })?;
    for (key, vol) in &project.volumes {
        if vol.external || existing.iter().any(|v| v.name == vol.name) {
            continue;
        }
        let mut labels = vol.labels.clone();
        labels.insert(LABEL_PROJECT.into(), project.name.clone());
        labels.insert(LABEL_VOLUME.into(), key.clone());
        volumes::create(store, Some(&vol.name), labels, vol.driver_opts.clone())
            .map_err(|source| EngineError::Volume { name: vol.name.clone(), source })?;
        progress.event("Volume", &vol.name, "Created");
    }
    Ok(())
}

pub fn container_name(project: &Project, service: &str, s: &Service, number: u32) -> String {
    match &s.container_name {
        Some(n) => n.clone(),
        None => format!("{}-{service}-{number}", project.name),
    }
}

/// The compose labels of a service's container.
pub fn labels(project: &Project, service: &str, number: u32, hash: &str, oneoff: bool) -> BTreeMap<String, String> {
    let files: Vec<String> = project.config_files.iter().map(|f| f.display().to_string()).collect();
    BTreeMap::from([
        (LABEL_PROJECT.into(), project.name.clone()),
        (LABEL_SERVICE.into(), service.into()),
        (LABEL_NUMBER.into(), number.to_string()),
        (LABEL_HASH.into(), hash.into()),
        (LABEL_ONEOFF.into(), if oneoff { "True" } else { "False" }.into()),
        (LABEL_WORKING_DIR.into(), project.working_dir.display().to_string()),
        (LABEL_CONFIG_FILES.into(), files.join(",")),
        (LABEL_VERSION.into(), env!("CARGO_PKG_VERSION").into()),
    ])
}

/// A service as `create`'s flags: the compose keys mapped onto the words of `run`.
pub fn create_flags(project: &Project, name: &str, s: &Service, rootless: bool) -> R<CreateFlags> {
    let unsupported = |message: String| EngineError::Unsupported { service: name.into(), message };
    let mut f = CreateFlags {
        image: super::build::image_name(project, name, s),
        command: s.command.clone().unwrap_or_default(),
        interactive: s.stdin_open,
        tty: s.tty,
        env: s.environment.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))).collect(),
        workdir: s.working_dir.clone(),
        user: s.user.clone(),
        hostname: s.hostname.clone(),
        init: s.init.unwrap_or(false),
        memory: s.mem_limit.clone().or_else(|| s.deploy.as_ref()?.resources.as_ref()?.limits.as_ref()?.memory.clone()),
        cpus: s.cpus.or_else(|| s.deploy.as_ref()?.resources.as_ref()?.limits.as_ref()?.cpus),
        pids_limit: s.pids_limit.or_else(|| s.deploy.as_ref()?.resources.as_ref()?.limits.as_ref()?.pids),
        ulimits: s
            .ulimits
            .iter()
            .map(|(k, u)| match u {
                super::model::Ulimit::Single(n) => format!("{k}={n}"),
                super::model::Ulimit::Pair { soft, hard } => format!("{k}={soft}:{hard}"),
            })
            .collect(),
        cap_add: s.cap_add.clone(),
        cap_drop: s.cap_drop.clone(),
        privileged: s.privileged,
        // Compose writes `no-new-privileges:true`; run's flag takes `=`.
        security_opts: s
            .security_opt
            .iter()
            .map(|o| o.replacen("no-new-privileges:", "no-new-privileges=", 1))
            .collect(),
        devices: s.devices.iter().map(|d| format!("{}:{}:{}", d.source, d.target, d.permissions)).collect(),
        stop_signal: s.stop_signal.clone(),
        stop_timeout: s
            .stop_grace_period
            .as_deref()
            .and_then(super::convert::parse_duration)
            .map(|n| (n / 1_000_000_000) as u32),
        read_only: s.read_only,
        tmpfs: s.tmpfs.clone(),
        ..CreateFlags::default()
    };
    f.net = super::netmap::flags(project, name, s, rootless)?;
    if !s.sysctls.is_empty() {
        return Err(unsupported("sysctls are not supported yet".into()));
    }
    if let Some(logging) = &s.logging
        && !logging.options.is_empty()
    {
        return Err(unsupported("logging options are not supported (logs go to berth's own file)".into()));
    }
    for v in &s.volumes {
        let mode = if v.read_only { ":ro" } else { "" };
        match v.kind.as_str() {
            "bind" => {
                let source = v.source.clone().unwrap_or_default();
                if v.bind.as_ref().is_some_and(|b| b.create_host_path) && !std::path::Path::new(&source).exists() {
                    std::fs::create_dir_all(&source)
                        .map_err(|e| EngineError::BindSource { path: source.clone(), source: e })?;
                }
                f.volumes.push(format!("{source}:{}{mode}", v.target));
            }
            "volume" => match &v.source {
                Some(src) => {
                    let full = project.volumes.get(src).map_or_else(|| src.clone(), |vol| vol.name.clone());
                    f.volumes.push(format!("{full}:{}{mode}", v.target));
                }
                None => f.volumes.push(v.target.clone()),
            },
            "tmpfs" => {
                let size =
                    v.tmpfs.as_ref().and_then(|t| t.size.clone()).map(|s| format!(":size={s}")).unwrap_or_default();
                f.tmpfs.push(format!("{}{size}", v.target));
            }
            other => return Err(unsupported(format!("volume type {other} is not supported"))),
        }
    }
    for (kind, refs, defined, default_dir) in
        [("secret", &s.secrets, &project.secrets, "/run/secrets"), ("config", &s.configs, &project.configs, "")]
    {
        for r in refs {
            let obj = &defined[&r.source];
            let Some(file) = &obj.file else {
                return Err(unsupported(format!("{kind} {}: only file sources are supported yet", r.source)));
            };
            let target = r.target.clone().unwrap_or_else(|| format!("{default_dir}/{}", r.source));
            f.volumes.push(format!("{file}:{target}:ro"));
        }
    }
    Ok(f)
}

fn create(
    store: &Store,
    settings: &Settings,
    project: &Project,
    name: &str,
    s: &Service,
    number: u32,
    hash: &str,
) -> R<Container> {
    let mut flags = create_flags(project, name, s, settings.rootless)?;
    let cname = container_name(project, name, s, number);
    flags.name = Some(cname.clone());
    create_from(store, settings, project, flags, s, labels(project, name, number, hash, false))
}

/// A container of the service from its flags, with what flags cannot say (per-network names
/// and addresses, the entrypoint as a list, labels) set on the parsed options.
pub fn create_from(
    store: &Store,
    settings: &Settings,
    project: &Project,
    flags: CreateFlags,
    s: &Service,
    labels: BTreeMap<String, String>,
) -> R<Container> {
    let cname = flags.name.clone().unwrap_or_default();
    let service = labels.get(LABEL_SERVICE).cloned().unwrap_or_default();
    let mut options =
        options::parse(&flags).map_err(|source| EngineError::Options { service: service.clone(), source })?;
    super::netmap::joins(project, &service, s, &mut options)?;
    if let Some(h) = &s.healthcheck {
        options.healthcheck = Some(super::readiness::health_config(h));
    }
    // A one-off `run` container keeps no policy (Docker Compose's run ignores restart:).
    if labels.get(LABEL_ONEOFF).map(String::as_str) != Some("True") {
        options.restart = RestartPolicy::parse(s.restart.as_deref().unwrap_or(""))
            .map_err(|source| EngineError::Restart { service: service.clone(), source })?;
    }
    if let Some(entrypoint) = &s.entrypoint {
        options.entrypoint = Some(entrypoint.clone());
    }
    options.labels.extend(s.labels.clone());
    options.labels.extend(labels);
    let credentials = CredentialSource::default();
    let source = ImageSource { policy: pull_policy(s), platform: None, credentials: &credentials };
    create_container(store, settings, &options, &source)
        .map_err(|e| EngineError::Create { name: cname, source: Box::new(e) })
}

pub fn start(store: &Store, c: &Container, progress: &mut dyn Progress) -> R<()> {
    if is_running(c) {
        progress.event("Container", &c.name, "Running");
        return Ok(());
    }
    progress.event("Container", &c.name, "Starting");
    launch(store, c).map_err(|e| EngineError::Start { name: c.name.clone(), source: Box::new(e) })?;
    progress.event("Container", &c.name, "Started");
    Ok(())
}

fn timeout_of(grace: Option<&str>) -> Option<u32> {
    grace.and_then(super::convert::parse_duration).map(|n| (n / 1_000_000_000) as u32)
}

fn stop_and_remove(store: &Store, c: &Container, s: &Service) -> R<()> {
    lifecycle::stop(store, c, timeout_of(s.stop_grace_period.as_deref()), None)
        .map_err(|source| EngineError::Lifecycle { name: c.name.clone(), source })?;
    lifecycle::remove(store, c, true).map_err(|source| EngineError::Lifecycle { name: c.name.clone(), source })
}

pub fn stop(store: &Store, c: &Container, timeout: Option<u32>, progress: &mut dyn Progress) -> R<()> {
    if !is_running(c) {
        return Ok(());
    }
    progress.event("Container", &c.name, "Stopping");
    lifecycle::stop(store, c, timeout, None)
        .map_err(|source| EngineError::Lifecycle { name: c.name.clone(), source })?;
    progress.event("Container", &c.name, "Stopped");
    Ok(())
}

pub fn remove_container(store: &Store, c: &Container, grace: Option<&str>, progress: &mut dyn Progress) -> R<()> {
    stop(store, c, timeout_of(grace), progress)?;
    progress.event("Container", &c.name, "Removing");
    lifecycle::remove(store, c, true).map_err(|source| EngineError::Lifecycle { name: c.name.clone(), source })?;
    progress.event("Container", &c.name, "Removed");
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    pub timeout: Option<u32>,
}

/// `down`: the project's containers stopped and removed (dependents first), then its networks,
/// and with `volumes` its named volumes and the containers' anonymous ones.
pub fn down(store: &Store, project: &Project, opts: &DownOptions, progress: &mut dyn Progress) -> R<()> {
    let all = containers(store, &project.name, true)?;
    let mut chosen = Vec::new();
    for c in all {
        let known =
            project.services.contains_key(service_of(&c)) || project.disabled.iter().any(|d| d == service_of(&c));
        let oneoff = c.config.labels.get(LABEL_ONEOFF).map(String::as_str) == Some("True");
        if !known && !oneoff && !opts.remove_orphans {
            eprintln!(
                "berth: warning: found orphan container {} (service {:?}); `down --remove-orphans` removes it",
                c.name,
                service_of(&c)
            );
            continue;
        }
        chosen.push(c);
    }
    // Dependents first: the deepest level stops first, the containers of one level together
    // (each may take its whole grace period, as Docker Compose's do in parallel too).
    let depth = levels(project);
    let mut by_level: BTreeMap<std::cmp::Reverse<usize>, Vec<&Container>> = BTreeMap::new();
    for c in &chosen {
        // Orphans and one-offs: nothing depends on them.
        let level = depth.get(service_of(c)).copied().unwrap_or(usize::MAX);
        by_level.entry(std::cmp::Reverse(level)).or_default().push(c);
    }
    for group in by_level.values() {
        for c in group.iter().filter(|c| is_running(c)) {
            progress.event("Container", &c.name, "Stopping");
        }
        let results: Vec<(String, Result<(), LifecycleError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .iter()
                .filter(|c| is_running(c))
                .map(|c| (c.name.clone(), scope.spawn(move || lifecycle::stop(store, c, opts.timeout, None))))
                .collect();
            handles.into_iter().map(|(n, h)| (n, h.join().unwrap_or(Ok(())))).collect()
        });
        for (name, result) in results {
            result.map_err(|source| EngineError::Lifecycle { name: name.clone(), source })?;
            progress.event("Container", &name, "Stopped");
        }
        for c in group {
            progress.event("Container", &c.name, "Removing");
            lifecycle::remove(store, c, true)
                .map_err(|source| EngineError::Lifecycle { name: c.name.clone(), source })?;
            if opts.volumes {
                let removed = volumes::remove_anonymous(store, c)
                    .map_err(|source| EngineError::Volume { name: "(anonymous)".into(), source })?;
                for (volume, why) in removed {
                    eprintln!("berth: removing volume {volume}: {why}");
                }
            }
            progress.event("Container", &c.name, "Removed");
        }
    }
    // Rootless, up makes no project network (see netmap::flags).
    if !store.rootless() {
        remove_networks(store, project, progress)?;
    }
    if opts.volumes {
        for vol in project.volumes.values().filter(|v| !v.external) {
            volumes::remove(store, &vol.name, true)
                .map_err(|source| EngineError::Volume { name: vol.name.clone(), source })?;
            progress.event("Volume", &vol.name, "Removed");
        }
    }
    Ok(())
}

/// Each service's depth in the dependency graph: 0 for one that depends on nothing.
fn levels(project: &Project) -> BTreeMap<String, usize> {
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    for name in start_order(project) {
        let d = project.services[&name]
            .depends_on
            .keys()
            .filter_map(|dep| depth.get(dep))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        depth.insert(name, d);
    }
    depth
}

/// The project's own networks (labelled with its name; never an external one). One still in
/// use (an orphan container left on it) stays, with Docker Compose's warning.
fn remove_networks(store: &Store, project: &Project, progress: &mut dyn Progress) -> R<()> {
    use crate::network::{gc, kernel::HostKernel, manage};
    let _containers = store.lock_containers_shared().map_err(|e| EngineError::Containers(e.into()))?;
    let index: crate::container::index::Index = store.containers().map_err(|e| EngineError::Containers(e.into()))?;
    let _networks = store.lock_networks_exclusive().map_err(|e| EngineError::Containers(e.into()))?;
    let records = manage::load_locked(store).map_err(|source| EngineError::Network { name: "(all)".into(), source })?;
    let mut kernel = HostKernel::default();
    let alive = |o: crate::network::state::Owner| crate::container::liveness::is_alive(o.pid, o.start_time);
    gc::collect_locked(store, &records, &mut kernel, &alive)
        .map_err(|source| EngineError::Network { name: "(garbage)".into(), source })?;
    let named_by = |n: &crate::network::record::NetworkRecord| crate::container::net_view::containers_naming(&index, n);
    for record in records.iter().filter(|r| r.labels.get(LABEL_PROJECT) == Some(&project.name)) {
        match manage::remove_locked(store, &mut kernel, &record.id, &named_by) {
            Ok(_) => progress.event("Network", &record.name, "Removed"),
            Err(NetworkError::InUse { .. }) => {
                progress.warn(&format!("network {}: resource is still in use", record.name))
            }
            Err(source) => return Err(EngineError::Network { name: record.name.clone(), source }),
        }
    }
    Ok(())
}
