use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::{Ctx, lookup_image};
use crate::store::ImageRecord;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output with a Go template (e.g. '{{.Id}}', '{{json .Config}}')
    #[arg(short, long)]
    pub format: Option<String>,
    /// Objects to inspect (container or image names or ids)
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Docker's ImageInspect for one image (image::inspect, which the API serves too).
pub fn image_inspect_json(ctx: &Ctx, image: &ImageRecord) -> Result<Value> {
    Ok(crate::image::inspect::inspect_json(ctx.store()?, image)?)
}

pub fn print_inspected(format: Option<&str>, values: &[Value]) -> Result<()> {
    match format {
        Some(f) => {
            let template = super::template::Template::parse(f)?;
            for v in values {
                println!("{}", template.render(v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(values)?),
    }
    Ok(())
}

/// Which kinds of object a name may denote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Any,
    Container,
    Image,
}

/// `image inspect`: images only.
pub fn run_images(ctx: &Ctx, args: InspectArgs) -> Result<u8> {
    inspect(ctx, args, Kind::Image)
}

/// `container inspect`: containers only.
pub fn run_containers(ctx: &Ctx, args: InspectArgs) -> Result<u8> {
    inspect(ctx, args, Kind::Container)
}

/// `inspect`: any object berth knows, containers first (as Docker). Prints what it found, then
/// fails if anything was missing.
pub fn run(ctx: &Ctx, args: InspectArgs) -> Result<u8> {
    inspect(ctx, args, Kind::Any)
}

fn inspect(ctx: &Ctx, args: InspectArgs, kind: Kind) -> Result<u8> {
    use crate::container::index::{ContainerError, find, load_all, refresh};
    let mut values = Vec::new();
    let mut missing = Vec::new();
    let store = ctx.store()?;
    let containers = if kind == Kind::Image { None } else { Some(load_all(store)?) };
    for name in &args.names {
        if let Some(index) = &containers {
            match find(index, name) {
                Ok(container) => {
                    let mut container = container.clone();
                    refresh(store, &mut container);
                    values.push(crate::container::inspect::inspect_json(store, &container));
                    continue;
                }
                Err(ContainerError::NotFound(_)) if kind == Kind::Any => {}
                Err(e) => {
                    missing.push(e.to_string());
                    continue;
                }
            }
        }
        match lookup_image(ctx, name) {
            Ok(image) => values.push(image_inspect_json(ctx, &image)?),
            Err(e)
                if kind == Kind::Any
                    && e.downcast_ref::<crate::image::ImageError>().is_some_and(super::is_not_found) =>
            {
                missing.push(format!("no such object: {name}"))
            }
            Err(e) => missing.push(format!("{e:#}")),
        }
    }
    print_inspected(args.format.as_deref(), &values)?;
    if missing.is_empty() {
        Ok(0)
    } else {
        for m in &missing {
            eprintln!("berth: {m}");
        }
        Ok(1)
    }
}
