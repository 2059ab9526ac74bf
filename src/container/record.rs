//! What berth knows of a container: its configuration (fixed at create) and its state (changed
//! by start, the supervisor and stop), stored together in the store's containers.json.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    /// Claimed by a `start` (see container/start.rs): its supervisor is setting the container up.
    /// `supervisor_pid` and `supervisor_start_time` name that supervisor; a claim whose
    /// supervisor is gone is stale and reads as the status before it (see `index::refresh`).
    Starting,
    Running,
    Paused,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Exited => "exited",
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A private network namespace with only loopback (`--network private`; rootless, the
    /// default until pasta is wired in).
    #[default]
    Private,
    /// Attached to the bridge networks `ContainerConfig::net` names (root's default: `bridge`).
    Bridge,
    /// A private network namespace, loopback down — Docker's `none` (berth brings lo up, as
    /// Docker does).
    None,
    /// The host's network namespace.
    Host,
    /// Another container's network namespace (`--network container:X`; X's id is
    /// `ContainerConfig::net.container`), joined at each start while X runs.
    Container,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UsernsMode {
    /// Root: no user namespace. Rootless: the store's mapping (caller → 0, subordinate ids → 1..).
    #[default]
    Default,
    /// Rootless only: the caller's uid maps to the same uid inside.
    KeepId,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Resources {
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Nano-CPUs (1e9 = one CPU), as Docker stores --cpus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// What is mounted at a mount's destination.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host path (`-v /host:/ctr`, `--mount type=bind`).
    Bind,
    /// A volume of the store, named or anonymous (`-v name:/ctr`, `-v /ctr`, image VOLUME).
    #[default]
    Volume,
    /// A fresh tmpfs (`--tmpfs`, `--mount type=tmpfs`).
    Tmpfs,
}

/// One mount of a container (see src/container/mounts.rs for how flags become these).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Mount {
    pub kind: MountKind,
    /// Bind: the absolute host path. Volume: the volume's name. Tmpfs: empty.
    pub source: String,
    /// Absolute path inside the container.
    pub destination: String,
    pub read_only: bool,
    #[serde(default)]
    pub options: MountOptions,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct MountOptions {
    /// The mode string as given to `-v` ("ro,Z"), shown by inspect.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// Bind propagation ("rprivate" when not given).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    /// Volume: do not fill a new empty volume with the image's content at the destination.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nocopy: bool,
    /// Tmpfs: comma-separated mount options (`size=64m,mode=1777,exec`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tmpfs: String,
    /// Bind given with `-v` (a missing host path is created) rather than `--mount` (an error).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_host_path: bool,
    /// Volume: labels for a volume this mount creates (`volume-label=`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_labels: BTreeMap<String, String>,
    /// Volume: the local driver's options (type, device, o): asked for with `volume-opt=` when
    /// the mount creates the volume, then the volume's own, recorded at create so that starting
    /// the container needs no volume lookup.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_options: BTreeMap<String, String>,
}

/// A host device given to the container, as Docker's HostConfig.Devices has it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    /// Some of r, w, m: what the devices cgroup allows.
    pub cgroup_permissions: String,
}

fn yes() -> bool {
    true
}

/// `seccomp_profile` value of `--security-opt seccomp=unconfined`.
pub const SECCOMP_UNCONFINED: &str = "unconfined";

/// Fixed when the container is created.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct ContainerConfig {
    pub image_id: String,
    /// What the user asked for (shown by ps), e.g. "busybox".
    pub image_name: String,
    /// Chain ids of the image's layers, bottom first: the overlay lower dirs.
    pub layers: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    /// As given: "", "name", "uid", "uid:gid", "name:group"; resolved inside the rootfs at start.
    pub user: String,
    pub hostname: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub init: bool,
    pub stop_signal: String,
    pub stop_timeout: Option<u32>,
    pub network: NetworkMode,
    /// The networks, published ports, /etc/hosts and resolver settings (`net_config`).
    #[serde(default, skip_serializing_if = "super::net_config::NetConfig::is_empty")]
    pub net: super::net_config::NetConfig,
    pub userns: UsernsMode,
    pub resources: Resources,
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// `--cap-add`, canonical names ("CAP_SYS_ADMIN", "ALL").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// `--cap-drop`, canonical names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `--privileged`: every capability, no seccomp, no masked paths, every host device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// no_new_privs for the container's processes: on unless `--security-opt
    /// no-new-privileges=false`.
    #[serde(default = "yes")]
    pub no_new_privileges: bool,
    /// None: Docker's default profile. Some("unconfined"): none. Otherwise the profile's JSON
    /// text as it was at create, so later edits of the file change no existing container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<String>,
    /// `--device`, as given (the host's node is looked up at each start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceMapping>,
    pub rootless: bool,
    /// Binds, volumes and tmpfs mounts, in the order they are mounted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// `--read-only`: the root filesystem is mounted read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// `--volumes-from` as given (CONTAINER[:ro|rw]); resolved into `mounts` at create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    /// Destinations that get an anonymous volume unless something else is mounted there: the
    /// image's VOLUME entries (Docker's Config.Volumes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// The health check, the image's merged with `--health-*` (Docker's Config.Healthcheck);
    /// `["NONE"]` for `--no-healthcheck` (see container::health).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::image::spec::HealthConfig>,
    /// `--restart` (see container::restart).
    #[serde(default, skip_serializing_if = "super::restart::RestartPolicy::is_no")]
    pub restart: super::restart::RestartPolicy,
    /// `--sdnotify`: what a start tells systemd (see container::sdnotify).
    #[serde(default)]
    pub sdnotify: super::sdnotify::SdNotify,
    /// The command line that created it (`berth … run|create …`), for `generate systemd --new`;
    /// empty for containers made by compose or the API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_command: Vec<String>,
}

