//! The Dockerfile instructions that change an image's config, not its files: CMD, ENTRYPOINT,
//! ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME and WORKDIR.
//!
//! Two steps, kept apart so that a Dockerfile builder can use the second alone:
//! - [`Instruction::parse`] reads one instruction in Dockerfile form (`ENV A=1 B="two words"`,
//!   `CMD ["sh"]`), as `commit --change` and `import --change` give it. No variables are expanded
//!   and no line continuations joined: a Dockerfile parser does that first and may build an
//!   [`Instruction`] itself.
//! - [`Instruction::apply`] applies it to a [`RunConfig`], with Docker's rules (shell form through
//!   the config's SHELL, WORKDIR relative to the current one, ENTRYPOINT resetting a CMD that was
//!   not set in the same stage).

use std::fmt;

use serde_json::json;

use super::spec::{HealthConfig, RunConfig};

/// What `--change` takes (Docker's commit set: everything here but SHELL).
const CHANGE_INSTRUCTIONS: &str =
    "CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR";
/// Shell form runs through this unless a SHELL instruction said otherwise.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Why an instruction was refused, in words for the user ("EXPOSE: \"70000\": invalid port").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InstructionError(pub String);

fn bad(reason: impl Into<String>) -> InstructionError {
    InstructionError(reason.into())
}

/// A command as CMD, ENTRYPOINT and HEALTHCHECK CMD take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// `["executable", "arg"]`: run as it is.
    Exec(Vec<String>),
    /// `executable arg`: the text, run by the config's shell (`/bin/sh -c` by default).
    Shell(String),
}

impl CommandLine {
    /// Exec form when the text is a JSON array of strings, shell form otherwise (Docker's rule:
    /// `CMD [not json` is a shell command).
    pub fn parse(text: &str) -> CommandLine {
        let text = text.trim();
        match serde_json::from_str::<Vec<String>>(text) {
            Ok(list) if text.starts_with('[') => CommandLine::Exec(list),
            _ => CommandLine::Shell(text.to_owned()),
        }
    }

    /// The argv it stands for under `shell` (the config's SHELL, if any).
    fn argv(&self, shell: Option<&[String]>) -> Vec<String> {
        match self {
            CommandLine::Exec(list) => list.clone(),
            CommandLine::Shell(text) => {
                let mut argv: Vec<String> = match shell {
                    Some(shell) if !shell.is_empty() => shell.to_vec(),
                    _ => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
                };
                argv.push(text.clone());
                argv
            }
        }
    }
}

/// HEALTHCHECK's options; durations in nanoseconds, 0 for "not set" (the image then uses
/// Docker's defaults at run time).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthOptions {
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

/// One config-changing instruction, its arguments parsed (and, from a Dockerfile, expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    /// `KEY=VALUE` pairs in order; a later one replaces an earlier one of the same key.
    Env(Vec<(String, String)>),
    /// Port specs as written: "80", "53/udp", "8000-8002/tcp".
    Expose(Vec<String>),
    /// `None` is `HEALTHCHECK NONE`: no health check, not even the base image's.
    Healthcheck(Option<(CommandLine, HealthOptions)>),
    Label(Vec<(String, String)>),
    /// The trigger instruction as written after ONBUILD ("RUN make"), kept for images built on
    /// this one.
    Onbuild(String),
    /// The exec-form shell for later shell-form commands.
    Shell(Vec<String>),
    StopSignal(String),
    User(String),
    Volume(Vec<String>),
    /// Absolute, or relative to the config's current working directory.
    Workdir(String),
}

/// What the instructions applied so far to one config (one Dockerfile stage, or one commit's
/// `--change` list) did that later ones depend on: Docker resets an inherited CMD when an
/// ENTRYPOINT is set, unless a CMD was set in the same stage.
#[derive(Debug, Clone, Default)]
pub struct StageState {
    pub cmd_set: bool,
}

