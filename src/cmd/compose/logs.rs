//! Several containers' logs on one terminal, each line prefixed `service-1  | ` as Docker
//! Compose does; followed until every container has ended.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::container::index::supervisor_alive;
use crate::container::liveness::is_alive;
use crate::container::logfile::log_path;
use crate::container::logs::{LogOptions, LogPrinter, print_logs};
use crate::container::record::{Container, Status};
use crate::store::Store;

/// Buffers a container's output and writes whole lines, each with its prefix, under the lock
/// the containers share, so lines from two containers never interleave.
struct Prefixed {
    prefix: String,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    partial: Vec<u8>,
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            out.write_all(self.prefix.as_bytes())?;
            out.write_all(&line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if !self.partial.is_empty() {
            out.write_all(self.prefix.as_bytes())?;
            out.write_all(&std::mem::take(&mut self.partial))?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

/// `svc-1`, padded to the widest name, then `  | `.
pub fn prefixes(containers: &[Container], no_prefix: bool) -> Vec<String> {
    let label = |c: &Container| {
        let service = super::super::compose::service_label(c);
        format!("{service}-{}", crate::compose::engine::number_of(c))
    };
    let width = containers.iter().map(|c| label(c).len()).max().unwrap_or(0);
    containers.iter().map(|c| if no_prefix { String::new() } else { format!("{:width$}  | ", label(c)) }).collect()
}

/// Prints (and with `options.follow`, follows) each container's log; returns when all are done.
pub fn print_all(
    store: &Store,
    containers: &[Container],
    options: &LogOptions,
    no_prefix: bool,
) -> std::io::Result<()> {
    let out: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(Box::new(std::io::stdout())));
    let prefixes = prefixes(containers, no_prefix);
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (c, prefix) in containers.iter().zip(prefixes) {
            let out = out.clone();
            let path = log_path(&store.container_dir(&c.id));
            handles.push(scope.spawn(move || {
                let live = matches!(c.state.status, Status::Running | Status::Paused);
                let running = || live && (is_alive(c.state.pid, c.state.pid_start_time) || supervisor_alive(c));
                let stdout = Prefixed { prefix: prefix.clone(), out: out.clone(), partial: Vec::new() };
                let stderr = Prefixed { prefix, out, partial: Vec::new() };
                let mut printer = LogPrinter::new(stdout, stderr, options.timestamps);
                let result = print_logs(&path, options, running, &mut printer);
                let _ = printer.out.flush();
                let _ = printer.err.flush();
                result
            }));
        }
        for h in handles {
            match h.join() {
                Ok(Err(e)) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e),
                _ => {}
            }
        }
        Ok(())
    })
}
