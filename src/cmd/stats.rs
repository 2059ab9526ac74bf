use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use super::template::{Template, print_table};
use crate::container::index::{find, load_all, refresh};
use crate::container::lifecycle::cgroup_of;
use crate::container::record::{Container, Status};
use crate::container::top::network_io;
use crate::sandbox::cgroup::CgroupStats;

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default: only running ones)
    #[arg(short, long)]
    pub all: bool,
    /// Print one sample and exit
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate ids
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: table, json, a Go template such as '{{.Name}} {{.CPUPerc}}', or 'table TEMPLATE'
    #[arg(long)]
    pub format: Option<String>,
    /// Containers (default: all running ones)
    pub containers: Vec<String>,
}

/// Between two samples CPU use is measured; Docker's `--no-stream` waits about as long.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// One reading of one container.
struct Sample {
    at: Instant,
    /// None without a cgroup of its own.
    cgroup: Option<CgroupStats>,
    net: Option<(u64, u64)>,
}

fn sample(container: &Container) -> Sample {
    let live = matches!(container.state.status, Status::Running | Status::Paused);
    Sample {
        at: Instant::now(),
        cgroup: if live { cgroup_of(container).map(|c| c.stats()) } else { None },
        net: if live { network_io(container.state.pid) } else { None },
    }
}

