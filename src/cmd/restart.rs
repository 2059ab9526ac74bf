use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::for_each_container;
use super::stop::StopOptions;
use crate::container::lifecycle::restart;
use crate::container::signals::parse_signal;

#[derive(Args, Debug)]
pub struct RestartArgs {
    #[command(flatten)]
    pub options: StopOptions,
    /// Containers to restart
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: RestartArgs) -> Result<u8> {
    let signal = args.options.signal.as_deref().map(parse_signal).transpose()?;
    for_each_container(ctx, &args.containers, "restart", |store, container| {
        Ok(restart(store, container, args.options.timeout, signal)?)
    })
}
