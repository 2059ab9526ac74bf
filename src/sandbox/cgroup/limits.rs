//! A container's cgroup limits in Docker's units (what `run`/`create` flags give), and what they
//! become in the kernel's files ([`Limits`]), checked the way Docker's daemon checks them.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::{CgroupError, CgroupVersion, DEFAULT_ROOT, detect_at};

/// Docker's CFS period for `--cpus`, in microseconds.
pub(super) const CPU_PERIOD_US: u64 = 100_000;

/// The kernel refuses CFS quotas below one millisecond.
const MIN_CPU_QUOTA_US: i64 = 1_000;

/// The CFS period's range (1 ms to 1 s), as Docker checks `--cpu-period`.
const CPU_PERIOD_RANGE: std::ops::RangeInclusive<i64> = 1_000..=1_000_000;

/// Docker refuses memory limits below 6 MiB: a container's first process would not survive.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// One `--device-read-bps` (and -write-bps, -read-iops, -write-iops) entry, as Docker's
/// HostConfig keeps it: the host's device node and the rate (bytes or operations per second).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// The limits a container's cgroup is made with, in Docker's units (what `--memory`, `--cpus`,
/// `--cpu-shares`, `--pids-limit`, `--memory-swap`, … give).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<i64>,
    /// Nano-CPUs (1e9 = one CPU), as Docker stores --cpus.
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    /// Memory plus swap, bytes; -1: unlimited swap. Unset: as much swap as memory (Docker's).
    pub memory_swap: Option<i64>,
    /// The soft limit, bytes.
    pub memory_reservation: Option<i64>,
    pub oom_kill_disable: bool,
    /// CFS period, microseconds (`--cpu-period`).
    pub cpu_period: Option<i64>,
    /// CFS quota, microseconds (`--cpu-quota`); -1: none.
    pub cpu_quota: Option<i64>,
    /// Kernel list syntax: `0-2,4`.
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// 10..=1000.
    pub blkio_weight: Option<u16>,
    pub device_read_bps: Vec<ThrottleDevice>,
    pub device_write_bps: Vec<ThrottleDevice>,
    pub device_read_iops: Vec<ThrottleDevice>,
    pub device_write_iops: Vec<ThrottleDevice>,
}

impl Resources {
    pub fn any(&self) -> bool {
        *self != Resources::default()
    }
}

/// Checks `resources` as the cgroup's creation will, so a bad value is refused at create.
pub fn check(resources: &Resources) -> Result<(), CgroupError> {
    Limits::from_resources(resources).map(drop)
}

/// A limit this host cannot apply, which Docker drops with a warning rather than refusing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    BlkioWeight,
    SwapLimit,
    OomKillDisable,
}

impl std::fmt::Display for Unsupported {
    /// Docker's warnings, word for word.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unsupported::BlkioWeight => {
                "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
            }
            Unsupported::SwapLimit => {
                "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited \
                 without swap."
            }
            Unsupported::OomKillDisable => "Your kernel does not support OomKillDisable. OomKillDisable discarded.",
        })
    }
}

/// The limits of `resources` that this host's cgroups have no file for.
pub fn unsupported(resources: &Resources) -> Vec<Unsupported> {
    unsupported_at(Path::new(DEFAULT_ROOT), resources)
}

fn unsupported_at(root: &Path, r: &Resources) -> Vec<Unsupported> {
    let mut found = Vec::new();
    match detect_at(root) {
        CgroupVersion::V1 => {
            let blkio = root.join("blkio");
            if r.blkio_weight.is_some() && !["blkio.weight", "blkio.bfq.weight"].iter().any(|f| blkio.join(f).exists())
            {
                found.push(Unsupported::BlkioWeight);
            }
            if r.memory_swap.is_some() && !root.join("memory/memory.memsw.limit_in_bytes").exists() {
                found.push(Unsupported::SwapLimit);
            }
        }
        // v2 has no switch to turn the OOM killer off.
        CgroupVersion::V2 if r.oom_kill_disable => found.push(Unsupported::OomKillDisable),
        CgroupVersion::V2 => {}
    }
    found
}

/// Which of the four throttles a [`Throttle`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ThrottleKind {
    ReadBps,
    WriteBps,
    ReadIops,
    WriteIops,
}

