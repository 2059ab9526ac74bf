use anyhow::{Result, bail};
use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use super::template::{print_formatted, print_table, time_ago};
use crate::image::progress::human_size;
use crate::image::reference::familiar_name;
use crate::store::ImageRecord;

#[derive(Args, Debug, Clone, Default)]
pub struct ImagesArgs {
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not print the table's header row
    #[arg(long)]
    pub noheading: bool,
    /// Show all images (berth keeps no intermediate images, so this changes nothing)
    #[arg(short, long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Do not truncate ids
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE, label=KEY[=VALUE] is not indexed
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Output format: table, json, or a Go template such as '{{.Repository}}:{{.Tag}}'
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository (NAME[:TAG])
    pub repository: Option<String>,
}

enum Filter {
    Dangling(bool),
    Reference(String),
}

fn parse_filters(filters: &[String]) -> Result<Vec<Filter>> {
    filters
        .iter()
        .map(|f| match f.split_once('=') {
            Some(("dangling", v)) => match v {
                "true" | "1" => Ok(Filter::Dangling(true)),
                "false" | "0" => Ok(Filter::Dangling(false)),
                _ => bail!("invalid filter {f:?}: dangling takes true or false"),
            },
            Some(("reference", pattern)) if !pattern.is_empty() => Ok(Filter::Reference(pattern.to_owned())),
            _ => bail!("invalid filter {f:?}: supported filters are dangling=true|false and reference=PATTERN"),
        })
        .collect()
}

/// Shell-style match of `*` and `?` (no `/` crossing for `*`, as Docker's path.Match).
fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).take_while(|&i| i == 0 || t[i - 1] != b'/').any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => t.first().is_some_and(|&c| c != b'/') && go(rest, &t[1..]),
            Some((&c, rest)) => t.first() == Some(&c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Docker matches `reference=` against the familiar name with and without the tag.
fn reference_matches(pattern: &str, full_name: &str) -> bool {
    let familiar = familiar_name(full_name);
    let repo = familiar.rsplit_once(':').map_or(familiar, |(r, _)| r);
    [familiar, repo, full_name].iter().any(|n| glob_match(pattern, n))
}

/// One row per name, or a single `<none>` row for a dangling image.
pub struct Row<'a> {
    image: &'a ImageRecord,
    repository: String,
    tag: String,
    digest: String,
}

fn rows<'a>(images: &'a [ImageRecord], filters: &[Filter], repository: Option<&str>) -> Vec<Row<'a>> {
    let mut out = Vec::new();
    for image in images {
        if filters.iter().any(|f| matches!(f, Filter::Dangling(d) if *d != image.is_dangling())) {
            continue;
        }
        let digest_for = |repo: &str| {
            image
                .digests
                .iter()
                .find(|d| d.starts_with(&format!("{repo}@")))
                .and_then(|d| d.split_once('@'))
                .map(|(_, d)| d.to_owned())
                .unwrap_or_else(|| "<none>".into())
        };
        let names: Vec<&String> = image
            .names
            .iter()
            .filter(|n| filters.iter().all(|f| !matches!(f, Filter::Reference(p) if !reference_matches(p, n))))
            .collect();
        let has_reference_filter = filters.iter().any(|f| matches!(f, Filter::Reference(_)));
        if names.is_empty() {
            if has_reference_filter || repository.is_some() {
                continue;
            }
            let (repository, digest) = match image.digests.first().and_then(|d| d.split_once('@')) {
                Some((repo, d)) => (familiar_name(repo).to_owned(), d.to_owned()),
                None => ("<none>".into(), "<none>".into()),
            };
            out.push(Row { image, repository, tag: "<none>".into(), digest });
            continue;
        }
        for name in names {
            let (repo, tag) = name.rsplit_once(':').unwrap_or((name, ""));
            if let Some(wanted) = repository {
                let (wanted_repo, wanted_tag) = match wanted.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                    Some((r, t)) => (r, Some(t)),
                    None => (wanted, None),
                };
                let repo_ok = familiar_name(repo) == wanted_repo
                    || repo == wanted_repo
                    || familiar_name(repo) == format!("library/{wanted_repo}");
                if !repo_ok || wanted_tag.is_some_and(|t| t != tag) {
                    continue;
                }
            }
            out.push(Row {
                image,
                repository: familiar_name(repo).to_owned(),
                tag: tag.to_owned(),
                digest: digest_for(repo),
            });
        }
    }
    out
}

fn row_json(row: &Row, no_trunc: bool) -> Value {
    let id = if no_trunc { row.image.id.to_string() } else { row.image.short_id().to_owned() };
    json!({
        "Containers": "N/A",
        "CreatedAt": row.image.created.clone().unwrap_or_default(),
        "CreatedSince": time_ago(row.image.created.as_deref()),
        "Digest": row.digest,
        "ID": id,
        "Repository": row.repository,
        "SharedSize": "N/A",
        "Size": human_size(row.image.size),
        "Tag": row.tag,
        "UniqueSize": "N/A",
        "VirtualSize": human_size(row.image.size),
    })
}

pub fn run(ctx: &Ctx, args: ImagesArgs) -> Result<u8> {
    let filters = parse_filters(&args.filter)?;
    let store = ctx.store()?;
    super::template::omit_headings(args.noheading);
    let index = {
        let _lock = store.lock_images_shared()?;
        store.images()?
    };
    let mut images = index.images;
    images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.added.cmp(&a.added)));
    let rows = rows(&images, &filters, args.repository.as_deref());
    if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for row in &rows {
            let id = if args.no_trunc { row.image.id.as_str() } else { row.image.short_id() };
            if seen.insert(id) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    if let Some(format) = args.format.as_deref().filter(|f| *f != "table") {
        let values: Vec<Value> = rows.iter().map(|r| row_json(r, args.no_trunc)).collect();
        print_formatted(
            format,
            &values,
            &json!({
                "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
            }),
        )?;
        return Ok(0);
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.repository.clone(), r.tag.clone()];
            if args.digests {
                cells.push(r.digest.clone());
            }
            let id = if args.no_trunc { r.image.id.to_string() } else { r.image.short_id().to_owned() };
            cells.extend([id, time_ago(r.image.created.as_deref()), human_size(r.image.size)]);
            cells
        })
        .collect();
    print_table(&header, &table);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_matches_familiar_names() {
        assert!(reference_matches("busybox", "docker.io/library/busybox:latest"));
        assert!(reference_matches("busy*", "docker.io/library/busybox:latest"));
        assert!(reference_matches("*:latest", "docker.io/library/busybox:latest"));
        assert!(!reference_matches("alpine", "docker.io/library/busybox:latest"));
        assert!(reference_matches("127.0.0.1:5000/*", "127.0.0.1:5000/app:1"));
    }
}
