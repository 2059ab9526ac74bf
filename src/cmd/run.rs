use anyhow::Result;
use clap::Args;

use super::Ctx;
use super::create::{CreateArgs, create_container};
use crate::container::attach::{AttachEnd, AttachOptions, DEFAULT_DETACH_KEYS, attach};
use crate::container::start::start;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run in the background and print the container id
    #[arg(short, long)]
    pub detach: bool,
    /// Key sequence for detaching (default ctrl-p,ctrl-q)
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Forward signals received by berth to the container
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    /// Attach to STDIN, STDOUT or STDERR (repeatable; default: STDOUT and STDERR, STDIN with -i)
    #[arg(short = 'a', long = "attach", value_name = "STREAM")]
    pub attach: Vec<String>,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// Docker's detach-key syntax: comma-separated `ctrl-X` or single characters.
pub fn parse_detach_keys(keys: Option<&str>) -> Result<Vec<u8>> {
    let Some(keys) = keys else { return Ok(DEFAULT_DETACH_KEYS.to_vec()) };
    keys.split(',')
        .map(|k| {
            let k = k.trim();
            if let Some(c) = k.strip_prefix("ctrl-") {
                let c = c.as_bytes();
                if c.len() == 1 && (c[0].is_ascii_alphabetic() || b"@[\\]^_".contains(&c[0])) {
                    return Ok(c[0].to_ascii_uppercase() & 0x1f);
                }
            } else if k.len() == 1 {
                return Ok(k.as_bytes()[0]);
            }
            anyhow::bail!("invalid detach keys {keys:?}: use e.g. ctrl-p,ctrl-q")
        })
        .collect()
}

/// Relays the terminal to a started container until it exits; returns its exit code, or 0
/// after a detach.
pub fn attach_until_exit(
    started: crate::container::start::Started,
    stdin: bool,
    tty: bool,
    sig_proxy: bool,
    detach_keys: Vec<u8>,
) -> Result<u8> {
    attach_streams_until_exit(started, Streams { stdin, stdout: true, stderr: true }, tty, sig_proxy, detach_keys)
}

/// Which of the container's streams a `run` relays (`-a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Docker's `-a STREAM` list (any case); none given: stdout and stderr, and stdin with `-i`.
pub fn parse_streams(attach: &[String], interactive: bool) -> Result<Streams> {
    if attach.is_empty() {
        return Ok(Streams { stdin: interactive, stdout: true, stderr: true });
    }
    let mut streams = Streams { stdin: false, stdout: false, stderr: false };
    for name in attach {
        match name.to_ascii_lowercase().as_str() {
            "stdin" => streams.stdin = true,
            "stdout" => streams.stdout = true,
            "stderr" => streams.stderr = true,
            _ => anyhow::bail!(
                "invalid argument {name:?} for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
            ),
        }
    }
    Ok(streams)
}

fn attach_streams_until_exit(
    started: crate::container::start::Started,
    streams: Streams,
    tty: bool,
    sig_proxy: bool,
    detach_keys: Vec<u8>,
) -> Result<u8> {
    let options = AttachOptions {
        stdin: streams.stdin,
        tty,
        proxy_signals_to: sig_proxy.then_some(started.pid),
        detach_keys,
        stdout: streams.stdout,
        stderr: streams.stderr,
    };
    match attach(started.connection, &options)? {
        AttachEnd::Exited(code) => Ok(code.clamp(0, 255) as u8),
        AttachEnd::Detached => Ok(0),
        AttachEnd::Lost => anyhow::bail!("lost the connection to the container's supervisor"),
    }
}

pub fn run(ctx: &Ctx, args: RunArgs) -> Result<u8> {
    let detach_keys = parse_detach_keys(args.detach_keys.as_deref())?;
    let streams = parse_streams(&args.attach, args.create.interactive)?;
    if args.detach && !args.attach.is_empty() {
        anyhow::bail!("Conflicting options: -a and -d");
    }
    let container = create_container(ctx, &args.create)?;
    let store = ctx.store()?;
    let started = start(store, &container)?;
    if args.detach {
        println!("{}", container.id);
        return Ok(0);
    }
    attach_streams_until_exit(started, streams, args.create.tty, args.sig_proxy, detach_keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_dockers() {
        assert_eq!(parse_detach_keys(None).unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse_detach_keys(Some("ctrl-a,x")).unwrap(), vec![0x01, b'x']);
        assert!(parse_detach_keys(Some("ctrl-")).is_err());
    }

    #[test]
    fn attach_streams_parse_like_dockers() {
        let all = Streams { stdin: true, stdout: true, stderr: true };
        assert_eq!(parse_streams(&[], true).unwrap(), all);
        assert_eq!(parse_streams(&[], false).unwrap(), Streams { stdin: false, ..all });
        let some = parse_streams(&["STDOUT".into(), "stdin".into()], false).unwrap();
        assert_eq!(some, Streams { stdin: true, stdout: true, stderr: false });
        let err = parse_streams(&["stdlog".into()], false).unwrap_err().to_string();
        assert!(err.contains("valid streams are STDIN, STDOUT and STDERR"), "{err}");
    }
}