impl Instruction {
    /// The keyword, upper case ("CMD").
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Env(_) => "ENV",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Label(_) => "LABEL",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Workdir(_) => "WORKDIR",
        }
    }

    /// Parses one instruction in Dockerfile form. Keywords are case-insensitive; quotes and
    /// backslashes follow Dockerfile word rules. Instructions that change files (RUN, COPY, …)
    /// are refused: they are not config changes.
    pub fn parse(text: &str) -> Result<Instruction, InstructionError> {
        let trimmed = text.trim();
        let (keyword, args) = match trimmed.split_once(char::is_whitespace) {
            Some((k, a)) => (k, a.trim()),
            None => (trimmed, ""),
        };
        if keyword.is_empty() {
            return Err(bad(format!("empty instruction; expected one of {CHANGE_INSTRUCTIONS}")));
        }
        let keyword = keyword.to_ascii_uppercase();
        let known = matches!(
            keyword.as_str(),
            "CMD"
                | "ENTRYPOINT"
                | "ENV"
                | "EXPOSE"
                | "HEALTHCHECK"
                | "LABEL"
                | "ONBUILD"
                | "SHELL"
                | "STOPSIGNAL"
                | "USER"
                | "VOLUME"
                | "WORKDIR"
        );
        if !known {
            return Err(bad(format!("unsupported instruction {keyword}; expected one of {CHANGE_INSTRUCTIONS}")));
        }
        if args.is_empty() {
            return Err(bad(format!("{keyword} needs arguments")));
        }
        let with_keyword = |e: InstructionError| bad(format!("{keyword}: {e}"));
        Ok(match keyword.as_str() {
            "CMD" => Instruction::Cmd(CommandLine::parse(args)),
            "ENTRYPOINT" => Instruction::Entrypoint(CommandLine::parse(args)),
            "ENV" => Instruction::Env(key_value_pairs(args).map_err(with_keyword)?),
            "LABEL" => Instruction::Label(key_value_pairs(args).map_err(with_keyword)?),
            "EXPOSE" => Instruction::Expose(split_words(args).map_err(with_keyword)?),
            "VOLUME" => Instruction::Volume(match serde_json::from_str::<Vec<String>>(args) {
                Ok(list) => list,
                Err(_) => split_words(args).map_err(with_keyword)?,
            }),
            "WORKDIR" => Instruction::Workdir(single_word(args).map_err(with_keyword)?),
            "USER" => Instruction::User(single_word(args).map_err(with_keyword)?),
            "STOPSIGNAL" => Instruction::StopSignal(single_word(args).map_err(with_keyword)?),
            "SHELL" => match CommandLine::parse(args) {
                CommandLine::Exec(list) => Instruction::Shell(list),
                CommandLine::Shell(_) => return Err(bad("SHELL requires the arguments to be in JSON form")),
            },
            "HEALTHCHECK" => Instruction::Healthcheck(parse_healthcheck(args).map_err(with_keyword)?),
            "ONBUILD" => Instruction::Onbuild(args.to_owned()),
            _ => unreachable!("every known keyword is handled"),
        })
    }

    /// Parses a `--change` value: an instruction of Docker's commit set (all of the above but
    /// SHELL, which `docker commit` refuses too).
    pub fn parse_change(text: &str) -> Result<Instruction, InstructionError> {
        match Instruction::parse(text)? {
            Instruction::Shell(_) => {
                Err(bad(format!("unsupported instruction SHELL; --change takes {CHANGE_INSTRUCTIONS}")))
            }
            instruction => Ok(instruction),
        }
    }

    /// Applies the instruction to `config`. Checks what parsing leaves unchecked (port
    /// numbers, empty paths, ONBUILD triggers, health check durations), so an instruction made
    /// by a Dockerfile parser is held to the same rules.
    pub fn apply(&self, config: &mut RunConfig, stage: &mut StageState) -> Result<(), InstructionError> {
        let keyword = self.keyword();
        let with_keyword = |e: InstructionError| bad(format!("{keyword}: {e}"));
        match self {
            Instruction::Cmd(command) => {
                config.cmd = Some(command.argv(config.shell.as_deref()));
                stage.cmd_set = true;
            }
            Instruction::Entrypoint(command) => {
                config.entrypoint = Some(command.argv(config.shell.as_deref()));
                if !stage.cmd_set {
                    config.cmd = None;
                }
            }
            Instruction::Env(pairs) => {
                check_keys(pairs).map_err(with_keyword)?;
                for (key, value) in pairs {
                    set_env(config, key, value);
                }
            }
            Instruction::Label(pairs) => {
                check_keys(pairs).map_err(with_keyword)?;
                config.labels.get_or_insert_default().extend(pairs.iter().cloned());
            }
            Instruction::Expose(specs) => {
                let mut ports = Vec::new();
                for spec in specs {
                    ports.extend(exposed_ports(spec).map_err(with_keyword)?);
                }
                let exposed = config.exposed_ports.get_or_insert_default();
                for port in ports {
                    exposed.insert(port, json!({}));
                }
            }
            Instruction::Volume(paths) => {
                if paths.is_empty() || paths.iter().any(|p| p.trim().is_empty()) {
                    return Err(bad("VOLUME needs non-empty paths"));
                }
                let volumes = config.volumes.get_or_insert_default();
                for path in paths {
                    volumes.insert(path.clone(), json!({}));
                }
            }
            Instruction::Workdir(dir) => {
                let joined = if dir.starts_with('/') {
                    dir.clone()
                } else {
                    format!("{}/{dir}", config.working_dir.as_deref().unwrap_or("/"))
                };
                config.working_dir = Some(clean_path(&joined));
            }
            Instruction::User(user) => config.user = Some(user.clone()),
            Instruction::StopSignal(signal) => config.stop_signal = Some(signal.clone()),
            Instruction::Shell(shell) => {
                if shell.is_empty() {
                    return Err(bad("SHELL needs at least one argument"));
                }
                config.shell = Some(shell.clone());
            }
            Instruction::Onbuild(trigger) => {
                check_trigger(trigger).map_err(with_keyword)?;
                config.on_build.get_or_insert_default().push(trigger.clone());
            }
            Instruction::Healthcheck(None) => {
                config.healthcheck = Some(HealthConfig { test: vec!["NONE".into()], ..Default::default() });
            }
            Instruction::Healthcheck(Some((command, options))) => {
                config.healthcheck = Some(health_config(command, options).map_err(with_keyword)?);
            }
        }
        Ok(())
    }
}

