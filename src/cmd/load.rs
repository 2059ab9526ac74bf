use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use crate::image::archive;
use crate::image::progress::Progress;
use crate::image::reference::familiar_name;

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read the archive from FILE instead of standard input
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print no progress, only the loaded images
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(ctx: &Ctx, args: LoadArgs) -> Result<u8> {
    let (input, what): (Box<dyn Read>, String) = match &args.input {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("loading images from {}", path.display()))?;
            (Box::new(file), path.display().to_string())
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is a terminal: use -i FILE or redirect standard input");
            }
            (Box::new(std::io::stdin()), "standard input".to_owned())
        }
    };
    let store = ctx.store()?;
    let loaded = archive::load(store, input, &Progress::new(args.quiet))
        .with_context(|| format!("loading images from {what}"))?;
    for image in loaded {
        if image.names.is_empty() {
            println!("Loaded image ID: {}", image.id);
        }
        for name in &image.names {
            println!("Loaded image: {}", familiar_name(name));
        }
    }
    Ok(0)
}
