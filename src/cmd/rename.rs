use anyhow::{Context, Result};
use clap::Args;

use super::Ctx;

#[derive(Args, Debug)]
pub struct RenameArgs {
    /// Container to rename
    pub container: String,
    /// Its new name
    pub new_name: String,
}

pub fn run(ctx: &Ctx, args: RenameArgs) -> Result<u8> {
    crate::container::lifecycle::rename(ctx.store()?, &args.container, &args.new_name)
        .with_context(|| format!("cannot rename container {}", args.container))?;
    Ok(0)
}
