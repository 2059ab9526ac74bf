use std::fs::File;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use crate::container::export::export;
use crate::container::index::load;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Container to export
    pub container: String,
}

pub fn run(ctx: &Ctx, args: ExportArgs) -> Result<u8> {
    let store = ctx.store()?;
    let container = load(store, &args.container)?;
    let what = || format!("exporting {}", args.container);
    match &args.output {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("creating {}", path.display())).with_context(what)?;
            if let Err(e) = export(store, &container, file) {
                let _ = std::fs::remove_file(path);
                return Err(e).with_context(what);
            }
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("{}: cowardly refusing to write a tar to a terminal: use -o FILE or redirect", what());
            }
            let stdout = std::io::stdout().lock();
            let fd = std::os::fd::AsFd::as_fd(&stdout).try_clone_to_owned().context("duplicating stdout")?;
            export(store, &container, File::from(fd)).with_context(what)?;
        }
    }
    Ok(0)
}
