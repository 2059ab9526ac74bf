//! `run`/`create`'s resource and kernel-setting flags beyond `-m`, `--cpus`, `-c` and
//! `--pids-limit`, with Docker's names (see container::resource_options for their rules).

use clap::Args;

use crate::container::resource_options::ResourceFlags;

#[derive(Args, Debug, Clone, Default)]
pub struct ResourceArgs {
    /// Swap limit equal to memory plus swap: -1 for unlimited swap
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Disable OOM Killer
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long, value_name = "MICROSECONDS")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, value_name = "MICROSECONDS", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
    /// Limit read rate (bytes per second) from a device: PATH:RATE
    #[arg(long, value_name = "PATH:RATE")]
    pub device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device: PATH:RATE
    #[arg(long, value_name = "PATH:RATE")]
    pub device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device: PATH:RATE
    #[arg(long, value_name = "PATH:RATE")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device: PATH:RATE
    #[arg(long, value_name = "PATH:RATE")]
    pub device_write_iops: Vec<String>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Add a rule to the cgroup allowed devices list: 'c|b|a MAJOR|*:MINOR|* rwm'
    #[arg(long, value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,
    /// Cgroup namespace to use: host or private
    #[arg(long, value_name = "MODE")]
    pub cgroupns: Option<String>,
    /// Size of /dev/shm (default 64m)
    #[arg(long, value_name = "BYTES")]
    pub shm_size: Option<String>,
    /// Sysctl options of the container's namespaces (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// Add additional groups to join
    #[arg(long, value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Add an annotation to the container (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// PID namespace to use: host or container:NAME
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,
    /// IPC mode to use: host, private, shareable, none or container:NAME
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// UTS namespace to use: host
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,
    /// Logging driver for the container: k8s-file (default), json-file or none
    #[arg(long, value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// Log driver options: max-size=SIZE, max-file=N
    #[arg(long, value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
}

impl ResourceArgs {
    pub fn flags(&self) -> ResourceFlags {
        ResourceFlags {
            memory_swap: self.memory_swap.clone(),
            memory_reservation: self.memory_reservation.clone(),
            oom_kill_disable: self.oom_kill_disable,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            blkio_weight: self.blkio_weight,
            device_read_bps: self.device_read_bps.clone(),
            device_write_bps: self.device_write_bps.clone(),
            device_read_iops: self.device_read_iops.clone(),
            device_write_iops: self.device_write_iops.clone(),
            oom_score_adj: self.oom_score_adj,
            device_cgroup_rules: self.device_cgroup_rule.clone(),
            cgroupns: self.cgroupns.clone(),
            shm_size: self.shm_size.clone(),
            sysctls: self.sysctl.clone(),
            group_add: self.group_add.clone(),
            annotations: self.annotation.clone(),
            pid: self.pid.clone(),
            ipc: self.ipc.clone(),
            uts: self.uts.clone(),
            log_driver: self.log_driver.clone(),
            log_opts: self.log_opt.clone(),
        }
    }
}
