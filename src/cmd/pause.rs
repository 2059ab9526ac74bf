use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::for_each_container;
use crate::container::lifecycle::pause;

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// Containers to pause
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: PauseArgs) -> Result<u8> {
    for_each_container(ctx, &args.containers, "pause", |store, container| Ok(pause(store, container)?))
}
