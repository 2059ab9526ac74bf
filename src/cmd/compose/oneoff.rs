//! `compose exec` (into a service's running container) and `compose run` (a one-off container
//! of a service, PROJECT-SERVICE-run-HEX, labelled oneoff=True).

use std::io::IsTerminal;

use anyhow::{Result, bail};
use clap::Args;

use super::{ComposeArgs, load_project};
use crate::cmd::Ctx;
use crate::compose::engine::{self, UpOptions, is_running, number_of, service_of};

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Run in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Do not allocate a TTY (one is allocated when standard input is a terminal)
    #[arg(short = 'T', long = "no-tty")]
    pub no_tty: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// User to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// Which replica (container number)
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Service
    pub service: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run in the background and print the container id
    #[arg(short, long)]
    pub detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Do not start the services it depends on
    #[arg(long)]
    pub no_deps: bool,
    /// Do not allocate a TTY (one is allocated when standard input is a terminal)
    #[arg(short = 'T', long = "no-tty")]
    pub no_tty: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Name of the container
    #[arg(long)]
    pub name: Option<String>,
    /// Override the entrypoint
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// User to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// Publish the service's ports as up does
    #[arg(long)]
    pub service_ports: bool,
    /// Service
    pub service: String,
    /// Command and arguments (default: the service's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn exec(ctx: &Ctx, global: &ComposeArgs, args: &ExecArgs) -> Result<u8> {
    let project = load_project(global, std::slice::from_ref(&args.service))?;
    let found = engine::containers(ctx.store()?, &project.name, false)?
        .into_iter()
        .find(|c| service_of(c) == args.service && number_of(c) == args.index && is_running(c));
    let Some(container) = found else {
        bail!("service {:?} is not running (container number {})", args.service, args.index);
    };
    let exec = crate::cmd::exec::ExecArgs {
        interactive: !args.detach,
        tty: !args.no_tty && !args.detach && std::io::stdin().is_terminal(),
        detach: args.detach,
        env: args.env.clone(),
        env_file: Vec::new(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        container: container.id,
        command: args.command.clone(),
    };
    crate::cmd::exec::run(ctx, exec)
}

pub fn run(ctx: &Ctx, global: &ComposeArgs, args: &RunArgs) -> Result<u8> {
    let project = load_project(global, std::slice::from_ref(&args.service))?;
    let Some(service) = project.services.get(&args.service) else {
        bail!(crate::compose::error::ComposeError::NoSuchService(args.service.clone()));
    };
    let store = ctx.store()?;
    if !args.no_deps && !service.depends_on.is_empty() {
        let deps: Vec<String> =
            service.depends_on.keys().filter(|d| project.services.contains_key(*d)).cloned().collect();
        let opts = UpOptions { services: deps, ..UpOptions::default() };
        engine::up(store, &ctx.settings, &project, &opts, &mut super::verbs::Lines)?;
    }
    let mut service = service.clone();
    if !args.command.is_empty() {
        service.command = Some(args.command.clone());
    }
    if let Some(entrypoint) = &args.entrypoint {
        service.entrypoint = Some(crate::compose::convert::shell_split(entrypoint).unwrap_or_default());
    }
    let mut flags = engine::create_flags(&project, &args.service, &service, ctx.settings.rootless)?;
    if !args.service_ports {
        // Docker Compose's run publishes nothing unless asked: the service's own container
        // may hold those ports.
        flags.net.publish.clear();
    }
    let tty = !args.no_tty && !args.detach && std::io::stdin().is_terminal();
    let slug = &crate::container::record::new_id()[..12];
    flags.name = Some(args.name.clone().unwrap_or_else(|| format!("{}-{}-run-{slug}", project.name, args.service)));
    flags.env.extend(args.env.iter().cloned());
    flags.tty = tty;
    flags.interactive = !args.detach;
    flags.rm = args.rm;
    if let Some(u) = &args.user {
        flags.user = Some(u.clone());
    }
    if let Some(w) = &args.workdir {
        flags.workdir = Some(w.clone());
    }
    let labels = engine::labels(&project, &args.service, 1, &service.config_hash(), true);
    let container = engine::create_from(store, &ctx.settings, &project, flags, &service, labels)?;
    let started = crate::container::start::start(store, &container)?;
    if args.detach {
        println!("{}", container.id);
        return Ok(0);
    }
    let keys = crate::cmd::run::parse_detach_keys(None)?;
    crate::cmd::run::attach_until_exit(started, true, tty, true, keys)
}
