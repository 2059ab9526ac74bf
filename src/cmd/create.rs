use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use crate::container::create::CreateOptions;
use crate::container::record::{Container, NetworkMode, Resources, Ulimit, UsernsMode};
use crate::image::spec::ImageConfig;

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
    /// Pull the image: missing, always or never
    #[arg(long, default_value = "missing", value_parser = ["missing", "always", "never"])]
    pub pull: String,
    /// Platform of the image to pull (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Network: none, host, or the default private namespace (loopback only for now)
    #[arg(long, alias = "net", default_value = "default")]
    pub network: String,
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
    /// Image
    pub image: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Docker's memory sizes: a number with an optional b, k, m or g (binary multiples).
pub fn parse_memory(text: &str) -> Result<i64> {
    match crate::container::mounts::parse_size(text) {
        Some(0) => bail!("invalid size {text:?}: must be positive"),
        Some(bytes) => Ok(bytes.min(i64::MAX as u64) as i64),
        None => bail!("invalid size {text:?}: expected a positive number with an optional unit b, k, m or g"),
    }
}

fn parse_ulimit(text: &str) -> Result<Ulimit> {
    let (name, values) =
        text.split_once('=').with_context(|| format!("invalid ulimit {text:?}: expected NAME=SOFT[:HARD]"))?;
    let parse = |v: &str| -> Result<u64> {
        if v == "-1" || v == "unlimited" {
            return Ok(u64::MAX);
        }
        v.parse().with_context(|| format!("invalid ulimit {text:?}: {v:?} is not a number"))
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (parse(s)?, parse(h)?),
        None => (parse(values)?, parse(values)?),
    };
    if soft > hard {
        bail!("invalid ulimit {text:?}: soft limit above hard limit");
    }
    const KNOWN: [&str; 16] = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !KNOWN.contains(&name) {
        bail!("invalid ulimit {text:?}: unknown limit {name:?}");
    }
    Ok(Ulimit { name: name.to_owned(), soft, hard })
}

/// `-e KEY` copies KEY from our environment (dropped when unset), as Docker does.
fn expand_env_entry(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_owned());
    }
    std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
}

fn read_env_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading env file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(expand_env_entry)
        .collect())
}

/// What `--env-file` and `-e` ask for, in that order (later entries win when merged).
pub(crate) fn user_env(env_files: &[std::path::PathBuf], env: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for file in env_files {
        out.extend(read_env_file(file)?);
    }
    out.extend(env.iter().filter_map(|e| expand_env_entry(e)));
    if let Some(bad) = out.iter().find(|e| e.starts_with('=') || e.contains('\0')) {
        bail!("invalid environment variable {bad:?}");
    }
    Ok(out)
}

fn parse_labels(labels: &[String]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| l.split_once('=').map_or((l.clone(), String::new()), |(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

fn normalize_capabilities(names: &[String]) -> Result<Vec<String>> {
    names.iter().map(|n| crate::sandbox::caps::normalize(n).map(str::to_owned).map_err(anyhow::Error::msg)).collect()
}

/// What `--security-opt` sets.
#[derive(Debug, Default, PartialEq)]
struct SecurityOpts {
    allow_new_privileges: bool,
    seccomp_profile: Option<String>,
}

/// Docker's `--security-opt` forms: `no-new-privileges[=|:true|false]`, `seccomp=unconfined`,
/// `seccomp=PATH` (the file is read now and its content kept). A later option wins.
fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut parsed = SecurityOpts::default();
    for opt in opts {
        let (key, value) = opt.split_once('=').or_else(|| opt.split_once(':')).unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("no-new-privileges", "" | "true") => parsed.allow_new_privileges = false,
            ("no-new-privileges", "false") => parsed.allow_new_privileges = true,
            ("no-new-privileges", other) => {
                bail!("invalid --security-opt {opt:?}: no-new-privileges takes true or false, not {other:?}")
            }
            ("seccomp", "") => bail!("invalid --security-opt {opt:?}: give seccomp=unconfined or seccomp=PROFILE.json"),
            ("seccomp", crate::container::record::SECCOMP_UNCONFINED) => {
                parsed.seccomp_profile = Some(crate::container::record::SECCOMP_UNCONFINED.into())
            }
            ("seccomp", path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("opening seccomp profile {path}"))?;
                crate::sandbox::seccomp::check_profile(&text).with_context(|| format!("seccomp profile {path}"))?;
                parsed.seccomp_profile = Some(text);
            }
            _ => bail!(
                "invalid --security-opt {opt:?}: use no-new-privileges[=false] or seccomp=unconfined|PROFILE.json"
            ),
        }
    }
    Ok(parsed)
}

