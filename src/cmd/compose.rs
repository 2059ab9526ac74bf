//! `berth compose`: the global compose flags, and one subcommand per verb; the work is in
//! crate::compose.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::Ctx;
use crate::compose::{LoadOptions, Project, load};

mod images;
mod logs;
mod oneoff;
mod port;
mod top_wait;
mod verbs;

pub use verbs::service_label;

#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// Compose configuration files (several merge in order)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the first file's directory)
    #[arg(long, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files (default: .env in the project directory)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Subcommand, Debug)]
pub enum ComposeCommand {
    /// Create and start the project's containers
    Up(verbs::UpArgs),
    /// Stop and remove the project's containers and networks
    Down(verbs::DownArgs),
    /// List the project's containers
    Ps(verbs::PsArgs),
    /// Run a command in a service's running container
    Exec(oneoff::ExecArgs),
    /// Run a one-off command in a new container of a service
    Run(oneoff::RunArgs),
    /// Show the services' output
    Logs(verbs::LogsArgs),
    /// Start the services' existing containers
    Start(verbs::ServicesArgs),
    /// Stop the services' containers
    Stop(verbs::StopArgs),
    /// Restart the services' containers
    Restart(verbs::StopArgs),
    /// Kill the services' containers
    Kill(verbs::KillArgs),
    /// Remove the services' stopped containers
    Rm(verbs::RmArgs),
    /// Pause the services' containers
    Pause(verbs::ServicesArgs),
    /// Unpause the services' containers
    Unpause(verbs::ServicesArgs),
    /// Create the services' containers without starting them
    Create(verbs::CreateArgs),
    /// List the projects that have containers
    Ls(verbs::LsArgs),
    /// List the images the project's containers use
    Images(verbs::ServicesArgs),
    /// Parse, resolve and print the compose file in its normalised form
    Config(ConfigArgs),
    /// Show the Docker Compose version information
    Version(VersionArgs),
    /// Build the services' images
    Build(images::BuildArgs),
    /// Pull the services' images
    Pull(images::PullArgs),
    /// Push the services' built images
    Push(images::PushArgs),
    /// Print the host address a service's port is published on
    Port(port::PortArgs),
    /// Show the processes of the services' running containers
    Top(verbs::ServicesArgs),
    /// Block until the services' containers end; exit with the first one's code
    Wait(top_wait::WaitArgs),
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the project name
    #[arg(long)]
    pub project_name: bool,
    /// Format: yaml or json
    #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
    pub format: String,
    /// Only check the file; print nothing
    #[arg(short, long)]
    pub quiet: bool,
    /// Services to print (all by default)
    pub service_names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Print only the version number
    #[arg(long)]
    pub short: bool,
    /// Format: pretty or json
    #[arg(short, long, default_value = "pretty")]
    pub format: String,
}

impl ComposeArgs {
    /// Reading and printing the model touches no store file.
    pub fn needs_user_namespace(&self) -> bool {
        !matches!(self.command, ComposeCommand::Config(_) | ComposeCommand::Version(_))
    }
}

/// Compose failures exit 1, as Docker Compose's do (not 125): main's exit-code policy for
/// `compose` says so and prints the error once, as `berth: compose: …`.
pub fn run(ctx: &Ctx, args: ComposeArgs) -> Result<u8> {
    use anyhow::Context;
    dispatch(ctx, args).context("compose")
}

fn load_options(args: &ComposeArgs, services: &[String]) -> Result<LoadOptions> {
    Ok(LoadOptions {
        files: args.files.clone(),
        project_directory: args.project_directory.clone(),
        project_name: args.project_name.clone(),
        env_files: args.env_files.clone(),
        profiles: args.profiles.clone(),
        services: services.to_vec(),
        cwd: std::env::current_dir()?,
        environ: std::env::vars().collect(),
    })
}

pub fn load_project(args: &ComposeArgs, services: &[String]) -> Result<Project> {
    Ok(load(&load_options(args, services)?)?)
}

fn dispatch(ctx: &Ctx, args: ComposeArgs) -> Result<u8> {
    match &args.command {
        ComposeCommand::Up(a) => verbs::up(ctx, &args, a),
        ComposeCommand::Down(a) => verbs::down(ctx, &args, a),
        ComposeCommand::Ps(a) => verbs::ps(ctx, &args, a),
        ComposeCommand::Exec(a) => oneoff::exec(ctx, &args, a),
        ComposeCommand::Run(a) => oneoff::run(ctx, &args, a),
        ComposeCommand::Logs(a) => verbs::logs(ctx, &args, a),
        ComposeCommand::Start(a) => verbs::each(ctx, &args, &a.services, verbs::Action::Start),
        ComposeCommand::Stop(a) => verbs::each(ctx, &args, &a.services, verbs::Action::Stop(a.timeout)),
        ComposeCommand::Restart(a) => verbs::each(ctx, &args, &a.services, verbs::Action::Restart(a.timeout)),
        ComposeCommand::Kill(a) => verbs::each(ctx, &args, &a.services, verbs::Action::Kill(a.signal.clone())),
        ComposeCommand::Rm(a) => verbs::rm(ctx, &args, a),
        ComposeCommand::Pause(a) => verbs::each(ctx, &args, &a.services, verbs::Action::Pause),
        ComposeCommand::Unpause(a) => verbs::each(ctx, &args, &a.services, verbs::Action::Unpause),
        ComposeCommand::Create(a) => verbs::create(ctx, &args, a),
        ComposeCommand::Ls(a) => verbs::ls(ctx, a),
        ComposeCommand::Images(a) => verbs::images(ctx, &args, a),
        ComposeCommand::Config(c) => config(&args, c),
        ComposeCommand::Build(a) => images::build(ctx, &args, a),
        ComposeCommand::Pull(a) => images::pull(ctx, &args, a),
        ComposeCommand::Push(a) => images::push(ctx, &args, a),
        ComposeCommand::Port(a) => port::port(ctx, &args, a),
        ComposeCommand::Top(a) => top_wait::top(ctx, &args, &a.services),
        ComposeCommand::Wait(a) => top_wait::wait(ctx, &args, a),
        ComposeCommand::Version(v) => {
            let version = env!("CARGO_PKG_VERSION");
            if v.short {
                println!("{version}");
            } else if v.format == "json" {
                println!("{}", serde_json::json!({ "version": version }));
            } else {
                println!("berth compose version {version}");
            }
            Ok(0)
        }
    }
}

fn config(args: &ComposeArgs, c: &ConfigArgs) -> Result<u8> {
    let mut project = load_project(args, &c.service_names)?;
    if !c.service_names.is_empty() {
        project.services.retain(|name, _| c.service_names.contains(name));
    }
    if c.quiet {
        return Ok(0);
    }
    if c.services {
        for name in crate::compose::load::start_order(&project) {
            println!("{name}");
        }
        return Ok(0);
    }
    if c.volumes {
        for name in project.volumes.keys() {
            println!("{name}");
        }
        return Ok(0);
    }
    if c.project_name {
        println!("{}", project.name);
        return Ok(0);
    }
    if c.format == "json" {
        println!("{}", crate::compose::output::to_json(&project));
    } else {
        print!("{}", crate::compose::output::to_yaml(&project));
    }
    Ok(0)
}
