use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use crate::container::index::load;
use crate::container::start::{Launch, connect_running, launch};

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach to the container's output and wait for it to exit
    #[arg(short, long)]
    pub attach: bool,
    /// Attach the container's stdin
    #[arg(short, long)]
    pub interactive: bool,
    /// Key sequence for detaching
    #[arg(long)]
    pub detach_keys: Option<String>,
    /// Containers to start
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, args: StartArgs) -> Result<u8> {
    let store = ctx.store()?;
    if args.attach && args.containers.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    let detach_keys = super::run::parse_detach_keys(args.detach_keys.as_deref())?;
    let mut failed = None;
    for name in &args.containers {
        let result = load(store, name).map_err(anyhow::Error::from).and_then(|c| Ok((launch(store, &c)?, c)));
        match result {
            Ok((launched, container)) => {
                if args.attach {
                    // A container that runs already (or that another command started meanwhile)
                    // is attached to, as Docker's `start -a` does.
                    let started = match launched {
                        Launch::Started(started) => started,
                        Launch::AlreadyRunning => connect_running(store, &container)
                            .with_context(|| format!("attaching to container {name}"))?,
                    };
                    return super::run::attach_until_exit(
                        started,
                        args.interactive && container.config.open_stdin,
                        container.config.tty,
                        true,
                        detach_keys,
                    );
                }
                println!("{name}");
            }
            Err(e) => {
                if args.containers.len() == 1 {
                    return Err(e.context(format!("starting container {name}")));
                }
                eprintln!("berth: starting container {name}: {e:#}");
                failed = Some(super::exit_codes::exit_code_for(&e));
            }
        }
    }
    Ok(failed.unwrap_or(0))
}