/// `--device` flags, each checked against the host now (it is looked up again at every start).
fn parse_devices(flags: &[String]) -> Result<Vec<crate::container::record::DeviceMapping>> {
    let mut devices = Vec::new();
    for flag in flags {
        let (host, container, permissions) = crate::sandbox::devices::parse_device(flag).map_err(anyhow::Error::msg)?;
        crate::sandbox::devices::resolve(&host, &container, &permissions).map_err(anyhow::Error::msg)?;
        devices.push(crate::container::record::DeviceMapping {
            path_on_host: host,
            path_in_container: container,
            cgroup_permissions: permissions,
        });
    }
    Ok(devices)
}

pub fn options_from_args(args: &CreateArgs) -> Result<CreateOptions> {
    let security = parse_security_opts(&args.security_opt)?;
    let env = user_env(&args.env_file, &args.env)?;
    let network = match args.network.as_str() {
        "default" | "bridge" | "private" => NetworkMode::Private,
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => bail!("network {other:?} not found: use none, host or default"),
    };
    let userns = match args.userns.as_deref() {
        None | Some("") | Some("host") => UsernsMode::Default,
        Some("keep-id") => UsernsMode::KeepId,
        Some(other) => bail!("unsupported --userns {other:?}: use keep-id"),
    };
    if let Some(cpus) = args.cpus
        && (cpus.is_nan() || cpus <= 0.0 || cpus.is_infinite())
    {
        bail!("invalid --cpus {cpus}: must be a positive number");
    }
    let resources = Resources {
        memory: args.memory.as_deref().map(parse_memory).transpose()?,
        nano_cpus: args.cpus.map(|c| (c * 1e9) as i64),
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit.filter(|&p| p != 0),
    };
    if let Some(signal) = &args.stop_signal {
        crate::container::signals::parse_signal(signal)?;
    }
    Ok(CreateOptions {
        name: args.name.clone(),
        image_name: args.image.clone(),
        entrypoint: args.entrypoint.as_ref().map(|e| if e.is_empty() { Vec::new() } else { vec![e.clone()] }),
        cmd: args.command.clone(),
        env,
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        labels: parse_labels(&args.label),
        tty: args.tty,
        interactive: args.interactive,
        auto_remove: args.rm,
        init: args.init,
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        network,
        userns,
        resources,
        ulimits: args.ulimit.iter().map(|u| parse_ulimit(u)).collect::<Result<_>>()?,
        cap_add: normalize_capabilities(&args.cap_add)?,
        cap_drop: normalize_capabilities(&args.cap_drop)?,
        privileged: args.privileged,
        allow_new_privileges: security.allow_new_privileges,
        seccomp_profile: security.seccomp_profile,
        devices: parse_devices(&args.device)?,
        mounts: parse_mounts(args)?,
        read_only: args.read_only,
        volumes_from: args.volumes_from.clone(),
    })
}

/// `-v`, `--mount` and `--tmpfs`, in that order; two at one destination are refused.
fn parse_mounts(args: &CreateArgs) -> Result<Vec<crate::container::record::Mount>> {
    use crate::container::mounts;
    let mut parsed = Vec::new();
    for spec in &args.volume {
        parsed.push(mounts::parse_volume_flag(spec)?);
    }
    for spec in &args.mount {
        parsed.push(mounts::parse_mount_flag(spec)?);
    }
    for spec in &args.tmpfs {
        parsed.push(mounts::parse_tmpfs_flag(spec)?);
    }
    for spec in &args.volumes_from {
        mounts::parse_volumes_from(spec)?;
    }
    mounts::check_duplicates(&parsed)?;
    Ok(parsed)
}

