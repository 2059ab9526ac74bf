use anyhow::{Context, Result};
use clap::Args;

use super::Ctx;
use crate::container::index::load;

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Containers to wait for
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Prints each container's exit code once it has exited, in the order given.
pub fn run(ctx: &Ctx, args: WaitArgs) -> Result<u8> {
    let store = ctx.store()?;
    let mut failed = None;
    for name in &args.containers {
        let result = load(store, name)
            .map_err(anyhow::Error::from)
            .and_then(|c| Ok(crate::container::lifecycle::wait(store, &c)?))
            .with_context(|| format!("waiting for container {name}"));
        match result {
            Ok(code) => println!("{code}"),
            Err(e) if args.containers.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("berth: {e:#}");
                failed = Some(super::exit_codes::exit_code_for(&e));
            }
        }
    }
    Ok(failed.unwrap_or(0))
}
