use anyhow::Result;
use clap::Subcommand;

use super::Ctx;

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(super::images::ImagesArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(super::rmi::RmiArgs),
    /// Show low-level information about images
    Inspect(super::inspect::InspectArgs),
    /// Show the history of an image
    History(super::history::HistoryArgs),
    /// Remove unused images
    Prune(super::prune::PruneArgs),
    /// Give an image another name
    Tag(super::tag::TagArgs),
    /// Download an image from a registry
    Pull(super::pull::PullArgs),
    /// Upload an image to a registry
    Push(super::push::PushArgs),
    /// Save images to a tar archive
    Save(super::save::SaveArgs),
    /// Load images from a tar archive
    Load(super::load::LoadArgs),
    /// Create an image from a root filesystem tarball
    Import(super::import::ImportArgs),
    /// Exit 0 if an image exists, 1 if not
    Exists(super::exists::ExistsArgs),
    /// Build an image from a Dockerfile
    Build(super::build::BuildArgs),
}

pub fn run(ctx: &Ctx, command: ImageCommand) -> Result<u8> {
    match command {
        ImageCommand::Ls(a) => super::images::run(ctx, a),
        ImageCommand::Rm(a) => super::rmi::run(ctx, a),
        ImageCommand::Inspect(a) => super::inspect::run_images(ctx, a),
        ImageCommand::History(a) => super::history::run(ctx, a),
        ImageCommand::Prune(a) => super::prune::run(ctx, a),
        ImageCommand::Tag(a) => super::tag::run(ctx, a),
        ImageCommand::Pull(a) => super::pull::run(ctx, a),
        ImageCommand::Push(a) => super::push::run(ctx, a),
        ImageCommand::Save(a) => super::save::run(ctx, a),
        ImageCommand::Load(a) => super::load::run(ctx, a),
        ImageCommand::Import(a) => super::import::run(ctx, a),
        ImageCommand::Exists(a) => super::exists::image(ctx, a),
        ImageCommand::Build(a) => super::build::run(ctx, a),
    }
}
