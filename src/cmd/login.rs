//! `berth login`: check credentials against a registry and keep them in berth's auth file
//! (Docker's format), or print the user name kept for a registry.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

use super::Ctx;
use crate::image::registry::CredentialSource;
use crate::image::registry::auth::{self, normalize_registry};
use crate::image::registry::login_probe::{LoginError, verify_credentials};
use crate::image::registry::reference::DOCKER_HUB;

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// User name
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (visible to other users in the process list: prefer --password-stdin)
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Credentials file to read and write (default: $REGISTRY_AUTH_FILE, else
    /// ~/.config/berth/auth.json)
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Print the user name logged in to the registry, and nothing else
    #[arg(long, conflicts_with_all = ["username", "password", "password_stdin"])]
    pub get_login: bool,
    /// Verify the registry's TLS certificate; false also allows plain HTTP (Podman's)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    /// Registry to log in to (default: docker.io)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

pub fn run(ctx: &Ctx, args: LoginArgs) -> Result<u8> {
    let server = normalize_registry(args.server.as_deref().unwrap_or(DOCKER_HUB));
    let trusting;
    let ctx = if args.tls_verify {
        ctx
    } else {
        trusting = ctx.without_tls_verify(&format!("{server}/x"));
        &trusting
    };
    let authfile = args.authfile.as_deref();
    if args.get_login {
        return print_login(&server, authfile);
    }
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    log_in(ctx, &args, &server).with_context(|| format!("logging in to {server}"))?;
    println!("Login Succeeded");
    Ok(0)
}

fn print_login(server: &str, authfile: Option<&Path>) -> Result<u8> {
    let found =
        CredentialSource::new(authfile).find(server).with_context(|| format!("reading credentials for {server}"))?;
    match found.filter(|c| !c.username.is_empty()) {
        Some(credentials) => {
            println!("{}", credentials.username);
            Ok(0)
        }
        None => bail!("not logged in to {server}"),
    }
}

fn log_in(ctx: &Ctx, args: &LoginArgs, server: &str) -> Result<()> {
    let authfile = args.authfile.as_deref();
    let stored = CredentialSource::new(authfile).find(server)?;
    let nothing_given = args.username.is_none() && args.password.is_none() && !args.password_stdin;
    if nothing_given && let Some(existing) = stored.clone() {
        // Like Docker: credentials already on file are tried before anyone is asked for new ones.
        println!("Authenticating with existing credentials...");
        let (user, password) = existing.into_basic();
        match verify(ctx, server, &user, &password) {
            Ok(()) => return Ok(()),
            Err(e) if is_unauthorized(&e) => println!("Existing credentials are invalid: {e:#}"),
            Err(e) => return Err(e),
        }
    }
    let stored_user = stored.map(|c| c.username).filter(|u| !u.is_empty());
    let (user, password) = gather_credentials(args, stored_user.as_deref())?;
    verify(ctx, server, &user, &password)?;
    auth::store_credentials(authfile, server, &user, &password)?;
    Ok(())
}

fn is_unauthorized(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.downcast_ref::<LoginError>().is_some_and(LoginError::is_unauthorized))
}

/// Asks the registry whether it accepts `user`/`password`.
fn verify(ctx: &Ctx, server: &str, user: &str, password: &str) -> Result<()> {
    Ok(verify_credentials(&ctx.settings, server, user, password)?)
}

/// The user name and password from the flags, standard input, or the terminal, in that order.
fn gather_credentials(args: &LoginArgs, stored_user: Option<&str>) -> Result<(String, String)> {
    let mut terminal = None;
    let user = match &args.username {
        Some(user) => user.trim().to_owned(),
        None => {
            let tty = terminal.insert(open_terminal()?);
            let prompt = match stored_user {
                Some(stored) => format!("Username ({stored}): "),
                None => "Username: ".to_owned(),
            };
            let typed = prompt_line(tty, &prompt)?;
            let typed = typed.trim();
            if typed.is_empty() { stored_user.unwrap_or_default().to_owned() } else { typed.to_owned() }
        }
    };
    if user.is_empty() {
        bail!("a user name is required");
    }
    let password = match (&args.password, args.password_stdin) {
        (Some(password), _) => password.clone(),
        (None, true) => read_password_from_stdin()?,
        (None, false) => {
            let tty = match terminal.as_mut() {
                Some(tty) => tty,
                None => terminal.insert(open_terminal()?),
            };
            prompt_hidden(tty, "Password: ")?
        }
    };
    if password.is_empty() {
        bail!("a password is required");
    }
    Ok((user, password))
}

/// Docker's rule: the password is all of standard input but one final line ending.
fn read_password_from_stdin() -> Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading the password from standard input")?;
    let input = input.strip_suffix('\n').unwrap_or(&input);
    Ok(input.strip_suffix('\r').unwrap_or(input).to_owned())
}

/// The controlling terminal, for prompting; only when standard input is one too, so a script
/// with redirected input fails instead of waiting for someone to type.
fn open_terminal() -> Result<File> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for credentials on: give --username and --password-stdin");
    }
    File::options().read(true).write(true).open("/dev/tty").context("opening the terminal /dev/tty")
}

fn prompt_line(tty: &mut File, prompt: &str) -> Result<String> {
    tty.write_all(prompt.as_bytes()).and_then(|()| tty.flush()).context("writing to the terminal")?;
    let mut line = String::new();
    let read = BufReader::new(&*tty).read_line(&mut line).context("reading from the terminal")?;
    if read == 0 {
        let _ = tty.write_all(b"\n");
        bail!("no input (end of file on the terminal)");
    }
    let line = line.strip_suffix('\n').unwrap_or(&line);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_owned())
}

/// Reads a line with echo off; the terminal's settings come back however this returns.
fn prompt_hidden(tty: &mut File, prompt: &str) -> Result<String> {
    let _echo_off = EchoOff::new(tty).context("turning terminal echo off")?;
    prompt_line(tty, prompt)
}

/// Terminal echo switched off (Enter still echoes, so the cursor moves on), restored on drop.
struct EchoOff {
    tty: File,
    saved: Termios,
}

impl EchoOff {
    fn new(tty: &File) -> Result<EchoOff> {
        let tty = tty.try_clone()?;
        let saved = termios::tcgetattr(&tty)?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        termios::tcsetattr(&tty, SetArg::TCSANOW, &quiet)?;
        Ok(EchoOff { tty, saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.tty, SetArg::TCSANOW, &self.saved);
    }
}
