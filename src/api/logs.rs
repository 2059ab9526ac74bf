//! `GET /containers/{id}/logs`: the container's log (as `berth logs` reads it), multiplexed
//! unless it has a TTY, followed while it runs if asked.

use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::error::ApiError;
use super::http::{ApiResponse, Query, blocking, channel};
use super::service::{Activity, State};
use super::stream::{self, Kind};
use crate::container::index::supervisor_alive;
use crate::container::liveness::is_alive;
use crate::container::logfile::log_path;
use crate::container::logs::{LogOptions, LogPrinter, parse_time, print_logs};
use crate::container::record::Status;

/// One stream of the reply: writes become frames on the body channel; a gone client is EPIPE.
struct FrameWriter {
    kind: Kind,
    tty: bool,
    wanted: bool,
    tx: mpsc::Sender<Bytes>,
}

impl Write for FrameWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.wanted && !buf.is_empty() {
            self.tx.blocking_send(stream::frame(self.kind, buf, self.tty)).map_err(|_| io::ErrorKind::BrokenPipe)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub async fn logs(state: Arc<State>, id: &str, query: &Query) -> Result<ApiResponse, ApiError> {
    let now = chrono::Utc::now();
    let time = |key: &str| {
        query
            .get(key)
            .filter(|t| !t.is_empty() && *t != "0")
            .map(|t| parse_time(t, now).map_err(|e| ApiError::bad(e.to_string())))
            .transpose()
    };
    let tail = match query.get("tail").unwrap_or("all") {
        "all" | "" => None,
        n => n.parse::<i64>().map_err(|_| ApiError::bad(format!("invalid tail {n:?}")))?.try_into().ok(),
    };
    let options = LogOptions {
        follow: query.flag("follow"),
        tail,
        since: time("since")?,
        until: time("until")?,
        timestamps: query.flag("timestamps"),
    };
    let (want_out, want_err) = (query.flag("stdout"), query.flag("stderr"));
    let lookup = state.clone();
    let input = id.to_owned();
    let container = blocking(move || super::containers::load_current(&lookup, &input)).await?;
    let tty = container.config.tty;
    let (tx, body) = channel();
    let busy = Activity::busy(&state);
    std::thread::spawn(move || {
        let _busy = busy;
        let path = log_path(&state.store.container_dir(&container.id));
        let live = matches!(container.state.status, Status::Running | Status::Paused);
        let running =
            || live && (is_alive(container.state.pid, container.state.pid_start_time) || supervisor_alive(&container));
        let out = FrameWriter { kind: Kind::Stdout, tty, wanted: want_out, tx: tx.clone() };
        let err = FrameWriter { kind: Kind::Stderr, tty, wanted: want_err, tx: tx.clone() };
        let mut printer = LogPrinter::new(out, err, options.timestamps);
        if let Err(e) = print_logs(&path, &options, running, &mut printer)
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            let _ = tx.blocking_send(stream::frame(Kind::System, format!("reading the log: {e}").as_bytes(), tty));
        }
    });
    Ok(super::http::streaming(if tty { stream::RAW } else { stream::MULTIPLEXED }, body))
}
