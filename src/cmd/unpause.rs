use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::for_each_container;
use crate::container::lifecycle::unpause;

#[derive(Args, Debug)]
pub struct UnpauseArgs {
    /// Containers to unpause
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: UnpauseArgs) -> Result<u8> {
    for_each_container(ctx, &args.containers, "unpause", |store, container| Ok(unpause(store, container)?))
}
