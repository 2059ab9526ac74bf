use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::for_each_container;
use crate::container::lifecycle::remove;

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Kill and remove running containers
    #[arg(short, long)]
    pub force: bool,
    /// Remove the container's anonymous volumes (those no other container uses)
    #[arg(short, long)]
    pub volumes: bool,
    /// Containers to remove
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: RmArgs) -> Result<u8> {
    for_each_container(ctx, &args.containers, "remove", |store, container| {
        remove(store, container, args.force)?;
        if args.volumes {
            for (volume, why) in crate::container::volumes::remove_anonymous(store, container)? {
                eprintln!("berth: removing volume {volume}: {why}");
            }
        }
        Ok(())
    })
}
