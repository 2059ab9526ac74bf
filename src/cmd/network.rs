//! `berth network create|ls|inspect|rm|prune|reload`. Failures exit 1, as Docker's do (these
//! are the daemon's errors there), except flag errors (125).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::Ctx;
use super::template::{print_formatted, print_table};
use crate::container::mounts::parse_labels;
use crate::network::kernel::HostKernel;
use crate::network::manage::{self, CreateOptions};
use crate::network::record::NetworkRecord;
use crate::network::state::{NetworkState, Owner};
use crate::network::{NetworkError, gc, inspect};
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show low-level information about networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused user-defined networks
    Prune(PruneArgs),
    /// Re-apply berth's firewall rules (after `nft flush ruleset` or a firewalld reload)
    Reload(ReloadArgs),
    /// Connect a container to a network (a running one at once)
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Add a network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g. 10.78.0.10)
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// IPv6 address
    #[arg(long)]
    pub ip6: Option<std::net::Ipv6Addr>,
    /// Network
    pub network: String,
    /// Container
    pub container: String,
}

#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from the network
    #[arg(short, long)]
    pub force: bool,
    /// Network
    pub network: String,
    /// Container
    pub container: String,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver (only bridge)
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR form (IPv4 and/or IPv6; repeat for both)
    #[arg(long)]
    pub subnet: Vec<String>,
    /// Gateway of the subnet given at the same position
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Give containers addresses from this part of the subnet at the same position
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// No route out of the network
    #[arg(long)]
    pub internal: bool,
    /// Give the network an IPv6 subnet too
    #[arg(long)]
    pub ipv6: bool,
    /// Set metadata (KEY=VALUE)
    #[arg(long)]
    pub label: Vec<String>,
    /// Driver options: mtu=N, com.docker.network.bridge.name=NAME
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Network name
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only display network ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not print the table's header row
    #[arg(long)]
    pub noheading: bool,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: table, json, or a Go template such as '{{.Name}}'
    #[arg(long)]
    pub format: Option<String>,
    /// Filter: driver=, id=, label=KEY[=VALUE], name=, scope=local, type=custom|builtin, dangling=true|false
    #[arg(short, long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output with a Go template (e.g. '{{.Id}}')
    #[arg(short, long)]
    pub format: Option<String>,
    /// Networks to inspect (names or ids)
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Do not fail on networks that do not exist
    #[arg(short, long)]
    pub force: bool,
    /// Networks to remove (names or ids)
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Filter: label=KEY[=VALUE], label!=KEY[=VALUE], until=DURATION (e.g. 24h)
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ReloadArgs {}

pub fn run(ctx: &Ctx, command: NetworkCommand) -> Result<u8> {
    let result = match command {
        NetworkCommand::Create(a) => create(ctx, a),
        NetworkCommand::Ls(a) => ls(ctx, a),
        NetworkCommand::Inspect(a) => inspect(ctx, a),
        NetworkCommand::Rm(a) => rm(ctx, a),
        NetworkCommand::Prune(a) => prune(ctx, a),
        NetworkCommand::Reload(_) => reload(ctx),
        NetworkCommand::Connect(a) => connect(ctx, a),
        NetworkCommand::Disconnect(a) => disconnect(ctx, a),
    };
    result.or_else(|e| {
        eprintln!("berth: {e:#}");
        Ok(1)
    })
}

fn alive(owner: Owner) -> bool {
    crate::container::liveness::is_alive(owner.pid, owner.start_time)
}

/// Dead containers' attachments go first (their addresses, veths and rules).
fn collect_garbage(store: &Store) -> Result<()> {
    gc::collect_garbage(store, &mut HostKernel::default(), &alive).context("cleaning up after dead containers")?;
    Ok(())
}

fn create(ctx: &Ctx, args: CreateArgs) -> Result<u8> {
    let mut options = BTreeMap::new();
    for opt in &args.opt {
        let (key, value) =
            opt.split_once('=').with_context(|| format!("invalid option {opt:?}: expected KEY=VALUE"))?;
        options.insert(key.to_owned(), value.to_owned());
    }
    let store = ctx.store()?;
    collect_garbage(store)?;
    let opts = CreateOptions {
        name: args.name.clone(),
        driver: args.driver,
        subnets: args.subnet,
        gateways: args.gateway,
        ip_ranges: args.ip_range,
        internal: args.internal,
        ipv6: args.ipv6,
        labels: parse_labels(&args.label),
        options,
    };
    let record = manage::create(store, &opts).with_context(|| format!("creating network {}", args.name))?;
    println!("{}", record.id);
    Ok(0)
}

