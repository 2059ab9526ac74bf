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
    /// Image
    pub image: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Docker's memory sizes: a number with an optional b, k, m or g (binary multiples).
pub fn parse_memory(text: &str) -> Result<i64> {
    let mut lower = text.trim().to_ascii_lowercase();
    if lower.len() > 1 && lower.ends_with('b') {
        lower.pop();
    }
    let lower = lower.as_str();
    let (number, multiplier) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        Some('t') => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    let value: f64 = number.parse().with_context(|| format!("invalid size {text:?}: expected a number with an optional unit b, k, m or g"))?;
    if value <= 0.0 || !value.is_finite() {
        bail!("invalid size {text:?}: must be positive");
    }
    Ok((value * multiplier as f64) as i64)
}

fn parse_ulimit(text: &str) -> Result<Ulimit> {
    let (name, values) = text.split_once('=').with_context(|| format!("invalid ulimit {text:?}: expected NAME=SOFT[:HARD]"))?;
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
    const KNOWN: [&str; 16] = ["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as"];
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
    Ok(text.lines().map(str::trim_start).filter(|l| !l.is_empty() && !l.starts_with('#')).filter_map(expand_env_entry).collect())
}

fn parse_labels(labels: &[String]) -> BTreeMap<String, String> {
    labels.iter().map(|l| l.split_once('=').map_or((l.clone(), String::new()), |(k, v)| (k.to_owned(), v.to_owned()))).collect()
}

pub fn options_from_args(args: &CreateArgs) -> Result<CreateOptions> {
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(read_env_file(file)?);
    }
    env.extend(args.env.iter().filter_map(|e| expand_env_entry(e)));
    if let Some(bad) = env.iter().find(|e| e.starts_with('=') || e.contains('\0')) {
        bail!("invalid environment variable {bad:?}");
    }
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
    if let Some(cpus) = args.cpus {
        if !(cpus > 0.0) || !cpus.is_finite() {
            bail!("invalid --cpus {cpus}: must be a positive number");
        }
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
    })
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
            Err(e) if args.pull == "missing" && e.downcast_ref::<crate::image::ImageError>().is_some_and(super::is_not_found) => {
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
    fn ulimits_parse_soft_and_hard() {
        assert_eq!(parse_ulimit("nofile=1024:2048").unwrap(), Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 });
        assert_eq!(parse_ulimit("nproc=10").unwrap().hard, 10);
        assert!(parse_ulimit("nofile=9:1").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
    }
}
