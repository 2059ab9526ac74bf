//! `berth update`: change the resource limits and restart policy of containers, running or
//! not (Docker's flags).

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use crate::container::resource_update::{ResourceUpdate, update_resources};
use crate::container::restart::RestartPolicy;

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long, value_name = "MICROSECONDS")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, value_name = "MICROSECONDS", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Containers to update
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// A size flag: bytes with an optional unit; `-1` where `unlimited` allows it.
fn size(flag: &str, text: &Option<String>, unlimited: bool) -> Result<Option<i64>> {
    let Some(text) = text else { return Ok(None) };
    if unlimited && text.trim() == "-1" {
        return Ok(Some(-1));
    }
    match crate::container::mounts::parse_size(text) {
        Some(bytes) => Ok(Some(bytes.min(i64::MAX as u64) as i64)),
        None => bail!("invalid argument {text:?} for \"--{flag}\" flag: invalid size: use a number with b, k, m or g"),
    }
}

impl UpdateArgs {
    fn change(&self) -> Result<ResourceUpdate> {
        if let Some(cpus) = self.cpus
            && (cpus.is_nan() || cpus.is_infinite() || cpus < 0.0)
        {
            bail!("invalid argument \"{cpus}\" for \"--cpus\" flag: must be a positive number, or 0 for no limit");
        }
        Ok(ResourceUpdate {
            memory: size("memory", &self.memory, false)?,
            memory_swap: size("memory-swap", &self.memory_swap, true)?,
            memory_reservation: size("memory-reservation", &self.memory_reservation, false)?,
            nano_cpus: self.cpus.map(|c| (c * 1e9) as i64),
            cpu_shares: self.cpu_shares,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            blkio_weight: self.blkio_weight,
            pids_limit: self.pids_limit,
            restart: self.restart.as_deref().map(RestartPolicy::parse).transpose()?,
        })
    }
}

pub fn run(ctx: &Ctx, args: UpdateArgs) -> Result<u8> {
    let change = args.change()?;
    let store = ctx.store()?;
    for name in &args.containers {
        update_resources(store, name, &change).with_context(|| format!("updating container {name}"))?;
        println!("{name}");
    }
    Ok(0)
}
