use anyhow::Result;
use clap::{Args, Subcommand};

use super::Ctx;

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Verify every blob's digest and every image's layers
    Check(CheckArgs),
    /// Show system-wide information
    Info(super::info::InfoArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Remove what is broken (and the images that need it)
    #[arg(long)]
    pub repair: bool,
}

pub fn run(ctx: &Ctx, command: SystemCommand) -> Result<u8> {
    match command {
        SystemCommand::Check(a) => check(ctx, a),
        SystemCommand::Info(a) => super::info::run(ctx, a),
    }
}

fn check(ctx: &Ctx, args: CheckArgs) -> Result<u8> {
    let store = ctx.store()?;
    let report = if args.repair {
        let _lock = store.lock_images_exclusive()?;
        crate::image::check::check_store(store, true)?
    } else {
        let _lock = store.lock_images_shared()?;
        crate::image::check::check_store(store, false)?
    };
    for problem in &report.problems {
        println!("{problem}");
    }
    for fixed in &report.repaired {
        println!("repaired: {fixed}");
    }
    println!(
        "checked {} blobs, {} layers, {} images: {} problems{}",
        report.blobs,
        report.layers,
        report.images,
        report.problems.len(),
        if args.repair { format!(", {} repairs", report.repaired.len()) } else { String::new() }
    );
    Ok(if report.problems.is_empty() || (args.repair && report.unrepaired == 0) { 0 } else { 1 })
}
