use anyhow::{Context, Result};
use clap::Args;

use super::Ctx;
use crate::container::index::load;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Container whose changes to list
    pub container: String,
}

/// Docker's `diff`: one `A|C|D PATH` line per change of the container's filesystem.
pub fn run(ctx: &Ctx, args: DiffArgs) -> Result<u8> {
    let store = ctx.store()?;
    let container = load(store, &args.container)?;
    let changes = crate::container::diff::changes(store, &container)
        .with_context(|| format!("reading the changes of container {}", args.container))?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for change in changes {
        writeln!(out, "{} {}", change.kind.letter(), change.path)?;
    }
    Ok(0)
}
