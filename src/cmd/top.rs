use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::template::print_table;
use crate::container::lifecycle::load_current;
use crate::container::record::Status;
use crate::container::top::{TOP_HEADER, container_pids, top_rows};

#[derive(Args, Debug)]
pub struct TopArgs {
    /// Container
    pub container: String,
    /// ps options (accepted for compatibility; the columns are always those of `ps -ef`)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

pub fn run(ctx: &Ctx, args: TopArgs) -> Result<u8> {
    let container = load_current(ctx.store()?, &args.container)?;
    if !matches!(container.state.status, Status::Running | Status::Paused) {
        return Err(crate::container::lifecycle::LifecycleError::NotRunning(args.container.clone()).into());
    }
    let rows = top_rows(&container_pids(&container));
    print_table(&TOP_HEADER, &rows);
    Ok(0)
}