impl ThrottleKind {
    pub(super) fn v1_file(self) -> &'static str {
        match self {
            ThrottleKind::ReadBps => "blkio.throttle.read_bps_device",
            ThrottleKind::WriteBps => "blkio.throttle.write_bps_device",
            ThrottleKind::ReadIops => "blkio.throttle.read_iops_device",
            ThrottleKind::WriteIops => "blkio.throttle.write_iops_device",
        }
    }

    /// The key in v2's io.max.
    pub(super) fn v2_key(self) -> &'static str {
        match self {
            ThrottleKind::ReadBps => "rbps",
            ThrottleKind::WriteBps => "wbps",
            ThrottleKind::ReadIops => "riops",
            ThrottleKind::WriteIops => "wiops",
        }
    }
}

/// A device throttle with the device as the kernel names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Throttle {
    pub kind: ThrottleKind,
    /// `MAJOR:MINOR`.
    pub device: String,
    pub rate: u64,
}

/// `Resources` as the values written to the kernel.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Limits {
    /// Bytes.
    pub memory: Option<u64>,
    /// Memory plus swap in bytes, or -1 for unlimited swap; only with `memory`.
    pub memory_swap: Option<i64>,
    /// The soft limit (v1 soft_limit_in_bytes, v2 memory.low).
    pub memory_low: Option<u64>,
    pub oom_kill_disable: bool,
    /// Microseconds per period; -1: no quota.
    pub cpu_quota_us: Option<i64>,
    pub cpu_period_us: Option<u64>,
    /// Within the kernel's 2..=262144.
    pub cpu_shares: Option<u64>,
    /// A number or "max".
    pub pids_max: Option<String>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub blkio_weight: Option<u16>,
    pub throttles: Vec<Throttle>,
}

fn invalid(message: impl Into<String>) -> CgroupError {
    CgroupError::Invalid(message.into())
}

impl Limits {
    /// Zero (or less) memory, cpus, shares, period, quota or weight means "not set", as with
    /// Docker; a pids limit of zero or less means unlimited.
    pub(super) fn from_resources(r: &Resources) -> Result<Limits, CgroupError> {
        let memory = match r.memory {
            Some(m) if m > 0 && m < MIN_MEMORY => return Err(invalid("Minimum memory limit allowed is 6MB")),
            Some(m) if m > 0 => Some(m as u64),
            _ => None,
        };
        let memory_swap = memory_swap(memory, r.memory_swap)?;
        let memory_low = match r.memory_reservation.filter(|&m| m > 0) {
            Some(m) if m < MIN_MEMORY => return Err(invalid("Minimum memory reservation allowed is 6MB")),
            Some(m) if memory.is_some_and(|limit| limit < m as u64) => {
                return Err(invalid("Minimum memory limit can not be less than memory reservation limit, see usage"));
            }
            other => other.map(|m| m as u64),
        };
        let (cpu_quota_us, cpu_period_us) = cpu_max(r)?;
        let cpu_shares = r.cpu_shares.filter(|&s| s > 0).map(|s| s.clamp(2, 262_144));
        let pids_max = r.pids_limit.map(|p| if p > 0 { p.to_string() } else { "max".into() });
        let blkio_weight = match r.blkio_weight.filter(|&w| w > 0) {
            Some(w) if !(10..=1000).contains(&w) => return Err(invalid("Range of blkio weight is from 10 to 1000")),
            other => other,
        };
        let cpuset_cpus = cpuset(r.cpuset_cpus.as_deref(), "cpus", "CPUs")?;
        let cpuset_mems = cpuset(r.cpuset_mems.as_deref(), "mems", "memory nodes")?;
        let mut throttles = Vec::new();
        for (kind, list) in [
            (ThrottleKind::ReadBps, &r.device_read_bps),
            (ThrottleKind::WriteBps, &r.device_write_bps),
            (ThrottleKind::ReadIops, &r.device_read_iops),
            (ThrottleKind::WriteIops, &r.device_write_iops),
        ] {
            for t in list {
                throttles.push(Throttle { kind, device: block_device_number(&t.path)?, rate: t.rate });
            }
        }
        Ok(Limits {
            memory,
            memory_swap,
            memory_low,
            oom_kill_disable: r.oom_kill_disable,
            cpu_quota_us,
            cpu_period_us,
            cpu_shares,
            pids_max,
            cpuset_cpus,
            cpuset_mems,
            blkio_weight,
            throttles,
        })
    }

