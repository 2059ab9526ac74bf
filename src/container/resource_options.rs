//! The resource and kernel-tuning flags of `run`/`create` beyond the basic limits:
//! `--memory-swap`, `--memory-reservation`, `--oom-kill-disable`, `--cpu-period`, `--cpu-quota`,
//! `--cpuset-cpus`, `--cpuset-mems`, `--blkio-weight`, `--device-{read,write}-{bps,iops}` (the
//! cgroup's, [`MoreResources`]), and `--oom-score-adj`, `--device-cgroup-rule`, `--cgroupns`,
//! `--shm-size`, `--sysctl`, `--group-add`, `--annotation` (the sandbox's, [`HostSettings`]).
//! Text in [`ResourceFlags`], checked with Docker's rules and messages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::mounts::parse_size;
use super::record::{NetworkMode, Resources};
use crate::sandbox::cgroup::{self, ThrottleDevice};

/// The flags as text (the CLI's, compose's and the API's words map onto these).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceFlags {
    /// Bytes with a unit, or -1 for unlimited swap.
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub oom_kill_disable: bool,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub blkio_weight: Option<u16>,
    /// PATH:RATE (RATE: bytes with an optional kb, mb, gb unit).
    pub device_read_bps: Vec<String>,
    pub device_write_bps: Vec<String>,
    /// PATH:RATE (operations per second).
    pub device_read_iops: Vec<String>,
    pub device_write_iops: Vec<String>,
    pub oom_score_adj: Option<i32>,
    /// `TYPE MAJOR:MINOR ACCESS` (`c 1:3 rwm`, `b *:* r`).
    pub device_cgroup_rules: Vec<String>,
    /// host or private.
    pub cgroupns: Option<String>,
    pub shm_size: Option<String>,
    /// KEY=VALUE.
    pub sysctls: Vec<String>,
    /// Group names or ids.
    pub group_add: Vec<String>,
    /// KEY=VALUE.
    pub annotations: Vec<String>,
    /// `--pid`, `--ipc`, `--uts` (see container::namespaces).
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    /// `--log-driver`, `--log-opt KEY=VALUE` (see container::log_config).
    pub log_driver: Option<String>,
    pub log_opts: Vec<String>,
}

/// The cgroup limits beyond memory, cpus, shares and pids, as the record keeps them (Docker's
/// HostConfig fields of the same names).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct MoreResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_kill_disable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_mems: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
}

/// `--cgroupns`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CgroupnsMode {
    /// A cgroup namespace of its own, rooted at the container's cgroup (berth's default on v1
    /// and v2 alike).
    #[default]
    Private,
    /// The host's: /proc/self/cgroup shows the full path.
    Host,
}

impl CgroupnsMode {
    pub fn is_private(&self) -> bool {
        *self == CgroupnsMode::Private
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CgroupnsMode::Private => "private",
            CgroupnsMode::Host => "host",
        }
    }
}

