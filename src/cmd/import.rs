use anyhow::Result;
use clap::Args;

use super::Ctx;

#[derive(Args, Debug)]
pub struct ImportArgs {}

pub fn run(_ctx: &Ctx, _args: ImportArgs) -> Result<u8> {
    anyhow::bail!("import: being written")
}
