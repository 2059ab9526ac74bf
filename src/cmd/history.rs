use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::template::{print_formatted, print_table, time_ago};
use super::{Ctx, lookup_image};
use crate::image::progress::human_size;
use crate::image::spec::ImageConfig;

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Sizes in bytes
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub human: bool,
    /// Output format: json or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Image (name or id)
    pub image: String,
}

pub fn run(ctx: &Ctx, args: HistoryArgs) -> Result<u8> {
    let image = lookup_image(ctx, &args.image)?;
    let store = ctx.store()?;
    let (config_bytes, layer_sizes) = {
        let _lock = store.lock_images_shared()?;
        let sizes: Vec<u64> =
            image.layers.iter().map(|c| store.layer(c).ok().flatten().map_or(0, |l| l.size)).collect();
        (store.read_blob(&image.id)?, sizes)
    };
    let config: ImageConfig = serde_json::from_slice(&config_bytes).context("reading the image config")?;
    let mut sizes = layer_sizes.into_iter();
    let mut rows = Vec::new();
    let history = if config.history.is_empty() {
        // Images without history (e.g. imported) still show one row per layer.
        vec![Default::default(); image.layers.len().max(1)]
    } else {
        config.history.clone()
    };
    let count = history.len();
    for (i, h) in history.iter().enumerate() {
        let size = if h.empty_layer { 0 } else { sizes.next().unwrap_or(0) };
        let id = if i + 1 == count {
            if args.no_trunc { image.id.to_string() } else { image.short_id().to_owned() }
        } else {
            "<missing>".to_owned()
        };
        rows.push((id, h.clone(), size));
    }
    rows.reverse();
    if args.quiet {
        for (id, _, _) in &rows {
            println!("{id}");
        }
        return Ok(0);
    }
    if let Some(format) = &args.format {
        let values: Vec<_> = rows
            .iter()
            .map(|(id, h, size)| json!({"ID": id, "CreatedAt": h.created, "CreatedSince": time_ago(h.created.as_deref()), "CreatedBy": h.created_by.clone().unwrap_or_default(), "Size": size, "Comment": h.comment.clone().unwrap_or_default()}))
            .collect();
        print_formatted(
            format,
            &values,
            &json!({
                "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                "Size": "SIZE", "Comment": "COMMENT",
            }),
        )?;
        return Ok(0);
    }
    let table: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(id, h, size)| {
            let mut by = h.created_by.unwrap_or_default();
            if !args.no_trunc && by.chars().count() > 45 {
                by = by.chars().take(44).collect::<String>() + "…";
            }
            let size = if args.human { human_size(size) } else { size.to_string() };
            vec![id, time_ago(h.created.as_deref()), by, size, h.comment.unwrap_or_default()]
        })
        .collect();
    print_table(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], &table);
    Ok(0)
}