impl fmt::Display for Instruction {
    /// The instruction in Dockerfile form, for history entries ("ENV A=1").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = |list: &[String]| serde_json::to_string(list).expect("strings serialize");
        let command = |c: &CommandLine| match c {
            CommandLine::Exec(list) => json(list),
            CommandLine::Shell(text) => text.clone(),
        };
        let pairs = |p: &[(String, String)]| {
            p.iter().map(|(k, v)| format!("{k}={}", quote_word(v))).collect::<Vec<_>>().join(" ")
        };
        let args = match self {
            Instruction::Cmd(c) | Instruction::Entrypoint(c) => command(c),
            Instruction::Env(p) | Instruction::Label(p) => pairs(p),
            Instruction::Expose(specs) => specs.join(" "),
            Instruction::Volume(paths) => json(paths),
            Instruction::Shell(list) => json(list),
            Instruction::Healthcheck(None) => "NONE".to_owned(),
            Instruction::Healthcheck(Some((c, options))) => {
                let mut flags: Vec<String> = [
                    ("interval", options.interval),
                    ("timeout", options.timeout),
                    ("start-period", options.start_period),
                    ("start-interval", options.start_interval),
                ]
                .into_iter()
                .filter(|(_, ns)| *ns != 0)
                .map(|(name, ns)| format!("--{name}={}", format_duration(ns)))
                .collect();
                if options.retries != 0 {
                    flags.push(format!("--retries={}", options.retries));
                }
                flags.push(format!("CMD {}", command(c)));
                flags.join(" ")
            }
            Instruction::Onbuild(text) => text.clone(),
            Instruction::StopSignal(s) | Instruction::User(s) | Instruction::Workdir(s) => quote_word(s),
        };
        write!(f, "{} {args}", self.keyword())
    }
}

