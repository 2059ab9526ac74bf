use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::Ctx;
use crate::container::index::load;
use crate::container::record::Container;
use crate::image::progress::human_size;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(super::ps::PsArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(super::rm::RmArgs),
    /// Stop one or more running containers
    Stop(super::stop::StopArgs),
    /// Kill one or more running containers
    Kill(super::kill::KillArgs),
    /// Start stopped or created containers
    Start(super::start::StartArgs),
    /// Create a container without starting it
    #[command(disable_help_flag = true)]
    Create(super::create::CreateArgs),
    /// Create and run a container
    #[command(disable_help_flag = true)]
    Run(super::run::RunArgs),
    /// Show low-level information about containers
    Inspect(super::inspect::InspectArgs),
    /// Show a container's output
    Logs(super::logs::LogsArgs),
    /// Wait for containers to stop, then print their exit codes
    Wait(super::wait::WaitArgs),
    /// Attach the terminal to a running container
    Attach(super::attach::AttachArgs),
    /// Run a command in a running container
    Exec(super::exec::ExecArgs),
    /// Show a container's processes
    Top(super::top::TopArgs),
    /// List a container's published ports
    Port(super::port::PortArgs),
    /// Show containers' resource usage
    Stats(super::stats::StatsArgs),
    /// Pause all processes in containers
    Pause(super::pause::PauseArgs),
    /// Unpause all processes in containers
    Unpause(super::unpause::UnpauseArgs),
    /// Rename a container
    Rename(super::rename::RenameArgs),
    /// Update the resource limits and restart policy of containers
    Update(super::update::UpdateArgs),
    /// Restart one or more containers
    Restart(super::restart::RestartArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Exit 0 if a container exists, 1 if not
    Exists(super::exists::ExistsArgs),
    /// List the changes to a container's filesystem (A added, C changed, D deleted)
    Diff(super::diff::DiffArgs),
}

impl ContainerCommand {
    /// Only the verbs that change the store need berth's user namespace (see
    /// `super::needs_user_namespace`); `exec` must not be in it, it joins the container's own.
    pub fn needs_user_namespace(&self) -> bool {
        !matches!(
            self,
            ContainerCommand::Ls(_)
                | ContainerCommand::Inspect(_)
                | ContainerCommand::Logs(_)
                | ContainerCommand::Wait(_)
                | ContainerCommand::Exec(_)
                | ContainerCommand::Top(_)
                | ContainerCommand::Port(_)
                | ContainerCommand::Stats(_)
                | ContainerCommand::Exists(_)
        )
    }
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, command: ContainerCommand) -> Result<u8> {
    match command {
        ContainerCommand::Ls(a) => super::ps::run(ctx, a),
        ContainerCommand::Rm(a) => super::rm::run(ctx, a),
        ContainerCommand::Stop(a) => super::stop::run(ctx, a),
        ContainerCommand::Kill(a) => super::kill::run(ctx, a),
        ContainerCommand::Start(a) => super::start::run(ctx, a),
        ContainerCommand::Create(a) => super::create::run(ctx, a),
        ContainerCommand::Run(a) => super::run::run(ctx, a),
        ContainerCommand::Inspect(a) => super::inspect::run_containers(ctx, a),
        ContainerCommand::Logs(a) => super::logs::run(ctx, a),
        ContainerCommand::Wait(a) => super::wait::run(ctx, a),
        ContainerCommand::Attach(a) => super::attach::run(ctx, a),
        ContainerCommand::Exec(a) => super::exec::run(ctx, a),
        ContainerCommand::Top(a) => super::top::run(ctx, a),
        ContainerCommand::Port(a) => super::port::run(ctx, a),
        ContainerCommand::Stats(a) => super::stats::run(ctx, a),
        ContainerCommand::Pause(a) => super::pause::run(ctx, a),
        ContainerCommand::Unpause(a) => super::unpause::run(ctx, a),
        ContainerCommand::Rename(a) => super::rename::run(ctx, a),
        ContainerCommand::Update(a) => super::update::run(ctx, a),
        ContainerCommand::Restart(a) => super::restart::run(ctx, a),
        ContainerCommand::Prune(a) => prune(ctx, a),
        ContainerCommand::Exists(a) => super::exists::container(ctx, a),
        ContainerCommand::Diff(a) => super::diff::run(ctx, a),
    }
}

fn prune(ctx: &Ctx, args: PruneArgs) -> Result<u8> {
    if !args.force
        && !super::prune::confirmed(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        eprintln!("berth: container prune: not confirmed (use -f to prune without asking)");
        return Ok(1);
    }
    let pruned = crate::container::lifecycle::prune(ctx.store()?, &|_| false).context("pruning containers")?;
    if !pruned.ids.is_empty() {
        println!("Deleted Containers:");
        for id in &pruned.ids {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(pruned.bytes));
    Ok(0)
}

/// Which containers `--all` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Running or paused.
    Live,
    Running,
    Paused,
    Any,
}

/// `names`, or with `all` the id of every container `selection` takes, by its current state.
pub fn named_or_all(ctx: &Ctx, names: &[String], all: bool, selection: Selection) -> Result<Vec<String>> {
    use crate::container::query::{Filters, Query, list};
    use crate::container::record::Status;
    if !all {
        return Ok(names.to_vec());
    }
    let query = Query { all: true, last: None, filters: Filters::parse::<&str>(&[])? };
    let containers = list(ctx.store()?, &ctx.settings, &query).context("listing containers")?;
    let wanted = |status: Status| match selection {
        Selection::Live => matches!(status, Status::Running | Status::Paused),
        Selection::Running => matches!(status, Status::Running),
        Selection::Paused => matches!(status, Status::Paused),
        Selection::Any => true,
    };
    Ok(containers.into_iter().filter(|c| wanted(c.state.status)).map(|c| c.id).collect())
}

/// Runs `action` on each named container, printing the name as given when it succeeds (as
/// Docker's stop, kill, rm, pause… do). One container: its failure is the command's error.
/// Several: each failure is reported and the others still get their turn; the exit code is the
/// last failure's (see `exit_codes`).
pub fn for_each_container(
    ctx: &Ctx,
    names: &[String],
    what: &str,
    mut action: impl FnMut(&Store, &Container) -> Result<()>,
) -> Result<u8> {
    let store = ctx.store()?;
    let mut failed = None;
    for name in names {
        let result = load(store, name)
            .map_err(anyhow::Error::from)
            .and_then(|container| action(store, &container))
            .with_context(|| format!("cannot {what} container {name}"));
        match result {
            Ok(()) => println!("{name}"),
            Err(e) if names.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("berth: {e:#}");
                failed = Some(super::exit_codes::exit_code_for(&e));
            }
        }
    }
    Ok(failed.unwrap_or(0))
}
