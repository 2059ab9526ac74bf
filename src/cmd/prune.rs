use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;
use clap::Args;

use super::Ctx;
use crate::container::query::image_users;
use crate::image::progress::human_size;
use crate::image::registry::reference::familiar_name;
use crate::image::remove::prune_images;

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
    let pruned = prune_images(store, args.all, image_users)?;
    for image in &pruned.removed {
        for name in &image.names {
            println!("untagged: {}", familiar_name(name));
        }
        println!("deleted: {}", image.id);
    }
    println!("Total reclaimed space: {}", human_size(pruned.reclaimed));
    Ok(0)
}