impl ContainerConfig {
    /// The argv the container runs: entrypoint then cmd.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(self.cmd.iter()).cloned().collect()
    }
}

/// Changed over the container's life.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct ContainerState {
    pub status: Status,
    #[serde(default)]
    pub pid: i32,
    /// The container process's start time (clock ticks since boot, /proc/PID/stat field 22),
    /// so a recycled pid is never mistaken for the container.
    #[serde(default)]
    pub pid_start_time: u64,
    #[serde(default)]
    pub supervisor_pid: i32,
    #[serde(default)]
    pub supervisor_start_time: u64,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub oom_killed: bool,
    /// Why the last start failed, if it did.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub restart_count: u32,
    /// Health check results since the last start (container::health); None without a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::HealthState>,
    /// Stopped by `stop` (or `kill` with the stop signal) since its last start: no restart
    /// policy undoes that, and `system boot` leaves an unless-stopped container alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manually_stopped: bool,
    /// Exited, and its supervisor waits out the back-off before a restart (see
    /// [`ContainerState::restarting_now`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarting: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: String,
    pub config: ContainerConfig,
    pub state: ContainerState,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

impl ContainerState {
    /// Docker's "restarting": exited, with a live supervisor about to start it again.
    pub fn restarting_now(&self) -> bool {
        self.restarting
            && self.status == Status::Exited
            && !self.manually_stopped
            && super::liveness::is_alive(self.supervisor_pid, self.supervisor_start_time)
    }

    /// What the container is when not running and not being started: exited once it has run,
    /// else created.
    pub fn at_rest(&self) -> Status {
        if self.started_at.is_some() { Status::Exited } else { Status::Created }
    }
}

/// Docker's name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading '/' is allowed and dropped).
pub fn is_valid_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let b = name.as_bytes();
    b.len() >= 2
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A random name in Docker's adjective_noun style.
pub fn generate_name(taken: impl Fn(&str) -> bool) -> String {
    const LEFT: &[&str] = &[
        "brave", "calm", "eager", "fond", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nimble", "proud",
        "quirky", "sharp", "steady", "tender", "upbeat", "vivid", "wise", "zealous",
    ];
    const RIGHT: &[&str] = &[
        "albatross",
        "badger",
        "cormorant",
        "dolphin",
        "egret",
        "falcon",
        "gannet",
        "heron",
        "ibis",
        "jackdaw",
        "kestrel",
        "lapwing",
        "merlin",
        "nightjar",
        "osprey",
        "petrel",
        "quail",
        "raven",
        "sandpiper",
        "tern",
    ];
    loop {
        let name = format!("{}_{}", LEFT[rand::random_range(0..LEFT.len())], RIGHT[rand::random_range(0..RIGHT.len())]);
        if !taken(&name) {
            return name;
        }
        let numbered = format!("{name}{}", rand::random_range(0..1000));
        if !taken(&numbered) {
            return numbered;
        }
    }
}

pub fn new_id() -> String {
    format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(is_valid_name("web"));
        assert!(is_valid_name("/web-1.a_b"));
        assert!(!is_valid_name("a"));
        assert!(!is_valid_name("-web"));
        assert!(!is_valid_name("we b"));
        assert!(!is_valid_name("../x"));
    }

    #[test]
    fn records_without_security_settings_get_the_safe_defaults() {
        let mut value = serde_json::to_value(ContainerConfig::default()).unwrap();
        let object = value.as_object_mut().unwrap();
        object.remove("no_new_privileges");
        for absent in ["cap_add", "cap_drop", "privileged", "seccomp_profile", "devices"] {
            assert!(!object.contains_key(absent), "{absent} is left out when unset");
        }
        let config: ContainerConfig = serde_json::from_value(value).unwrap();
        assert!(config.no_new_privileges);
        assert!(!config.privileged && config.seccomp_profile.is_none() && config.cap_add.is_empty());
    }

    /// containers.json as berth wrote it at f62b865 (before the sandbox had types of its own),
    /// with most settings used: an existing store must load, and write back, unchanged.
    const OLD_INDEX: &str = include_str!("testdata/containers-f62b865.json");

    #[test]
    fn records_written_by_earlier_versions_load_unchanged() {
        let index: crate::store::ContainerIndex<Container> = serde_json::from_str(OLD_INDEX).unwrap();
        let [created, exited] = &index.containers[..] else { panic!("two containers") };
        let config = &created.config;
        assert_eq!((config.network, config.userns), (NetworkMode::Host, UsernsMode::Default));
        assert_eq!(config.ulimits, [Ulimit { name: "nofile".into(), soft: 100, hard: 200 }]);
        assert_eq!(
            config.resources,
            Resources { memory: Some(64 << 20), nano_cpus: Some(500_000_000), cpu_shares: None, pids_limit: Some(10) }
        );
        assert_eq!(config.devices[0].path_in_container, "/dev/mynull");
        assert_eq!(config.mounts.iter().map(|m| m.kind).collect::<Vec<_>>(), [MountKind::Bind, MountKind::Tmpfs]);
        assert!(config.init && config.read_only && config.no_new_privileges);
        assert_eq!(created.state.status, Status::Created);
        assert_eq!((exited.state.status, exited.state.exit_code), (Status::Exited, Some(3)));
        // Nothing is lost or added on the way back.
        let old: serde_json::Value = serde_json::from_str(OLD_INDEX).unwrap();
        assert_eq!(serde_json::to_value(&index).unwrap(), old);
    }

    #[test]
    fn generated_names_avoid_taken_ones() {
        let name = generate_name(|n| n.starts_with("brave"));
        assert!(!name.starts_with("brave"));
    }
}
