use anyhow::Result;
use clap::Args;

use super::Ctx;

#[derive(Args, Debug)]
pub struct LoginArgs {}

pub fn run(_ctx: &Ctx, _args: LoginArgs) -> Result<u8> {
    anyhow::bail!("login: being written")
}
