//! The compose verbs that act on containers: thin over crate::compose::engine.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use clap::Args;

use super::{ComposeArgs, load_project};
use crate::cmd::Ctx;
use crate::compose::build::{BuildOptions, BuildPolicy};
use crate::compose::engine::{self, DownOptions, Progress, UpOptions, is_running, service_of};
use crate::compose::load::start_order;
use crate::container::inspect::{command_line, status_text, time_ago};
use crate::container::lifecycle;
use crate::container::logs::LogOptions;
use crate::container::record::Container;
use crate::container::signals::parse_signal;

/// Docker Compose's progress lines, on stderr: ` Container demo-web-1  Started`.
pub struct Lines;

impl Progress for Lines {
    fn event(&mut self, kind: &str, name: &str, what: &str) {
        eprintln!(" {kind} {name}  {what}");
    }
    fn warn(&mut self, message: &str) {
        eprintln!("berth: warning: {message}");
    }
}

pub fn service_label(c: &Container) -> String {
    service_of(c).to_owned()
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Run in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Recreate containers even if their configuration and image have not changed
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// Keep existing containers even if their configuration or image changed
    #[arg(long)]
    pub no_recreate: bool,
    /// Do not start the services the named ones depend on
    #[arg(long)]
    pub no_deps: bool,
    /// Remove containers of services not in the compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Run N containers of a service: SERVICE=N (overrides `scale`/`deploy.replicas`)
    #[arg(long, value_name = "SERVICE=N")]
    pub scale: Vec<String>,
    /// Create the containers without starting them
    #[arg(long)]
    pub no_start: bool,
    /// Build the images before starting the containers
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Do not build an image, even when it is missing
    #[arg(long)]
    pub no_build: bool,
    /// Pull the images: always, missing or never (default: each service's pull_policy)
    #[arg(long, value_name = "POLICY", value_parser = ["always", "missing", "never"])]
    pub pull: Option<String>,
    /// Wait for the containers to be running and healthy (implies --detach)
    #[arg(long, conflicts_with_all = ["abort_on_container_exit", "exit_code_from"])]
    pub wait: bool,
    /// Stop all containers when any one exits
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Exit with this service's container's code (implies --abort-on-container-exit)
    #[arg(long, value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Show only these services' output (repeatable)
    #[arg(long, value_name = "SERVICE")]
    pub attach: Vec<String>,
    /// Services (default: all)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Recreate containers even if their configuration and image have not changed
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// Keep existing containers even if their configuration or image changed
    #[arg(long)]
    pub no_recreate: bool,
    /// Services (default: all)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DownArgs {
    /// Also remove the named volumes of `volumes:` and the containers' anonymous volumes
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove containers of services not in the compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Seconds to wait for each container to stop before killing it
    #[arg(short, long)]
    pub timeout: Option<u32>,
    /// Also remove images: local (the ones built without an image: name) or all
    #[arg(long, value_name = "TYPE", value_parser = ["local", "all"])]
    pub rmi: Option<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show stopped containers too
    #[arg(short, long)]
    pub all: bool,
    /// Only the container ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Only the service names
    #[arg(long)]
    pub services: bool,
    /// Format: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Services (default: all)
    pub service_names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow the output
    #[arg(short, long)]
    pub follow: bool,
    /// Lines from the end of each log (or "all")
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Print the lines without the service prefix
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Services (default: all)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ServicesArgs {
    /// Services (default: all)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing
    #[arg(short, long)]
    pub timeout: Option<u32>,
    /// Services (default: all)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
    /// Services (default: all)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Stop the containers first
    #[arg(short, long)]
    pub stop: bool,
    /// Do not ask (berth never asks)
    #[arg(short, long)]
    pub force: bool,
    /// Also remove the containers' anonymous volumes
    #[arg(short, long)]
    pub volumes: bool,
    /// Services (default: all)
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Stopped projects too
    #[arg(short, long)]
    pub all: bool,
    /// Only the project names
    #[arg(short, long)]
    pub quiet: bool,
    /// Format: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
}

fn parse_scale(items: &[String]) -> Result<BTreeMap<String, u32>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((s, n)) => Ok((
                s.to_owned(),
                n.parse().map_err(|_| anyhow::anyhow!("invalid --scale {item:?}: expected SERVICE=N"))?,
            )),
            None => bail!("invalid --scale {item:?}: expected SERVICE=N"),
        })
        .collect()
}

