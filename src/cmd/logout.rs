//! `berth logout`: remove the credentials berth keeps for a registry, or for all of them.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::Ctx;
use crate::image::registry::auth::{self, normalize_registry};
use crate::image::registry::reference::DOCKER_HUB;

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Credentials file to change (default: $REGISTRY_AUTH_FILE, else ~/.config/berth/auth.json)
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Remove the credentials for every registry
    #[arg(short, long, conflicts_with = "server")]
    pub all: bool,
    /// Registry to log out from (default: docker.io)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

pub fn run(_ctx: &Ctx, args: LogoutArgs) -> Result<u8> {
    let authfile = args.authfile.as_deref();
    if args.all {
        auth::remove_all_credentials(authfile).context("removing all login credentials")?;
        println!("Removed login credentials for all registries");
        return Ok(0);
    }
    let server = normalize_registry(args.server.as_deref().unwrap_or(DOCKER_HUB));
    // Like Docker, logging out twice is no error: the goal, no credentials on file, is met.
    if auth::remove_credentials(authfile, &server).with_context(|| format!("logging out of {server}"))? {
        println!("Removed login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    if authfile.is_none()
        && let Some(docker_file) = auth::docker_config_holding(&server)
    {
        eprintln!(
            "Note: {} still holds credentials for {server}, and berth uses them; berth does not change that \
             file (use docker logout)",
            docker_file.display()
        );
    }
    Ok(0)
}
