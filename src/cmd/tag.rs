use anyhow::{Context, Result};
use clap::Args;

use super::{Ctx, lookup_image};
use crate::image::reference::Reference;

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Existing image (name or id)
    pub source: String,
    /// New name: NAME[:TAG]
    pub target: String,
}

pub fn run(ctx: &Ctx, args: TagArgs) -> Result<u8> {
    let target = Reference::parse(&args.target)?;
    if target.digest.is_some() {
        anyhow::bail!("tagging {}: a tag cannot contain a digest", args.target);
    }
    let default_registry = crate::image::lookup::default_registry(&ctx.settings);
    let name = target.qualified_with(default_registry).tagged_name().expect("qualified names have a tag");
    let image = lookup_image(ctx, &args.source)?;
    crate::image::tag::tag(ctx.store()?, image.id.as_ref(), &name)
        .with_context(|| format!("tagging {}", args.source))?;
    Ok(0)
}
