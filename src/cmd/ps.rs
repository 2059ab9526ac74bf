use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use super::template::{Template, print_table};
use crate::container::inspect::{command_line, status_text, time_ago};
use crate::container::net_view::{LiveNetworks, networks_text, ports_text};
use crate::container::query::{Filters, Query, list};
use crate::container::record::Container;

#[derive(Args, Debug, Clone)]
pub struct PsArgs {
    /// Show all containers (default: only running ones)
    #[arg(short, long)]
    pub all: bool,
    /// Only show container ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not print the table's header row
    #[arg(long)]
    pub noheading: bool,
    /// Show the N last created containers (all states)
    #[arg(short = 'n', long = "last", value_name = "N", allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Show the last created container (all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Do not truncate ids and commands
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter KEY=VALUE: name (a regex), id, status, label, ancestor, exited, before, since, volume, network, health, publish, expose, isolation, is-task
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Output format: table, json, a Go template such as '{{.ID}} {{.Names}}', or 'table TEMPLATE'
    #[arg(long)]
    pub format: Option<String>,
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

pub(super) fn command_cell(c: &Container, no_trunc: bool) -> String {
    let command = command_line(c);
    go_quote(&if no_trunc { command } else { ellipsis(&command, 20) })
}

fn id_cell(c: &Container, no_trunc: bool) -> &str {
    if no_trunc { c.id.as_str() } else { c.short_id() }
}

/// The default table's row: CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES.
fn table_row(c: &Container, no_trunc: bool, now: DateTime<Utc>, live: &LiveNetworks) -> Vec<String> {
    vec![
        id_cell(c, no_trunc).to_owned(),
        c.config.image_name.clone(),
        command_cell(c, no_trunc),
        time_ago(&c.created, now),
        status_text(c, now),
        ports_text(c, live),
        c.name.clone(),
    ]
}

/// One container as `ps --format` sees it.
fn row_json(c: &Container, no_trunc: bool, now: DateTime<Utc>, live: &LiveNetworks) -> Value {
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
        "Networks": networks_text(c),
        "Ports": ports_text(c, live),
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
    let query = Query {
        all: args.all,
        last: if args.latest { Some(1) } else { args.last.filter(|&n| n > 0).map(|n| n as usize) },
        filters: Filters::parse(&args.filter)?,
    };
    Ok(list(ctx.store()?, &ctx.settings, &query)?)
}

pub fn run(ctx: &Ctx, args: PsArgs) -> Result<u8> {
    super::template::omit_headings(args.noheading);
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
    let live = LiveNetworks::load(ctx.store()?);
    let rows = || -> Vec<Value> { containers.iter().map(|c| row_json(c, args.no_trunc, now, &live)).collect() };
    match args.format.as_deref() {
        None | Some("table") => {
            let header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"];
            let table: Vec<Vec<String>> = containers.iter().map(|c| table_row(c, args.no_trunc, now, &live)).collect();
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
}
