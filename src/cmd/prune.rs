use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;
use clap::Args;

use super::Ctx;
use crate::image::progress::human_size;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all images without a container, not only dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn confirmed(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

pub fn run(ctx: &Ctx, args: PruneArgs) -> Result<u8> {
    let what = if args.all { "all images without at least one container" } else { "all dangling images" };
    if !args.force && !confirmed(&format!("WARNING! This will remove {what}.\nAre you sure you want to continue?")) {
        eprintln!("berth: image prune: not confirmed (use -f to prune without asking)");
        return Ok(1);
    }
    let store = ctx.store()?;
    // Lock order: containers before images; images containers use are never pruned.
    let _containers = store.lock_containers_shared()?;
    let in_use = super::rmi::images_in_use(store)?;
    let _lock = store.lock_images_exclusive()?;
    let before = store.images()?;
    let mut index = before.clone();
    let doomed: Vec<_> =
        index.images.iter().filter(|i| (args.all || i.is_dangling()) && !in_use.contains_key(&i.id)).cloned().collect();
    let mut reclaimed = 0;
    for image in &doomed {
        for name in &image.names {
            println!("untagged: {}", crate::image::reference::familiar_name(name));
        }
        println!("deleted: {}", image.id);
        reclaimed += image.size;
        index.remove(&image.id);
    }
    store.write_images(&index)?;
    super::rmi::collect_after_removal(store, &before, &index)?;
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}