pub fn up(ctx: &Ctx, global: &ComposeArgs, args: &UpArgs) -> Result<u8> {
    let project = load_project(global, &args.services)?;
    let scale = parse_scale(&args.scale)?;
    for s in scale.keys() {
        if !project.services.contains_key(s) {
            bail!(crate::compose::error::ComposeError::NoSuchService(s.clone()));
        }
    }
    let opts = UpOptions {
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        no_deps: args.no_deps,
        remove_orphans: args.remove_orphans,
        no_start: args.no_start,
        scale,
        services: args.services.clone(),
        build: if args.build {
            BuildPolicy::Always
        } else if args.no_build {
            BuildPolicy::Never
        } else {
            BuildPolicy::Missing
        },
        build_options: BuildOptions { pull: args.pull.as_deref() == Some("always"), ..BuildOptions::default() },
        pull: args.pull.as_deref().map(|p| p.parse()).transpose()?,
    };
    for s in args.exit_code_from.iter().chain(&args.attach) {
        if !project.services.contains_key(s) {
            bail!(crate::compose::error::ComposeError::NoSuchService(s.clone()));
        }
    }
    let store = ctx.store()?;
    let made = engine::up(store, &ctx.settings, &project, &opts, &mut Lines)?;
    if args.wait && !args.no_start {
        crate::compose::readiness::wait_ready(store, &made)?;
        return Ok(0);
    }
    if args.detach || args.no_start {
        return Ok(0);
    }
    let abort = args.abort_on_container_exit || args.exit_code_from.is_some();
    let first_exit = attached(store, &project.name, &made, &args.attach, abort)?;
    let Some(service) = &args.exit_code_from else {
        return Ok(first_exit.map_or(0, |(_, code)| exit_status(code)));
    };
    let Some(from) = made.iter().find(|c| service_of(c) == service) else { return Ok(0) };
    Ok(exit_status(crate::compose::readiness::wait_exited(store, from)?))
}

fn exit_status(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(1)
}