/// Go's `%.{precision}g` as go-units uses it: significant digits, no trailing zeros.
fn go_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs().log10().floor() as i64;
    let decimals = (precision as i64 - 1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

fn custom_size(bytes: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut value = bytes;
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    format!("{}{}", go_g(value, precision), units[unit])
}

/// go-units BytesSize: binary units, 4 significant digits ("1.504MiB").
fn binary_size(bytes: u64) -> String {
    custom_size(bytes as f64, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)
}

/// go-units HumanSizeWithPrecision(…, 3): decimal units ("1.23kB").
fn decimal_size(bytes: u64) -> String {
    custom_size(bytes as f64, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"], 3)
}

const UNKNOWN: &str = "--";

/// One row of `stats`, from two samples of one container.
fn row_json(
    label: &str,
    container: &Container,
    before: &Sample,
    after: &Sample,
    no_trunc: bool,
    host_memory: u64,
) -> Value {
    let id = if no_trunc { container.id.as_str() } else { container.short_id() };
    let mut row = json!({
        "Container": label, "ID": id, "Name": container.name,
        "CPUPerc": UNKNOWN, "MemUsage": format!("{UNKNOWN} / {UNKNOWN}"), "MemPerc": UNKNOWN,
        "NetIO": format!("{UNKNOWN} / {UNKNOWN}"), "BlockIO": format!("{UNKNOWN} / {UNKNOWN}"), "PIDs": UNKNOWN,
    });
    if let (Some(b), Some(a)) = (&before.cgroup, &after.cgroup) {
        let wall = after.at.duration_since(before.at).as_nanos().max(1) as f64;
        let cpu = a.cpu_usage_ns.saturating_sub(b.cpu_usage_ns) as f64 / wall * 100.0;
        let used = a.memory_usage.saturating_sub(a.memory_inactive_file);
        let limit = a.memory_limit.unwrap_or(host_memory).min(host_memory.max(1));
        row["CPUPerc"] = json!(format!("{cpu:.2}%"));
        row["MemUsage"] = json!(format!("{} / {}", binary_size(used), binary_size(limit)));
        row["MemPerc"] = json!(format!("{:.2}%", used as f64 / limit.max(1) as f64 * 100.0));
        row["PIDs"] = json!(a.pids_current.to_string());
    }
    if let Some((rx, tx)) = after.net {
        row["NetIO"] = json!(format!("{} / {}", decimal_size(rx), decimal_size(tx)));
    }
    row
}

fn header_json() -> Value {
    json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

/// The containers to show, as (label, container): those named, or every running one (every
/// one with --all).
fn select(ctx: &Ctx, args: &StatsArgs) -> Result<Vec<(String, Container)>> {
    let store = ctx.store()?;
    let index = load_all(store)?;
    let mut out = Vec::new();
    if args.containers.is_empty() {
        for c in &index.containers {
            let mut c = c.clone();
            if args.all || matches!(refresh(store, &mut c), Status::Running | Status::Paused) {
                out.push((c.short_id().to_owned(), c));
            }
        }
    } else {
        for name in &args.containers {
            let mut c = find(&index, name)?.clone();
            refresh(store, &mut c);
            out.push((name.clone(), c));
        }
    }
    Ok(out)
}

fn print_rows(format: Option<&str>, rows: &[Value]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        None | Some("table") => {
            let header =
                ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"];
            let keys = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"];
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| keys.iter().map(|k| r[k].as_str().unwrap_or_default().to_owned()).collect())
                .collect();
            drop(out);
            print_table(&header, &table);
        }
        Some("json") => {
            for row in rows {
                writeln!(out, "{row}")?;
            }
        }
        Some(format) => {
            let template = Template::parse(format)?;
            if template.table {
                let split = |line: String| line.split('\t').map(str::to_owned).collect::<Vec<_>>();
                let header = split(template.render_header(&header_json())?);
                let header: Vec<&str> = header.iter().map(String::as_str).collect();
                let table: Vec<Vec<String>> =
                    rows.iter().map(|r| template.render(r).map(split)).collect::<Result<_, _>>()?;
                drop(out);
                print_table(&header, &table);
            } else {
                for row in rows {
                    writeln!(out, "{}", template.render(row)?)?;
                }
            }
        }
    }
    Ok(())
}

pub fn run(ctx: &Ctx, args: StatsArgs) -> Result<u8> {
    if let Some(format) = args.format.as_deref().filter(|f| !matches!(*f, "table" | "json")) {
        Template::parse(format)?;
    }
    let memory = crate::container::top::host_memory();
    let clear = !args.no_stream && std::io::stdout().is_terminal();
    let mut previous: BTreeMap<String, Sample> = BTreeMap::new();
    let mut warned = std::collections::BTreeSet::new();
    loop {
        let containers = select(ctx, &args)?;
        let fresh_ones: Vec<&Container> =
            containers.iter().map(|(_, c)| c).filter(|c| !previous.contains_key(&c.id)).collect();
        if !fresh_ones.is_empty() {
            // A first reading to measure CPU use against.
            for c in fresh_ones {
                previous.insert(c.id.clone(), sample(c));
            }
            std::thread::sleep(SAMPLE_INTERVAL);
        }
        let mut rows = Vec::with_capacity(containers.len());
        let mut current = BTreeMap::new();
        for (label, c) in &containers {
            let now = sample(c);
            let live = matches!(c.state.status, Status::Running | Status::Paused);
            if live && now.cgroup.is_none() && warned.insert(c.id.clone()) {
                eprintln!(
                    "berth: stats: container {label} has no cgroup of its own (rootless without cgroup v2 delegation): no CPU, memory or pids figures"
                );
            }
            rows.push(row_json(label, c, &previous[&c.id], &now, args.no_trunc, memory));
            current.insert(c.id.clone(), now);
        }
        if clear {
            print!("\x1b[2J\x1b[H");
        }
        print_rows(args.format.as_deref(), &rows)?;
        std::io::stdout().flush()?;
        if args.no_stream {
            return Ok(0);
        }
        previous = current;
        std::thread::sleep(SAMPLE_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_go_units() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(1536), "1.5KiB");
        assert_eq!(binary_size(1_577_058), "1.504MiB");
        assert_eq!(binary_size(8_232_525_824), "7.667GiB");
        assert_eq!(decimal_size(648), "648B");
        assert_eq!(decimal_size(1234), "1.23kB");
        assert_eq!(decimal_size(0), "0B");
    }
}
