use std::collections::BTreeMap;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use super::template::{Template, print_table};
use crate::container::inspect::{command_line, status_text, time_ago};
use crate::container::record::{Container, Status};
use crate::container::store::{load_all, refresh};

#[derive(Args, Debug, Clone)]
pub struct PsArgs {
    /// Show all containers (default: only running ones)
    #[arg(short, long)]
    pub all: bool,
    /// Only show container ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the N last created containers (all states)
    #[arg(short = 'n', long = "last", value_name = "N", allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Show the last created container (all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Do not truncate ids and commands
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: name=, id=, status=, label=KEY[=VALUE], ancestor=IMAGE, exited=CODE
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Output format: table, json, a Go template such as '{{.ID}} {{.Names}}', or 'table TEMPLATE'
    #[arg(long)]
    pub format: Option<String>,
}

const STATUSES: [&str; 7] = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/// Filters by key; values of one key are alternatives, different keys must all match.
#[derive(Default)]
struct Filters {
    by_key: BTreeMap<String, Vec<String>>,
    /// Image ids the `ancestor=` values resolve to.
    ancestor_ids: Vec<String>,
}

impl Filters {
    fn parse(ctx: &Ctx, filters: &[String]) -> Result<Filters> {
        let mut out = Filters::default();
        for f in filters {
            let Some((key, value)) = f.split_once('=') else {
                bail!("invalid filter {f:?}: expected KEY=VALUE");
            };
            match key {
                "name" | "id" | "label" | "ancestor" => {}
                "status" if STATUSES.contains(&value) => {}
                "status" => bail!("invalid filter {f:?}: status is one of {}", STATUSES.join(", ")),
                "exited" if value.parse::<i32>().is_ok() => {}
                "exited" => bail!("invalid filter {f:?}: exited takes an exit code"),
                _ => bail!("invalid filter {f:?}: supported filters are name, id, status, label, ancestor and exited"),
            }
            if key == "ancestor"
                && let Ok(image) = super::lookup_image(ctx, value)
            {
                out.ancestor_ids.push(image.id);
            }
            out.by_key.entry(key.to_owned()).or_default().push(value.to_owned());
        }
        Ok(out)
    }

    fn has_status(&self) -> bool {
        self.by_key.contains_key("status")
    }

    fn matches(&self, c: &Container) -> bool {
        self.by_key.iter().all(|(key, values)| values.iter().any(|v| self.matches_one(key, v, c)))
    }

    fn matches_one(&self, key: &str, value: &str, c: &Container) -> bool {
        match key {
            "name" => name_matches(value, &c.name),
            "id" => c.id.starts_with(value),
            "status" => c.state.status.as_str() == value,
            "exited" => {
                c.state.status == Status::Exited && c.state.exit_code.map(|e| e.to_string()).as_deref() == Some(value)
            }
            "label" => match value.split_once('=') {
                Some((k, v)) => c.config.labels.get(k).is_some_and(|have| have == v),
                None => c.config.labels.contains_key(value),
            },
            "ancestor" => ancestor_matches(value, c) || self.ancestor_ids.contains(&c.config.image_id),
            _ => false,
        }
    }
}

/// Docker matches names by regular expression; berth takes the common cases: a substring,
/// optionally anchored with ^ and $.
fn name_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
    match (pattern.strip_prefix('^'), pattern.strip_suffix('$')) {
        (Some(p), _) if p.ends_with('$') => name == &p[..p.len() - 1],
        (Some(p), None) => name.starts_with(p),
        (None, Some(p)) => name.ends_with(p),
        _ => name.contains(pattern),
    }
}

/// The image as the container was created from it (with or without `:latest`), or its id.
fn ancestor_matches(value: &str, c: &Container) -> bool {
    let with_latest = |s: &str| {
        if s.rsplit('/').next().is_some_and(|last| last.contains(':') || last.contains('@')) {
            s.to_owned()
        } else {
            format!("{s}:latest")
        }
    };
    let hex = c.config.image_id.strip_prefix("sha256:").unwrap_or(&c.config.image_id);
    let value_hex = value.strip_prefix("sha256:").unwrap_or(value);
    with_latest(value) == with_latest(&c.config.image_name) || (value_hex.len() >= 4 && hex.starts_with(value_hex))
}

/// Go's strconv.Quote for the command column.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Docker's ellipsis: at most `max` characters, the last of them "…" when cut.
fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn command_cell(c: &Container, no_trunc: bool) -> String {
    let command = command_line(c);
    go_quote(&if no_trunc { command } else { ellipsis(&command, 20) })
}

fn id_cell(c: &Container, no_trunc: bool) -> &str {
    if no_trunc { c.id.as_str() } else { c.short_id() }
}

/// The default table's row: CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES.
fn table_row(c: &Container, no_trunc: bool, now: DateTime<Utc>) -> Vec<String> {
    vec![
        id_cell(c, no_trunc).to_owned(),
        c.config.image_name.clone(),
        command_cell(c, no_trunc),
        time_ago(&c.created, now),
        status_text(c, now),
        String::new(),
        c.name.clone(),
    ]
}

