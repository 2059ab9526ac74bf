use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::for_each_container;
use crate::container::lifecycle::kill;
use crate::container::signals::parse_signal;

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Containers to kill
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: KillArgs) -> Result<u8> {
    let signal = parse_signal(&args.signal)?;
    for_each_container(ctx, &args.containers, "kill", |store, container| Ok(kill(store, container, signal)?))
}
