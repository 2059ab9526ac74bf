use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Ctx;
use super::template::{print_formatted, print_table};
use crate::container::mounts::parse_labels;
use crate::container::volumes::{self, VolumeError};
use crate::image::progress::human_size;
use crate::store::VolumeRecord;

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show low-level information about volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused volumes (anonymous ones; all with -a)
    Prune(PruneArgs),
    /// Exit 0 if a volume exists, 1 if not
    Exists(super::exists::ExistsArgs),
}

impl VolumeCommand {
    /// Listing and inspecting only read the store.
    pub fn needs_user_namespace(&self) -> bool {
        !matches!(self, VolumeCommand::Ls(_) | VolumeCommand::Inspect(_) | VolumeCommand::Exists(_))
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Volume driver (only local)
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata (KEY=VALUE)
    #[arg(long)]
    pub label: Vec<String>,
    /// Driver options: type=tmpfs (device=tmpfs, o=size=…), or type=none,o=bind,device=/path
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Volume name (a random one if none)
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: table, json, or a Go template such as '{{.Name}}'
    #[arg(long)]
    pub format: Option<String>,
    /// Filter: name=TEXT, label=KEY[=VALUE], dangling=true|false, driver=local
    #[arg(short, long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output with a Go template (e.g. '{{.Mountpoint}}')
    #[arg(short, long)]
    pub format: Option<String>,
    /// Volumes to inspect
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Do not fail on volumes that do not exist (volumes in use are never removed)
    #[arg(short, long)]
    pub force: bool,
    /// Volumes to remove
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not only anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, command: VolumeCommand) -> Result<u8> {
    match command {
        VolumeCommand::Create(a) => create(ctx, a),
        VolumeCommand::Ls(a) => ls(ctx, a),
        VolumeCommand::Inspect(a) => inspect(ctx, a),
        VolumeCommand::Rm(a) => rm(ctx, a),
        VolumeCommand::Prune(a) => prune(ctx, a),
        VolumeCommand::Exists(a) => super::exists::volume(ctx, a),
    }
}

fn create(ctx: &Ctx, args: CreateArgs) -> Result<u8> {
    if args.driver != "local" {
        bail!("creating a volume: driver {:?} is not supported: berth has only the local driver", args.driver);
    }
    let mut options = BTreeMap::new();
    for opt in &args.opt {
        let (key, value) =
            opt.split_once('=').with_context(|| format!("invalid option {opt:?}: expected KEY=VALUE"))?;
        options.insert(key.to_owned(), value.to_owned());
    }
    let what = || format!("creating volume {}", args.name.as_deref().unwrap_or("(random name)"));
    let volume =
        volumes::create(ctx.store()?, args.name.as_deref(), parse_labels(&args.label), options).with_context(what)?;
    println!("{}", volume.name);
    Ok(0)
}

/// One `--filter` of `volume ls`.
struct Filter {
    key: String,
    value: String,
}

fn parse_filters(filters: &[String]) -> Result<Vec<Filter>> {
    filters
        .iter()
        .map(|f| {
            let (key, value) =
                f.split_once('=').with_context(|| format!("invalid filter {f:?}: expected KEY=VALUE"))?;
            if !matches!(key, "name" | "label" | "dangling" | "driver") {
                bail!("invalid filter {key:?}: use name, label, dangling or driver");
            }
            if key == "dangling" && !matches!(value, "true" | "false" | "1" | "0") {
                bail!("invalid filter 'dangling={value}': use true or false");
            }
            Ok(Filter { key: key.to_owned(), value: value.to_owned() })
        })
        .collect()
}

/// Docker: filters of one key are alternatives (any may match), except labels, which must all
/// be there; different keys must all match.
fn matches(filters: &[Filter], volume: &VolumeRecord, used: bool) -> bool {
    let one = |f: &Filter| match f.key.as_str() {
        "name" => volume.name.contains(&f.value),
        "driver" => volume.driver == f.value,
        "dangling" => matches!(f.value.as_str(), "true" | "1") != used,
        _ => match f.value.split_once('=') {
            Some((k, v)) => volume.labels.get(k).is_some_and(|have| have == v),
            None => volume.labels.contains_key(&f.value),
        },
    };
    ["name", "driver", "dangling", "label"].iter().all(|key| {
        let mut of_key = filters.iter().filter(|f| f.key == *key).peekable();
        if of_key.peek().is_none() {
            return true;
        }
        if *key == "label" { of_key.all(one) } else { of_key.any(one) }
    })
}

/// One volume as `volume ls --format` sees it.
fn row_json(ctx: &Ctx, volume: &VolumeRecord, links: usize) -> Result<Value> {
    let labels: Vec<String> = volume.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(json!({
        "Availability": "N/A",
        "Driver": volume.driver,
        "Group": "N/A",
        "Labels": labels.join(","),
        "Links": links.to_string(),
        "Mountpoint": ctx.store()?.volume_data_dir(&volume.name),
        "Name": volume.name,
        "Scope": "local",
        "Size": "N/A",
        "Status": "N/A",
    }))
}

fn ls(ctx: &Ctx, args: LsArgs) -> Result<u8> {
    let filters = parse_filters(&args.filter)?;
    let (mut all, users) = volumes::list_with_users(ctx.store()?).context("listing volumes")?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let shown: Vec<&VolumeRecord> = all.iter().filter(|v| matches(&filters, v, users.contains_key(&v.name))).collect();
    if args.quiet {
        for v in shown {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        None | Some("table") => {
            let rows: Vec<Vec<String>> = shown.iter().map(|v| vec![v.driver.clone(), v.name.clone()]).collect();
            print_table(&["DRIVER", "VOLUME NAME"], &rows);
        }
        Some(format) => {
            let rows = shown
                .iter()
                .map(|v| row_json(ctx, v, users.get(&v.name).map_or(0, Vec::len)))
                .collect::<Result<Vec<Value>>>()?;
            print_formatted(
                format,
                &rows,
                &json!({
                    "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
                    "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Status": "STATUS",
                }),
            )?;
        }
    }
    Ok(0)
}

fn inspect(ctx: &Ctx, args: InspectArgs) -> Result<u8> {
    let store = ctx.store()?;
    let all = volumes::list(store).context("reading volumes")?;
    let mut values = Vec::new();
    let mut missing = Vec::new();
    for name in &args.names {
        match all.iter().find(|v| &v.name == name) {
            Some(v) => values.push(volumes::inspect_json(store, v)),
            None => missing.push(VolumeError::NotFound(name.clone())),
        }
    }
    super::inspect::print_inspected(args.format.as_deref(), &values)?;
    if missing.len() == 1 && values.is_empty() {
        return Err(missing.remove(0).into());
    }
    for m in &missing {
        eprintln!("berth: {m}");
    }
    Ok(if missing.is_empty() { 0 } else { super::exit_codes::REFUSED })
}

fn rm(ctx: &Ctx, args: RmArgs) -> Result<u8> {
    let store = ctx.store()?;
    let mut failed = None;
    for name in &args.names {
        match volumes::remove(store, name, args.force).map_err(anyhow::Error::from) {
            Ok(()) => println!("{name}"),
            Err(e) if args.names.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("berth: {e:#}");
                failed = Some(super::exit_codes::exit_code_for(&e));
            }
        }
    }
    Ok(failed.unwrap_or(0))
}

fn prune(ctx: &Ctx, args: PruneArgs) -> Result<u8> {
    let question = if args.all {
        "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
    };
    if !args.force && !super::prune::confirmed(question) {
        eprintln!("berth: volume prune: not confirmed (use -f to prune without asking)");
        return Ok(1);
    }
    let pruned = volumes::prune(ctx.store()?, args.all).context("pruning volumes")?;
    if !pruned.names.is_empty() {
        println!("Deleted Volumes:");
        for name in &pruned.names {
            println!("{name}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(pruned.bytes));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn filters_combine_like_dockers() {
        let v = volume("webdata", &[("env", "prod"), ("team", "")]);
        let f = |specs: &[&str]| parse_filters(&specs.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        assert!(matches(&f(&["name=web"]), &v, false));
        assert!(!matches(&f(&["name=db"]), &v, false));
        assert!(matches(&f(&["name=db", "name=data"]), &v, false));
        assert!(matches(&f(&["label=env=prod", "label=team"]), &v, false));
        assert!(!matches(&f(&["label=env=dev"]), &v, false));
        assert!(!matches(&f(&["label=env=prod", "label=missing"]), &v, false));
        assert!(matches(&f(&["dangling=true"]), &v, false));
        assert!(!matches(&f(&["dangling=true"]), &v, true));
        assert!(matches(&f(&["dangling=false", "name=web"]), &v, true));
        assert!(parse_filters(&["size=1".into()]).is_err());
        assert!(parse_filters(&["dangling=maybe".into()]).is_err());
    }
}
