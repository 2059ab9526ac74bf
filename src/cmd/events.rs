use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::Value;

use super::Ctx;
use super::template::Template;
use crate::container::logs::parse_time;
use crate::events::{Event, Filter, Follower};

/// How often a follower looks for new events (the journal is a file; nobody pushes them).
const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions (type=, event=, container=, image=, label=, volume=, network=)
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format the output: json, or a Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Show events since a time: RFC 3339, Unix seconds, or relative (e.g. 10m, 1h)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stream events until a time: RFC 3339, Unix seconds, or relative (e.g. 10m, 1h)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

enum Output {
    Text,
    Json,
    Template(Template),
}

impl Output {
    fn line(&self, event: &Event) -> Result<String> {
        Ok(match self {
            Output::Text => event.to_text(),
            Output::Json => serde_json::to_string(event)?,
            Output::Template(t) => t.render(&template_value(event))?,
        })
    }
}

/// The event as templates see it: Docker's Go field names (`.Status`, `.ID`, `.Time`, …)
/// besides the JSON names.
fn template_value(event: &Event) -> Value {
    let mut value = serde_json::to_value(event).expect("serializable");
    if let Value::Object(map) = &mut value {
        for (go, json) in [
            ("Status", "status"),
            ("ID", "id"),
            ("From", "from"),
            ("Scope", "scope"),
            ("Time", "time"),
            ("TimeNano", "timeNano"),
        ] {
            let v = map.get(json).cloned().unwrap_or(Value::String(String::new()));
            map.insert(go.to_owned(), v);
        }
    }
    value
}

pub fn run(ctx: &Ctx, args: EventsArgs) -> Result<u8> {
    let now = Utc::now();
    let since = args.since.as_deref().map(|t| parse_time(t, now)).transpose()?;
    let until = args.until.as_deref().map(|t| parse_time(t, now)).transpose()?;
    let filter = Filter::parse(&args.filter)?;
    let output = match args.format.as_deref() {
        None | Some("") => Output::Text,
        Some("json") => Output::Json,
        Some(format) => Output::Template(Template::parse(format)?),
    };
    let store = ctx.store()?;
    // Past events only when asked for by time, as Docker's; otherwise what happens from now.
    let mut follower =
        if since.is_some() || until.is_some() { Follower::from_start(store) } else { Follower::from_end(store) };
    let in_range = |event: &Event| {
        let time = DateTime::from_timestamp_nanos(event.time_nano);
        since.is_none_or(|s| time >= s) && until.is_none_or(|u| time <= u)
    };
    let mut out = std::io::stdout().lock();
    loop {
        for event in follower.poll()? {
            if in_range(&event) && filter.matches(&event) {
                writeln!(out, "{}", output.line(&event)?)?;
            }
        }
        out.flush()?;
        if until.is_some_and(|u| Utc::now() > u) {
            return Ok(0);
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
