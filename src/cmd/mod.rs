//! The command line: global flags, one file per verb, and the dispatch between them.

mod attach;
mod build;
mod commit;
mod completion;
mod compose;
mod container;
mod cp;
mod create;
mod diff;
mod events;
pub(crate) mod exec;
mod exists;
pub(crate) mod exit_codes;
mod export;
mod flag_syntax;
mod generate;
mod health_flags;
mod healthcheck;
mod history;
mod image;
mod images;
mod import;
mod info;
mod inspect;
mod kill;
mod load;
mod login;
mod logout;
mod logs;
mod man;
mod network;
mod network_flags;
mod pause;
mod port;
mod prune;
mod ps;
mod pull;
mod push;
mod rename;
mod restart;
mod rm;
mod rmi;
pub(crate) mod run;
mod run_flags_extra;
mod save;
mod start;
mod stats;
mod stop;
mod system;
mod tag;
pub(crate) mod template;
mod top;
mod unpause;
mod version;
mod volume;
mod wait;

use std::cell::OnceCell;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::{self, Settings};
use crate::image::ImageError;
use crate::store::{Store, StoreError};

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A daemonless, rootless-first container tool",
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Store root (images, layers, containers)
    #[arg(long, global = true, env = "BERTH_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Runtime state directory (sockets, pids)
    #[arg(long, global = true, env = "BERTH_RUNROOT", value_name = "DIR")]
    pub runroot: Option<PathBuf>,
    /// Configuration file to use instead of /etc/berth/config.toml and ~/.config/berth/config.toml
    #[arg(long, global = true, env = "BERTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Logging level: error, warn, info or debug
    #[arg(long, global = true, value_name = "LEVEL", default_value = "warn", value_parser = ["error", "warn", "info", "debug"])]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a container
    #[command(disable_help_flag = true)]
    Run(run::RunArgs),
    /// Create a container without starting it
    #[command(disable_help_flag = true)]
    Create(create::CreateArgs),
    /// Start stopped or created containers
    Start(start::StartArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Show a container's output
    Logs(logs::LogsArgs),
    /// Stop one or more running containers
    Stop(stop::StopArgs),
    /// Kill one or more running containers
    Kill(kill::KillArgs),
    /// Remove one or more containers
    Rm(rm::RmArgs),
    /// Wait for containers to stop, then print their exit codes
    Wait(wait::WaitArgs),
    /// Attach the terminal to a running container
    Attach(attach::AttachArgs),
    /// Run a command in a running container
    Exec(exec::ExecArgs),
    /// Show a container's processes
    Top(top::TopArgs),
    /// List a container's published ports
    Port(port::PortArgs),
    /// Show containers' resource usage
    Stats(stats::StatsArgs),
    /// Pause all processes in containers
    Pause(pause::PauseArgs),
    /// Unpause all processes in containers
    Unpause(unpause::UnpauseArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// Restart one or more containers
    Restart(restart::RestartArgs),
    /// Copy files between a container and the host
    Cp(cp::CpArgs),
    /// Write a container's filesystem as a tar archive
    Export(export::ExportArgs),
    /// Create an image from a container's changes
    Commit(commit::CommitArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage the build cache
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// List the changes to a container's filesystem (A added, C changed, D deleted)
    Diff(diff::DiffArgs),
    /// Show events from the store's journal (and follow new ones)
    Events(events::EventsArgs),
    /// Generate files for other tools (systemd units)
    #[command(subcommand)]
    Generate(generate::GenerateCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Remove one or more images
    Rmi(rmi::RmiArgs),
    /// Give an image another name
    Tag(tag::TagArgs),
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Show low-level information about images
    Inspect(inspect::InspectArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Save images to a tar archive (docker-archive or oci-archive)
    Save(save::SaveArgs),
    /// Load images from a tar archive
    Load(load::LoadArgs),
    /// Create an image from a root filesystem tarball
    Import(import::ImportArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(logout::LogoutArgs),
    /// Show version information
    Version(version::VersionArgs),
    /// Show system-wide information
    Info(info::InfoArgs),
    /// Manage the store
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Run a container's health check
    #[command(subcommand)]
    Healthcheck(healthcheck::HealthcheckCommand),
    /// Define and run multi-container applications (Docker Compose)
    Compose(compose::ComposeArgs),
    /// Print a shell completion script
    Completion(completion::CompletionArgs),
    /// Write man pages generated from the command definitions
    #[command(hide = true, name = "generate-man-pages")]
    GenerateManPages(man::ManArgs),
}

/// What every command gets: the merged settings and a lazily opened store.
pub struct Ctx {
    pub settings: Settings,
    store: OnceCell<Store>,
}

impl Ctx {
    pub fn store(&self) -> Result<&Store> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = Store::open(&self.settings.root, &self.settings.runroot, self.settings.rootless)
            .context("opening the store")?;
        Ok(self.store.get_or_init(|| store))
    }
}

impl Ctx {
    /// This context with TLS verification off for the registry of `reference` (every search
    /// registry for a short name): `--tls-verify=false`, which also allows plain HTTP.
    pub fn without_tls_verify(&self, reference: &str) -> Ctx {
        let mut settings = self.settings.clone();
        match crate::image::reference::Reference::parse(reference) {
            Ok(r) if !r.is_short_name() => settings.insecure_registries.push(r.registry_or_hub().to_owned()),
            _ => settings.insecure_registries.extend(settings.search_registries.clone()),
        }
        Ctx { settings, store: OnceCell::new() }
    }
}

/// Commands that change files in a rootless store must run in berth's user namespace, where the
/// store's subordinate-id-owned files are writable.
fn needs_user_namespace(command: &Command) -> bool {
    if let Command::Container(c) = command {
        return c.needs_user_namespace();
    }
    if let Command::Volume(v) = command {
        return v.needs_user_namespace();
    }
    if let Command::Compose(c) = command {
        return c.needs_user_namespace();
    }
    if matches!(
        command,
        Command::Logs(_)
            | Command::Wait(_)
            | Command::Exec(_)
            | Command::Top(_)
            | Command::Port(_)
            | Command::Stats(_)
            | Command::Cp(_)
    ) {
        return false;
    }
    !matches!(
        command,
        Command::Images(_)
            | Command::Ps(_)
            | Command::Inspect(_)
            | Command::History(_)
            | Command::Login(_)
            | Command::Logout(_)
            | Command::Version(_)
            | Command::Info(_)
            | Command::Events(_)
            | Command::Generate(_)
            | Command::Completion(_)
            | Command::GenerateManPages(_)
            | Command::Image(
                image::ImageCommand::Ls(_)
                    | image::ImageCommand::Inspect(_)
                    | image::ImageCommand::History(_)
                    | image::ImageCommand::Exists(_)
            )
    )
}

/// The supervisor is started as `berth --root R --runroot RR __supervise ID` (see
/// container::start), and a health check as the same with `__healthcheck ID`
/// (container::health); both are recognised here before the command-line parser runs, so that
/// these processes never touch the parser's code and data: their resident memory stays small.
fn internal_invocation() -> Option<(PathBuf, PathBuf, String, String)> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match args.as_slice() {
        [_, root_flag, root, runroot_flag, runroot, verb, id]
            if root_flag == "--root"
                && runroot_flag == "--runroot"
                && (verb == crate::container::start::SUPERVISE_VERB
                    || verb == crate::container::health::HEALTHCHECK_VERB) =>
        {
            Some((root.into(), runroot.into(), verb.to_str()?.to_owned(), id.to_str()?.to_owned()))
        }
        _ => None,
    }
}

pub fn main() -> Result<u8> {
    if let Some((root, runroot, verb, id)) = internal_invocation() {
        let store = Store::open(&root, &runroot, crate::sandbox::userns::is_rootless()).context("opening the store")?;
        if verb == crate::container::health::HEALTHCHECK_VERB {
            return Ok(crate::container::health::run_helper(&store, &id).clamp(0, 255) as u8);
        }
        return Ok(crate::container::supervisor::run(&store, &id) as u8);
    }
    let (cli, verbs) = match parse_command_line() {
        Ok(parsed) => parsed,
        Err(e) => {
            let usage_error = e.use_stderr();
            let _ = e.print();
            return Ok(if usage_error { crate::EXIT_TOOL_ERROR } else { 0 });
        }
    };
    let rootless = crate::sandbox::userns::is_rootless();
    let in_userns = std::env::var_os(crate::sandbox::userns::IN_USERNS_ENV).is_some();
    if rootless && !in_userns && needs_user_namespace(&cli.command) {
        let mapping = crate::sandbox::userns::mapping_for_caller();
        crate::sandbox::userns::continue_in_user_namespace(&mapping).context("entering the user namespace")?;
    }
    let settings = config::load(&config::GlobalFlags {
        root: cli.root.as_deref(),
        runroot: cli.runroot.as_deref(),
        config: cli.config.as_deref(),
    })?;
    let ctx = Ctx { settings, store: OnceCell::new() };
    exit_codes::set_policy(&verbs.iter().map(String::as_str).collect::<Vec<_>>());
    dispatch(&ctx, cli.command)
}

/// The command line parsed with Docker's flag syntax (see `flag_syntax`), and its verbs
/// (`["volume", "rm"]`). Help and version output come from the definitions as written, so
/// `--help` shows `--rm`, not `--rm[=<RM>]`.
fn parse_command_line() -> Result<(Cli, Vec<String>), clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    match flag_syntax::docker_syntax(Cli::command()).try_get_matches() {
        Ok(matches) => {
            let mut verbs = Vec::new();
            let mut current = &matches;
            while let Some((verb, sub)) = current.subcommand() {
                verbs.push(verb.to_owned());
                current = sub;
            }
            Ok((Cli::from_arg_matches(&matches)?, verbs))
        }
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            Cli::try_parse().map(|cli| (cli, Vec::new()))
        }
        Err(e) => Err(e),
    }
}

fn dispatch(ctx: &Ctx, command: Command) -> Result<u8> {
    match command {
        Command::Run(a) => run::run(ctx, a),
        Command::Create(a) => create::run(ctx, a),
        Command::Start(a) => start::run(ctx, a),
        Command::Ps(a) => ps::run(ctx, a),
        Command::Logs(a) => logs::run(ctx, a),
        Command::Stop(a) => stop::run(ctx, a),
        Command::Kill(a) => kill::run(ctx, a),
        Command::Rm(a) => rm::run(ctx, a),
        Command::Wait(a) => wait::run(ctx, a),
        Command::Attach(a) => attach::run(ctx, a),
        Command::Exec(a) => exec::run(ctx, a),
        Command::Top(a) => top::run(ctx, a),
        Command::Port(a) => port::run(ctx, a),
        Command::Stats(a) => stats::run(ctx, a),
        Command::Pause(a) => pause::run(ctx, a),
        Command::Unpause(a) => unpause::run(ctx, a),
        Command::Rename(a) => rename::run(ctx, a),
        Command::Restart(a) => restart::run(ctx, a),
        Command::Cp(a) => cp::run(ctx, a),
        Command::Export(a) => export::run(ctx, a),
        Command::Commit(a) => commit::run(ctx, a),
        Command::Build(a) => build::run(ctx, a),
        Command::Builder(c) => build::run_builder(ctx, c),
        Command::Diff(a) => diff::run(ctx, a),
        Command::Events(a) => events::run(ctx, a),
        Command::Generate(c) => generate::run(ctx, c),
        Command::Volume(c) => volume::run(ctx, c),
        Command::Network(c) => network::run(ctx, c),
        Command::Container(c) => container::run(ctx, c),
        Command::Pull(a) => pull::run(ctx, a),
        Command::Push(a) => push::run(ctx, a),
        Command::Images(a) => images::run(ctx, a),
        Command::Rmi(a) => rmi::run(ctx, a),
        Command::Tag(a) => tag::run(ctx, a),
        Command::Image(c) => image::run(ctx, c),
        Command::Inspect(a) => inspect::run(ctx, a),
        Command::History(a) => history::run(ctx, a),
        Command::Save(a) => save::run(ctx, a),
        Command::Load(a) => load::run(ctx, a),
        Command::Import(a) => import::run(ctx, a),
        Command::Login(a) => login::run(ctx, a),
        Command::Logout(a) => logout::run(ctx, a),
        Command::Version(a) => version::run(ctx, a),
        Command::Info(a) => info::run(ctx, a),
        Command::System(c) => system::run(ctx, c),
        Command::Healthcheck(c) => healthcheck::run(ctx, c),
        Command::Compose(a) => compose::run(ctx, a),
        Command::Completion(a) => completion::run(a),
        Command::GenerateManPages(a) => man::run(a),
    }
}

/// Exit codes follow Docker's (see `exit_codes`).
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    exit_codes::exit_code_for(error)
}

/// The image a user named, read under the shared image lock.
pub fn lookup_image(ctx: &Ctx, input: &str) -> Result<crate::store::ImageRecord> {
    let store = ctx.store()?;
    let _lock = store.lock_images_shared()?;
    let index = store.images()?;
    let found = crate::image::lookup::find_image(&index, &ctx.settings, input)?;
    Ok(found.clone())
}

pub fn is_not_found(e: &ImageError) -> bool {
    matches!(e, ImageError::Store(StoreError::ImageNotFound(_)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_definitions_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
