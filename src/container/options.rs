//! What a user says about a new container, in the words of `run`/`create`'s flags (and of
//! compose's service keys and the API's create body, which map onto the same words), checked
//! and turned into [`CreateOptions`]. No clap here: the CLI fills [`CreateFlags`] from its
//! arguments, compose and the API from their documents.

use std::path::{Path, PathBuf};

use super::create::CreateOptions;
use super::mounts::{self, MountSpecError, parse_labels};
use super::net_config::{NetFlags, NetOptionsError};
use super::record::{DeviceMapping, Mount, Resources, SECCOMP_UNCONFINED, Ulimit, UsernsMode};
use super::signals::BadSignal;
use crate::sandbox::seccomp::SeccompError;

/// `run`/`create`'s options as text, before they are checked. The default is a container
/// with nothing asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreateFlags {
    pub name: Option<String>,
    /// The image as the user typed it.
    pub image: String,
    /// Arguments after the image name.
    pub command: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
    pub rm: bool,
    /// `-e`: KEY=VALUE, or KEY to copy it from berth's environment.
    pub env: Vec<String>,
    pub env_files: Vec<PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `--entrypoint`; `Some("")` clears the image's.
    pub entrypoint: Option<String>,
    pub hostname: Option<String>,
    pub init: bool,
    /// Docker's sizes: `64m`, `1g`, bytes.
    pub memory: Option<String>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    /// -1: unlimited; 0: the default.
    pub pids_limit: Option<i64>,
    /// NAME=SOFT[:HARD].
    pub ulimits: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opts: Vec<String>,
    /// HOST[:CONTAINER][:PERMISSIONS].
    pub devices: Vec<String>,
    /// KEY=VALUE or KEY.
    pub labels: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    /// `--network`, `-p`, `--add-host`, `--dns` and the rest of networking.
    pub net: NetFlags,
    pub userns: Option<String>,
    /// `-v`, `--mount`, `--tmpfs` in Docker's syntax.
    pub volumes: Vec<String>,
    pub mounts: Vec<String>,
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub volumes_from: Vec<String>,
    /// `--memory-swap`, `--cpuset-cpus`, `--sysctl`, `--group-add` and the other resource and
    /// kernel settings (see container::resource_options).
    pub more: super::resource_options::ResourceFlags,
}

