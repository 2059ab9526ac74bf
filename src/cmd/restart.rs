use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::for_each_container;
use super::stop::StopOptions;
use crate::container::index::load;
use crate::container::lifecycle::stop;
use crate::container::signals::parse_signal;
use crate::container::start::start;

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
        stop(store, container, args.options.timeout, signal)?;
        // Its record as the stop left it (a --rm container is gone).
        let stopped = load(store, &container.id)?;
        // Started detached: its supervisor serves whoever attaches later.
        drop(start(store, &stopped)?);
        Ok(())
    })
}
