//! Raw nodes to typed instructions, with the argument and flag rules (and the error messages) of
//! BuildKit's `instructions/parse.go`.

use super::ast::*;
use super::chmod::Chmod;
use super::flags::{Flags, Kind};
use super::lines::{Heredoc, RawNode, parse_heredoc_marker};
use super::mount::{mount_from, parse_mount};
use super::values::parse_duration;
use super::words::Args;
use super::{DockerfileError, suggest};

const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// A typed node: the start of a stage, or an instruction.
pub(super) enum Typed {
    From { base: String, name: Option<String>, platform: Option<String> },
    Instruction(Instruction),
}

fn at_least_one(keyword: &str) -> String {
    format!("{keyword} requires at least one argument")
}

fn exactly_one(keyword: &str) -> String {
    format!("{keyword} requires exactly one argument")
}

fn no_destination(keyword: &str) -> String {
    format!("{keyword} requires at least two arguments, but only one was provided. Destination could not be determined")
}

fn one_arg(keyword: &str, args: &[String]) -> Result<String, String> {
    match args {
        [one] => Ok(one.clone()),
        _ => Err(exactly_one(keyword)),
    }
}

fn no_flags(node: &RawNode) -> Result<(), String> {
    Flags::parse(&node.flags, &[]).map(|_| ())
}

/// Types one raw node; errors carry the node's lines.
pub(super) fn type_node(node: &RawNode, escape: char) -> Result<Typed, DockerfileError> {
    type_inner(node, escape).map_err(|message| DockerfileError::new(node.lines, message))
}

fn type_inner(node: &RawNode, escape: char) -> Result<Typed, String> {
    let keyword = node.keyword.to_ascii_uppercase();
    let args = node.args.flat();
    let instruction = match keyword.as_str() {
        "FROM" => return from(node, &args),
        "RUN" => Instruction::Run(run(node)?),
        "CMD" => {
            no_flags(node)?;
            Instruction::Cmd(command_line(node))
        }
        "ENTRYPOINT" => {
            no_flags(node)?;
            Instruction::Entrypoint(command_line(node))
        }
        "SHELL" => {
            no_flags(node)?;
            match &node.args {
                Args::Json(argv) if !argv.is_empty() => Instruction::Shell(argv.clone()),
                Args::Json(_) | Args::Empty => return Err(at_least_one("SHELL")),
                _ => return Err("SHELL requires the arguments to be in JSON form".into()),
            }
        }
        "ENV" | "LABEL" => {
            no_flags(node)?;
            let Args::KeyValues(pairs) = &node.args else { return Err(at_least_one(&keyword)) };
            if pairs.iter().any(|p| p.key.is_empty()) {
                return Err(format!("{keyword} names can not be blank"));
            }
            if keyword == "ENV" { Instruction::Env(pairs.clone()) } else { Instruction::Label(pairs.clone()) }
        }
        "ARG" => {
            no_flags(node)?;
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut decls = Vec::new();
            for arg in &args {
                decls.push(match arg.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((name, value)) => ArgDecl { name: name.to_owned(), default: Some(value.to_owned()) },
                    None => ArgDecl { name: arg.clone(), default: None },
                });
            }
            Instruction::Arg(decls)
        }
        "COPY" => Instruction::Copy(copy(node, &args)?),
        "ADD" => Instruction::Add(add(node, &args)?),
        "WORKDIR" | "USER" | "MAINTAINER" | "STOPSIGNAL" => {
            no_flags(node)?;
            let value = one_arg(&keyword, &args)?;
            match keyword.as_str() {
                "WORKDIR" => Instruction::Workdir(value),
                "USER" => Instruction::User(value),
                "MAINTAINER" => Instruction::Maintainer(value),
                _ => Instruction::StopSignal(value),
            }
        }
        "VOLUME" => {
            no_flags(node)?;
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            let volumes: Vec<String> = args.iter().map(|v| v.trim().to_owned()).collect();
            if volumes.iter().any(String::is_empty) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Instruction::Volume(volumes)
        }
        "EXPOSE" => {
            no_flags(node)?;
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            let mut ports = args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "HEALTHCHECK" => Instruction::Healthcheck(healthcheck(node, &args)?),
        "ONBUILD" => Instruction::OnBuild(onbuild(node, escape)?),
        _ => {
            let upper: Vec<&str> = KEYWORDS.to_vec();
            return Err(format!("unknown instruction: {}{}", node.keyword, suggest(&keyword, &upper, "")));
        }
    };
    Ok(Typed::Instruction(instruction))
}