/// Why an option was refused. Each message names the option and the value; causes (an io
/// error, a profile's parse error) are part of the message, never also a `source()`.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("invalid size {0:?}: expected a positive number with an optional unit b, k, m or g")]
    Size(String),
    #[error("invalid size {0:?}: must be positive")]
    ZeroSize(String),
    #[error("invalid ulimit {text:?}: {reason}")]
    Ulimit { text: String, reason: String },
    #[error("reading env file {}: {error}", path.display())]
    EnvFile { path: PathBuf, error: std::io::Error },
    #[error("invalid environment variable {0:?}")]
    Env(String),
    /// The sandbox's own words ("unknown capability: …").
    #[error("{0}")]
    Capability(String),
    #[error("invalid --security-opt {opt:?}: {reason}")]
    SecurityOpt { opt: String, reason: &'static str },
    #[error("invalid --security-opt {opt:?}: no-new-privileges takes true or false, not {value:?}")]
    NoNewPrivileges { opt: String, value: String },
    #[error("opening seccomp profile {path}: {error}")]
    SeccompFile { path: String, error: std::io::Error },
    #[error("seccomp profile {path}: {error}")]
    SeccompProfile { path: String, error: SeccompError },
    /// The sandbox's own words about the device.
    #[error("{0}")]
    Device(String),
    #[error(transparent)]
    Network(#[from] NetOptionsError),
    #[error("unsupported --userns {0:?}: use keep-id")]
    Userns(String),
    #[error("invalid --cpus {0}: must be a positive number, or 0 for no limit")]
    Cpus(f64),
    #[error(transparent)]
    StopSignal(#[from] BadSignal),
    #[error(transparent)]
    Mount(#[from] MountSpecError),
    #[error(transparent)]
    Resource(#[from] super::resource_options::ResourceError),
}

/// Checks every option and gives what [`super::create::build_config`] takes. Reads the env
/// files and seccomp profiles named, and looks the devices up on the host (they are looked up
/// again at every start).
pub fn parse(flags: &CreateFlags) -> Result<CreateOptions, OptionsError> {
    let security = parse_security_opts(&flags.security_opts)?;
    let (network, net) = super::net_config::parse(&flags.net)?;
    if let Some(cpus) = flags.cpus
        && (cpus.is_nan() || cpus < 0.0 || cpus.is_infinite())
    {
        return Err(OptionsError::Cpus(cpus));
    }
    let resources = Resources {
        // 0 means no limit for memory and cpus, as with Docker.
        memory: flags.memory.as_deref().filter(|m| mounts::parse_size(m) != Some(0)).map(parse_memory).transpose()?,
        nano_cpus: flags.cpus.filter(|&c| c != 0.0).map(|c| (c * 1e9) as i64),
        cpu_shares: flags.cpu_shares,
        pids_limit: flags.pids_limit.filter(|&p| p != 0),
        more: Default::default(),
    };
    let (more, process_host) = super::resource_options::parse(&flags.more, network, flags.hostname.as_deref())?;
    let resources = Resources { more, ..resources };
    crate::sandbox::cgroup::check(&super::resource_options::cgroup_resources(&resources))
        .map_err(super::resource_options::ResourceError::from)?;
    if let Some(signal) = &flags.stop_signal {
        super::signals::parse_signal(signal)?;
    }
    Ok(CreateOptions {
        name: flags.name.clone(),
        image_name: flags.image.clone(),
        entrypoint: flags.entrypoint.as_ref().map(|e| if e.is_empty() { Vec::new() } else { vec![e.clone()] }),
        cmd: flags.command.clone(),
        env: user_env(&flags.env_files, &flags.env)?,
        working_dir: flags.workdir.clone(),
        user: flags.user.clone(),
        hostname: flags.hostname.clone(),
        labels: parse_labels(&flags.labels),
        tty: flags.tty,
        interactive: flags.interactive,
        auto_remove: flags.rm,
        init: flags.init,
        stop_signal: flags.stop_signal.clone(),
        stop_timeout: flags.stop_timeout,
        network,
        net,
        userns: parse_userns(flags.userns.as_deref())?,
        resources,
        ulimits: flags.ulimits.iter().map(|u| parse_ulimit(u)).collect::<Result<_, _>>()?,
        cap_add: normalize_capabilities(&flags.cap_add)?,
        cap_drop: normalize_capabilities(&flags.cap_drop)?,
        privileged: flags.privileged,
        allow_new_privileges: security.allow_new_privileges,
        seccomp_profile: security.seccomp_profile,
        devices: parse_devices(&flags.devices)?,
        mounts: parse_mounts(flags)?,
        read_only: flags.read_only,
        volumes_from: flags.volumes_from.clone(),
        process_host,
        // Health checks and restart policies: set by cmd/health_flags.rs.
        ..Default::default()
    })
}

/// Docker's memory sizes: a number with an optional b, k, m or g (binary multiples).
pub fn parse_memory(text: &str) -> Result<i64, OptionsError> {
    match mounts::parse_size(text) {
        Some(0) => Err(OptionsError::ZeroSize(text.to_owned())),
        Some(bytes) => Ok(bytes.min(i64::MAX as u64) as i64),
        None => Err(OptionsError::Size(text.to_owned())),
    }
}

/// The limits `--ulimit` may name (setrlimit's, by Docker's names).
const ULIMITS: [&str; 16] = [
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

/// `NAME=SOFT[:HARD]`; `-1` and `unlimited` are no limit.
pub fn parse_ulimit(text: &str) -> Result<Ulimit, OptionsError> {
    let bad = |reason: String| OptionsError::Ulimit { text: text.to_owned(), reason };
    let (name, values) = text.split_once('=').ok_or_else(|| bad("expected NAME=SOFT[:HARD]".into()))?;
    let parse = |v: &str| -> Result<u64, OptionsError> {
        if v == "-1" || v == "unlimited" {
            return Ok(u64::MAX);
        }
        v.parse().map_err(|_| bad(format!("{v:?} is not a number")))
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (parse(s)?, parse(h)?),
        None => (parse(values)?, parse(values)?),
    };
    if soft > hard {
        return Err(bad("soft limit above hard limit".into()));
    }
    if !ULIMITS.contains(&name) {
        return Err(bad(format!("unknown limit {name:?}")));
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

/// An env file: one entry a line, `#` comments and blank lines skipped.
fn read_env_file(path: &Path) -> Result<Vec<String>, OptionsError> {
    let text = std::fs::read_to_string(path).map_err(|error| OptionsError::EnvFile { path: path.to_owned(), error })?;
    Ok(text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(expand_env_entry)
        .collect())
}

/// What `--env-file` and `-e` ask for, in that order (later entries win when merged). Also
/// what `exec -e` takes.
pub fn user_env(env_files: &[PathBuf], env: &[String]) -> Result<Vec<String>, OptionsError> {
    let mut out = Vec::new();
    for file in env_files {
        out.extend(read_env_file(file)?);
    }
    out.extend(env.iter().filter_map(|e| expand_env_entry(e)));
    if let Some(bad) = out.iter().find(|e| e.starts_with('=') || e.contains('\0')) {
        return Err(OptionsError::Env(bad.clone()));
    }
    Ok(out)
}

fn parse_userns(userns: Option<&str>) -> Result<UsernsMode, OptionsError> {
    match userns {
        None | Some("" | "host") => Ok(UsernsMode::Default),
        Some("keep-id") => Ok(UsernsMode::KeepId),
        Some(other) => Err(OptionsError::Userns(other.to_owned())),
    }
}

fn normalize_capabilities(names: &[String]) -> Result<Vec<String>, OptionsError> {
    names
        .iter()
        .map(|n| crate::sandbox::caps::normalize(n).map(str::to_owned).map_err(OptionsError::Capability))
        .collect()
}

/// What `--security-opt` sets.
#[derive(Debug, Default, PartialEq)]
pub struct SecurityOpts {
    pub allow_new_privileges: bool,
    /// None, "unconfined", or a profile's text.
    pub seccomp_profile: Option<String>,
}

/// Docker's `--security-opt` forms: `no-new-privileges[=|:true|false]`, `seccomp=unconfined`,
/// `seccomp=PATH` (the file is read now and its content kept). A later option wins.
pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts, OptionsError> {
    let mut parsed = SecurityOpts::default();
    for opt in opts {
        let (key, value) = opt.split_once('=').or_else(|| opt.split_once(':')).unwrap_or((opt.as_str(), ""));
        let refused = |reason| OptionsError::SecurityOpt { opt: opt.clone(), reason };
        match (key, value) {
            ("no-new-privileges", "" | "true") => parsed.allow_new_privileges = false,
            ("no-new-privileges", "false") => parsed.allow_new_privileges = true,
            ("no-new-privileges", other) => {
                return Err(OptionsError::NoNewPrivileges { opt: opt.clone(), value: other.to_owned() });
            }
            ("seccomp", "") => return Err(refused("give seccomp=unconfined or seccomp=PROFILE.json")),
            ("seccomp", SECCOMP_UNCONFINED) => parsed.seccomp_profile = Some(SECCOMP_UNCONFINED.into()),
            ("seccomp", path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| OptionsError::SeccompFile { path: path.to_owned(), error })?;
                crate::sandbox::seccomp::check_profile(&text)
                    .map_err(|error| OptionsError::SeccompProfile { path: path.to_owned(), error })?;
                parsed.seccomp_profile = Some(text);
            }
            _ => return Err(refused("use no-new-privileges[=false] or seccomp=unconfined|PROFILE.json")),
        }
    }
    Ok(parsed)
}

/// `--device` flags, each checked against the host now (it is looked up again at every start).
pub fn parse_devices(flags: &[String]) -> Result<Vec<DeviceMapping>, OptionsError> {
    let mut devices = Vec::new();
    for flag in flags {
        let (host, container, permissions) =
            crate::sandbox::devices::parse_device(flag).map_err(OptionsError::Device)?;
        crate::sandbox::devices::resolve(&host, &container, &permissions).map_err(OptionsError::Device)?;
        devices.push(DeviceMapping {
            path_on_host: host,
            path_in_container: container,
            cgroup_permissions: permissions,
        });
    }
    Ok(devices)
}

/// `-v`, `--mount` and `--tmpfs`, in that order; two at one destination are refused.
fn parse_mounts(flags: &CreateFlags) -> Result<Vec<Mount>, OptionsError> {
    let mut parsed = Vec::new();
    for spec in &flags.volumes {
        parsed.push(mounts::parse_volume_flag(spec)?);
    }
    for spec in &flags.mounts {
        parsed.push(mounts::parse_mount_flag(spec)?);
    }
    for spec in &flags.tmpfs {
        parsed.push(mounts::parse_tmpfs_flag(spec)?);
    }
    for spec in &flags.volumes_from {
        mounts::parse_volumes_from(spec)?;
    }
    mounts::check_duplicates(&parsed)?;
    Ok(parsed)
}

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