    /// The controllers these limits are written to (v1's names: `blkio` is v2's `io`).
    pub(super) fn controllers(&self) -> Vec<&'static str> {
        let mut needed = Vec::new();
        if self.memory.is_some() || self.memory_low.is_some() || self.oom_kill_disable {
            needed.push("memory");
        }
        if self.cpu_quota_us.is_some() || self.cpu_period_us.is_some() || self.cpu_shares.is_some() {
            needed.push("cpu");
        }
        if self.pids_max.is_some() {
            needed.push("pids");
        }
        if self.cpuset_cpus.is_some() || self.cpuset_mems.is_some() {
            needed.push("cpuset");
        }
        if self.blkio_weight.is_some() || !self.throttles.is_empty() {
            needed.push("blkio");
        }
        needed
    }
}

/// Docker's `--memory-swap` rules: it needs `--memory` and may not be below it; unset means as
/// much swap as memory (memory+swap = twice the memory).
fn memory_swap(memory: Option<u64>, swap: Option<i64>) -> Result<Option<i64>, CgroupError> {
    let swap = swap.filter(|&s| s != 0);
    match (memory, swap) {
        (_, Some(s)) if s < -1 => {
            Err(invalid(format!("invalid memory swap limit {s}: give bytes, or -1 for no limit")))
        }
        (None, Some(s)) if s > 0 => {
            Err(invalid("You should always set the Memory limit when using Memoryswap limit, see usage"))
        }
        (Some(m), Some(s)) if s > 0 && (s as u64) < m => {
            Err(invalid("Minimum memoryswap limit should be larger than memory limit, see usage"))
        }
        (Some(_), Some(s)) => Ok(Some(s)),
        (Some(m), None) => Ok(Some(m.saturating_mul(2).min(i64::MAX as u64) as i64)),
        (None, _) => Ok(None),
    }
}