fn from(node: &RawNode, args: &[String]) -> Result<Typed, String> {
    let name = match args {
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            let valid = lower.starts_with(|c: char| c.is_ascii_lowercase())
                && lower.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Some(lower)
        }
        [_] => None,
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    let flags = Flags::parse(&node.flags, &[("platform", Kind::String)])?;
    Ok(Typed::From { base: args[0].clone(), name, platform: flags.string("platform") })
}

/// Shell or exec form; for shell form the words are joined back with single spaces.
fn command_line(node: &RawNode) -> CommandLine {
    match &node.args {
        Args::Json(argv) => CommandLine::Exec(argv.clone()),
        args => CommandLine::Shell(args.flat().join(" ")),
    }
}

fn run(node: &RawNode) -> Result<Run, String> {
    let flags =
        Flags::parse(&node.flags, &[("mount", Kind::List), ("network", Kind::String), ("security", Kind::String)])?;
    let network = match flags.string("network").as_deref() {
        None | Some("default") => Network::Default,
        Some("none") => Network::None,
        Some("host") => Network::Host,
        Some(other) => return Err(format!("invalid network mode {other:?}")),
    };
    let security = match flags.string("security").as_deref() {
        None | Some("sandbox") => Security::Sandbox,
        Some("insecure") => Security::Insecure,
        Some(other) => return Err(format!("security {other:?} is not valid")),
    };
    let mut mounts = Vec::new();
    for text in flags.list("mount") {
        let from = mount_from(&text)?;
        if !text.contains('$') {
            // Nothing to expand: check it all now, so the error names this line.
            parse_mount(&text, &mut |v| Ok(v.to_owned()), "/")?;
        }
        mounts.push(Mount { text, from });
    }
    Ok(Run { command: command_line(node), heredocs: node.heredocs.clone(), mounts, network, security })
}

/// COPY and ADD: the last argument is the destination; heredoc markers among the sources become
/// inline files.
fn sources_and_dest(
    keyword: &str,
    args: &[String],
    heredocs: &[Heredoc],
) -> Result<(Vec<String>, Vec<InlineSource>, String), String> {
    let Some((dest, sources)) = args.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(no_destination(keyword));
    };
    if parse_heredoc_marker(dest).ok().flatten().is_some() {
        return Err(format!("{keyword} cannot accept a heredoc as a destination"));
    }
    let mut paths = Vec::new();
    let mut inline = Vec::new();
    for source in sources {
        match parse_heredoc_marker(source).ok().flatten() {
            Some(marker) => {
                let doc = heredocs.iter().find(|d| d.name == marker.name);
                let content = doc.map(|d| Heredoc { chomp: marker.chomp, ..d.clone() }.body()).unwrap_or_default();
                inline.push(InlineSource { name: marker.name, content, expand: marker.expand });
            }
            None => paths.push(source.clone()),
        }
    }
    Ok((paths, inline, dest.clone()))
}

/// A literal `--chmod` is checked now; one with a variable after expansion.
fn chmod_flag(value: Option<String>) -> Result<Option<String>, String> {
    if let Some(v) = value.as_deref().filter(|v| !v.contains('$')) {
        Chmod::parse(v)?;
    }
    Ok(value.filter(|v| !v.is_empty()))
}

