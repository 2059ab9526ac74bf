//! `berth system prune`: Docker's one-shot cleanup. Each kind goes through the prune its own
//! verb uses (container, network, volume, image, builder prune), in Docker's order.

use anyhow::{Context, Result};
use clap::Args;

use super::Ctx;
use super::prune::{PruneFilter, confirmed, print_deleted_images};
use crate::container::query::image_users;
use crate::image::progress::human_size;
use crate::image::remove::prune_images;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not only dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Prune anonymous volumes too
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Filter: until=DURATION (e.g. 24h), label=KEY[=VALUE], label!=KEY[=VALUE]
    #[arg(long)]
    pub filter: Vec<String>,
}

/// Docker's warning, one line per kind that goes.
fn question(args: &PruneArgs) -> String {
    let mut lines = vec!["  - all stopped containers", "  - all networks not used by at least one container"];
    if args.volumes {
        lines.push("  - all anonymous volumes not used by at least one container");
    }
    lines.push(if args.all {
        "  - all images without at least one container associated to them"
    } else {
        "  - all dangling images"
    });
    lines.push(if args.all { "  - all build cache" } else { "  - unused build cache" });
    format!("WARNING! This will remove:\n{}\n\nAre you sure you want to continue?", lines.join("\n"))
}

pub fn run(ctx: &Ctx, args: PruneArgs) -> Result<u8> {
    let filter = PruneFilter::parse(&args.filter)?;
    let keep_networks = super::network::prune_filter(&args.filter)?;
    if args.volumes && !args.filter.is_empty() {
        // Docker's volume prune takes label filters only; refuse rather than prune more.
        anyhow::bail!("--filter cannot be combined with --volumes");
    }
    if !args.force && !confirmed(&question(&args)) {
        eprintln!("berth: system prune: not confirmed (use -f to prune without asking)");
        return Ok(1);
    }
    let store = ctx.store()?;
    let mut reclaimed = 0;
    let containers =
        crate::container::lifecycle::prune(store, &|c| filter.holds_back(&c.config.labels, Some(&c.created)))
            .context("pruning containers")?;
    reclaimed += containers.bytes;
    if !containers.ids.is_empty() {
        println!("Deleted Containers:");
        for id in &containers.ids {
            println!("{id}");
        }
        println!();
    }
    let networks = super::network::prune_networks(ctx, &keep_networks)?;
    if !networks.is_empty() {
        println!("Deleted Networks:");
        for network in &networks {
            println!("{}", network.name);
        }
        println!();
    }
    if args.volumes {
        let volumes = crate::container::volumes::prune(store, false).context("pruning volumes")?;
        reclaimed += volumes.bytes;
        if !volumes.names.is_empty() {
            println!("Deleted Volumes:");
            for name in &volumes.names {
                println!("{name}");
            }
            println!();
        }
    }
    // The image records hold no labels: with a label filter, images stay (never more than
    // Docker would remove).
    let images = prune_images(store, args.all, image_users, &|i| {
        filter.has_labels() || filter.holds_back(&Default::default(), i.created.as_deref())
    })?;
    reclaimed += images.reclaimed;
    if !images.removed.is_empty() {
        println!("Deleted Images:");
        print_deleted_images(&images.removed);
        println!();
    }
    // The cache's entries carry no labels or times: cleared only by an unfiltered prune.
    if args.filter.is_empty() {
        let cache_bytes: u64 =
            store.build_cache_side_dirs().iter().map(|d| crate::container::volumes::disk_usage(d)).sum();
        let entries = super::build::prune_build_cache(ctx)?;
        reclaimed += cache_bytes;
        if !entries.is_empty() {
            println!("Deleted build cache objects:");
            for key in &entries {
                println!("{key}");
            }
            println!();
        }
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}
