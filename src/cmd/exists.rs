//! `container exists`, `image exists`, `volume exists` (Podman's scripting helpers): exit 0 when
//! the object is there, 1 when it is not, 125 when the store cannot be read.

use anyhow::Result;
use clap::Args;

use super::Ctx;

#[derive(Args, Debug)]
pub struct ExistsArgs {
    /// Name or id
    pub name: String,
}

fn status(found: bool) -> u8 {
    if found { 0 } else { 1 }
}

pub fn container(ctx: &Ctx, args: ExistsArgs) -> Result<u8> {
    let index = crate::container::index::load_all(ctx.store()?)?;
    Ok(status(crate::container::index::find(&index, &args.name).is_ok()))
}

pub fn image(ctx: &Ctx, args: ExistsArgs) -> Result<u8> {
    match super::lookup_image(ctx, &args.name) {
        Ok(_) => Ok(0),
        Err(e) if e.downcast_ref::<crate::image::ImageError>().is_some_and(super::is_not_found) => Ok(1),
        Err(e) => Err(e),
    }
}

pub fn volume(ctx: &Ctx, args: ExistsArgs) -> Result<u8> {
    let store = ctx.store()?;
    let _lock = store.lock_volumes_shared()?;
    Ok(status(store.volumes()?.get(&args.name).is_some()))
}
