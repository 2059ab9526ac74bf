use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::{Selection, for_each_container};
use crate::container::lifecycle::kill;
use crate::container::signals::parse_signal;

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Kill every running or paused container (Podman's --all)
    #[arg(short, long)]
    pub all: bool,
    /// Containers to kill
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: KillArgs) -> Result<u8> {
    let signal = parse_signal(&args.signal)?;
    let names = super::container::named_or_all(ctx, &args.containers, args.all, Selection::Live)?;
    for_each_container(ctx, &names, "kill", |store, container| Ok(kill(store, container, signal)?))
}
