use anyhow::{Context, Result, bail};
use clap::Args;

use super::Ctx;
use crate::container::index::supervisor_alive;
use crate::container::lifecycle::load_current;
use crate::container::liveness::is_alive;
use crate::container::logfile::log_path;
use crate::container::logs::{LogOptions, LogPrinter, parse_time, print_logs};
use crate::container::record::Status;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow the output while the container runs
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end ("all" for everything)
    #[arg(short = 'n', long, value_name = "N|all", default_value = "all")]
    pub tail: String,
    /// Show output since a time: RFC 3339, Unix seconds, or relative (e.g. 10m, 1h)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Show output before a time: RFC 3339, Unix seconds, or relative (e.g. 10m, 1h)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Container
    pub container: String,
}

fn parse_tail(text: &str) -> Result<Option<usize>> {
    match text {
        "all" | "" => Ok(None),
        n => match n.parse::<i64>() {
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => bail!("invalid --tail {text:?}: expected a number or \"all\""),
        },
    }
}

pub fn run(ctx: &Ctx, args: LogsArgs) -> Result<u8> {
    let now = chrono::Utc::now();
    let options = LogOptions {
        follow: args.follow,
        tail: parse_tail(&args.tail)?,
        since: args.since.as_deref().map(|t| parse_time(t, now)).transpose()?,
        until: args.until.as_deref().map(|t| parse_time(t, now)).transpose()?,
        timestamps: args.timestamps,
    };
    let store = ctx.store()?;
    let container = load_current(store, &args.container)?;
    crate::container::log_config::check_readable(&container.config)?;
    let path = log_path(&store.container_dir(&container.id));
    let live = matches!(container.state.status, Status::Running | Status::Paused);
    // Running, or ended with its supervisor still writing the last of its output.
    let running =
        || live && (is_alive(container.state.pid, container.state.pid_start_time) || supervisor_alive(&container));
    let mut printer = LogPrinter::new(std::io::stdout().lock(), std::io::stderr().lock(), options.timestamps);
    match print_logs(&path, &options, running, &mut printer) {
        Ok(()) => Ok(0),
        // The reader went away (`logs -f | head`): nothing left to do.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e).with_context(|| format!("reading the log of container {}", args.container)),
    }
}
