use anyhow::{Context, Result};
use clap::Args;

use super::Ctx;
use crate::image::pull::{PullRequest, pull};
use crate::image::reference::familiar_name;
use crate::image::spec::Platform;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Print only the image name
    #[arg(short, long)]
    pub quiet: bool,
    /// Platform to pull (os/arch[/variant]) when the image has several
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Credentials file (default: berth's auth.json, then ~/.docker/config.json)
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<std::path::PathBuf>,
    /// Image to pull: NAME[:TAG|@DIGEST]
    pub image: String,
}

pub fn parse_platform(platform: Option<&str>) -> Result<Option<Platform>> {
    platform
        .map(|p| Platform::parse(p).with_context(|| format!("invalid platform {p:?}: expected os/arch[/variant]")))
        .transpose()
}

/// Pulls `image` and returns its id; used by `pull` and, for missing images, by other verbs.
pub fn pull_image(
    ctx: &Ctx,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
    authfile: Option<&std::path::Path>,
) -> Result<crate::image::pull::PullOutcome> {
    let platform = parse_platform(platform)?;
    let store = ctx.store()?;
    let _ingest = store.lock_ingest_shared()?;
    let credentials = |registry: &str| match crate::image::auth::credentials_for(registry, authfile) {
        Ok(found) => found,
        Err(e) => {
            // Pulling anonymously may still work (public images); say why credentials were not used.
            eprintln!("berth: warning: reading credentials for {registry}: {e}");
            None
        }
    };
    let request = PullRequest { reference: image, platform, quiet, credentials: &credentials };
    pull(store, &ctx.settings, &request).with_context(|| format!("pulling {image}"))
}

pub fn run(ctx: &Ctx, args: PullArgs) -> Result<u8> {
    let outcome = pull_image(ctx, &args.image, args.platform.as_deref(), args.quiet, args.authfile.as_deref())?;
    let full = outcome.reference.to_string();
    if args.quiet {
        println!("{full}");
        return Ok(0);
    }
    let shown = familiar_name(&full);
    println!("Digest: {}", outcome.digest);
    if outcome.downloaded {
        println!("Status: Downloaded newer image for {shown}");
    } else {
        println!("Status: Image is up to date for {shown}");
    }
    println!("{full}");
    Ok(0)
}
