use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;
use clap::Args;

use super::Ctx;
use crate::container::query::image_users;
use crate::image::progress::human_size;
use crate::image::registry::reference::familiar_name;
use crate::image::remove::prune_images;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all images without a container, not only dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// A prune's `--filter`s: `until=DURATION` (only what was made before then), `label=KEY[=VALUE]`
/// (only what has all such labels), `label!=KEY[=VALUE]` (only what has none of them).
#[derive(Debug, Default)]
pub struct PruneFilter {
    labels: Vec<String>,
    not_labels: Vec<String>,
    cutoff: Option<chrono::DateTime<chrono::Utc>>,
}

impl PruneFilter {
    pub fn parse(filters: &[String]) -> Result<PruneFilter> {
        let mut out = PruneFilter::default();
        for f in filters {
            let (key, value) =
                f.split_once('=').ok_or_else(|| anyhow::anyhow!("invalid filter {f:?}: expected KEY=VALUE"))?;
            match key {
                "label" => out.labels.push(value.to_owned()),
                "label!" => out.not_labels.push(value.to_owned()),
                "until" => {
                    let age = super::network::parse_duration(value)
                        .ok_or_else(|| anyhow::anyhow!("invalid filter 'until={value}': use a duration such as 24h"))?;
                    out.cutoff = Some(chrono::Utc::now() - age);
                }
                _ => anyhow::bail!("invalid filter {key:?}: use label, label!, until"),
            }
        }
        Ok(out)
    }

    pub fn has_labels(&self) -> bool {
        !self.labels.is_empty() || !self.not_labels.is_empty()
    }

    /// True for a thing with these labels, made at `created` (RFC 3339), that the filters keep.
    pub fn holds_back(&self, labels: &std::collections::BTreeMap<String, String>, created: Option<&str>) -> bool {
        let has = |spec: &String| match spec.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(spec),
        };
        let old_enough = self
            .cutoff
            .is_none_or(|c| created.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t < c));
        !(self.labels.iter().all(has) && !self.not_labels.iter().any(has) && old_enough)
    }
}

pub fn confirmed(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

pub fn run(ctx: &Ctx, args: PruneArgs) -> Result<u8> {
    let what = if args.all { "all images without at least one container" } else { "all dangling images" };
    if !args.force && !confirmed(&format!("WARNING! This will remove {what}.\nAre you sure you want to continue?")) {
        eprintln!("berth: image prune: not confirmed (use -f to prune without asking)");
        return Ok(1);
    }
    let store = ctx.store()?;
    let pruned = prune_images(store, args.all, image_users, &|_| false)?;
    print_deleted_images(&pruned.removed);
    println!("Total reclaimed space: {}", human_size(pruned.reclaimed));
    Ok(0)
}

/// The "untagged:"/"deleted:" lines of an image prune.
pub fn print_deleted_images(removed: &[crate::store::ImageRecord]) {
    for image in removed {
        for name in &image.names {
            println!("untagged: {}", familiar_name(name));
        }
        println!("deleted: {}", image.id);
    }
}
