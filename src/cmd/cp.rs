use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use crate::container::cp::{CopyOptions, HostEnd, copy_from_container, copy_into_container, needs_mount};
use crate::container::index::load;

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode: keep the owners (uid/gid) of what is copied into a container
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow a symbolic link given as the source
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Suppress progress output (berth prints none)
    #[arg(short, long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, a host path, or - (a tar stream on stdin)
    #[arg(value_name = "SRC")]
    pub source: String,
    /// CONTAINER:DEST_PATH, a host path, or - (a tar stream on stdout)
    #[arg(value_name = "DEST")]
    pub destination: String,
}

/// Docker's reading of a cp argument: an absolute path, or one starting with "." before its
/// first ':', is local; otherwise CONTAINER:PATH.
fn split(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((container, path)) if !container.starts_with('.') && !container.is_empty() => {
            (Some(container), if path.is_empty() { "/" } else { path })
        }
        _ => (None, arg),
    }
}

fn host_end(arg: &str) -> HostEnd {
    if arg == "-" { HostEnd::Stream } else { HostEnd::Path(PathBuf::from(arg)) }
}

pub fn run(ctx: &Ctx, args: CpArgs) -> Result<u8> {
    let options = CopyOptions { follow_link: args.follow_link, archive: args.archive };
    let (from, source) = split(&args.source);
    let (to, destination) = split(&args.destination);
    let store = ctx.store()?;
    let name = match (from, to) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source (CONTAINER:PATH)"),
        (Some(c), None) | (None, Some(c)) => c,
    };
    let container = load(store, name)?;
    // A stopped container's overlay is mounted for the copy: rootless, that takes berth's user
    // namespace. A running one is joined through its own, from outside berth's.
    let in_userns = std::env::var_os(crate::sandbox::userns::IN_USERNS_ENV).is_some();
    if ctx.settings.rootless && !in_userns && needs_mount(store, &container) {
        let mapping = crate::sandbox::userns::mapping_for_caller();
        crate::sandbox::userns::continue_in_user_namespace(&mapping).context("entering the user namespace")?;
    }
    if from.is_some() {
        copy_from_container(store, &container, source, &host_end(destination), options)
            .with_context(|| format!("copying from {}:{source}", container.name))?;
    } else {
        copy_into_container(store, &container, &host_end(source), destination, options)
            .with_context(|| format!("copying to {}:{destination}", container.name))?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_like_dockers() {
        assert_eq!(split("web:/etc/hosts"), (Some("web"), "/etc/hosts"));
        assert_eq!(split("/abs:path"), (None, "/abs:path"));
        assert_eq!(split("./rel:name"), (None, "./rel:name"));
        assert_eq!(split("plain"), (None, "plain"));
        assert_eq!(split("web:"), (Some("web"), "/"));
        assert_eq!(split("-"), (None, "-"));
    }
}
