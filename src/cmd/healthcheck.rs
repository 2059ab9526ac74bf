use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use super::Ctx;
use crate::container::health::{self, Schedule};
use crate::container::lifecycle::load_current;
use crate::container::record::Status;

#[derive(Subcommand, Debug)]
pub enum HealthcheckCommand {
    /// Run a container's health check once (exit 0 healthy, 1 unhealthy)
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Container
    pub container: String,
}

pub fn run(ctx: &Ctx, command: HealthcheckCommand) -> Result<u8> {
    let HealthcheckCommand::Run(args) = command;
    let store = ctx.store()?;
    let container = load_current(store, &args.container)?;
    let Some(check) = health::active(&container.config) else {
        bail!("container {} has no defined healthcheck", args.container);
    };
    if !matches!(container.state.status, Status::Running) {
        bail!("container {} is not running", args.container);
    }
    let schedule = Schedule::of(check);
    let result = health::run_once(store, &container.id, schedule.timeout)?;
    let failed = result.exit_code != 0;
    let since_start = container
        .state
        .started_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).to_std().ok())
        .unwrap_or_default();
    health::record_result(store, &container.id, container.state.pid, result, since_start)?;
    if failed {
        println!("unhealthy");
        return Ok(1);
    }
    Ok(0)
}
