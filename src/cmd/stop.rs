use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::for_each_container;
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
    /// Containers to stop
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: StopArgs) -> Result<u8> {
    let signal = args.options.signal.as_deref().map(parse_signal).transpose()?;
    for_each_container(ctx, &args.containers, "stop", |store, container| {
        Ok(stop(store, container, args.options.timeout, signal)?)
    })
}