/// The image to create from, pulled first when `--pull` says so.
fn ensure_image(ctx: &Ctx, args: &CreateArgs) -> Result<crate::store::ImageRecord> {
    let pull = |quiet: bool| -> Result<crate::store::ImageRecord> {
        let outcome = super::pull::pull_image(ctx, &args.image, args.platform.as_deref(), quiet, None)?;
        super::lookup_image(ctx, &outcome.id)
    };
    match args.pull.as_str() {
        "always" => pull(true),
        _ => match super::lookup_image(ctx, &args.image) {
            Ok(image) => Ok(image),
            Err(e)
                if args.pull == "missing"
                    && e.downcast_ref::<crate::image::ImageError>().is_some_and(super::is_not_found) =>
            {
                eprintln!("Unable to find image '{}' locally", args.image);
                pull(false)
            }
            Err(e) => Err(e),
        },
    }
}

/// Creates a container as `run`/`create` describe it.
pub fn create_container(ctx: &Ctx, args: &CreateArgs) -> Result<Container> {
    let options = options_from_args(args)?;
    let image = ensure_image(ctx, args)?;
    let store = ctx.store()?;
    let config_bytes = {
        let _lock = store.lock_images_shared()?;
        store.read_blob(&image.id)?
    };
    let image_config: ImageConfig = serde_json::from_slice(&config_bytes).context("reading the image config")?;
    let config = crate::container::create::build_config(&options, &image, &image_config, ctx.settings.rootless)?;
    Ok(crate::container::create::create(store, options.name.as_deref(), config)?)
}

pub fn run(ctx: &Ctx, args: CreateArgs) -> Result<u8> {
    let container = create_container(ctx, &args)?;
    println!("{}", container.id);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_use_binary_units() {
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory("512k").unwrap(), 512 << 10);
        assert_eq!(parse_memory("100b").unwrap(), 100);
        assert_eq!(parse_memory("4096").unwrap(), 4096);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("-1m").is_err());
    }

    #[test]
    fn security_opts_parse_like_dockers() {
        let opts = |items: &[&str]| parse_security_opts(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(opts(&[]).unwrap(), SecurityOpts::default());
        assert!(opts(&["no-new-privileges=false"]).unwrap().allow_new_privileges);
        assert!(opts(&["no-new-privileges:false"]).unwrap().allow_new_privileges);
        assert!(!opts(&["no-new-privileges:false", "no-new-privileges"]).unwrap().allow_new_privileges);
        assert!(!opts(&["no-new-privileges=true"]).unwrap().allow_new_privileges);
        assert_eq!(opts(&["seccomp=unconfined"]).unwrap().seccomp_profile.as_deref(), Some("unconfined"));
        assert!(opts(&["no-new-privileges=maybe"]).is_err());
        assert!(opts(&["apparmor=foo"]).is_err());
        let missing = opts(&["seccomp=/nonexistent/profile.json"]).unwrap_err();
        assert!(format!("{missing:#}").contains("/nonexistent/profile.json"), "{missing:#}");
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("p.json");
        std::fs::write(
            &profile,
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        let given = format!("seccomp={}", profile.display());
        assert!(opts(&[&given]).unwrap().seccomp_profile.unwrap().contains("keyctl"));
        std::fs::write(&profile, "{ broken").unwrap();
        let broken = format!("{:#}", opts(&[&given]).unwrap_err());
        assert!(broken.contains("p.json") && broken.contains("decoding seccomp profile failed"), "{broken}");
    }

    #[test]
    fn capabilities_and_devices_are_checked_at_create() {
        let caps = |items: &[&str]| normalize_capabilities(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(caps(&["net_admin", "CAP_SYS_PTRACE", "all"]).unwrap(), ["CAP_NET_ADMIN", "CAP_SYS_PTRACE", "ALL"]);
        assert_eq!(caps(&["FLY"]).unwrap_err().to_string(), r#"unknown capability: "CAP_FLY""#);
        let devices = parse_devices(&["/dev/null:/dev/mynull:rw".to_string()]).unwrap();
        assert_eq!(
            (devices[0].path_in_container.as_str(), devices[0].cgroup_permissions.as_str()),
            ("/dev/mynull", "rw")
        );
        assert!(
            parse_devices(&["/dev/berth-missing".to_string()])
                .unwrap_err()
                .to_string()
                .contains("no such file or directory")
        );
    }

    #[test]
    fn ulimits_parse_soft_and_hard() {
        assert_eq!(parse_ulimit("nofile=1024:2048").unwrap(), Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 });
        assert_eq!(parse_ulimit("nproc=10").unwrap().hard, 10);
        assert!(parse_ulimit("nofile=9:1").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
    }
}