/// Parses and applies `--change` values in order, as one stage. The error names the change.
pub fn apply_changes(config: &mut RunConfig, changes: &[String]) -> Result<(), ChangeError> {
    let mut stage = StageState::default();
    for change in changes {
        Instruction::parse_change(change)
            .and_then(|instruction| instruction.apply(config, &mut stage))
            .map_err(|reason| ChangeError { change: change.clone(), reason })?;
    }
    Ok(())
}

/// A `--change` value that was refused, and why.
#[derive(Debug, thiserror::Error)]
#[error("--change {change:?}: {reason}")]
pub struct ChangeError {
    pub change: String,
    pub reason: InstructionError,
}

fn set_env(config: &mut RunConfig, key: &str, value: &str) {
    let env = config.env.get_or_insert_default();
    let entry = format!("{key}={value}");
    match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

fn check_keys(pairs: &[(String, String)]) -> Result<(), InstructionError> {
    match pairs.iter().find(|(k, _)| k.is_empty()) {
        Some(_) => Err(bad("a key may not be empty")),
        None if pairs.is_empty() => Err(bad("expected KEY=VALUE")),
        None => Ok(()),
    }
}

/// Docker refuses these as triggers: they make no sense run in a child's build.
fn check_trigger(trigger: &str) -> Result<(), InstructionError> {
    let keyword = trigger.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
    match keyword.as_str() {
        "" => Err(bad("needs a trigger instruction")),
        "ONBUILD" => Err(bad("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")),
        "FROM" | "MAINTAINER" => Err(bad(format!("{keyword} isn't allowed as an ONBUILD trigger"))),
        _ => Ok(()),
    }
}

/// `[--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D] [--retries=N] CMD
/// command`, or `NONE` (options then ignored, as Docker does).
fn parse_healthcheck(args: &str) -> Result<Option<(CommandLine, HealthOptions)>, InstructionError> {
    let mut options = HealthOptions::default();
    let mut rest = args.trim_start();
    while let Some(flag) = rest.strip_prefix("--") {
        let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
        let (name, value) =
            flag[..end].split_once('=').ok_or_else(|| bad(format!("missing a value on flag --{}", &flag[..end])))?;
        match name {
            "interval" => options.interval = parse_duration(value, name)?,
            "timeout" => options.timeout = parse_duration(value, name)?,
            "start-period" => options.start_period = parse_duration(value, name)?,
            "start-interval" => options.start_interval = parse_duration(value, name)?,
            "retries" => {
                options.retries = value.parse().map_err(|_| bad(format!("--retries: {value:?} is not a number")))?;
            }
            other => return Err(bad(format!("unknown flag --{other}"))),
        }
        rest = flag[end..].trim_start();
    }
    let (kind, command) = match rest.split_once(char::is_whitespace) {
        Some((k, c)) => (k, c.trim()),
        None => (rest, ""),
    };
    match kind.to_ascii_uppercase().as_str() {
        "NONE" if command.is_empty() => Ok(None),
        "NONE" => Err(bad("HEALTHCHECK NONE takes no arguments")),
        "CMD" if command.is_empty() => Err(bad("missing command after HEALTHCHECK CMD")),
        "CMD" => Ok(Some((CommandLine::parse(command), options))),
        other => Err(bad(format!("unknown type {other:?} in HEALTHCHECK (try CMD)"))),
    }
}

fn health_config(command: &CommandLine, options: &HealthOptions) -> Result<HealthConfig, InstructionError> {
    const MILLISECOND: i64 = 1_000_000;
    for (name, value) in [
        ("interval", options.interval),
        ("timeout", options.timeout),
        ("start-period", options.start_period),
        ("start-interval", options.start_interval),
    ] {
        if value != 0 && value < MILLISECOND {
            return Err(bad(format!("--{name} cannot be less than 1ms")));
        }
    }
    if options.retries < 0 {
        return Err(bad(format!("--retries cannot be negative ({})", options.retries)));
    }
    let test = match command {
        CommandLine::Exec(list) if list.is_empty() => return Err(bad("missing command after HEALTHCHECK CMD")),
        CommandLine::Exec(list) => std::iter::once("CMD".to_owned()).chain(list.iter().cloned()).collect(),
        CommandLine::Shell(text) => vec!["CMD-SHELL".to_owned(), text.clone()],
    };
    Ok(HealthConfig {
        test,
        interval: options.interval,
        timeout: options.timeout,
        start_period: options.start_period,
        start_interval: options.start_interval,
        retries: options.retries,
        ..Default::default()
    })
}

/// A Go duration ("90s", "1m30s", "1.5h", "250ms", "0") in nanoseconds, as Docker's flags take
/// it; negative durations are refused.
pub fn parse_duration(text: &str, flag: &str) -> Result<i64, InstructionError> {
    let invalid = || bad(format!("--{flag}: invalid duration {text:?}"));
    if text == "0" {
        return Ok(0);
    }
    let mut rest = text;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let number: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(total.round() as i64)
}

/// Nanoseconds as the shortest exact Go duration ("90s", "250ms", "7ns").
fn format_duration(ns: i64) -> String {
    for (unit, scale) in [("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000)] {
        if ns % scale == 0 {
            return format!("{}{unit}", ns / scale);
        }
    }
    format!("{ns}ns")
}

/// A path with `.`, `..` and repeated slashes resolved lexically ("/a/./b/../c/" → "/a/c").
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `K=V K2="V 2"` pairs, or the legacy `K the rest of the line`, as ENV and LABEL take them.
fn key_value_pairs(args: &str) -> Result<Vec<(String, String)>, InstructionError> {
    let words = split_words(args)?;
    if words.first().is_some_and(|w| w.contains('=')) {
        return words
            .into_iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(bad(format!("{w:?} is not KEY=VALUE"))),
            })
            .collect();
    }
    match args.split_once(char::is_whitespace) {
        Some((key, value)) if !value.trim().is_empty() => Ok(vec![(key.to_owned(), value.trim().to_owned())]),
        _ => Err(bad("expected KEY=VALUE or KEY VALUE")),
    }
}

