//! `compose top` (each running container's processes) and `compose wait` (until the
//! services' containers end).

use anyhow::Result;
use clap::Args;

use super::{ComposeArgs, load_project};
use crate::cmd::Ctx;
use crate::cmd::template::print_table;
use crate::compose::engine::{self, is_running, service_of};
use crate::container::top::{TOP_HEADER, container_pids, top_rows};

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Stop and remove the project once the first container has ended
    #[arg(long)]
    pub down_project: bool,
    /// Services
    #[arg(required = true)]
    pub services: Vec<String>,
}

pub fn top(ctx: &Ctx, global: &ComposeArgs, services: &[String]) -> Result<u8> {
    let project = load_project(global, services)?;
    let containers = engine::containers(ctx.store()?, &project.name, false)?;
    for c in containers.iter().filter(|c| is_running(c)) {
        if !services.is_empty() && !services.iter().any(|s| s == service_of(c)) {
            continue;
        }
        println!("{}", c.name);
        print_table(&TOP_HEADER, &top_rows(&container_pids(c)));
        println!();
    }
    Ok(0)
}

/// Docker Compose's `wait`: blocks until the services' containers have ended, and exits
/// with the first one's code.
pub fn wait(ctx: &Ctx, global: &ComposeArgs, args: &WaitArgs) -> Result<u8> {
    let project = load_project(global, &args.services)?;
    let store = ctx.store()?;
    let containers: Vec<_> = engine::containers(store, &project.name, false)?
        .into_iter()
        .filter(|c| args.services.iter().any(|s| s == service_of(c)))
        .collect();
    let mut first = None;
    for c in &containers {
        let code = crate::compose::readiness::wait_exited(store, c)?;
        first.get_or_insert(code);
    }
    if args.down_project {
        engine::down(store, &project, &engine::DownOptions::default(), &mut super::verbs::Lines)?;
    }
    Ok(first.map_or(0, |code| u8::try_from(code).unwrap_or(1)))
}
