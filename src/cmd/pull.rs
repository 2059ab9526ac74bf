use anyhow::{Context, Result};
use clap::Args;

use super::Ctx;
use crate::image::pull::{PullOutcome, PullRequest, pull};
use crate::image::registry::CredentialSource;
use crate::image::registry::reference::familiar_name;
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
    /// Verify the registry's TLS certificate; false also allows plain HTTP (Podman's)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    /// Image to pull: NAME[:TAG|@DIGEST]
    pub image: String,
}

pub fn parse_platform(platform: Option<&str>) -> Result<Option<Platform>> {
    platform
        .map(|p| Platform::parse(p).with_context(|| format!("invalid platform {p:?}: expected os/arch[/variant]")))
        .transpose()
}

pub fn run(ctx: &Ctx, args: PullArgs) -> Result<u8> {
    let trusting;
    let ctx = if args.tls_verify {
        ctx
    } else {
        trusting = ctx.without_tls_verify(&args.image);
        &trusting
    };
    let credentials = CredentialSource::new(args.authfile.as_deref());
    let request = PullRequest {
        reference: &args.image,
        platform: parse_platform(args.platform.as_deref())?,
        quiet: args.quiet,
        credentials: &credentials,
    };
    let outcome: PullOutcome =
        pull(ctx.store()?, &ctx.settings, &request).with_context(|| format!("pulling {}", args.image))?;
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