fn single_word(args: &str) -> Result<String, InstructionError> {
    match split_words(args)?.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(bad("expected exactly one argument")),
    }
}

/// A word quoted so that `split_words` gives it back, quoted only when it needs to be.
fn quote_word(word: &str) -> String {
    if !word.is_empty() && !word.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\')) {
        return word.to_owned();
    }
    let escaped = word.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// Splits on unquoted whitespace, removing quotes: "..." (where \ escapes), '...' (literal), and
/// \ escaping one character outside quotes — Dockerfile word rules.
pub fn split_words(args: &str) -> Result<Vec<String>, InstructionError> {
    let mut words = Vec::new();
    let mut current: Option<String> = None;
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(word) = current.take() {
                    words.push(word);
                }
            }
            '\\' => current.get_or_insert_default().push(chars.next().unwrap_or('\\')),
            '\'' => {
                let word = current.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(bad("unterminated ' quote")),
                    }
                }
            }
            '"' => {
                let word = current.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(bad("unterminated \" quote")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(bad("unterminated \" quote")),
                    }
                }
            }
            c => current.get_or_insert_default().push(c),
        }
    }
    words.extend(current);
    Ok(words)
}

/// "80", "80/udp", "8000-8002/tcp" → "80/tcp", … as Docker's ExposedPorts keys.
fn exposed_ports(word: &str) -> Result<Vec<String>, InstructionError> {
    let (ports, protocol) = word.split_once('/').unwrap_or((word, "tcp"));
    let protocol = protocol.to_ascii_lowercase();
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(format!("{word:?}: protocol must be tcp, udp or sctp")));
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad(format!("{word:?}: invalid port")));
    let (first, last) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if last < first {
        return Err(bad(format!("{word:?}: invalid port range")));
    }
    Ok((first..=last).map(|p| format!("{p}/{protocol}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(changes: &[&str]) -> Result<RunConfig, ChangeError> {
        let mut config = RunConfig::default();
        apply_changes(&mut config, &changes.iter().map(|c| c.to_string()).collect::<Vec<_>>())?;
        Ok(config)
    }

    #[test]
    fn changes_set_commands_in_exec_and_shell_form() {
        let config = changed(&[r#"CMD ["/bin/sh", "-c", "echo hi"]"#, "entrypoint /init --flag"]).unwrap();
        assert_eq!(config.cmd.unwrap(), ["/bin/sh", "-c", "echo hi"], "a CMD of the same stage survives ENTRYPOINT");
        assert_eq!(config.entrypoint.unwrap(), ["/bin/sh", "-c", "/init --flag"]);
        assert_eq!(changed(&["CMD [not json"]).unwrap().cmd.unwrap(), ["/bin/sh", "-c", "[not json"]);
    }

    #[test]
    fn an_entrypoint_resets_an_inherited_cmd() {
        let mut config = RunConfig { cmd: Some(vec!["inherited".into()]), ..Default::default() };
        apply_changes(&mut config, &[r#"ENTRYPOINT ["/ep"]"#.into()]).unwrap();
        assert_eq!((config.entrypoint.unwrap(), config.cmd), (vec!["/ep".to_owned()], None));
    }

    #[test]
    fn shell_form_uses_the_configs_shell() {
        let mut config = RunConfig::default();
        let mut stage = StageState::default();
        for text in [r#"SHELL ["/bin/bash", "-ec"]"#, "CMD make all"] {
            Instruction::parse(text).unwrap().apply(&mut config, &mut stage).unwrap();
        }
        assert_eq!(config.cmd.unwrap(), ["/bin/bash", "-ec", "make all"]);
        assert_eq!(config.shell.unwrap(), ["/bin/bash", "-ec"]);
        let refused = changed(&[r#"SHELL ["/bin/bash", "-c"]"#]).unwrap_err().to_string();
        assert!(refused.contains("unsupported instruction SHELL"), "{refused}");
        assert!(Instruction::parse("SHELL /bin/bash -c").unwrap_err().0.contains("JSON form"));
    }

    #[test]
    fn changes_set_env_labels_ports_volumes_and_the_rest() {
        let config = changed(&[
            r#"ENV A=1 B="two words" C=a\ b"#,
            "ENV PATH /usr/bin:/bin",
            "ENV A=replaced",
            r#"LABEL org.example="x y" 'k'=v"#,
            "EXPOSE 80 53/udp 8000-8001",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "WORKDIR /srv",
            "WORKDIR app/./x/..",
            "USER 1000:1000",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN make",
        ])
        .unwrap();
        assert_eq!(config.env.unwrap(), ["A=replaced", "B=two words", "C=a b", "PATH=/usr/bin:/bin"]);
        let labels = config.labels.unwrap();
        assert_eq!((labels["org.example"].as_str(), labels["k"].as_str()), ("x y", "v"));
        let ports: Vec<_> = config.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let volumes: Vec<_> = config.volumes.unwrap().into_keys().collect();
        assert_eq!(volumes, ["/cache", "/data", "/logs"]);
        assert_eq!(config.working_dir.as_deref(), Some("/srv/app"));
        assert_eq!(config.user.as_deref(), Some("1000:1000"));
        assert_eq!(config.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(config.on_build.unwrap(), ["RUN make"]);
    }

    #[test]
    fn healthchecks_take_dockers_options_and_forms() {
        let config = changed(&["HEALTHCHECK --interval=1m30s --timeout=3s --retries=2 CMD curl -f localhost"]).unwrap();
        let health = config.healthcheck.unwrap();
        assert_eq!(health.test, ["CMD-SHELL", "curl -f localhost"]);
        assert_eq!((health.interval, health.timeout, health.retries), (90_000_000_000, 3_000_000_000, 2));
        assert_eq!(health.start_period, 0);
        let json = serde_json::to_value(RunConfig {
            healthcheck: Some(HealthConfig { test: vec!["NONE".into()], ..Default::default() }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(json, serde_json::json!({"Healthcheck": {"Test": ["NONE"]}}), "unset durations are left out");
        let exec = changed(&[r#"HEALTHCHECK CMD ["/check", "-q"]"#]).unwrap().healthcheck.unwrap();
        assert_eq!(exec.test, ["CMD", "/check", "-q"]);
        assert_eq!(changed(&["healthcheck none"]).unwrap().healthcheck.unwrap().test, ["NONE"]);
        assert_eq!(parse_duration("1.5h", "t").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("250ms", "t").unwrap(), 250_000_000);
    }

    #[test]
    fn bad_changes_are_refused_with_the_reason() {
        for (change, reason) in [
            ("RUN rm -rf /", "unsupported instruction RUN"),
            ("", "empty instruction"),
            ("CMD", "needs arguments"),
            ("ENV A", "KEY=VALUE"),
            ("ENV A=1 B", "not KEY=VALUE"),
            ("EXPOSE 70000", "invalid port"),
            ("EXPOSE 80/icmp", "protocol"),
            ("LABEL a=\"open", "unterminated"),
            ("USER a b", "exactly one"),
            ("HEALTHCHECK --interval=1x CMD true", "invalid duration"),
            ("HEALTHCHECK --interval=10us CMD true", "less than 1ms"),
            ("HEALTHCHECK --retries=-1 CMD true", "negative"),
            ("HEALTHCHECK --bogus=1 CMD true", "unknown flag"),
            ("HEALTHCHECK --interval 5s CMD true", "missing a value"),
            ("HEALTHCHECK CMD", "missing command"),
            ("HEALTHCHECK RUN x", "try CMD"),
            ("HEALTHCHECK NONE x", "no arguments"),
            ("ONBUILD ONBUILD RUN x", "isn't allowed"),
            ("ONBUILD FROM x", "isn't allowed"),
            ("VOLUME [\"\"]", "non-empty"),
        ] {
            let error = changed(&[change]).unwrap_err().to_string();
            assert!(error.contains(reason), "{change:?}: {error:?} should mention {reason:?}");
            assert!(error.starts_with("--change "), "{error}");
        }
    }

    #[test]
    fn instructions_print_in_dockerfile_form_and_parse_back() {
        for text in [
            r#"CMD ["sh","-c","x"]"#,
            "ENTRYPOINT /init --flag",
            r#"ENV A=1 B="two words""#,
            "EXPOSE 80 53/udp",
            "HEALTHCHECK NONE",
            "HEALTHCHECK --interval=90s --timeout=250ms --retries=3 CMD curl -f localhost",
            "LABEL k=v",
            "ONBUILD RUN make",
            r#"SHELL ["/bin/bash","-c"]"#,
            "STOPSIGNAL SIGINT",
            "USER nobody",
            r#"VOLUME ["/data"]"#,
            r#"WORKDIR "/my dir""#,
        ] {
            let instruction = Instruction::parse(text).unwrap();
            assert_eq!(instruction.to_string(), text);
            assert_eq!(Instruction::parse(&instruction.to_string()).unwrap(), instruction);
        }
    }
}
