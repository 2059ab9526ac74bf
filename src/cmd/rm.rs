use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::container::{Selection, for_each_container};
use crate::container::lifecycle::{remove, stop};

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Kill and remove running containers
    #[arg(short, long)]
    pub force: bool,
    /// With -f, seconds to wait for a running container to stop before killing it (Podman's)
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    pub time: Option<u32>,
    /// Remove the container's anonymous volumes (those no other container uses)
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove every container (Podman's --all)
    #[arg(short, long)]
    pub all: bool,
    /// Containers to remove
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: RmArgs) -> Result<u8> {
    let names = super::container::named_or_all(ctx, &args.containers, args.all, Selection::Any)?;
    for_each_container(ctx, &names, "remove", |store, container| {
        if let (true, Some(seconds)) = (args.force, args.time) {
            stop(store, container, Some(seconds), None)?;
        }
        remove(store, container, args.force)?;
        if args.volumes {
            for (volume, why) in crate::container::volumes::remove_anonymous(store, container)? {
                eprintln!("berth: removing volume {volume}: {why}");
            }
        }
        Ok(())
    })
}
