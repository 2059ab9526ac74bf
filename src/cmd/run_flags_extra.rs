//! `run`/`create` flags that are not container options: what the command does around the
//! creation (`--replace`, `--cidfile`, the deprecated `--kernel-memory`). Kept apart from
//! `create.rs`'s flag list.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;

#[derive(Args, Debug, Clone, Default)]
pub struct ExtraRunArgs {
    /// Remove a container of the same --name first, running or not (Podman's)
    #[arg(long)]
    pub replace: bool,
    /// Write the container's id to FILE (refused when FILE exists)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
    /// Kernel memory limit: deprecated, accepted and ignored with a warning, as Docker does
    #[arg(long, value_name = "BYTES")]
    pub kernel_memory: Option<String>,
}

impl ExtraRunArgs {
    /// What comes before the container is created: the checks of `--cidfile`, the removal
    /// `--replace` asks for.
    pub fn before_create(&self, ctx: &Ctx, name: Option<&str>) -> Result<()> {
        if let Some(size) = &self.kernel_memory {
            crate::container::options::parse_memory(size)?;
            eprintln!(
                "berth: warning: specifying a kernel memory limit is deprecated; the limit is ignored (the kernel \
                 no longer supports it)"
            );
        }
        if let Some(path) = &self.cidfile
            && path.symlink_metadata().is_ok()
        {
            bail!("container ID file found, make sure the other container isn't running or delete {}", path.display());
        }
        if let (true, Some(name)) = (self.replace, name) {
            replace(ctx, name)?;
        }
        Ok(())
    }

    /// What comes once the container exists: its id in `--cidfile`.
    pub fn after_create(&self, id: &str) -> Result<()> {
        match &self.cidfile {
            Some(path) => {
                write_new(path, id).with_context(|| format!("writing the container ID file {}", path.display()))
            }
            None => Ok(()),
        }
    }
}

/// Removes the container called `name` (its name, not an id prefix), killing it if it runs.
fn replace(ctx: &Ctx, name: &str) -> Result<()> {
    use crate::container::index::{ContainerError, load};
    let store = ctx.store()?;
    match load(store, name) {
        Ok(container) if container.name == name.strip_prefix('/').unwrap_or(name) => {
            crate::container::lifecycle::remove(store, &container, true)
                .with_context(|| format!("replacing container {name}"))?;
            Ok(())
        }
        Ok(_) | Err(ContainerError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Writes `text` to a new file at `path`: a temporary file beside it, synced, then linked in
/// place, which fails if another command made `path` meanwhile.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temp_name = path.as_os_str().to_owned();
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = PathBuf::from(temp_name);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::hard_link(&temp, path)
    })();
    let _ = std::fs::remove_file(&temp);
    result
}
