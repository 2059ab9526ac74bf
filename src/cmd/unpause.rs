use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::{Selection, for_each_container};
use crate::container::lifecycle::unpause;

#[derive(Args, Debug)]
pub struct UnpauseArgs {
    /// Unpause every paused container (Podman's --all)
    #[arg(short, long)]
    pub all: bool,
    /// Containers to unpause
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: UnpauseArgs) -> Result<u8> {
    let names = super::container::named_or_all(ctx, &args.containers, args.all, Selection::Paused)?;
    for_each_container(ctx, &names, "unpause", |store, container| Ok(unpause(store, container)?))
}
