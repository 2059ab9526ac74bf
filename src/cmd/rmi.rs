use anyhow::Result;
use clap::Args;

use super::Ctx;
use crate::container::query::image_users;
use crate::image::registry::reference::familiar_name;
use crate::image::remove::remove_images;

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Remove the image even if it has several names
    #[arg(short, long)]
    pub force: bool,
    /// Images to remove (names or ids)
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(ctx: &Ctx, args: RmiArgs) -> Result<u8> {
    let store = ctx.store()?;
    let results = remove_images(store, &ctx.settings, &args.images, args.force, image_users)?;
    let mut failed = false;
    for (input, result) in args.images.iter().zip(results) {
        match result {
            Ok(removal) => {
                for name in removal.untagged {
                    println!("Untagged: {}", familiar_name(&name));
                }
                if let Some(id) = removal.deleted {
                    println!("Deleted: {id}");
                }
            }
            Err(e) => {
                eprintln!("berth: removing {input}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
