//! A container's configuration as the sandbox takes it: the record's user-level settings
//! (network mode, ulimits, devices, resources, security options) turned into the sandbox's own
//! types. Built from a [`ContainerConfig`] and a directory, not from a stored record, so that a
//! build's RUN step or a healthcheck can get a spec without a container in `containers.json`.

use std::path::{Path, PathBuf};

use super::record::{
    Container, ContainerConfig, DeviceMapping, NetworkMode, Resources, SECCOMP_UNCONFINED, Ulimit, UsernsMode,
};
use crate::sandbox::cgroup;
use crate::sandbox::spec::{
    DeviceRequest, KernelTuning, NetworkNamespace, ProcessSecurity, ProcessSpec, Rlimit, SandboxSpec, SeccompProfile,
};
use crate::store::{Store, StoreError};

/// The sandbox for a container with configuration `config`, its writable layer in `dir`
/// (`upper/`, `work/`, `rootfs/`), and `etc_files` bind-mounted over the image's (see
/// `etc_files.rs`). Reads the store's layers: the caller holds the image lock, shared.
pub fn sandbox_spec(
    store: &Store,
    id: &str,
    dir: &Path,
    config: &ContainerConfig,
    etc_files: Vec<(PathBuf, String)>,
) -> Result<SandboxSpec, StoreError> {
    let mut lower_dirs = Vec::with_capacity(config.layers.len());
    for chain in config.layers.iter().rev() {
        lower_dirs.push(store.layer_diff_dir(chain)?);
    }
    Ok(SandboxSpec {
        id: id.to_owned(),
        rootless: config.rootless,
        lower_dirs,
        upper_dir: dir.join("upper"),
        work_dir: dir.join("work"),
        rootfs: dir.join("rootfs"),
        hostname: config.hostname.clone(),
        etc_files,
        network: network_namespace(config.network),
        cgroup_join_files: Vec::new(),
        mounts: super::mounts::sandbox_mounts(store, &config.mounts)?,
        read_only_rootfs: config.read_only,
        nested_id_maps: None,
        privileged: config.privileged,
        device_requests: config.devices.iter().map(device_request).collect(),
        devices: Vec::new(),
        tuning: tuning(config),
        process: ProcessSpec {
            args: config.argv(),
            env: config.env.clone(),
            cwd: config.working_dir.clone(),
            user: config.user.clone(),
            tty: config.tty,
            rlimits: rlimits(&config.ulimits),
            init: config.init,
            security: process_security(config),
            additional_groups: config.process_host.group_add.clone(),
        },
    })
}

/// [`sandbox_spec`] for a stored container, in its own directory.
pub fn for_container(
    store: &Store,
    container: &Container,
    etc_files: Vec<(PathBuf, String)>,
) -> Result<SandboxSpec, StoreError> {
    sandbox_spec(store, &container.id, &store.container_dir(&container.id), &container.config, etc_files)
}

/// The network namespace of a container in `mode`. `none` is a new namespace with loopback, as a
/// private one is until networking gives it interfaces.
pub fn network_namespace(mode: NetworkMode) -> NetworkNamespace {
    match mode {
        // Container: joined in the supervisor, which finds the other container's process.
        NetworkMode::Private | NetworkMode::None | NetworkMode::Bridge | NetworkMode::Container => {
            NetworkNamespace::New
        }
        NetworkMode::Host => NetworkNamespace::Host,
    }
}

pub fn rlimits(ulimits: &[Ulimit]) -> Vec<Rlimit> {
    ulimits.iter().map(|u| Rlimit { name: u.name.clone(), soft: u.soft, hard: u.hard }).collect()
}

fn device_request(d: &DeviceMapping) -> DeviceRequest {
    DeviceRequest {
        host_path: d.path_on_host.clone(),
        container_path: d.path_in_container.clone(),
        cgroup_permissions: d.cgroup_permissions.clone(),
    }
}

/// The limits of the container's cgroup.
pub fn cgroup_resources(r: &Resources) -> cgroup::Resources {
    super::resource_options::cgroup_resources(r)
}

/// The kernel settings beyond the cgroup's limits.
fn tuning(config: &ContainerConfig) -> KernelTuning {
    let host = &config.process_host;
    KernelTuning {
        oom_score_adj: host.oom_score_adj,
        cgroup_namespace: host.cgroupns.is_private(),
        shm_size: host.shm_size.unwrap_or(super::resource_options::DEFAULT_SHM_SIZE),
        sysctls: host.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        device_cgroup_rules: host.device_cgroup_rules.clone(),
        // Joined namespaces are found at start (supervisor/setup.rs, container::namespaces).
        pid: Default::default(),
        ipc: Default::default(),
        uts_host: host.uts_mode == "host",
        shm: Default::default(),
    }
}

/// Root on cgroup v1 confines device access with the devices cgroup. On cgroup v2 that takes an
/// eBPF program berth does not load yet, so there a container gets CAP_MKNOD only when asked
/// for: without it, its /dev holds only the default nodes and the --device ones.
fn device_cgroup_available(config: &ContainerConfig) -> bool {
    config.rootless || cgroup::detect() == cgroup::CgroupVersion::V1
}

fn asked_for_mknod(cap_add: &[String]) -> bool {
    cap_add
        .iter()
        .any(|c| matches!(crate::sandbox::caps::normalize(c), Ok("CAP_MKNOD")) || c.eq_ignore_ascii_case("ALL"))
}

