use anyhow::Result;
use clap::{Args, Subcommand};

use super::Ctx;
use crate::container::check::check_leftovers;
use crate::image::check::{check_store, check_store_metadata};

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Verify every blob's digest, every layer's unpacked files and every image's layers; find
    /// container and volume directories no record owns
    Check(CheckArgs),
    /// Show system-wide information
    Info(super::info::InfoArgs),
    /// Start the containers whose restart policy says so (always; unless-stopped if not stopped by the user), as after a reboot
    Boot,
    /// Serve the Docker Engine API on a socket (DOCKER_HOST=unix://...), exiting when idle
    Service(ServiceArgs),
    /// Show the disk space images, containers, volumes and the build cache use
    Df(super::system_df::DfArgs),
    /// Remove stopped containers, unused networks, dangling images and the build cache
    Prune(super::system_prune::PruneArgs),
}

#[derive(Args, Debug)]
pub struct ServiceArgs {
    /// Seconds without a client before exiting (0: never)
    #[arg(short, long, default_value_t = 5, value_name = "SECONDS")]
    pub time: u64,
    /// Allow a TCP address that is not loopback (no TLS: anyone who reaches it is root)
    #[arg(long)]
    pub insecure_tcp: bool,
    /// unix:///PATH or tcp://127.0.0.1:PORT (default: the LISTEN_FDS socket, else RUNROOT/docker.sock)
    #[arg(value_name = "URI")]
    pub address: Option<String>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Remove what is broken (and the images that need it)
    #[arg(long)]
    pub repair: bool,
    /// Check metadata only: do not compare unpacked layers with their blobs
    #[arg(long)]
    pub quick: bool,
}

pub fn run(ctx: &Ctx, command: SystemCommand) -> Result<u8> {
    match command {
        SystemCommand::Check(a) => check(ctx, a),
        SystemCommand::Info(a) => super::info::run(ctx, a),
        SystemCommand::Boot => boot(ctx),
        SystemCommand::Service(a) => service(ctx, a),
        SystemCommand::Df(a) => super::system_df::run(ctx, a),
        SystemCommand::Prune(a) => super::system_prune::run(ctx, a),
    }
}

/// Runs in berth's user namespace when rootless (entered in cmd::main before any thread), so
/// the service's runtime and the containers it starts are made there.
fn service(ctx: &Ctx, args: ServiceArgs) -> Result<u8> {
    use anyhow::Context;
    let address = args.address.as_deref().map(crate::api::Address::parse).transpose()?;
    let options = crate::api::ServeOptions {
        address,
        idle: (args.time > 0).then(|| std::time::Duration::from_secs(args.time)),
        insecure_tcp: args.insecure_tcp,
    };
    crate::api::serve(ctx.store()?.clone(), ctx.settings.clone(), options).context("serving the API")?;
    Ok(0)
}

/// Prints the name of each container started; each failure as its own error line.
fn boot(ctx: &Ctx) -> Result<u8> {
    use crate::container::boot::{Booted, boot};
    let mut failed = false;
    for (container, outcome) in boot(ctx.store()?)? {
        match outcome {
            Booted::Started => println!("{}", container.name),
            Booted::Running => {}
            Booted::Failed(e) => {
                failed = true;
                let error = anyhow::Error::from(e).context(format!("starting container {}", container.name));
                eprintln!("berth: {}", format!("{error:#}").replace('\n', " "));
            }
        }
    }
    Ok(if failed { crate::EXIT_TOOL_ERROR } else { 0 })
}

fn check(ctx: &Ctx, args: CheckArgs) -> Result<u8> {
    let store = ctx.store()?;
    // Before the image lock: the containers lock comes first in the lock order.
    let leftovers = check_leftovers(store, args.repair)?;
    let check = if args.quick { check_store_metadata } else { check_store };
    let mut report = if args.repair {
        let _lock = store.lock_images_exclusive()?;
        check(store, true)?
    } else {
        let _lock = store.lock_images_shared()?;
        check(store, false)?
    };
    report.problems.extend(leftovers.problems);
    report.repaired.extend(leftovers.repaired);
    for problem in &report.problems {
        println!("{problem}");
    }
    for fixed in &report.repaired {
        println!("repaired: {fixed}");
    }
    println!(
        "checked {} blobs, {} layers, {} images, {} containers, {} volumes: {} problems{}",
        report.blobs,
        report.layers,
        report.images,
        leftovers.containers,
        leftovers.volumes,
        report.problems.len(),
        if args.repair { format!(", {} repairs", report.repaired.len()) } else { String::new() }
    );
    Ok(if report.problems.is_empty() || (args.repair && report.unrepaired == 0) { 0 } else { 1 })
}
