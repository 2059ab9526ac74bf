use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use super::{Ctx, lookup_image};
use crate::image::archive::{self, ArchiveFormat, SaveRequest};
use crate::image::lookup::qualified_candidates;
use crate::image::reference::Reference;

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive format
    #[arg(long, value_enum, default_value_t = SaveFormat::DockerArchive)]
    pub format: SaveFormat,
    /// Images to save (names or ids)
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveFormat {
    /// What `docker save` writes (also an OCI layout); `docker load` and `podman load` read it
    DockerArchive,
    /// An OCI image layout in a tar, layers as stored
    OciArchive,
}

/// The image and, when it was named rather than given by id, the name to save it under: an
/// image saved by id keeps no names, as with Docker.
fn request_for(ctx: &Ctx, input: &str) -> Result<SaveRequest> {
    let image = lookup_image(ctx, input)?;
    let by_id = image.id[7..].starts_with(input.strip_prefix("sha256:").unwrap_or(input));
    let name = if by_id {
        None
    } else {
        Reference::parse(input).ok().and_then(|reference| {
            qualified_candidates(&ctx.settings, &reference)
                .into_iter()
                .filter_map(|c| c.tagged_name())
                .find(|n| image.names.contains(n))
        })
    };
    Ok(SaveRequest { id: image.id.into(), names: name.into_iter().collect() })
}

pub fn run(ctx: &Ctx, args: SaveArgs) -> Result<u8> {
    let format = match args.format {
        SaveFormat::DockerArchive => ArchiveFormat::DockerArchive,
        SaveFormat::OciArchive => ArchiveFormat::OciArchive,
    };
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("refusing to write an image archive to a terminal: use -o FILE or redirect standard output");
    }
    let requests = args
        .images
        .iter()
        .map(|i| request_for(ctx, i).with_context(|| format!("saving {i}")))
        .collect::<Result<Vec<_>>>()?;
    let store = ctx.store()?;
    let what = args.images.join(" ");
    match &args.output {
        Some(path) => archive::save_to_file(store, &requests, format, path)
            .with_context(|| format!("saving {what} to {}", path.display()))?,
        None => archive::save(store, &requests, format, std::io::stdout().lock())
            .with_context(|| format!("saving {what}"))?,
    }
    Ok(0)
}
