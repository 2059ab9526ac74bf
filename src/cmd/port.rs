//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: a running container's published ports, as
//! Docker prints them. Read-only: no lock.

use anyhow::Result;
use clap::Args;

use super::Ctx;
use crate::container::lifecycle::load_current;
use crate::container::net_view::{LiveNetworks, port_lines};

#[derive(Args, Debug)]
pub struct PortArgs {
    /// Container
    pub container: String,
    /// Only this port of the container (PORT or PORT/PROTO)
    pub port: Option<String>,
}

pub fn run(ctx: &Ctx, args: PortArgs) -> Result<u8> {
    let store = ctx.store()?;
    let container = load_current(store, &args.container)?;
    let live = LiveNetworks::load(store);
    match port_lines(&container, &live, args.port.as_deref()) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            Ok(0)
        }
        // Docker's exit status for this one (a daemon error there).
        Err(message) => {
            eprintln!("berth: {message}");
            Ok(1)
        }
    }
}
