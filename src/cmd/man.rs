use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory to write the pages into
    #[arg(long, default_value = "man")]
    pub output: PathBuf,
}

/// Writes berth.1 and one berth-VERB.1 (berth-image-ls.1, …) per subcommand.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let root = super::Cli::command();
    write_page(dir, root, "berth", &mut written)?;
    Ok(written)
}

fn write_page(dir: &Path, command: clap::Command, name: &str, written: &mut Vec<PathBuf>) -> Result<()> {
    let command =
        command.name(clap::builder::Str::from(name.to_owned().leak() as &str)).bin_name(name.replace('-', " "));
    let mut buffer = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut buffer)?;
    let verbs: Vec<&str> = name.split('-').skip(1).collect();
    buffer.extend_from_slice(format!(".SH \"EXIT STATUS\"\n{}\n", super::exit_codes::man_section(&verbs)).as_bytes());
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buffer).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(dir, sub.clone(), &format!("{name}-{}", sub.get_name()), written)?;
    }
    Ok(())
}

pub fn run(args: ManArgs) -> Result<u8> {
    for path in write_pages(&args.output)? {
        println!("{}", path.display());
    }
    Ok(0)
}
