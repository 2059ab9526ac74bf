use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use super::run::{attach_until_exit, parse_detach_keys};
use crate::container::lifecycle::load_current;
use crate::container::protocol::connect_attach;
use crate::container::record::Status;
use crate::container::start::Started;

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach standard input
    #[arg(long)]
    pub no_stdin: bool,
    /// Key sequence for detaching (default ctrl-p,ctrl-q)
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Forward signals received by berth to the container
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    /// Container
    pub container: String,
}

/// Relays the terminal to a running container until it exits (berth then exits with its code)
/// or the user detaches.
pub fn run(ctx: &Ctx, args: AttachArgs) -> Result<u8> {
    let detach_keys = parse_detach_keys(args.detach_keys.as_deref())?;
    let store = ctx.store()?;
    let container = load_current(store, &args.container)?;
    match container.state.status {
        Status::Running => {}
        Status::Paused => bail!("you cannot attach to a paused container, unpause it first"),
        Status::Created | Status::Exited => bail!("you cannot attach to a stopped container, start it first"),
        Status::Starting => bail!("container {} is still being started", args.container),
    }
    let connection = connect_attach(&store.container_run_dir(&container.id))
        .with_context(|| format!("attaching to container {}: reaching its supervisor", args.container))?;
    let started = Started { pid: container.state.pid, connection };
    let stdin = !args.no_stdin && container.config.open_stdin;
    attach_until_exit(started, stdin, container.config.tty, args.sig_proxy, detach_keys)
}