/// Docker's /dev/shm size when `--shm-size` is not given.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// What the sandbox sets up beyond the cgroup, as the record keeps it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct HostSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(default, skip_serializing_if = "CgroupnsMode::is_private")]
    pub cgroupns: CgroupnsMode,
    /// Bytes; None: [`DEFAULT_SHM_SIZE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Docker's PidMode, IpcMode, UTSMode: "", "host", "container:<id>" (IPC also "private",
    /// "shareable", "none"); see container::namespaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pid_mode: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipc_mode: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uts_mode: String,
    /// "" (k8s-file), "json-file" or "none", and its checked options.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_driver: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_opts: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error("invalid argument {value:?} for \"--{flag}\" flag: {reason}")]
    Flag { flag: &'static str, value: String, reason: String },
    #[error("Invalid value {0}, range for oom score adj is [-1000, 1000]")]
    OomScoreAdj(i32),
    #[error("sysctl '{0}' is not whitelisted")]
    SysctlNotAllowed(String),
    #[error("sysctl '{0}' is not allowed in the host's network namespace (--network host)")]
    SysctlHostNetwork(String),
    #[error(transparent)]
    Namespace(#[from] super::namespaces::NamespaceError),
    #[error(transparent)]
    Log(#[from] super::log_config::LogConfigError),
    /// The cgroup code's own words (Docker's daemon messages).
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
}

fn bad(flag: &'static str, value: &str, reason: impl Into<String>) -> ResourceError {
    ResourceError::Flag { flag, value: value.to_owned(), reason: reason.into() }
}

/// Checks the flags and gives what the record keeps. `hostname`: `--hostname`, which the host's
/// UTS namespace excludes.
pub fn parse(
    flags: &ResourceFlags,
    network: NetworkMode,
    hostname: Option<&str>,
) -> Result<(MoreResources, HostSettings), ResourceError> {
    let (pid_mode, ipc_mode, uts_mode) =
        super::namespaces::parse(flags.pid.as_deref(), flags.ipc.as_deref(), flags.uts.as_deref(), hostname)?;
    let size = |flag: &'static str, text: &Option<String>| -> Result<Option<i64>, ResourceError> {
        let Some(text) = text else { return Ok(None) };
        if flag == "memory-swap" && text.trim() == "-1" {
            return Ok(Some(-1));
        }
        let bytes = parse_size(text).ok_or_else(|| bad(flag, text, "invalid size: use a number with b, k, m or g"))?;
        Ok(Some(bytes.min(i64::MAX as u64) as i64).filter(|&b| b != 0))
    };
    let more = MoreResources {
        memory_swap: size("memory-swap", &flags.memory_swap)?,
        memory_reservation: size("memory-reservation", &flags.memory_reservation)?,
        oom_kill_disable: flags.oom_kill_disable,
        cpu_period: flags.cpu_period.filter(|&p| p != 0),
        cpu_quota: flags.cpu_quota.filter(|&q| q != 0),
        cpuset_cpus: flags.cpuset_cpus.clone().filter(|c| !c.is_empty()),
        cpuset_mems: flags.cpuset_mems.clone().filter(|c| !c.is_empty()),
        blkio_weight: flags.blkio_weight.filter(|&w| w != 0),
        device_read_bps: throttles("device-read-bps", &flags.device_read_bps, true)?,
        device_write_bps: throttles("device-write-bps", &flags.device_write_bps, true)?,
        device_read_iops: throttles("device-read-iops", &flags.device_read_iops, false)?,
        device_write_iops: throttles("device-write-iops", &flags.device_write_iops, false)?,
    };
    if let Some(adj) = flags.oom_score_adj
        && !(-1000..=1000).contains(&adj)
    {
        return Err(ResourceError::OomScoreAdj(adj));
    }
    for rule in &flags.device_cgroup_rules {
        if !valid_device_rule(rule) {
            return Err(bad("device-cgroup-rule", rule, format!("invalid device cgroup format '{rule}'")));
        }
    }
    let cgroupns = match flags.cgroupns.as_deref() {
        None | Some("" | "private") => CgroupnsMode::Private,
        Some("host") => CgroupnsMode::Host,
        Some(other) => return Err(bad("cgroupns", other, "invalid cgroup namespace mode: use host or private")),
    };
    let shm_size = match &flags.shm_size {
        None => None,
        Some(text) => Some(parse_size(text).ok_or_else(|| bad("shm-size", text, "invalid size"))?).filter(|&s| s != 0),
    };
    let mut sysctls = BTreeMap::new();
    for entry in &flags.sysctls {
        let (key, value) = entry.split_once('=').ok_or_else(|| bad("sysctl", entry, "expected KEY=VALUE"))?;
        check_sysctl(key, network)?;
        super::namespaces::check_sysctl(key, &ipc_mode, &uts_mode)?;
        sysctls.insert(key.to_owned(), value.to_owned());
    }
    let mut annotations = BTreeMap::new();
    for entry in &flags.annotations {
        match entry.split_once('=') {
            Some((key, value)) if !key.is_empty() => annotations.insert(key.to_owned(), value.to_owned()),
            _ => return Err(bad("annotation", entry, "expected KEY=VALUE")),
        };
    }
    for group in &flags.group_add {
        if group.is_empty() || group.contains([':', '\n']) {
            return Err(bad("group-add", group, "expected a group name or id"));
        }
    }
    let (log_driver, log_opts) = super::log_config::parse(flags.log_driver.as_deref(), &flags.log_opts)?;
    let host = HostSettings {
        oom_score_adj: flags.oom_score_adj,
        device_cgroup_rules: flags.device_cgroup_rules.clone(),
        cgroupns,
        shm_size,
        sysctls,
        group_add: flags.group_add.clone(),
        annotations,
        pid_mode,
        ipc_mode,
        uts_mode,
        log_driver,
        log_opts,
    };
    Ok((more, host))
}

/// `PATH:RATE` entries (Docker's ValidateThrottle{Bps,IOps}Device).
fn throttles(flag: &'static str, entries: &[String], bytes: bool) -> Result<Vec<ThrottleDevice>, ResourceError> {
    let mut out = Vec::new();
    for entry in entries {
        let (path, rate) = match entry.split(':').collect::<Vec<_>>()[..] {
            [path, rate] => (path, rate),
            _ => return Err(bad(flag, entry, format!("bad format: {entry}"))),
        };
        if !path.starts_with("/dev/") {
            return Err(bad(flag, entry, format!("bad format for device path: {entry}")));
        }
        let rate = if bytes { parse_size(rate) } else { rate.parse().ok() };
        let rate = rate.ok_or_else(|| {
            let unit = if bytes {
                "[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
            } else {
                ". Number must be a positive integer"
            };
            bad(
                flag,
                entry,
                format!("invalid rate for device: {entry}. The correct format is <device-path>:<number>{unit}"),
            )
        })?;
        out.push(ThrottleDevice { path: path.to_owned(), rate });
    }
    Ok(out)
}

/// Docker's `--device-cgroup-rule` syntax: `[acb] (N|*):(N|*) [rwm]{1,3}`.
fn valid_device_rule(rule: &str) -> bool {
    let parts: Vec<&str> = rule.split(' ').collect();
    let [kind, numbers, access] = parts[..] else { return false };
    let number = |n: &str| n == "*" || (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    matches!(kind, "a" | "b" | "c")
        && numbers.split_once(':').is_some_and(|(major, minor)| number(major) && number(minor))
        && (1..=3).contains(&access.len())
        && access.chars().all(|c| "rwm".contains(c))
}

/// The sysctls of a container's own namespaces (Docker's whitelist): IPC ones, mqueue ones, the
/// network namespace's (not with the host's network), and the UTS domain name.
fn check_sysctl(key: &str, network: NetworkMode) -> Result<(), ResourceError> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let plain = !key.is_empty() && !key.contains(['/', '\0']) && !key.split('.').any(|p| p.is_empty() || p == "..");
    if plain && key.starts_with("net.") {
        if network == NetworkMode::Host {
            return Err(ResourceError::SysctlHostNetwork(key.to_owned()));
        }
        return Ok(());
    }
    if plain && (IPC.contains(&key) || key.starts_with("fs.mqueue.") || key == "kernel.domainname") {
        return Ok(());
    }
    Err(ResourceError::SysctlNotAllowed(key.to_owned()))
}

/// The cgroup limits of a record's resources.
pub fn cgroup_resources(r: &Resources) -> cgroup::Resources {
    let m = &r.more;
    cgroup::Resources {
        memory: r.memory,
        nano_cpus: r.nano_cpus,
        cpu_shares: r.cpu_shares,
        pids_limit: r.pids_limit,
        memory_swap: m.memory_swap,
        memory_reservation: m.memory_reservation,
        oom_kill_disable: m.oom_kill_disable,
        cpu_period: m.cpu_period,
        cpu_quota: m.cpu_quota,
        cpuset_cpus: m.cpuset_cpus.clone(),
        cpuset_mems: m.cpuset_mems.clone(),
        blkio_weight: m.blkio_weight,
        device_read_bps: m.device_read_bps.clone(),
        device_write_bps: m.device_write_bps.clone(),
        device_read_iops: m.device_read_iops.clone(),
        device_write_iops: m.device_write_iops.clone(),
    }
}

/// Drops the limits this host cannot apply, as Docker does, and says so: Docker's warnings,
/// for the caller to print. Also warns of an OOM killer disabled without a memory limit.
pub fn discard_unsupported(r: &mut Resources) -> Vec<String> {
    let mut warnings = Vec::new();
    for missing in cgroup::unsupported(&cgroup_resources(r)) {
        match missing {
            cgroup::Unsupported::BlkioWeight => r.more.blkio_weight = None,
            cgroup::Unsupported::SwapLimit => r.more.memory_swap = None,
            cgroup::Unsupported::OomKillDisable => r.more.oom_kill_disable = false,
        }
        warnings.push(missing.to_string());
    }
    if r.more.oom_kill_disable && r.memory.is_none() {
        warnings.push(
            "OOM killer is disabled for the container, but no memory limit is set, this can result in the system \
             running out of resources."
                .into(),
        );
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sizes_throttles_and_rules_parse_like_dockers() {
        let flags = ResourceFlags {
            memory_swap: Some("-1".into()),
            memory_reservation: Some("32m".into()),
            device_read_bps: strings(&["/dev/vda:1mb"]),
            device_write_iops: strings(&["/dev/vda:100"]),
            device_cgroup_rules: strings(&["c 1:3 rwm", "b *:* r", "a *:* rwm"]),
            shm_size: Some("128m".into()),
            sysctls: strings(&["net.ipv4.ip_forward=1", "kernel.shmmax=1000000"]),
            annotations: strings(&["org.example=yes"]),
            cgroupns: Some("host".into()),
            ..Default::default()
        };
        let (more, host) = parse(&flags, NetworkMode::Bridge, None).unwrap();
        assert_eq!((more.memory_swap, more.memory_reservation), (Some(-1), Some(32 << 20)));
        assert_eq!(more.device_read_bps, [ThrottleDevice { path: "/dev/vda".into(), rate: 1 << 20 }]);
        assert_eq!(more.device_write_iops, [ThrottleDevice { path: "/dev/vda".into(), rate: 100 }]);
        assert_eq!(host.shm_size, Some(128 << 20));
        assert_eq!(host.sysctls.len(), 2);
        assert_eq!(host.cgroupns, CgroupnsMode::Host);
        assert_eq!(host.annotations["org.example"], "yes");

        let refused = |flags: ResourceFlags| parse(&flags, NetworkMode::Bridge, None).unwrap_err().to_string();
        let err = refused(ResourceFlags { device_read_bps: strings(&["/dev/vda"]), ..Default::default() });
        assert_eq!(err, "invalid argument \"/dev/vda\" for \"--device-read-bps\" flag: bad format: /dev/vda");
        let err = refused(ResourceFlags { device_read_iops: strings(&["/dev/vda:1mb"]), ..Default::default() });
        assert!(err.contains("invalid rate for device: /dev/vda:1mb"), "{err}");
        let err = refused(ResourceFlags { device_read_bps: strings(&["vda:1"]), ..Default::default() });
        assert!(err.contains("bad format for device path"), "{err}");
        for rule in ["c 1:3", "x 1:3 r", "c 1:3 rwx", "c a:3 r", "c 1:3 rwmr"] {
            let err = refused(ResourceFlags { device_cgroup_rules: strings(&[rule]), ..Default::default() });
            assert!(err.ends_with(&format!("invalid device cgroup format '{rule}'")), "{err}");
        }
        let err = refused(ResourceFlags { oom_score_adj: Some(1001), ..Default::default() });
        assert_eq!(err, "Invalid value 1001, range for oom score adj is [-1000, 1000]");
        let err = refused(ResourceFlags { sysctls: strings(&["kernel.pid_max=10"]), ..Default::default() });
        assert_eq!(err, "sysctl 'kernel.pid_max' is not whitelisted");
        let err = refused(ResourceFlags { sysctls: strings(&["net.x"]), ..Default::default() });
        assert!(err.contains("expected KEY=VALUE"), "{err}");
        let err = refused(ResourceFlags { cgroupns: Some("shared".into()), ..Default::default() });
        assert!(err.contains("--cgroupns"), "{err}");
        let host_net = ResourceFlags { sysctls: strings(&["net.core.somaxconn=10"]), ..Default::default() };
        assert!(matches!(parse(&host_net, NetworkMode::Host, None), Err(ResourceError::SysctlHostNetwork(_))));
        assert!(
            refused(ResourceFlags { sysctls: strings(&["net.../x=1"]), ..Default::default() })
                .contains("not whitelisted")
        );
    }

    #[test]
    fn zero_means_unset() {
        let flags = ResourceFlags {
            memory_swap: Some("0".into()),
            shm_size: Some("0".into()),
            cpu_period: Some(0),
            blkio_weight: Some(0),
            ..Default::default()
        };
        let (more, host) = parse(&flags, NetworkMode::Bridge, None).unwrap();
        assert_eq!(more, MoreResources::default());
        assert_eq!(host, HostSettings::default());
    }
}
