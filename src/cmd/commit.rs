use anyhow::{Context, Result};
use clap::Args;

use super::Ctx;
use crate::container::commit::{CommitRequest, commit};
use crate::container::index::load;
use crate::image::assemble::{creation_time, qualify_name};

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g. "Jane Doe <jane@example.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply a Dockerfile instruction to the image config: CMD, ENTRYPOINT, ENV, EXPOSE,
    /// HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable)
    #[arg(short, long, value_name = "INSTRUCTION")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause a running container while committing
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub pause: bool,
    /// Container to commit
    pub container: String,
    /// Name for the image: NAME[:TAG]
    #[arg(value_name = "IMAGE[:TAG]")]
    pub reference: Option<String>,
}

pub fn run(ctx: &Ctx, args: CommitArgs) -> Result<u8> {
    let what = || format!("committing {}", args.container);
    let store = ctx.store()?;
    let registry = crate::image::lookup::default_registry(&ctx.settings);
    let name = args.reference.as_deref().map(|r| qualify_name(r, registry)).transpose().with_context(what)?;
    let container = load(store, &args.container).with_context(what)?;
    // SOURCE_DATE_EPOCH, when set, is the image's creation time: equal inputs, equal image ids.
    let created = creation_time(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref()).with_context(what)?;
    let request = CommitRequest {
        changes: &args.change,
        message: args.message.as_deref(),
        author: args.author.as_deref(),
        name,
        pause: args.pause,
        created: &created,
    };
    let id = commit(store, &container, &request).with_context(what)?;
    println!("{id}");
    Ok(0)
}