/// Every network with its runtime state, dead containers left out (read-only verbs do not
/// collect garbage; they only do not show it).
fn networks_with_state(store: &Store) -> Result<Vec<(NetworkRecord, NetworkState)>> {
    let records = manage::load(store).context("reading networks")?;
    let _lock = store.lock_networks_shared()?;
    records
        .into_iter()
        .map(|r| {
            let mut state: NetworkState = store.network_state(&r.id)?;
            state.endpoints.retain(|_, e| alive(e.owner));
            Ok((r, state))
        })
        .collect()
}

struct Filter {
    key: String,
    value: String,
}

fn parse_filters(filters: &[String], keys: &[&str]) -> Result<Vec<Filter>> {
    filters
        .iter()
        .map(|f| {
            let (key, value) =
                f.split_once('=').with_context(|| format!("invalid filter {f:?}: expected KEY=VALUE"))?;
            if !keys.contains(&key) {
                bail!("invalid filter {key:?}: use {}", keys.join(", "));
            }
            Ok(Filter { key: key.to_owned(), value: value.to_owned() })
        })
        .collect()
}

fn label_matches(record: &NetworkRecord, spec: &str) -> bool {
    match spec.split_once('=') {
        Some((k, v)) => record.labels.get(k).is_some_and(|have| have == v),
        None => record.labels.contains_key(spec),
    }
}

