//! `berth build` (and `berth image build`), `berth builder prune`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::Ctx;
use crate::build::builder::output::{Output, Progress};
use crate::build::builder::{BuildError, BuildRequest, build};
use crate::build::context::{BuildContext, DockerfileSource};
use crate::build::epoch::{Epoch, parse_timestamp};
use crate::container::net_config::{self, DEFAULT_NETWORK, NetFlags};
use crate::image::assemble::qualify_name;
use crate::image::spec::{Platform, host_platform};

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); may be repeated
    #[arg(short, long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile; "-" reads it from standard input)
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<String>,
    /// A build-time variable (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The stage to build (default: the last)
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Run every step, using no cached result
    #[arg(long)]
    pub no_cache: bool,
    /// A label for the image (KEY=VALUE); may be repeated
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Write the image id to this file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Print only the image id
    #[arg(short, long)]
    pub quiet: bool,
    /// Progress output: auto (tty on a terminal, else plain), plain, tty or quiet
    #[arg(long, default_value = "auto", value_parser = ["auto", "plain", "tty", "quiet", "rawjson"])]
    pub progress: String,
    /// RUN's network: default (the default bridge network, as `run` gets), none or host
    #[arg(long, default_value = "default", value_name = "MODE", value_parser = ["default", "none", "host", "bridge"])]
    pub network: String,
    /// A secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (id=ID alone: the
    /// variable ID)
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    pub secrets: Vec<String>,
    /// Pull the base images again (default: from the local store first, pulled if missing)
    #[arg(long)]
    pub pull: bool,
    /// The image's creation time and the clamp for file times: "now" (not reproducible) or
    /// seconds since 1970 (default: SOURCE_DATE_EPOCH, else the context's git commit time, else 0)
    #[arg(long, value_name = "now|SECONDS", value_parser = parse_timestamp)]
    pub timestamp: Option<Epoch>,
    /// The platform to build for: only the host's (os/arch[/variant]) is supported
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// The build context: a directory, or "-" (a tar archive or a Dockerfile on standard input)
    #[arg(value_name = "CONTEXT")]
    pub context: String,
}

#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove the build cache
    Prune(PruneArgs),
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Remove all the build cache (the only kind berth keeps)
    #[arg(short, long)]
    pub all: bool,
}

fn key_value(text: &str, what: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some(("", _)) => bail!("invalid {what} {text:?}: the name is empty"),
        Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
        None if what == "build-arg" => Ok((text.to_owned(), std::env::var(text).unwrap_or_default())),
        None => Ok((text.to_owned(), String::new())),
    }
}

/// `--secret id=ID,src=FILE|env=VAR` (Docker's and BuildKit's forms, `type=` ignored).
fn secret(text: &str) -> Result<(String, Vec<u8>)> {
    let (mut id, mut src, mut env) = (None, None, None);
    for field in text.split(',') {
        match field.split_once('=') {
            Some(("id", v)) => id = Some(v.to_owned()),
            Some(("src" | "source", v)) => src = Some(v.to_owned()),
            Some(("env", v)) => env = Some(v.to_owned()),
            Some(("type", _)) => {}
            _ => bail!("invalid --secret {text:?}: use id=ID,src=FILE or id=ID,env=VAR"),
        }
    }
    let Some(id) = id.filter(|i| !i.is_empty()) else { bail!("invalid --secret {text:?}: it needs an id") };
    let value = match (src, env) {
        (Some(src), _) => std::fs::read(&src).with_context(|| format!("reading the secret {id} from {src}"))?,
        (None, env) => {
            let var = env.unwrap_or_else(|| id.clone());
            std::env::var(&var).with_context(|| format!("the secret {id}: environment variable {var}"))?.into_bytes()
        }
    };
    Ok((id, value))
}

/// `--platform`: the host's platform is the only one berth builds for (no emulation); a list
/// (`a,b`) must name only it.
fn check_platform(text: &str) -> Result<()> {
    let host = host_platform();
    for one in text.split(',') {
        let Some(platform) = Platform::parse(one.trim()) else {
            bail!("invalid --platform {one:?}: expected os/arch[/variant]")
        };
        if !platform.matches(&host) {
            let host_text = format!("{}/{}", host.os, host.architecture);
            bail!(
                "--platform {one}: only the host's platform ({host_text}) can be built; berth does not emulate others"
            );
        }
    }
    Ok(())
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes).context("reading standard input")?;
    Ok(bytes)
}

pub fn run(ctx: &Ctx, args: BuildArgs) -> Result<u8> {
    let registry = crate::image::lookup::default_registry(&ctx.settings);
    let names = args.tags.iter().map(|t| qualify_name(t, registry)).collect::<Result<Vec<_>, _>>()?;
    let build_args = args.build_args.iter().map(|a| key_value(a, "build-arg")).collect::<Result<Vec<_>>>()?;
    let labels = args.labels.iter().map(|a| key_value(a, "label")).collect::<Result<Vec<_>>>()?;
    // "default": what `berth run` without --network gets (the config's default_network, else
    // the default bridge; rootless, create_for_build applies run's rootless default).
    let network = match args.network.as_str() {
        "default" => ctx.settings.default_network.clone().unwrap_or_else(|| DEFAULT_NETWORK.to_owned()),
        other => other.to_owned(),
    };
    let (network, net) = net_config::parse(&NetFlags { networks: vec![network], ..Default::default() })?;
    if let Some(text) = &args.platform {
        check_platform(text)?;
    }
    let secrets = args.secrets.iter().map(|s| secret(s)).collect::<Result<Vec<_>>>()?;
    let quiet = args.quiet || args.progress == "quiet";
    let dockerfile = match args.file.as_deref() {
        None => DockerfileSource::Default,
        Some("-") if args.context == "-" => {
            bail!("the Dockerfile and the context cannot both come from standard input")
        }
        Some("-") => DockerfileSource::Bytes(read_stdin()?),
        Some(path) => DockerfileSource::Path(PathBuf::from(path)),
    };
    let store = ctx.store()?;
    let context = if args.context == "-" {
        BuildContext::from_stdin(std::io::stdin(), store.new_staging()?, dockerfile)
    } else {
        BuildContext::from_dir(std::path::Path::new(&args.context), dockerfile)
    }
    .map_err(BuildError::from)?;
    let output = Output::new(match args.progress.as_str() {
        _ if quiet => Progress::Quiet,
        "tty" => Progress::Tty,
        "auto" => Output::auto(),
        _ => Progress::Plain,
    });
    let request = BuildRequest {
        settings: &ctx.settings,
        context: &context,
        build_args,
        target: args.target.clone(),
        no_cache: args.no_cache,
        labels,
        names,
        network,
        net,
        output: &output,
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
        timestamp: args.timestamp,
        pull: args.pull,
        secrets,
    };
    let id = build(store, &request)?;
    output.finish();
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &id).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{id}");
    Ok(0)
}

pub fn run_builder(ctx: &Ctx, command: BuilderCommand) -> Result<u8> {
    match command {
        BuilderCommand::Prune(_) => {
            let removed = prune_build_cache(ctx)?;
            println!("Removed {} build cache entries", removed.len());
            Ok(0)
        }
    }
}

/// Clears the build cache; the keys (hex) of the step entries it held.
pub(super) fn prune_build_cache(ctx: &Ctx) -> Result<Vec<String>> {
    let store = ctx.store()?;
    let _lock = store.lock_build_cache_exclusive()?;
    let keys = store.build_cache_entries().context("reading the build cache")?.into_iter().map(|e| e.key_hex).collect();
    store.clear_build_cache().context("removing the build cache")?;
    Ok(keys)
}