/// With --abort-on-container-exit: the first of `containers` to end (its name and code), once
/// it has, after which the others are stopped; None when `done` is set first.
fn watch_for_exit(
    store: &crate::store::Store,
    containers: &[Container],
    done: &std::sync::atomic::AtomicBool,
) -> Option<(String, i32)> {
    use std::sync::atomic::Ordering;
    while !done.load(Ordering::Relaxed) {
        for c in containers {
            let Ok(now) = crate::container::index::load(store, &c.id) else { continue };
            if let Some(code) = crate::compose::readiness::ended(store, &now) {
                eprintln!("{} exited with code {code}", now.name);
                eprintln!("Aborting on container exit...");
                for other in containers.iter().rev() {
                    let _ = lifecycle::stop(store, other, None, None);
                }
                return Some((now.name.clone(), code));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}

/// Attached `up`: every container's output (or the `attach` services'), prefixed, until all
/// have ended; Ctrl-C stops the project's containers (as Docker Compose does) and the output
/// drains. With `abort`, the first container to end stops the others: its name and code.
fn attached(
    store: &crate::store::Store,
    project: &str,
    made: &[Container],
    attach: &[String],
    abort: bool,
) -> Result<Option<(String, i32)>> {
    use nix::sys::signal::{SigSet, Signal};
    let ids: Vec<&str> = made.iter().map(|c| c.id.as_str()).collect();
    let current: Vec<Container> =
        engine::containers(store, project, false)?.into_iter().filter(|c| ids.contains(&c.id.as_str())).collect();
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    // Blocked before any thread exists, so every thread inherits the mask and the one waiter
    // below is where the signal goes.
    signals.thread_block()?;
    let shown: Vec<Container> =
        current.iter().filter(|c| attach.is_empty() || attach.iter().any(|a| a == service_of(c))).cloned().collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<Option<(String, i32)>> {
        let watched = current.clone();
        let (all, done) = (&current, &done);
        let watcher = abort.then(|| scope.spawn(move || watch_for_exit(store, all, done)));
        let stopper = scope.spawn(move || {
            if signals.wait().is_ok() {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                for c in watched.iter().rev() {
                    let _ = lifecycle::stop(store, c, None, None);
                }
            }
        });
        let options = LogOptions { follow: true, ..LogOptions::default() };
        super::logs::print_all(store, &shown, &options, false)?;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let first_exit = watcher.and_then(|w| w.join().ok().flatten());
        // Every container ended by itself: the waiter is not needed any more.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), Signal::SIGTERM);
        let _ = stopper.join();
        Ok(first_exit)
    })
}

pub fn create(ctx: &Ctx, global: &ComposeArgs, args: &CreateArgs) -> Result<u8> {
    let project = load_project(global, &args.services)?;
    let opts = UpOptions {
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        no_start: true,
        services: args.services.clone(),
        ..UpOptions::default()
    };
    engine::up(ctx.store()?, &ctx.settings, &project, &opts, &mut Lines)?;
    Ok(0)
}

pub fn down(ctx: &Ctx, global: &ComposeArgs, args: &DownArgs) -> Result<u8> {
    let project = load_project(global, &[])?;
    let opts = DownOptions { volumes: args.volumes, remove_orphans: args.remove_orphans, timeout: args.timeout };
    let store = ctx.store()?;
    engine::down(store, &project, &opts, &mut Lines)?;
    if let Some(kind) = &args.rmi {
        remove_images(ctx, store, &project, kind == "all")?;
    }
    Ok(0)
}

/// `down --rmi`: the services' images (with `all`), or only those built under the project's
/// own PROJECT-SERVICE names. One that is gone already or still used elsewhere is reported and
/// skipped, as Docker Compose does.
fn remove_images(ctx: &Ctx, store: &crate::store::Store, project: &crate::compose::Project, all: bool) -> Result<()> {
    let mut names: Vec<String> = Vec::new();
    for (name, s) in &project.services {
        if all || (s.build.is_some() && s.image.is_none()) {
            let image = crate::compose::build::image_name(project, name, s);
            if !names.contains(&image) {
                names.push(image);
            }
        }
    }
    let results =
        crate::image::remove::remove_images(store, &ctx.settings, &names, false, crate::container::query::image_users)?;
    for (name, result) in names.iter().zip(results) {
        match result {
            Ok(_) => Lines.event("Image", name, "Removed"),
            Err(crate::image::remove::RemoveError::Lookup(_)) => {}
            Err(e) => Lines.warn(&format!("removing image {name}: {e}")),
        }
    }
    Ok(())
}

/// The project's containers of `services` (all when empty), in dependency order.
fn selected(
    ctx: &Ctx,
    global: &ComposeArgs,
    services: &[String],
    all: bool,
) -> Result<(crate::compose::Project, Vec<Container>)> {
    let project = load_project(global, services)?;
    let order = start_order(&project);
    let mut found: Vec<Container> = engine::containers(ctx.store()?, &project.name, false)?
        .into_iter()
        .filter(|c| services.is_empty() || services.iter().any(|s| s == service_of(c)))
        .filter(|c| all || is_running(c))
        .collect();
    found.sort_by_key(|c| (order.iter().position(|s| s == service_of(c)).unwrap_or(usize::MAX), engine::number_of(c)));
    Ok((project, found))
}

pub fn ps(ctx: &Ctx, global: &ComposeArgs, args: &PsArgs) -> Result<u8> {
    let (_, containers) = selected(ctx, global, &args.service_names, args.all)?;
    if args.quiet {
        containers.iter().for_each(|c| println!("{}", c.id));
        return Ok(0);
    }
    if args.services {
        let mut seen: Vec<&str> = Vec::new();
        for c in &containers {
            if !seen.contains(&service_of(c)) {
                seen.push(service_of(c));
                println!("{}", service_of(c));
            }
        }
        return Ok(0);
    }
    let now = chrono::Utc::now();
    let live = crate::container::net_view::LiveNetworks::load(ctx.store()?);
    if args.format == "json" {
        for c in &containers {
            // Docker Compose's Publishers: one per published port.
            let publishers: Vec<serde_json::Value> = live
                .ports(c)
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "URL": m.host_ip.map_or_else(|| "0.0.0.0".to_owned(), |ip| ip.to_string()),
                        "TargetPort": m.container_port, "PublishedPort": m.host_port,
                        "Protocol": m.protocol.to_string(),
                    })
                })
                .collect();
            let row = serde_json::json!({
                "ID": c.id, "Name": c.name, "Image": c.config.image_name, "Command": command_line(c),
                "Project": c.config.labels.get(engine::LABEL_PROJECT), "Service": service_of(c),
                "State": c.state.status.as_str(), "Status": status_text(c, now), "Created": c.created,
                "Labels": c.config.labels, "Publishers": publishers,
            });
            println!("{row}");
        }
        return Ok(0);
    }
    let rows: Vec<[String; 7]> = containers
        .iter()
        .map(|c| {
            [
                c.name.clone(),
                c.config.image_name.clone(),
                format!("{:?}", command_line(c)),
                service_of(c).to_owned(),
                time_ago(&c.created, now),
                status_text(c, now),
                crate::container::net_view::ports_text(c, &live),
            ]
        })
        .collect();
    let header = ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"].map(String::from);
    print_columns(&header, &rows);
    Ok(0)
}

