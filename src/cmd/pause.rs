use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::{Selection, for_each_container};
use crate::container::lifecycle::pause;

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// Pause every running container (Podman's --all)
    #[arg(short, long)]
    pub all: bool,
    /// Containers to pause
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: PauseArgs) -> Result<u8> {
    let names = super::container::named_or_all(ctx, &args.containers, args.all, Selection::Running)?;
    for_each_container(ctx, &names, "pause", |store, container| Ok(pause(store, container)?))
}
