use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::{Selection, for_each_container};
use crate::container::lifecycle::stop;
use crate::container::signals::parse_signal;

/// How to stop a container: the options `stop` and `restart` share.
#[derive(Args, Debug)]
pub struct StopOptions {
    /// Seconds to wait for the container to stop before killing it (default: its --stop-timeout, else 10)
    #[arg(short = 't', long = "timeout", visible_alias = "time", value_name = "SECONDS")]
    pub timeout: Option<u32>,
    /// Signal to send instead of the container's stop signal
    #[arg(short, long)]
    pub signal: Option<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    #[command(flatten)]
    pub options: StopOptions,
    /// Stop every running or paused container (Podman's --all)
    #[arg(short, long)]
    pub all: bool,
    /// Containers to stop
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: StopArgs) -> Result<u8> {
    let signal = args.options.signal.as_deref().map(parse_signal).transpose()?;
    let names = super::container::named_or_all(ctx, &args.containers, args.all, Selection::Live)?;
    for_each_container(ctx, &names, "stop", |store, container| {
        Ok(stop(store, container, args.options.timeout, signal)?)
    })
}
