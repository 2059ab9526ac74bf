use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use crate::container::lifecycle::{cgroup_of, container_process, load_current};
use crate::container::record::{Container, Status};
use crate::container::start::StartError;
use crate::sandbox::spec::ProcessSpec;

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Keep standard input open
    #[arg(short, long)]
    pub interactive: bool,
    /// Run the command on this terminal (berth's own standard input must be one)
    #[arg(short, long)]
    pub tty: bool,
    /// Run the command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables (KEY=VALUE, or KEY to copy it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// User (name|uid[:group|gid]); default: the container's
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container; default: the container's
    #[arg(short, long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Container
    pub container: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// The container's environment, then the env files', then -e's; later entries win.
fn exec_env(container: &Container, args: &ExecArgs) -> Result<Vec<String>> {
    let extra = super::create::user_env(&args.env_file, &args.env)?;
    Ok(crate::container::create::merge_env(&[&container.config.env, &extra]))
}

pub fn run(ctx: &Ctx, args: ExecArgs) -> Result<u8> {
    let store = ctx.store()?;
    let container = load_current(store, &args.container)?;
    match container.state.status {
        Status::Running => {}
        Status::Paused => bail!("container {} is paused, unpause the container before exec", args.container),
        Status::Created | Status::Starting | Status::Exited => {
            return Err(crate::container::lifecycle::LifecycleError::NotRunning(args.container.clone()).into());
        }
    }
    // Checks the pid is still the container's (its start time) right before joining it.
    if container_process(&container).is_none() {
        return Err(crate::container::lifecycle::LifecycleError::NotRunning(args.container.clone()).into());
    }
    let spec = ProcessSpec {
        args: args.command.clone(),
        env: exec_env(&container, &args)?,
        cwd: args.workdir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| container.config.working_dir.clone()),
        user: args.user.clone().unwrap_or_else(|| default_exec_user(&container)),
        tty: args.tty,
        rlimits: crate::container::sandbox_spec::rlimits(&container.config.ulimits),
        init: false,
        security: crate::container::sandbox_spec::process_security(&container.config),
    };
    if !spec.cwd.starts_with('/') {
        bail!("the working directory {:?} is invalid: it needs to be an absolute path", spec.cwd);
    }
    if args.tty && args.interactive && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY");
    }
    if !args.interactive {
        let null = std::fs::File::open("/dev/null").context("opening /dev/null")?;
        nix::unistd::dup2_stdin(&null).context("closing standard input")?;
    }
    // The command runs under the container's limits and is frozen, killed and listed with it.
    if let Some(cgroup) = cgroup_of(&container) {
        let _ = cgroup.add_process(std::process::id() as i32);
    }
    match crate::container::event::exec_in_container(store, &container, &spec, args.detach) {
        Ok(code) => Ok(code.clamp(0, 255) as u8),
        Err(e) => Err(StartError::Failed { code: e.exit_code(), message: e.to_string() }.into()),
    }
}

/// The container's user; with `--userns keep-id` and no user given, the caller's own ids, which
/// the container's process runs as too (this command runs outside berth's user namespace, so
/// these are the real ids).
fn default_exec_user(container: &Container) -> String {
    if container.config.user.is_empty() && container.config.userns == crate::container::record::UsernsMode::KeepId {
        return format!("{}:{}", nix::unistd::getuid(), nix::unistd::getgid());
    }
    container.config.user.clone()
}
