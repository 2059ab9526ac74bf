//! `compose port`: where a service's container port is published on the host.

use anyhow::{Result, bail};
use clap::Args;

use super::{ComposeArgs, load_project};
use crate::cmd::Ctx;
use crate::compose::engine::{self, number_of, service_of};
use crate::container::net_view::{LiveNetworks, port_lines};

#[derive(Args, Debug)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp", value_parser = ["tcp", "udp", "sctp"])]
    pub protocol: String,
    /// Which replica (container number)
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Service
    pub service: String,
    /// The container's port
    pub private_port: u16,
}

pub fn port(ctx: &Ctx, global: &ComposeArgs, args: &PortArgs) -> Result<u8> {
    let project = load_project(global, std::slice::from_ref(&args.service))?;
    let store = ctx.store()?;
    let found = engine::containers(store, &project.name, false)?
        .into_iter()
        .find(|c| service_of(c) == args.service && number_of(c) == args.index);
    let Some(container) = found else {
        bail!("service {:?} has no container number {}", args.service, args.index);
    };
    let asked = format!("{}/{}", args.private_port, args.protocol);
    match port_lines(&container, &LiveNetworks::load(store), Some(&asked)) {
        Ok(lines) => {
            // Docker Compose prints the first binding only.
            println!("{}", lines[0]);
            Ok(0)
        }
        Err(message) => bail!(message),
    }
}
