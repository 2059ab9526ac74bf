//! `--log-driver` and `--log-opt`: how a container's output is kept. `k8s-file` (berth's
//! default, conmon's format), `json-file` (Docker's format), or `none`; `max-size` and
//! `max-file` rotate the file. Other drivers (journald, local, syslog, …) are refused.

use std::collections::BTreeMap;

use super::logfile::{DEFAULT_MAX_SIZE, LogFormat, LogSettings};
use super::mounts::parse_size;
use super::record::ContainerConfig;

#[derive(Debug, thiserror::Error)]
pub enum LogConfigError {
    #[error("the {0} log driver is not supported by berth: use k8s-file, json-file or none")]
    Driver(String),
    #[error("invalid --log-opt {0:?}: expected KEY=VALUE")]
    Syntax(String),
    #[error("unknown log opt '{key}' for {driver} log driver")]
    UnknownOpt { key: String, driver: String },
    #[error("invalid --log-opt max-size={0:?}: expected a size such as 10m")]
    MaxSize(String),
    #[error("invalid --log-opt max-file={0:?}: max-file cannot be less than 1")]
    MaxFile(String),
    #[error("max-file cannot be set when max-size is not set")]
    MaxFileWithoutSize,
    /// Docker's answer to `logs` of a container that keeps no log.
    #[error("configured logging driver does not support reading")]
    NoReading,
}

/// Checks `--log-driver` and `--log-opt` and gives what the record keeps ("" is k8s-file).
pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<(String, BTreeMap<String, String>), LogConfigError> {
    let driver = match driver.unwrap_or("") {
        d @ ("" | "k8s-file" | "json-file" | "none") => d.to_owned(),
        other => return Err(LogConfigError::Driver(other.to_owned())),
    };
    let shown = if driver.is_empty() { "k8s-file" } else { driver.as_str() };
    let mut parsed = BTreeMap::new();
    for opt in opts {
        let (key, value) = opt.split_once('=').ok_or_else(|| LogConfigError::Syntax(opt.clone()))?;
        match key {
            "max-size" if driver != "none" => {
                parse_size(value).filter(|&s| s > 0).ok_or_else(|| LogConfigError::MaxSize(value.to_owned()))?;
            }
            "max-file" if driver != "none" => {
                value
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| LogConfigError::MaxFile(value.to_owned()))?;
            }
            _ => return Err(LogConfigError::UnknownOpt { key: key.to_owned(), driver: shown.to_owned() }),
        }
        parsed.insert(key.to_owned(), value.to_owned());
    }
    if parsed.get("max-file").is_some_and(|n| n != "1") && !parsed.contains_key("max-size") {
        return Err(LogConfigError::MaxFileWithoutSize);
    }
    Ok((driver, parsed))
}

/// What the supervisor's log writer does for a container: without options, berth's 16 MiB
/// file plus one rotated; with `max-size`, `max-file` files in all (1: the file is cut).
pub fn settings(config: &ContainerConfig) -> LogSettings {
    let host = &config.process_host;
    let format = match host.log_driver.as_str() {
        "json-file" => LogFormat::JsonFile,
        "none" => LogFormat::None,
        _ => LogFormat::K8sFile,
    };
    let max_size = host.log_opts.get("max-size").and_then(|s| parse_size(s));
    let max_files = host.log_opts.get("max-file").and_then(|n| n.parse().ok());
    LogSettings {
        format,
        max_size: max_size.unwrap_or(DEFAULT_MAX_SIZE),
        max_files: max_files.unwrap_or(if max_size.is_some() { 1 } else { 2 }),
    }
}

/// Docker's LogConfig.Type.
pub fn driver_name(config: &ContainerConfig) -> &str {
    match config.process_host.log_driver.as_str() {
        "" => "k8s-file",
        d => d,
    }
}

/// `logs` of a container whose driver keeps nothing is refused, as Docker does.
pub fn check_readable(config: &ContainerConfig) -> Result<(), LogConfigError> {
    if config.process_host.log_driver == "none" { Err(LogConfigError::NoReading) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn drivers_and_options_are_checked_as_docker_does() {
        let (driver, parsed) = parse(Some("json-file"), &opts(&["max-size=1k", "max-file=3"])).unwrap();
        assert_eq!((driver.as_str(), parsed.len()), ("json-file", 2));
        let config = |driver: &str, parsed: BTreeMap<String, String>| {
            let mut c = ContainerConfig::default();
            c.process_host.log_driver = driver.into();
            c.process_host.log_opts = parsed;
            c
        };
        let s = settings(&config(&driver, parsed));
        assert_eq!((s.format, s.max_size, s.max_files), (LogFormat::JsonFile, 1024, 3));
        let s = settings(&config("", BTreeMap::new()));
        assert_eq!((s.format, s.max_size, s.max_files), (LogFormat::K8sFile, DEFAULT_MAX_SIZE, 2));
        for (driver, o, message) in [
            (Some("journald"), &[][..], "the journald log driver is not supported"),
            (None, &["max-size"][..], "expected KEY=VALUE"),
            (None, &["color=red"][..], "unknown log opt 'color' for k8s-file log driver"),
            (Some("none"), &["max-size=1m"][..], "unknown log opt 'max-size' for none log driver"),
            (None, &["max-size=big"][..], "max-size"),
            (None, &["max-size=1m", "max-file=0"][..], "max-file cannot be less than 1"),
            (None, &["max-file=3"][..], "max-file cannot be set when max-size is not set"),
        ] {
            let err = parse(driver, &opts(o)).unwrap_err().to_string();
            assert!(err.contains(message), "{driver:?} {o:?}: {err}");
        }
    }
}
