//! Pull progress: per-layer bars with bytes and speed on a terminal, one line per finished layer
//! otherwise, nothing when quiet.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub enum Progress {
    Quiet,
    Lines,
    Bars(MultiProgress),
}

pub enum LayerProgress {
    Quiet,
    Line { short: String, started: Instant },
    Bar(ProgressBar),
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)))
        } else {
            Progress::Lines
        }
    }

    pub fn message(&self, text: &str) {
        match self {
            Progress::Quiet => {}
            Progress::Lines => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
            Progress::Bars(multi) => {
                let _ = multi.println(text);
            }
        }
    }

    /// A warning: shown even when quiet, as `berth: warning: TEXT`.
    pub fn warning(&self, text: &str) {
        let line = format!("berth: warning: {text}");
        match self {
            Progress::Quiet | Progress::Lines => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            Progress::Bars(multi) => {
                let _ = multi.println(line);
            }
        }
    }

    pub fn layer(&self, digest: &str, size: u64) -> LayerProgress {
        let short = short_digest(digest);
        match self {
            Progress::Quiet => LayerProgress::Quiet,
            Progress::Lines => LayerProgress::Line { short, started: Instant::now() },
            Progress::Bars(multi) => {
                let bar = multi.add(ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} {bar:30} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {msg}",
                    )
                    .expect("valid template"),
                );
                bar.set_prefix(short);
                LayerProgress::Bar(bar)
            }
        }
    }
}

impl LayerProgress {
    pub fn advance(&self, bytes: u64) {
        if let LayerProgress::Bar(bar) = self {
            bar.inc(bytes);
        }
    }

    pub fn restart_at(&self, position: u64) {
        if let LayerProgress::Bar(bar) = self {
            bar.set_position(position);
        }
    }

    pub fn finish(&self, what: &str, bytes: u64) {
        match self {
            LayerProgress::Quiet => {}
            LayerProgress::Line { short, started } => {
                let secs = started.elapsed().as_secs_f64();
                let _ = writeln!(std::io::stderr(), "{short}: {what} ({}, {:.1}s)", human_size(bytes), secs);
            }
            LayerProgress::Bar(bar) => bar.finish_with_message(what.to_owned()),
        }
    }
}

pub fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex[..hex.len().min(12)].to_owned()
}

/// Sizes as Docker prints them: decimal units, three significant digits.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{:.3}", value).trim_end_matches('0').trim_end_matches('.').to_owned() + UNITS[unit]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(super::human_size(999), "999B");
        assert_eq!(super::human_size(4_260_000), "4.26MB");
        assert_eq!(super::human_size(150_000_000), "150MB");
    }
}
