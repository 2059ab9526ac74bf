use anyhow::Result;
use clap::Args;

use super::Ctx;

#[derive(Args, Debug)]
pub struct SaveArgs {}

pub fn run(_ctx: &Ctx, _args: SaveArgs) -> Result<u8> {
    anyhow::bail!("save: being written")
}