/// The CFS quota and period from `--cpus` or from `--cpu-quota`/`--cpu-period` (not both).
fn cpu_max(r: &Resources) -> Result<(Option<i64>, Option<u64>), CgroupError> {
    let period = r.cpu_period.filter(|&p| p != 0);
    let quota = r.cpu_quota.filter(|&q| q != 0);
    if let Some(nano) = r.nano_cpus.filter(|&n| n > 0) {
        if period.is_some() {
            return Err(invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set"));
        }
        if quota.is_some() {
            return Err(invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set"));
        }
        return Ok((Some(cpu_quota_us(nano)?), Some(CPU_PERIOD_US)));
    }
    if let Some(p) = period
        && !CPU_PERIOD_RANGE.contains(&p)
    {
        return Err(invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"));
    }
    let quota = match quota {
        Some(q) if q > 0 && q < MIN_CPU_QUOTA_US => {
            return Err(invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
        }
        Some(q) if q < 0 => Some(-1),
        other => other,
    };
    Ok((quota, period.map(|p| p as u64)))
}

/// Docker's `--cpus` → CFS quota: `nano × period / 1e9`, refused outside 0.01..=host CPUs.
fn cpu_quota_us(nano_cpus: i64) -> Result<i64, CgroupError> {
    let quota = (nano_cpus as u128 * CPU_PERIOD_US as u128 / 1_000_000_000) as i64;
    let host_cpus = host_cpu_count();
    if quota < MIN_CPU_QUOTA_US || nano_cpus as u128 > host_cpus as u128 * 1_000_000_000 {
        return Err(invalid(format!(
            "Range of CPUs is from 0.01 to {host_cpus}.00, as there are only {host_cpus} CPUs available"
        )));
    }
    Ok(quota)
}

/// The CPUs this process may run on, as Docker counts them (Go's runtime.NumCPU).
fn host_cpu_count() -> usize {
    match nix::sched::sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count()).filter(|&cpu| set.is_set(cpu).unwrap_or(false)).count().max(1),
        Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// runc's conversion of v1 `cpu.shares` (2..=262144) to v2 `cpu.weight` (1..=10000).
pub(super) fn cpu_weight(shares: u64) -> u64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// runc's conversion of v1 `blkio.weight` (10..=1000) to v2 `io.weight` (1..=10000).
pub(super) fn io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}

/// A `--cpuset-cpus`/`--cpuset-mems` list, checked for syntax and against what the host has
/// (Docker's messages); an empty list is unset.
fn cpuset(list: Option<&str>, file: &str, what: &str) -> Result<Option<String>, CgroupError> {
    let Some(list) = list.map(str::trim).filter(|l| !l.is_empty()) else { return Ok(None) };
    let requested = parse_list(list).ok_or_else(|| invalid(format!("Invalid value {list} for cpuset {file}")))?;
    if let Some(available) = host_cpuset(file)
        && let Some(all) = parse_list(&available)
        && requested.iter().any(|n| !all.contains(n))
    {
        return Err(invalid(format!("Requested {what} are not available - requested {list}, available: {available}")));
    }
    Ok(Some(list.to_owned()))
}

/// The kernel's list syntax (`0-3,5`) as numbers; None if malformed.
fn parse_list(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b - a > 65_536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// The host's CPUs or memory nodes for containers (`cpus` or `mems`): the root cpuset's.
fn host_cpuset(file: &str) -> Option<String> {
    let root = Path::new(DEFAULT_ROOT);
    let path = match detect_at(root) {
        CgroupVersion::V1 => root.join("cpuset").join(format!("cpuset.{file}")),
        CgroupVersion::V2 => root.join(format!("cpuset.{file}.effective")),
    };
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `MAJOR:MINOR` of the block device node at `path`.
fn block_device_number(path: &str) -> Result<String, CgroupError> {
    let meta = std::fs::metadata(path).map_err(|e| invalid(format!("{path}: {e}")))?;
    if !meta.file_type().is_block_device() {
        return Err(invalid(format!("{path} is not a block device")));
    }
    Ok(format!("{}:{}", nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_dockers_conversions() {
        let r = Resources {
            memory: Some(64 << 20),
            nano_cpus: Some(500_000_000),
            cpu_shares: Some(512),
            pids_limit: Some(20),
            ..Resources::default()
        };
        let limits = Limits::from_resources(&r).unwrap();
        assert_eq!(
            limits,
            Limits {
                memory: Some(64 << 20),
                memory_swap: Some(128 << 20),
                cpu_quota_us: Some(50_000),
                cpu_period_us: Some(100_000),
                cpu_shares: Some(512),
                pids_max: Some("20".into()),
                ..Limits::default()
            }
        );
        assert_eq!(limits.controllers(), ["memory", "cpu", "pids"]);

        let unset = Resources {
            memory: Some(0),
            nano_cpus: Some(0),
            cpu_shares: Some(0),
            pids_limit: Some(-1),
            cpu_period: Some(0),
            cpu_quota: Some(0),
            blkio_weight: Some(0),
            memory_swap: Some(0),
            cpuset_cpus: Some(String::new()),
            ..Resources::default()
        };
        let limits = Limits::from_resources(&unset).unwrap();
        assert_eq!(limits, Limits { pids_max: Some("max".into()), ..Limits::default() });
        assert_eq!(Limits::from_resources(&Resources::default()).unwrap(), Limits::default());

        let huge_shares = Resources { cpu_shares: Some(1 << 40), ..Resources::default() };
        assert_eq!(Limits::from_resources(&huge_shares).unwrap().cpu_shares, Some(262_144));
    }

    #[test]
    fn swap_reservation_and_cfs_follow_dockers_rules() {
        let mem = |swap, reservation| Resources {
            memory: Some(64 << 20),
            memory_swap: swap,
            memory_reservation: reservation,
            ..Resources::default()
        };
        assert_eq!(Limits::from_resources(&mem(Some(-1), None)).unwrap().memory_swap, Some(-1));
        assert_eq!(Limits::from_resources(&mem(Some(100 << 20), None)).unwrap().memory_swap, Some(100 << 20));
        let err = Limits::from_resources(&mem(Some(32 << 20), None)).unwrap_err();
        assert_eq!(err.to_string(), "Minimum memoryswap limit should be larger than memory limit, see usage");
        let alone = Resources { memory_swap: Some(100 << 20), ..Resources::default() };
        let err = Limits::from_resources(&alone).unwrap_err();
        assert_eq!(err.to_string(), "You should always set the Memory limit when using Memoryswap limit, see usage");
        assert_eq!(Limits::from_resources(&mem(None, Some(32 << 20))).unwrap().memory_low, Some(32 << 20));
        let err = Limits::from_resources(&mem(None, Some(128 << 20))).unwrap_err();
        assert!(err.to_string().starts_with("Minimum memory limit can not be less than memory reservation"), "{err}");

        let cfs = |period, quota, nano| Resources {
            cpu_period: period,
            cpu_quota: quota,
            nano_cpus: nano,
            ..Resources::default()
        };
        let limits = Limits::from_resources(&cfs(Some(50_000), Some(25_000), None)).unwrap();
        assert_eq!((limits.cpu_quota_us, limits.cpu_period_us), (Some(25_000), Some(50_000)));
        assert_eq!(Limits::from_resources(&cfs(None, Some(-5), None)).unwrap().cpu_quota_us, Some(-1));
        assert!(Limits::from_resources(&cfs(Some(999), None, None)).is_err());
        assert!(Limits::from_resources(&cfs(Some(1_000_001), None, None)).is_err());
        assert!(Limits::from_resources(&cfs(None, Some(999), None)).is_err());
        let err = Limits::from_resources(&cfs(Some(50_000), None, Some(1_000_000_000))).unwrap_err();
        assert_eq!(err.to_string(), "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }

    #[test]
    fn out_of_range_limits_are_refused() {
        let tiny_memory = Resources { memory: Some(1 << 20), ..Resources::default() };
        assert!(matches!(Limits::from_resources(&tiny_memory), Err(CgroupError::Invalid(_))));
        let tiny_cpus = Resources { nano_cpus: Some(1_000_000), ..Resources::default() };
        assert!(matches!(Limits::from_resources(&tiny_cpus), Err(CgroupError::Invalid(_))));
        let too_many_cpus = Resources { nano_cpus: Some(100_000 * 1_000_000_000), ..Resources::default() };
        let err = Limits::from_resources(&too_many_cpus).unwrap_err();
        assert!(err.to_string().starts_with("Range of CPUs is from 0.01 to "), "{err}");
        let hundredth = Resources { nano_cpus: Some(10_000_000), ..Resources::default() };
        assert_eq!(Limits::from_resources(&hundredth).unwrap().cpu_quota_us, Some(1_000));
        let weight = Resources { blkio_weight: Some(5), ..Resources::default() };
        assert_eq!(
            Limits::from_resources(&weight).unwrap_err().to_string(),
            "Range of blkio weight is from 10 to 1000"
        );
        let cpus = Resources { cpuset_cpus: Some("0-x".into()), ..Resources::default() };
        assert_eq!(Limits::from_resources(&cpus).unwrap_err().to_string(), "Invalid value 0-x for cpuset cpus");
        let far = Resources { cpuset_cpus: Some("4095".into()), ..Resources::default() };
        let err = Limits::from_resources(&far).unwrap_err().to_string();
        assert!(err.starts_with("Requested CPUs are not available - requested 4095, available: "), "{err}");
        let not_block = Resources {
            device_read_bps: vec![ThrottleDevice { path: "/dev/null".into(), rate: 1 }],
            ..Resources::default()
        };
        assert_eq!(Limits::from_resources(&not_block).unwrap_err().to_string(), "/dev/null is not a block device");
    }

    #[test]
    fn lists_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_list("3"), Some(vec![3]));
        for bad in ["", "a", "2-1", "1,", "-1"] {
            assert_eq!(parse_list(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn weights_convert_as_runc_does() {
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1), 1);
        assert_eq!(cpu_weight(512), 20);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(500), 4950);
        assert_eq!(io_weight(1000), 10_000);
    }

    #[test]
    fn unsupported_limits_are_found_per_version() {
        let root = tempfile::tempdir().unwrap();
        let r = Resources {
            blkio_weight: Some(300),
            memory_swap: Some(-1),
            oom_kill_disable: true,
            ..Resources::default()
        };
        assert_eq!(unsupported_at(root.path(), &r), [Unsupported::BlkioWeight, Unsupported::SwapLimit]);
        std::fs::create_dir_all(root.path().join("blkio")).unwrap();
        std::fs::write(root.path().join("blkio/blkio.bfq.weight"), "100").unwrap();
        assert_eq!(unsupported_at(root.path(), &r), [Unsupported::SwapLimit]);
        std::fs::write(root.path().join("cgroup.controllers"), "memory").unwrap();
        assert_eq!(unsupported_at(root.path(), &r), [Unsupported::OomKillDisable]);
    }
}
