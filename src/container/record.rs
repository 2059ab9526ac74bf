//! What berth knows of a container: its configuration (fixed at create) and its state (changed
//! by start, the supervisor and stop), stored together in the store's containers.json.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Exited => "exited",
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A private network namespace with only loopback (until networking lands, the default).
    #[default]
    Private,
    /// A private network namespace, loopback down — Docker's `none` (berth brings lo up, as
    /// Docker does).
    None,
    /// The host's network namespace.
    Host,
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

impl Resources {
    pub fn any(&self) -> bool {
        self.memory.is_some() || self.nano_cpus.is_some() || self.cpu_shares.is_some() || self.pids_limit.is_some()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

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
    pub userns: UsernsMode,
    pub resources: Resources,
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    pub rootless: bool,
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

/// Docker's name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading '/' is allowed and dropped).
pub fn is_valid_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let b = name.as_bytes();
    b.len() >= 2 && b.len() <= 128 && b[0].is_ascii_alphanumeric() && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A random name in Docker's adjective_noun style.
pub fn generate_name(taken: impl Fn(&str) -> bool) -> String {
    const LEFT: &[&str] = &["brave", "calm", "eager", "fond", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nimble", "proud", "quirky", "sharp", "steady", "tender", "upbeat", "vivid", "wise", "zealous"];
    const RIGHT: &[&str] = &["albatross", "badger", "cormorant", "dolphin", "egret", "falcon", "gannet", "heron", "ibis", "jackdaw", "kestrel", "lapwing", "merlin", "nightjar", "osprey", "petrel", "quail", "raven", "sandpiper", "tern"];
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
    fn generated_names_avoid_taken_ones() {
        let name = generate_name(|n| n.starts_with("brave"));
        assert!(!name.starts_with("brave"));
    }
}