/// The security settings of every process of a container (its first one and each `exec`).
pub fn process_security(config: &ContainerConfig) -> ProcessSecurity {
    let seccomp = match config.seccomp_profile.as_deref() {
        _ if config.privileged => SeccompProfile::Unconfined,
        None => SeccompProfile::Default,
        Some(SECCOMP_UNCONFINED) => SeccompProfile::Unconfined,
        Some(profile) => SeccompProfile::Custom(profile.to_owned()),
    };
    let mut capabilities = crate::sandbox::caps::capability_set(&config.cap_add, &config.cap_drop, config.privileged);
    if !config.privileged && !device_cgroup_available(config) && !asked_for_mknod(&config.cap_add) {
        capabilities &= !crate::sandbox::caps::bit("CAP_MKNOD");
    }
    ProcessSecurity { capabilities, no_new_privileges: config.no_new_privileges, seccomp }
}

#[derive(Debug, thiserror::Error)]
#[error("--userns keep-id needs subordinate ids above your own uid and gid (see /etc/subuid and /etc/subgid)")]
pub struct NoIdsToKeep;

/// The user a container runs as by default when its configuration names `user` (maybe none)
/// and `mode`: with `--userns keep-id` and no user, the caller's own ids. The supervisor and
/// `exec` both ask here.
pub fn keep_id_default_user(user: &str, mode: UsernsMode) -> Option<String> {
    (user.is_empty() && mode == UsernsMode::KeepId).then(|| {
        let (uid, gid) = crate::sandbox::userns::caller_ids();
        format!("{uid}:{gid}")
    })
}

/// Applies the configuration's user namespace mode to `spec`. `--userns keep-id`: the container
/// gets a user namespace of its own in which the caller's id is the same as outside, and runs as
/// that id unless told otherwise. Reads this process's id maps: call it where the container is
/// created from (the supervisor, in berth's user namespace).
pub fn apply_userns(spec: &mut SandboxSpec, mode: UsernsMode) -> Result<(), NoIdsToKeep> {
    if mode != UsernsMode::KeepId {
        return Ok(());
    }
    let read = |file| std::fs::read_to_string(file).unwrap_or_default();
    let maps = crate::sandbox::userns::keep_id_maps(&read("/proc/self/uid_map"), &read("/proc/self/gid_map"))
        .ok_or(NoIdsToKeep)?;
    if let Some(user) = keep_id_default_user(&spec.process.user, mode) {
        spec.process.user = user;
    }
    spec.nested_id_maps = Some((maps.uid_map, maps.gid_map));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mknod_counts_as_asked_for_in_any_spelling() {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(asked_for_mknod(&v(&["mknod"])));
        assert!(asked_for_mknod(&v(&["CAP_MKNOD"])));
        assert!(asked_for_mknod(&v(&["all"])));
        assert!(!asked_for_mknod(&v(&["SYS_ADMIN"])));
    }

    #[test]
    fn rootless_and_v1_keep_dockers_default_set() {
        let config = ContainerConfig { rootless: true, ..Default::default() };
        assert_eq!(process_security(&config).capabilities, crate::sandbox::caps::default_mask());
    }

    #[test]
    fn a_configuration_becomes_a_spec_without_a_record() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(&root.path().join("root"), &root.path().join("run"), false).unwrap();
        let config = ContainerConfig {
            layers: vec![format!("sha256:{}", "a".repeat(64)), format!("sha256:{}", "b".repeat(64))],
            entrypoint: vec!["/bin/sh".into()],
            cmd: vec!["-c".into(), "true".into()],
            hostname: "h".into(),
            network: NetworkMode::None,
            ulimits: vec![Ulimit { name: "nofile".into(), soft: 10, hard: 20 }],
            devices: vec![DeviceMapping {
                path_on_host: "/dev/null".into(),
                path_in_container: "/dev/n".into(),
                cgroup_permissions: "rw".into(),
            }],
            read_only: true,
            ..Default::default()
        };
        let dir = root.path().join("step");
        let spec = sandbox_spec(&store, "build-step", &dir, &config, Vec::new()).unwrap();
        assert_eq!(spec.id, "build-step");
        assert_eq!(
            (spec.upper_dir, spec.work_dir, spec.rootfs),
            (dir.join("upper"), dir.join("work"), dir.join("rootfs"))
        );
        // Top-most layer first, as overlayfs wants its lower dirs.
        assert!(spec.lower_dirs[0].to_string_lossy().contains(&"b".repeat(64)));
        assert_eq!(spec.network, NetworkNamespace::New);
        assert_eq!(spec.process.args, ["/bin/sh", "-c", "true"]);
        assert_eq!(spec.process.rlimits, [Rlimit { name: "nofile".into(), soft: 10, hard: 20 }]);
        assert_eq!(spec.device_requests[0].container_path, "/dev/n");
        assert!(spec.read_only_rootfs);
        assert_eq!(network_namespace(NetworkMode::Host), NetworkNamespace::Host);
        assert_eq!(network_namespace(NetworkMode::Private), NetworkNamespace::New);
    }

    #[test]
    fn only_keep_id_changes_the_user_namespace() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(&root.path().join("root"), &root.path().join("run"), false).unwrap();
        let mut spec = sandbox_spec(&store, "c", root.path(), &ContainerConfig::default(), Vec::new()).unwrap();
        apply_userns(&mut spec, UsernsMode::Default).unwrap();
        assert_eq!(spec.nested_id_maps, None);
    }
}
