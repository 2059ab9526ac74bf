use anyhow::Result;
use clap::{Args, Subcommand};

use super::Ctx;
use crate::container::lifecycle::load_current;
use crate::container::systemd_unit::{UnitRequest, unit};

#[derive(Subcommand, Debug)]
pub enum GenerateCommand {
    /// Print a systemd unit that runs a container as a service
    Systemd(SystemdArgs),
}

#[derive(Args, Debug)]
pub struct SystemdArgs {
    /// Name the container (and the unit) by its name instead of its id
    #[arg(long)]
    pub name: bool,
    /// Create the container afresh at each start and remove it after each stop
    #[arg(long)]
    pub new: bool,
    /// systemd's Restart= for the unit: no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always
    #[arg(long, value_name = "POLICY", default_value = "on-failure")]
    pub restart_policy: String,
    /// Seconds the unit's stop waits before killing the container (default: its own, else 10)
    #[arg(short, long, value_name = "SECONDS")]
    pub time: Option<u32>,
    /// Container (name or id)
    pub container: String,
}

pub fn run(ctx: &Ctx, command: GenerateCommand) -> Result<u8> {
    match command {
        GenerateCommand::Systemd(args) => {
            let store = ctx.store()?;
            let container = load_current(store, &args.container)?;
            let berth = std::env::current_exe()?;
            let request = UnitRequest {
                use_name: args.name,
                new: args.new,
                restart_policy: &args.restart_policy,
                stop_timeout: args.time,
                berth: &berth,
            };
            let (_, text) = unit(store, &container, &request)?;
            print!("{text}");
            Ok(0)
        }
    }
}
