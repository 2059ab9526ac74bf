use anyhow::Result;
use clap::{Args, Subcommand};

use super::Ctx;
use crate::image::check::{check_store, check_store_metadata};

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Verify every blob's digest, every layer's unpacked files and every image's layers
    Check(CheckArgs),
    /// Show system-wide information
    Info(super::info::InfoArgs),
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
    }
}

fn check(ctx: &Ctx, args: CheckArgs) -> Result<u8> {
    let store = ctx.store()?;
    let check = if args.quick { check_store_metadata } else { check_store };
    let report = if args.repair {
        let _lock = store.lock_images_exclusive()?;
        check(store, true)?
    } else {
        let _lock = store.lock_images_shared()?;
        check(store, false)?
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
