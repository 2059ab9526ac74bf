use anyhow::Result;
use clap::Args;

use super::Ctx;

#[derive(Args, Debug)]
pub struct LoadArgs {}

pub fn run(_ctx: &Ctx, _args: LoadArgs) -> Result<u8> {
    anyhow::bail!("load: being written")
}
