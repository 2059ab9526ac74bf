//! `compose build`, `pull` and `push`: the services' images through the builder, the puller
//! and the pusher.

use anyhow::{Context, Result};
use clap::Args;

use super::verbs::Lines;
use super::{ComposeArgs, load_project};
use crate::cmd::Ctx;
use crate::compose::build::{BuildOptions, build_service, image_name};
use crate::compose::load::start_order;
use crate::image::ensure::{EnsureRequest, PullPolicy, ensure_image};
use crate::image::registry::CredentialSource;

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Do not use the build cache
    #[arg(long)]
    pub no_cache: bool,
    /// Pull the base images again
    #[arg(long)]
    pub pull: bool,
    /// Set build-time variables (over the file's args)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Print only the image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Services (default: all that have a build section)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Pull what can be pulled and go on past failures
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
    /// Services (default: all)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push what can be pushed and go on past failures
    #[arg(long)]
    pub ignore_push_failures: bool,
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
    /// Services (default: all that have a build section and an image name)
    pub services: Vec<String>,
}

/// `KEY=VALUE`, or `KEY` for the value in berth's environment (left out when unset).
pub fn build_arg(text: &str) -> Option<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) => Some((k.to_owned(), v.to_owned())),
        None => std::env::var(text).ok().map(|v| (text.to_owned(), v)),
    }
}

/// The services named (all when none are), in dependency order.
fn chosen(project: &crate::compose::Project, services: &[String]) -> Vec<String> {
    start_order(project).into_iter().filter(|s| services.is_empty() || services.contains(s)).collect()
}

pub fn build(ctx: &Ctx, global: &ComposeArgs, args: &BuildArgs) -> Result<u8> {
    let project = load_project(global, &args.services)?;
    let store = ctx.store()?;
    let opts = BuildOptions {
        no_cache: args.no_cache,
        pull: args.pull,
        args: args.build_args.iter().filter_map(|a| build_arg(a)).collect(),
        quiet: args.quiet,
    };
    for name in chosen(&project, &args.services) {
        let s = &project.services[&name];
        if s.build.is_none() {
            continue;
        }
        let id = build_service(store, &ctx.settings, &project, &name, s, &opts, &mut Lines)?;
        if args.quiet {
            println!("{id}");
        }
    }
    Ok(0)
}

pub fn pull(ctx: &Ctx, global: &ComposeArgs, args: &PullArgs) -> Result<u8> {
    let project = load_project(global, &args.services)?;
    let store = ctx.store()?;
    let credentials = CredentialSource::default();
    let mut failed = false;
    for name in chosen(&project, &args.services) {
        let s = &project.services[&name];
        // A service built here has nothing to pull (Docker Compose skips it too).
        let Some(image) = s.image.as_deref().filter(|_| s.build.is_none()) else { continue };
        if !args.quiet {
            eprintln!(" {name} Pulling");
        }
        let request =
            EnsureRequest { reference: image, policy: PullPolicy::Always, platform: None, credentials: &credentials };
        match ensure_image(store, &ctx.settings, &request) {
            Ok(_) if !args.quiet => eprintln!(" {name} Pulled"),
            Ok(_) => {}
            Err(e) if args.ignore_pull_failures => {
                eprintln!("berth: warning: pulling {image} for service {name}: {e}");
                failed = true;
            }
            Err(e) => return Err(e).with_context(|| format!("service {name}: pulling {image}")),
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn push(ctx: &Ctx, global: &ComposeArgs, args: &PushArgs) -> Result<u8> {
    use crate::image::push::{PushRequest, push};
    use crate::image::spec::Compression;
    let project = load_project(global, &args.services)?;
    let store = ctx.store()?;
    let credentials = CredentialSource::default();
    for name in chosen(&project, &args.services) {
        let s = &project.services[&name];
        if s.build.is_none() || s.image.is_none() {
            continue;
        }
        let image = image_name(&project, &name, s);
        let request = PushRequest {
            image: &image,
            all_tags: false,
            format: None,
            compression: Compression::Gzip,
            credentials: &credentials,
            tls_verify: true,
        };
        let quiet = args.quiet;
        let report = move |line: &str| {
            if !quiet {
                eprintln!("{line}");
            }
        };
        match push(store, &ctx.settings, &request, &report) {
            Ok(_) => {}
            Err(e) if args.ignore_push_failures => eprintln!("berth: warning: pushing {image} for service {name}: {e}"),
            Err(e) => return Err(e).with_context(|| format!("service {name}: pushing {image}")),
        }
    }
    Ok(0)
}
