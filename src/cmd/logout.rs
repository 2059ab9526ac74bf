use anyhow::Result;
use clap::Args;

use super::Ctx;

#[derive(Args, Debug)]
pub struct LogoutArgs {}

pub fn run(_ctx: &Ctx, _args: LogoutArgs) -> Result<u8> {
    anyhow::bail!("logout: being written")
}
