//! `berth system df`: Docker's summary table (or its verbose sections) of the space the store's
//! images, containers, volumes and build cache take. The counting is container::disk_usage's.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use super::template::{print_formatted, print_table, time_ago};
use crate::container::disk_usage::{DiskUsage, disk_usage};
use crate::container::inspect::status_text;
use crate::image::registry::reference::familiar_name;

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Output format: table, json, a Go template such as '{{.Type}} {{.Size}}', or 'table TEMPLATE'
    /// (fields Type, TotalCount, Active, Size, Reclaimable)
    #[arg(long)]
    pub format: Option<String>,
}

pub fn run(ctx: &Ctx, args: DfArgs) -> Result<u8> {
    let usage = disk_usage(ctx.store()?).context("measuring disk usage")?;
    if args.verbose {
        if args.format.as_deref().is_some_and(|f| f != "table") {
            bail!("--format cannot be combined with --verbose (only table is supported)");
        }
        verbose(&usage);
        return Ok(0);
    }
    let rows = summary_rows(&usage);
    match args.format.as_deref() {
        None | Some("table") => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
                        .map(|k| r[k].as_str().unwrap_or_default().to_owned())
                        .to_vec()
                })
                .collect();
            print_table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &cells);
        }
        Some(format) => print_formatted(
            format,
            &rows,
            &json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}),
        )?,
    }
    Ok(0)
}

/// The four rows, each as `--format` sees it (every field a string, as Docker's are).
pub fn summary_rows(usage: &DiskUsage) -> Vec<Value> {
    let row = |kind: &str, total: usize, active: usize, size: u64, reclaimable: String| json!({"Type": kind, "TotalCount": total.to_string(), "Active": active.to_string(), "Size": size_text(size), "Reclaimable": reclaimable});
    let cache_active = 0;
    vec![
        row(
            "Images",
            usage.images.len(),
            usage.images.iter().filter(|i| i.containers > 0).count(),
            usage.layers_size,
            with_share(usage.images_reclaimable(), usage.layers_size),
        ),
        row(
            "Containers",
            usage.containers.len(),
            usage.containers.iter().filter(|c| c.active()).count(),
            usage.containers_size(),
            with_share(usage.containers_reclaimable(), usage.containers_size()),
        ),
        row(
            "Local Volumes",
            usage.volumes.len(),
            usage.volumes.iter().filter(|v| v.links > 0).count(),
            usage.volumes_size(),
            with_share(usage.volumes_reclaimable(), usage.volumes_size()),
        ),
        // Nothing is in use between builds: all of it can go (Docker prints no share here).
        row(
            "Build Cache",
            usage.build_cache.len(),
            cache_active,
            usage.build_cache_size,
            size_text(usage.build_cache_size),
        ),
    ]
}

/// "11.63MB (70%)", or just the size when the total is 0, as Docker prints reclaimable space.
fn with_share(reclaimable: u64, total: u64) -> String {
    if total == 0 {
        return size_text(reclaimable);
    }
    format!("{} ({}%)", size_text(reclaimable), u128::from(reclaimable) * 100 / u128::from(total))
}

/// Docker's units.HumanSize: decimal units, four significant digits ("%.4g").
pub fn size_text(bytes: u64) -> String {
    significant(bytes, 4)
}

/// units.HumanSizeWithPrecision: `digits` significant digits, trailing zeros dropped.
fn significant(bytes: u64, digits: i32) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    // Below 1000 the exponent is at most 2, so %g prints fixed-point: digits - (exponent + 1)
    // decimals, then trims zeros.
    let exponent = if value == 0.0 { 0 } else { value.abs().log10().floor() as i32 };
    let decimals = (digits - 1 - exponent).max(0) as usize;
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    text + UNITS[unit]
}

fn verbose(usage: &DiskUsage) {
    let now = Utc::now();
    println!("Images space usage:\n");
    let images: Vec<Vec<String>> = usage
        .images
        .iter()
        .map(|i| {
            let (repository, tag) = match i.image.names.first() {
                Some(name) => {
                    let (repo, tag) = name.rsplit_once(':').unwrap_or((name, ""));
                    (familiar_name(repo).to_owned(), tag.to_owned())
                }
                None => ("<none>".to_owned(), "<none>".to_owned()),
            };
            vec![
                repository,
                tag,
                i.image.short_id().to_owned(),
                time_ago(i.image.created.as_deref()),
                significant(i.size, 3),
                size_text(i.shared_size),
                size_text(i.unique_size()),
                i.containers.to_string(),
            ]
        })
        .collect();
    print_table(
        &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"],
        &images,
    );
    println!("\nContainers space usage:\n");
    let containers: Vec<Vec<String>> = usage
        .containers
        .iter()
        .map(|c| {
            let ctr = &c.container;
            vec![
                ctr.short_id().to_owned(),
                ctr.config.image_name.clone(),
                super::ps::command_cell(ctr, false),
                c.volumes.to_string(),
                size_text(c.size_rw),
                crate::container::inspect::time_ago(&ctr.created, now),
                status_text(ctr, now),
                ctr.name.clone(),
            ]
        })
        .collect();
    print_table(
        &["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"],
        &containers,
    );
    println!("\nLocal Volumes space usage:\n");
    let volumes: Vec<Vec<String>> =
        usage.volumes.iter().map(|v| vec![v.volume.name.clone(), v.links.to_string(), size_text(v.size)]).collect();
    print_table(&["VOLUME NAME", "LINKS", "SIZE"], &volumes);
    println!("\nBuild cache usage: {}\n", size_text(usage.build_cache_size));
    let cache: Vec<Vec<String>> = usage
        .build_cache
        .iter()
        .map(|c| {
            let created = c.created.map(|t| DateTime::<Utc>::from(t).to_rfc3339());
            let ago = time_ago(created.as_deref());
            vec![
                c.id[..12.min(c.id.len())].to_owned(),
                "regular".to_owned(),
                size_text(c.size),
                ago.clone(),
                ago,
                "1".to_owned(),
                c.shared.to_string(),
            ]
        })
        .collect();
    print_table(&["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED"], &cache);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_go_units() {
        assert_eq!(size_text(0), "0B");
        assert_eq!(size_text(212), "212B");
        assert_eq!(size_text(1234), "1.234kB");
        assert_eq!(size_text(16_430_000), "16.43MB");
        assert_eq!(size_text(123_456_000), "123.5MB");
        assert_eq!(size_text(1_000_000), "1MB");
        assert_eq!(significant(4_264_000, 3), "4.26MB");
        assert_eq!(significant(150_000_000, 3), "150MB");
    }

    #[test]
    fn reclaimable_shows_its_share_of_a_nonzero_total() {
        assert_eq!(with_share(11_630_000, 16_430_000), "11.63MB (70%)");
        assert_eq!(with_share(0, 0), "0B");
        assert_eq!(with_share(36, 36), "36B (100%)");
    }
}