fn copy(node: &RawNode, args: &[String]) -> Result<Copy, String> {
    if args.len() < 2 {
        return Err(no_destination("COPY"));
    }
    let flags = Flags::parse(
        &node.flags,
        &[
            ("chown", Kind::String),
            ("from", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("exclude", Kind::List),
            ("parents", Kind::Bool),
        ],
    )?;
    let (sources, inline, dest) = sources_and_dest("COPY", args, &node.heredocs)?;
    let from = flags.string("from").filter(|f| !f.is_empty());
    if from.as_deref().is_some_and(|f| f.contains('$')) {
        return Err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".into());
    }
    Ok(Copy {
        sources,
        inline,
        dest,
        from,
        chown: flags.string("chown").filter(|c| !c.is_empty()),
        chmod: chmod_flag(flags.string("chmod"))?,
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        excludes: flags.list("exclude"),
    })
}

fn add(node: &RawNode, args: &[String]) -> Result<Add, String> {
    if args.len() < 2 {
        return Err(no_destination("ADD"));
    }
    let flags = Flags::parse(
        &node.flags,
        &[
            ("chown", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::String),
            ("unpack", Kind::Bool),
            ("exclude", Kind::List),
        ],
    )?;
    let (sources, inline, dest) = sources_and_dest("ADD", args, &node.heredocs)?;
    let checksum = flags.string("checksum").filter(|c| !c.is_empty());
    if checksum.is_some() && sources.len() != 1 {
        return Err("checksum can't be specified for multiple sources".into());
    }
    Ok(Add {
        sources,
        inline,
        dest,
        chown: flags.string("chown").filter(|c| !c.is_empty()),
        chmod: chmod_flag(flags.string("chmod"))?,
        link: flags.bool("link").unwrap_or(false),
        keep_git_dir: flags.bool("keep-git-dir"),
        checksum,
        unpack: flags.bool("unpack"),
        excludes: flags.list("exclude"),
    })
}

fn interval(flags: &Flags, name: &str) -> Result<Option<std::time::Duration>, String> {
    let Some(text) = flags.string(name).filter(|t| !t.is_empty()) else { return Ok(None) };
    let duration = parse_duration(&text)?;
    if !duration.is_zero() && duration < std::time::Duration::from_millis(1) {
        return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
    }
    Ok(if duration.is_zero() { None } else { Some(duration) })
}

fn healthcheck(node: &RawNode, args: &[String]) -> Result<Healthcheck, String> {
    let Some((kind, rest)) = args.split_first() else { return Err(at_least_one("HEALTHCHECK")) };
    let kind = kind.to_ascii_uppercase();
    if kind == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    let flags = Flags::parse(
        &node.flags,
        &[
            ("interval", Kind::String),
            ("timeout", Kind::String),
            ("start-period", Kind::String),
            ("start-interval", Kind::String),
            ("retries", Kind::String),
        ],
    )?;
    if kind != "CMD" {
        return Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)"));
    }
    let test = match &node.args {
        Args::Health { command, .. } if command.is_json() => {
            let argv = command.flat();
            if argv.is_empty() {
                return Err("Missing command after HEALTHCHECK CMD".into());
            }
            std::iter::once("CMD".to_owned()).chain(argv).collect()
        }
        _ if rest.is_empty() => return Err("Missing command after HEALTHCHECK CMD".into()),
        _ => vec!["CMD-SHELL".to_owned(), rest.join(" ")],
    };
    let retries = match flags.string("retries").filter(|r| !r.is_empty()) {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n < 0 => return Err(format!("--retries cannot be negative ({n})")),
            Ok(n) => Some(u32::try_from(n).map_err(|_| format!("--retries out of range: {text}"))?),
            Err(_) => return Err(format!("invalid --retries value: {text}")),
        },
    };
    Ok(Healthcheck::Check(HealthcheckConfig {
        test,
        interval: interval(&flags, "interval")?,
        timeout: interval(&flags, "timeout")?,
        start_period: interval(&flags, "start-period")?,
        start_interval: interval(&flags, "start-interval")?,
        retries,
    }))
}

fn onbuild(node: &RawNode, escape: char) -> Result<OnBuild, String> {
    no_flags(node)?;
    let Args::Sub(inner) = &node.args else { return Err(at_least_one("ONBUILD")) };
    let trigger = inner.keyword.to_ascii_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "FROM" | "MAINTAINER" => return Err(format!("{trigger} isn't allowed as an ONBUILD trigger")),
        _ => {}
    }
    // The expression is the line without the ONBUILD keyword, heredoc bodies appended, the way
    // the image config stores it for a later build to parse again.
    let original = node.original.trim_start();
    let mut expression = original[node.keyword.len()..].trim_start().to_owned();
    for doc in &node.heredocs {
        expression.push('\n');
        expression.push_str(&doc.content);
        expression.push_str(&doc.name);
    }
    let mut inner = (**inner).clone();
    inner.heredocs = node.heredocs.clone();
    let Typed::Instruction(instruction) = type_inner(&inner, escape)? else {
        return Err("FROM isn't allowed as an ONBUILD trigger".into());
    };
    let trigger = Located { lines: node.lines, source: expression.clone(), instruction };
    Ok(OnBuild { expression, trigger: Box::new(trigger) })
}

/// Parses an ONBUILD trigger stored in an image config (a whole instruction, heredocs included).
pub fn parse_trigger(expression: &str, escape: char, lines: super::Lines) -> Result<Located, DockerfileError> {
    let scanned = super::lines::scan(expression).map_err(|e| DockerfileError::new(lines, e.message))?;
    let [node] = scanned.nodes.as_slice() else {
        return Err(DockerfileError::new(lines, "onbuild trigger should be a single expression".into()));
    };
    let node = RawNode { lines, ..node.clone() };
    match type_node(&node, escape)? {
        Typed::Instruction(instruction @ (Instruction::OnBuild(_) | Instruction::Maintainer(_))) => {
            Err(DockerfileError::new(lines, format!("{} isn't allowed as an ONBUILD trigger", instruction.keyword())))
        }
        Typed::Instruction(instruction) => Ok(Located { lines, source: node.original.trim().to_owned(), instruction }),
        Typed::From { .. } => Err(DockerfileError::new(lines, "FROM isn't allowed as an ONBUILD trigger".into())),
    }
}