/// One container as `ps --format` sees it.
fn row_json(c: &Container, no_trunc: bool, now: DateTime<Utc>) -> Value {
    let created = DateTime::parse_from_rfc3339(&c.created)
        .map(|t| t.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default();
    let labels: Vec<String> = c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "Command": command_cell(c, no_trunc),
        "CreatedAt": created,
        "ID": id_cell(c, no_trunc),
        "Image": c.config.image_name,
        "Labels": labels.join(","),
        "LocalVolumes": "0",
        "Mounts": "",
        "Names": c.name,
        "Networks": "",
        "Ports": "",
        "RunningFor": time_ago(&c.created, now),
        "Size": "",
        "State": c.state.status.as_str(),
        "Status": status_text(c, now),
    })
}

/// The header row Docker prints for each field of a `table` format.
fn header_json() -> Value {
    json!({
        "Command": "COMMAND", "CreatedAt": "CREATED AT", "ID": "CONTAINER ID", "Image": "IMAGE",
        "Labels": "LABELS", "LocalVolumes": "LOCAL VOLUMES", "Mounts": "MOUNTS", "Names": "NAMES",
        "Networks": "NETWORKS", "Ports": "PORTS", "RunningFor": "CREATED", "Size": "SIZE",
        "State": "STATE", "Status": "STATUS",
    })
}

/// The containers `ps` lists, newest first, their state refreshed.
fn select(ctx: &Ctx, args: &PsArgs) -> Result<Vec<Container>> {
    let filters = Filters::parse(ctx, &args.filter)?;
    let store = ctx.store()?;
    let mut containers = load_all(store)?.containers;
    containers.reverse();
    containers.sort_by(|a, b| b.created.cmp(&a.created));
    let limit = if args.latest { Some(1) } else { args.last.filter(|&n| n > 0).map(|n| n as usize) };
    let all = args.all || limit.is_some() || filters.has_status();
    let mut out = Vec::new();
    for mut c in containers {
        let status = refresh(store, &mut c);
        if !all && !matches!(status, Status::Running | Status::Paused) {
            continue;
        }
        if !filters.matches(&c) {
            continue;
        }
        out.push(c);
        if limit.is_some_and(|n| out.len() >= n) {
            break;
        }
    }
    Ok(out)
}

pub fn run(ctx: &Ctx, args: PsArgs) -> Result<u8> {
    let containers = select(ctx, &args)?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for c in &containers {
            writeln!(out, "{}", if args.no_trunc { c.id.as_str() } else { c.short_id() })?;
        }
        return Ok(0);
    }
    let now = Utc::now();
    let rows = || -> Vec<Value> { containers.iter().map(|c| row_json(c, args.no_trunc, now)).collect() };
    match args.format.as_deref() {
        None | Some("table") => {
            let header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"];
            let table: Vec<Vec<String>> = containers.iter().map(|c| table_row(c, args.no_trunc, now)).collect();
            drop(out);
            print_table(&header, &table);
        }
        Some("json") => {
            for row in rows() {
                writeln!(out, "{row}")?;
            }
        }
        Some(format) => {
            let template = Template::parse(format)?;
            let rows = rows();
            if template.table {
                let split = |line: String| line.split('\t').map(str::to_owned).collect::<Vec<_>>();
                let header = split(template.render_header(&header_json())?);
                let table: Vec<Vec<String>> =
                    rows.iter().map(|r| template.render(r).map(split)).collect::<Result<_, _>>()?;
                let header: Vec<&str> = header.iter().map(String::as_str).collect();
                drop(out);
                print_table(&header, &table);
            } else {
                for row in &rows {
                    writeln!(out, "{}", template.render(row)?)?;
                }
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_cut_and_quoted_like_dockers() {
        assert_eq!(go_quote(&ellipsis("sh -c 'sleep 100; echo done'", 20)), "\"sh -c 'sleep 100; e…\"");
        assert_eq!(go_quote(&ellipsis("true", 20)), "\"true\"");
        assert_eq!(go_quote("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
    }

    #[test]
    fn names_match_as_substrings_or_anchored() {
        assert!(name_matches("web", "my-web-1"));
        assert!(name_matches("^my", "my-web-1"));
        assert!(!name_matches("^web", "my-web-1"));
        assert!(name_matches("-1$", "my-web-1"));
        assert!(name_matches("^my-web-1$", "my-web-1"));
        assert!(!name_matches("^my-web$", "my-web-1"));
    }

    #[test]
    fn ancestors_match_names_with_implied_latest_and_ids() {
        let mut c = Container::default();
        c.config.image_name = "busybox".into();
        c.config.image_id = format!("sha256:{}", "ab".repeat(32));
        assert!(ancestor_matches("busybox:latest", &c));
        assert!(ancestor_matches("busybox", &c));
        assert!(!ancestor_matches("busybox:1", &c));
        assert!(ancestor_matches("abab", &c));
        assert!(ancestor_matches("sha256:ababab", &c));
        assert!(!ancestor_matches("ab", &c));
    }
}
