use std::fs::File;
use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use crate::image::assemble::{creation_time, qualify_name};
use crate::image::import::{ImportRequest, import};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the image config: CMD, ENTRYPOINT, ENV, EXPOSE,
    /// HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable)
    #[arg(short, long, value_name = "INSTRUCTION")]
    pub change: Vec<String>,
    /// Commit message recorded in the image history
    #[arg(short, long)]
    pub message: Option<String>,
    /// Root filesystem tarball (plain, gzip or zstd), or - for standard input
    #[arg(value_name = "FILE|-")]
    pub source: String,
    /// Name for the image: NAME[:TAG]
    #[arg(value_name = "NAME[:TAG]")]
    pub reference: Option<String>,
}

pub fn run(ctx: &Ctx, args: ImportArgs) -> Result<u8> {
    let source = &args.source;
    let context = || format!("importing {source}");
    if source.starts_with("http://") || source.starts_with("https://") {
        bail!("importing {source}: importing from a URL is not supported; download it first");
    }
    let registry = crate::image::lookup::default_registry(&ctx.settings);
    let name = args.reference.as_deref().map(|r| qualify_name(r, registry)).transpose().with_context(context)?;
    let input: Box<dyn Read + Send> = if source == "-" {
        if std::io::stdin().is_terminal() {
            bail!("importing from standard input, but it is a terminal: pipe a tarball in or name a file");
        }
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(source).with_context(context)?)
    };
    // SOURCE_DATE_EPOCH, when set, is the image's creation time: equal inputs, equal image ids.
    let created = creation_time(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref()).with_context(context)?;
    let request =
        ImportRequest { changes: &args.change, message: args.message.as_deref(), source, name, created: &created };
    let id = import(ctx.store()?, input, &request).with_context(context)?;
    println!("{id}");
    Ok(0)
}