fn print_columns<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    let mut widths: [usize; N] = std::array::from_fn(|i| header[i].len());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < N {
                line.push_str(&format!("{cell:w$}   ", w = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        println!("{}", line.trim_end());
    }
}

pub fn logs(ctx: &Ctx, global: &ComposeArgs, args: &LogsArgs) -> Result<u8> {
    let (_, containers) = selected(ctx, global, &args.services, true)?;
    let tail = match args.tail.as_str() {
        "all" | "" => None,
        n => Some(
            n.parse::<usize>().map_err(|_| anyhow::anyhow!("invalid --tail {n:?}: expected a number or \"all\""))?,
        ),
    };
    let options = LogOptions { follow: args.follow, tail, timestamps: args.timestamps, ..LogOptions::default() };
    super::logs::print_all(ctx.store()?, &containers, &options, args.no_log_prefix)?;
    Ok(0)
}

pub enum Action {
    Start,
    Stop(Option<u32>),
    Restart(Option<u32>),
    Kill(String),
    Pause,
    Unpause,
}

/// One lifecycle action on each selected container: in dependency order to start, reverse to
/// stop.
pub fn each(ctx: &Ctx, global: &ComposeArgs, services: &[String], action: Action) -> Result<u8> {
    let (_, mut containers) = selected(ctx, global, services, true)?;
    let store = ctx.store()?;
    if matches!(action, Action::Stop(_) | Action::Kill(_) | Action::Pause) {
        containers.reverse();
    }
    let signal = match &action {
        Action::Kill(s) => Some(parse_signal(s)?),
        _ => None,
    };
    for c in &containers {
        let result = match &action {
            Action::Start => engine::start(store, c, &mut Lines).map_err(anyhow::Error::from),
            Action::Stop(t) => engine::stop(store, c, *t, &mut Lines).map_err(anyhow::Error::from),
            Action::Restart(t) => lifecycle::restart(store, c, *t, None)
                .map_err(anyhow::Error::from)
                .map(|_| Lines.event("Container", &c.name, "Restarted")),
            Action::Kill(_) if !is_running(c) => Ok(()),
            Action::Kill(_) => lifecycle::kill(store, c, signal.expect("parsed"))
                .map_err(anyhow::Error::from)
                .map(|_| Lines.event("Container", &c.name, "Killed")),
            Action::Pause if !is_running(c) => Ok(()),
            Action::Pause => lifecycle::pause(store, c)
                .map_err(anyhow::Error::from)
                .map(|_| Lines.event("Container", &c.name, "Paused")),
            Action::Unpause => lifecycle::unpause(store, c)
                .map_err(anyhow::Error::from)
                .map(|_| Lines.event("Container", &c.name, "Unpaused")),
        };
        result.map_err(|e| e.context(format!("container {}", c.name)))?;
    }
    Ok(0)
}

pub fn rm(ctx: &Ctx, global: &ComposeArgs, args: &RmArgs) -> Result<u8> {
    let (_, containers) = selected(ctx, global, &args.services, true)?;
    let store = ctx.store()?;
    for c in containers.iter().rev() {
        if is_running(c) {
            if !args.stop {
                continue;
            }
            engine::stop(store, c, None, &mut Lines)?;
        }
        lifecycle::remove(store, c, true)?;
        if args.volumes {
            for (volume, why) in crate::container::volumes::remove_anonymous(store, c)? {
                eprintln!("berth: removing volume {volume}: {why}");
            }
        }
        Lines.event("Container", &c.name, "Removed");
    }
    Ok(0)
}

/// Projects, from the labels of every container in the store.
pub fn ls(ctx: &Ctx, args: &LsArgs) -> Result<u8> {
    let index = crate::container::index::load_all(ctx.store()?)?;
    let mut projects: BTreeMap<String, (BTreeMap<&'static str, usize>, String)> = BTreeMap::new();
    for mut c in index.containers {
        let Some(name) = c.config.labels.get(engine::LABEL_PROJECT).cloned() else { continue };
        crate::container::index::refresh(ctx.store()?, &mut c);
        let entry = projects.entry(name).or_default();
        *entry.0.entry(c.state.status.as_str()).or_default() += 1;
        entry.1 = c.config.labels.get(engine::LABEL_CONFIG_FILES).cloned().unwrap_or_default();
    }
    let rows: Vec<[String; 3]> = projects
        .iter()
        .filter(|(_, (states, _))| args.all || states.contains_key("running"))
        .map(|(name, (states, files))| {
            let status: Vec<String> = states.iter().map(|(s, n)| format!("{s}({n})")).collect();
            [name.clone(), status.join(", "), files.clone()]
        })
        .collect();
    if args.quiet {
        rows.iter().for_each(|r| println!("{}", r[0]));
    } else if args.format == "json" {
        let list: Vec<_> =
            rows.iter().map(|r| serde_json::json!({"Name": r[0], "Status": r[1], "ConfigFiles": r[2]})).collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        print_columns(&["NAME", "STATUS", "CONFIG FILES"].map(String::from), &rows);
    }
    Ok(0)
}

pub fn images(ctx: &Ctx, global: &ComposeArgs, args: &ServicesArgs) -> Result<u8> {
    let (_, containers) = selected(ctx, global, &args.services, true)?;
    let rows: Vec<[String; 3]> = containers
        .iter()
        .map(|c| {
            let id = c.config.image_id.strip_prefix("sha256:").unwrap_or(&c.config.image_id);
            [c.name.clone(), c.config.image_name.clone(), id[..12.min(id.len())].to_owned()]
        })
        .collect();
    print_columns(&["CONTAINER", "REPOSITORY", "IMAGE ID"].map(String::from), &rows);
    Ok(0)
}
