//! Running `nft`: a script on its standard input (`nft -f -`, one transaction), in the calling
//! thread's network namespace or another one. There is no fallback: without `nft` a bridge
//! network cannot be set up, and berth says so instead of running containers without NAT or
//! isolation.

use std::io::Write;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NftError {
    #[error("nft not found (looked in PATH, /usr/sbin and /sbin): install the nftables package")]
    Missing,
    #[error("running {program}: {reason}")]
    Spawn { program: String, reason: String },
    #[error("{what}: nft: {message}")]
    Failed { what: String, message: String },
    #[error("entering the network namespace to run nft: {0}")]
    #[cfg_attr(not(test), allow(dead_code))]
    Netns(nix::errno::Errno),
}

/// Where nft is: on PATH, or in the sbin directories a user's PATH often lacks.
pub fn find_nft() -> Result<PathBuf, NftError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    find_in(std::env::split_paths(&path).chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from)))
}

fn find_in(dirs: impl IntoIterator<Item = PathBuf>) -> Result<PathBuf, NftError> {
    dirs.into_iter().map(|dir| dir.join("nft")).find(|p| p.is_file()).ok_or(NftError::Missing)
}

/// The first line of nft's complaint, with the script line it names when it names one
/// ("/dev/stdin:12:1-3: Error: ...").
fn error_message(stderr: &str, script: &str) -> String {
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("failed").trim();
    let (place, message) = first.split_once("Error: ").unwrap_or(("", first));
    let at_line = place
        .strip_prefix("/dev/stdin:")
        .and_then(|rest| rest.split(':').next()?.parse::<usize>().ok())
        .and_then(|n| script.lines().nth(n.checked_sub(1)?));
    match at_line {
        Some(line) => format!("{message} (in: {line})"),
        None => message.to_owned(),
    }
}

/// Applies `script` with `nft -f -` in this thread's network namespace.
pub fn apply(script: &str, what: &str) -> Result<(), NftError> {
    let program = find_nft()?;
    let spawn_error =
        |e: std::io::Error| NftError::Spawn { program: program.display().to_string(), reason: e.to_string() };
    let mut child = Command::new(&program)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let written = child.stdin.take().expect("stdin is piped").write_all(script.as_bytes());
    let output = child.wait_with_output().map_err(spawn_error)?;
    if output.status.success() {
        return written.map_err(spawn_error);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(NftError::Failed { what: what.to_owned(), message: error_message(&stderr, script) })
}

/// Applies `script` in the network namespace `netns` (nft runs from a thread that joined it):
/// the DNS redirect in a container's namespace, applied by its supervisor.
#[cfg_attr(not(test), allow(dead_code))]
pub fn apply_in(netns: BorrowedFd<'_>, script: &str, what: &str) -> Result<(), NftError> {
    crate::sandbox::netns::in_netns(netns, || apply(script, what)).map_err(NftError::Netns)?
}

/// `nft list table FAMILY NAME` in this thread's namespace.
#[cfg(test)]
pub fn list_table(table: &str) -> Result<String, NftError> {
    let program = find_nft()?;
    let mut args = vec!["list", "table"];
    args.extend(table.split_whitespace());
    let output = Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NftError::Spawn { program: program.display().to_string(), reason: e.to_string() })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(NftError::Failed { what: format!("listing table {table}"), message: error_message(&stderr, "") });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_nft_is_an_error_that_says_what_to_install() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_in([empty.path().to_owned()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nft not found (looked in PATH, /usr/sbin and /sbin): install the nftables package"
        );
        std::fs::write(empty.path().join("nft"), "").unwrap();
        assert_eq!(find_in([empty.path().to_owned()]).unwrap(), empty.path().join("nft"));
    }

    #[test]
    fn nfts_complaints_become_one_line() {
        let stderr = "/dev/stdin:2:1-5: Error: Could not process rule: No such file or directory\nadd rule x\n^^^^^\n";
        let script = "add table inet berth\nadd rule inet berth nowhere drop\n";
        assert_eq!(
            error_message(stderr, script),
            "Could not process rule: No such file or directory (in: add rule inet berth nowhere drop)"
        );
        assert_eq!(error_message("/dev/stdin:9:1: Error: x\n", script), "x", "a line beyond the script");
        assert_eq!(error_message("Error: syntax error\n", ""), "syntax error");
        assert_eq!(error_message("", ""), "failed");
    }
}