/// Docker's rule: filters of one key are alternatives, except labels, which must all match;
/// different keys must all match.
fn matches(filters: &[Filter], record: &NetworkRecord, state: &NetworkState) -> Result<bool> {
    let one = |f: &Filter| -> Result<bool> {
        Ok(match f.key.as_str() {
            "driver" => record.driver.as_str() == f.value,
            "id" => record.id.starts_with(&f.value),
            "name" => record.name.contains(&f.value),
            "scope" => f.value == "local",
            "type" => match f.value.as_str() {
                "custom" => !record.is_predefined(),
                "builtin" => record.is_predefined(),
                other => bail!("invalid filter 'type={other}': use custom or builtin"),
            },
            "dangling" => match f.value.as_str() {
                "true" | "1" => state.endpoints.is_empty() && !record.is_predefined(),
                "false" | "0" => !state.endpoints.is_empty() || record.is_predefined(),
                other => bail!("invalid filter 'dangling={other}': use true or false"),
            },
            _ => label_matches(record, &f.value),
        })
    };
    for key in ["driver", "id", "name", "scope", "type", "dangling", "label"] {
        let of_key: Vec<&Filter> = filters.iter().filter(|f| f.key == key).collect();
        if of_key.is_empty() {
            continue;
        }
        let results = of_key.iter().map(|f| one(f)).collect::<Result<Vec<bool>>>()?;
        let ok = if key == "label" { results.iter().all(|r| *r) } else { results.iter().any(|r| *r) };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn ls(ctx: &Ctx, args: LsArgs) -> Result<u8> {
    let filters = parse_filters(&args.filter, &["driver", "id", "label", "name", "scope", "type", "dangling"])?;
    let mut all = networks_with_state(ctx.store()?)?;
    all.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let mut shown = Vec::new();
    for (record, state) in &all {
        if matches(&filters, record, state)? {
            shown.push(record);
        }
    }
    let truncate = !args.no_trunc;
    super::template::omit_headings(args.noheading);
    if args.quiet {
        for r in shown {
            println!("{}", if truncate { r.short_id() } else { r.id.as_str() });
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        None | Some("table") => {
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|r| {
                    let id = if truncate { r.short_id() } else { r.id.as_str() };
                    vec![id.to_owned(), r.name.clone(), r.driver.as_str().to_owned(), "local".to_owned()]
                })
                .collect();
            print_table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows);
        }
        Some(format) => {
            let rows: Vec<Value> = shown.iter().map(|r| inspect::ls_row(r, truncate)).collect();
            let headers = serde_json::json!({
                "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
                "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED",
            });
            print_formatted(format, &rows, &headers)?;
        }
    }
    Ok(0)
}

fn inspect(ctx: &Ctx, args: InspectArgs) -> Result<u8> {
    let all = networks_with_state(ctx.store()?)?;
    let records: Vec<NetworkRecord> = all.iter().map(|(r, _)| r.clone()).collect();
    let mut values = Vec::new();
    let mut missing = Vec::new();
    for name in &args.names {
        match manage::find(&records, name) {
            Ok(found) => {
                let (record, state) = all.iter().find(|(r, _)| r.id == found.id).expect("found among them");
                values.push(inspect::inspect_json(record, state));
            }
            Err(e) => missing.push(e),
        }
    }
    super::inspect::print_inspected(args.format.as_deref(), &values)?;
    for e in &missing {
        eprintln!("berth: {e}");
    }
    Ok(if missing.is_empty() { 0 } else { 1 })
}

/// Runs `work` with the locks network removal needs (container::net_locks).
fn with_locks<T>(
    store: &Store,
    work: impl FnOnce(&mut HostKernel, &dyn Fn(&NetworkRecord) -> Vec<String>) -> Result<T, NetworkError>,
) -> Result<T> {
    crate::container::net_locks::with_network_locks(store, work).map_err(|e| match e {
        // The network's own error as it was, so callers can tell NotFound.
        crate::container::index::ContainerError::Network(e) => anyhow::Error::from(e),
        e => anyhow::Error::from(e),
    })
}

fn rm(ctx: &Ctx, args: RmArgs) -> Result<u8> {
    let store = ctx.store()?;
    let mut failed = false;
    for name in &args.names {
        match with_locks(store, |kernel, named_by| manage::remove_locked(store, kernel, name, named_by)) {
            Ok(_) => println!("{name}"),
            Err(e) if args.force && matches!(e.downcast_ref::<NetworkError>(), Some(NetworkError::NotFound(_))) => {}
            Err(e) => {
                eprintln!("berth: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// "24h", "90m", "30s", "1h30m": Go's durations as `until` takes them.
pub(super) fn parse_duration(text: &str) -> Option<chrono::Duration> {
    let mut total = chrono::Duration::zero();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        total += match c {
            'h' => chrono::Duration::hours(n),
            'm' => chrono::Duration::minutes(n),
            's' => chrono::Duration::seconds(n),
            _ => return None,
        };
    }
    number.is_empty().then_some(total).filter(|_| !text.is_empty())
}

fn prune(ctx: &Ctx, args: PruneArgs) -> Result<u8> {
    let keep = prune_filter(&args.filter)?;
    let question = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";
    if !args.force && !super::prune::confirmed(question) {
        eprintln!("berth: network prune: not confirmed (use -f to prune without asking)");
        return Ok(1);
    }
    let removed = prune_networks(ctx, &keep)?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for r in removed {
            println!("{}", r.name);
        }
    }
    Ok(0)
}

/// What a prune's `--filter`s hold back: true for a network to keep.
pub(super) type Keep = Box<dyn Fn(&NetworkRecord) -> bool>;

/// `network prune --filter` (label=, label!=, until=) as a predicate; a bad filter is an error
/// before anything is removed.
pub(super) fn prune_filter(filter: &[String]) -> Result<Keep> {
    let filter = super::prune::PruneFilter::parse(filter)?;
    Ok(Box::new(move |r: &NetworkRecord| filter.holds_back(&r.labels, Some(&r.created))))
}

/// Removes the unused user-defined networks `keep` does not hold back.
pub(super) fn prune_networks(ctx: &Ctx, keep: &Keep) -> Result<Vec<NetworkRecord>> {
    let store = ctx.store()?;
    with_locks(store, |kernel, named_by| manage::prune_locked(store, kernel, named_by, keep.as_ref()))
        .context("pruning networks")
}

fn connect(ctx: &Ctx, args: ConnectArgs) -> Result<u8> {
    let store = ctx.store()?;
    crate::container::net_connect::connect(store, &args.container, &args.network, &args.alias, args.ip, args.ip6)?;
    Ok(0)
}

fn disconnect(ctx: &Ctx, args: DisconnectArgs) -> Result<u8> {
    crate::container::net_connect::disconnect(ctx.store()?, &args.container, &args.network)?;
    Ok(0)
}

fn reload(ctx: &Ctx) -> Result<u8> {
    let store = ctx.store()?;
    if store.rootless() {
        // Rootless containers are not on berth's bridges (pasta needs no rules): berth has no
        // firewall rules of its own to re-apply, and the host's firewall is not its to touch.
        return Ok(0);
    }
    gc::reload(store, &mut HostKernel::default(), &alive).context("reloading the firewall")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_writes_them() {
        assert_eq!(parse_duration("24h"), Some(chrono::Duration::hours(24)));
        assert_eq!(parse_duration("1h30m"), Some(chrono::Duration::minutes(90)));
        assert_eq!(parse_duration("10s"), Some(chrono::Duration::seconds(10)));
        for bad in ["", "10", "h", "5d", "1h5"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
