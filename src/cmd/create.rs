use anyhow::Result;
use clap::Args;

use super::Ctx;
use crate::container::create::ImageSource;
use crate::container::options::{self, CreateFlags};
use crate::container::record::Container;
use crate::image::registry::CredentialSource;

/// The flags `run` and `create` share.
#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables (KEY=VALUE, or KEY to copy it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<std::path::PathBuf>,
    /// Working directory inside the container
    #[arg(short, long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User (name|uid[:group|gid])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the image's entrypoint
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Print help (-h is --hostname, as in Docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run a minimal init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Memory limit (e.g. 64m, 1g)
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// Limit the number of processes (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add a Linux capability (e.g. NET_ADMIN, CAP_SYS_PTRACE, or ALL)
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a Linux capability (e.g. CHOWN, or ALL)
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give the container every capability and host device, no seccomp filter, and writable /proc and /sys
    #[arg(long)]
    pub privileged: bool,
    /// Security options: no-new-privileges[=true|false], seccomp=unconfined|PROFILE.json
    #[arg(long, value_name = "OPTION")]
    pub security_opt: Vec<String>,
    /// Add a host device: HOST[:CONTAINER][:PERMISSIONS] (PERMISSIONS: some of r, w, m)
    #[arg(long, value_name = "HOST[:CONTAINER][:PERMISSIONS]")]
    pub device: Vec<String>,
    /// Set metadata (KEY=VALUE)
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Seconds to wait for the stop signal before killing
    #[arg(long)]
    pub stop_timeout: Option<u32>,
    /// Pull the image: missing, always, never or newer
    #[arg(long, default_value = "missing", value_parser = ["missing", "always", "never", "newer"])]
    pub pull: String,
    /// Platform of the image to pull (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub net: super::network_flags::NetworkArgs,
    /// User namespace: keep-id maps your uid to the same uid inside (rootless)
    #[arg(long)]
    pub userns: Option<String>,
    /// Bind mount a host path or mount a volume: [SOURCE:]DEST[:MODE] (MODE: ro, rw, z, Z, nocopy, a propagation)
    #[arg(short = 'v', long = "volume", value_name = "[SOURCE:]DEST[:MODE]")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount: type=bind|volume|tmpfs,source=…,target=…[,readonly][,…]
    #[arg(long, value_name = "MOUNT")]
    pub mount: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS] (e.g. /run:size=64m,mode=1777)
    #[arg(long, value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Mount the volumes and binds of another container: CONTAINER[:ro|rw]
    #[arg(long, value_name = "CONTAINER[:MODE]")]
    pub volumes_from: Vec<String>,
    /// What to tell systemd once started (NOTIFY_SOCKET): conmon (berth: MAINPID and READY), container (its own sd_notify), ignore
    #[arg(long, value_name = "MODE", default_value = "conmon")]
    pub sdnotify: String,
    #[command(flatten)]
    pub health: super::health_flags::HealthFlags,
    #[command(flatten)]
    pub extra: super::run_flags_extra::ExtraRunArgs,
    /// Image
    pub image: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl CreateArgs {
    /// The flags as the container module takes them.
    pub fn flags(&self) -> CreateFlags {
        CreateFlags {
            name: self.name.clone(),
            image: self.image.clone(),
            command: self.command.clone(),
            interactive: self.interactive,
            tty: self.tty,
            rm: self.rm,
            env: self.env.clone(),
            env_files: self.env_file.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            entrypoint: self.entrypoint.clone(),
            hostname: self.hostname.clone(),
            init: self.init,
            memory: self.memory.clone(),
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            ulimits: self.ulimit.clone(),
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opts: self.security_opt.clone(),
            devices: self.device.clone(),
            labels: self.label.clone(),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            net: self.net.flags(),
            userns: self.userns.clone(),
            volumes: self.volume.clone(),
            mounts: self.mount.clone(),
            tmpfs: self.tmpfs.clone(),
            read_only: self.read_only,
            volumes_from: self.volumes_from.clone(),
        }
    }
}

/// What `--env-file` and `-e` ask for (`exec` takes them too).
pub(crate) fn user_env(env_files: &[std::path::PathBuf], env: &[String]) -> Result<Vec<String>> {
    Ok(crate::container::options::user_env(env_files, env)?)
}

/// Creates a container as `run`/`create` describe it.
pub fn create_container(ctx: &Ctx, args: &CreateArgs) -> Result<Container> {
    let mut flags = args.flags();
    if flags.net.networks.is_empty() {
        flags.net.networks.extend(ctx.settings.default_network.clone());
    }
    let mut options = options::parse(&flags)?;
    args.health.apply(&mut options)?;
    options.sdnotify = args.sdnotify.parse()?;
    options.create_command = std::env::args().collect();
    args.extra.before_create(ctx, args.name.as_deref())?;
    let credentials = CredentialSource::default();
    let source = ImageSource {
        policy: args.pull.parse()?,
        platform: super::pull::parse_platform(args.platform.as_deref())?,
        credentials: &credentials,
    };
    let container = crate::container::create::create_container(ctx.store()?, &ctx.settings, &options, &source)?;
    args.extra.after_create(&container.id)?;
    Ok(container)
}

pub fn run(ctx: &Ctx, args: CreateArgs) -> Result<u8> {
    let container = create_container(ctx, &args)?;
    println!("{}", container.id);
    Ok(0)
}
