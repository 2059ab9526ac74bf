//! Rootless: enter a user namespace that maps the caller to root and the caller's subordinate ids
//! to 1..N, so that files in the store carry the ids the images asked for (shifted into the
//! subordinate range on disk), the same mapping on every call.
//!
//! This must run before any thread exists: `unshare(CLONE_NEWUSER)` fails in a threaded process.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::Command;

use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, fork, getgid, getuid};

/// Set in the environment of a process that runs inside berth's user namespace.
pub const IN_USERNS_ENV: &str = "_BERTH_IN_USERNS";

/// True when berth runs for an unprivileged user: not root, or already inside berth's user
/// namespace (where it is root, but only there).
pub fn is_rootless() -> bool {
    !nix::unistd::geteuid().is_root() || std::env::var_os(IN_USERNS_ENV).is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("creating a user namespace: {0}")]
    Unshare(nix::Error),
    #[error("fork: {0}")]
    Fork(nix::Error),
    #[error("{tool} failed: {detail}")]
    IdMap { tool: &'static str, detail: String },
    #[error("writing {path}")]
    Write { path: String, source: std::io::Error },
}

/// One line of /etc/subuid or /etc/subgid that applies to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubordinateRange {
    pub start: u32,
    pub count: u32,
}

/// How ids are mapped in berth's user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdMapping {
    /// Caller → 0, subordinate range → 1..=count.
    Subordinate { uids: SubordinateRange, gids: SubordinateRange },
    /// Only the caller's own id → 0 (no subordinate ids configured, or no newuidmap).
    SingleId,
}

impl IdMapping {
    pub fn describe(&self) -> String {
        match self {
            IdMapping::Subordinate { uids, gids } => format!(
                "0:{}:1 1:{}:{} (uids), 0:{}:1 1:{}:{} (gids)",
                getuid(),
                uids.start,
                uids.count,
                getgid(),
                gids.start,
                gids.count
            ),
            IdMapping::SingleId => format!(
                "0:{}:1 only (no subordinate ids for this user: images with other owners cannot be unpacked faithfully)",
                getuid()
            ),
        }
    }
}

fn user_name() -> Option<String> {
    nix::unistd::User::from_uid(getuid()).ok().flatten().map(|u| u.name)
}

/// Parses /etc/subuid-style text for the first range that names this user (by name or id).
pub fn parse_subordinate_ids(text: &str, name: Option<&str>, id: u32) -> Option<SubordinateRange> {
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let owner = parts.next()?;
        let start: u32 = parts.next()?.trim().parse().ok()?;
        let count: u32 = parts.next()?.trim().parse().ok()?;
        let mine = Some(owner) == name || owner.parse::<u32>().ok() == Some(id);
        (mine && count > 0).then_some(SubordinateRange { start, count })
    })
}

fn has_tool(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(name).is_file()))
}

/// The mapping this caller gets: the subordinate ranges when both files name the user and the
/// setuid helpers exist, otherwise the single-id fallback.
pub fn mapping_for_caller() -> IdMapping {
    let name = user_name();
    let read = |path| fs::read_to_string(path).unwrap_or_default();
    let uids = parse_subordinate_ids(&read("/etc/subuid"), name.as_deref(), getuid().as_raw());
    let gids = parse_subordinate_ids(&read("/etc/subgid"), name.as_deref(), getgid().as_raw());
    match (uids, gids) {
        (Some(uids), Some(gids)) if has_tool("newuidmap") && has_tool("newgidmap") => {
            IdMapping::Subordinate { uids, gids }
        }
        _ => IdMapping::SingleId,
    }
}

/// Starts `newuidmap`/`newgidmap` for `pid`: caller → 0, the subordinate range → 1..count.
fn start_id_tool(
    tool: &'static str,
    pid: Pid,
    own: u32,
    range: SubordinateRange,
) -> Result<std::process::Child, UsernsError> {
    Command::new(tool)
        .args([
            pid.to_string(),
            "0".into(),
            own.to_string(),
            "1".into(),
            "1".into(),
            range.start.to_string(),
            range.count.to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| UsernsError::IdMap { tool, detail: e.to_string() })
}

fn finish_id_tool(tool: &'static str, child: std::process::Child) -> Result<(), UsernsError> {
    let out = child.wait_with_output().map_err(|e| UsernsError::IdMap { tool, detail: e.to_string() })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(UsernsError::IdMap { tool, detail: String::from_utf8_lossy(&out.stderr).trim().to_owned() })
    }
}

/// Writes both id maps of `pid`, the two setuid helpers running at the same time.
fn map_subordinate_ids(
    pid: Pid,
    uid: Uid,
    gid: Gid,
    uids: SubordinateRange,
    gids: SubordinateRange,
) -> Result<(), UsernsError> {
    let uid_tool = start_id_tool("newuidmap", pid, uid.as_raw(), uids)?;
    let gid_tool = start_id_tool("newgidmap", pid, gid.as_raw(), gids);
    let uid_result = finish_id_tool("newuidmap", uid_tool);
    uid_result.and(gid_tool.and_then(|t| finish_id_tool("newgidmap", t)))
}

fn write_proc(path: String, text: &str) -> Result<(), UsernsError> {
    fs::write(&path, text).map_err(|source| UsernsError::Write { path, source })
}

fn map_single_id(uid: Uid, gid: Gid) -> Result<(), UsernsError> {
    write_proc("/proc/self/setgroups".into(), "deny")?;
    write_proc("/proc/self/gid_map".into(), &format!("0 {gid} 1\n"))?;
    write_proc("/proc/self/uid_map".into(), &format!("0 {uid} 1\n"))
}

fn pipe_pair() -> Result<(OwnedFd, OwnedFd), UsernsError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(UsernsError::Fork)
}

/// Forks; the child enters a new user (and mount) namespace with `mapping`, becomes root in it
/// and returns `Ok(())` to continue running the command there. The parent waits for the child
/// and exits with its status, so this returns only in the child. Must be called while the
/// process has a single thread.
pub fn continue_in_user_namespace(mapping: &IdMapping) -> Result<(), UsernsError> {
    let (uid, gid) = (getuid(), getgid());
    let (child_ready_r, child_ready_w) = pipe_pair()?;
    let (mapped_r, mapped_w) = pipe_pair()?;
    // SAFETY: the caller guarantees the process is single-threaded, so the child may run
    // arbitrary code after fork.
    match unsafe { fork() }.map_err(UsernsError::Fork)? {
        ForkResult::Child => {
            drop(child_ready_r);
            drop(mapped_w);
            unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(UsernsError::Unshare)?;
            let mut ready = fs::File::from(child_ready_w);
            let _ = ready.write_all(b"1");
            drop(ready);
            match mapping {
                IdMapping::SingleId => map_single_id(uid, gid)?,
                IdMapping::Subordinate { .. } => {
                    let mut status = [0u8; 1];
                    let _ = fs::File::from(mapped_r).read_exact(&mut status);
                    if status[0] != b'1' {
                        // The parent reports the reason; this child only has to stop.
                        std::process::exit(super::EXIT_SETUP);
                    }
                }
            }
            nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
                .map_err(UsernsError::Unshare)?;
            nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
                .map_err(UsernsError::Unshare)?;
            // SAFETY: single-threaded (see above), so nothing reads the environment concurrently.
            unsafe { std::env::set_var(IN_USERNS_ENV, "1") };
            Ok(())
        }
        ForkResult::Parent { child } => {
            drop(child_ready_w);
            drop(mapped_r);
            let mut byte = [0u8; 1];
            let _ = fs::File::from(child_ready_r).read_exact(&mut byte);
            let mut mapped = fs::File::from(mapped_w);
            if let IdMapping::Subordinate { uids, gids } = mapping {
                let result = map_subordinate_ids(child, uid, gid, *uids, *gids);
                let _ = mapped.write_all(if result.is_ok() { b"1" } else { b"0" });
                if let Err(e) = result {
                    let _ = waitpid(child, None);
                    return Err(e);
                }
            }
            drop(mapped);
            std::process::exit(wait_for_exit_code(child))
        }
    }
}

/// Waits for `child` and turns its end into a shell-style exit code (128+signal for a signal).
/// Ignores SIGINT/SIGTERM meanwhile: the child, in the same process group, gets them too and
/// decides how to end.
fn wait_for_exit_code(child: Pid) -> i32 {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT] {
        // SAFETY: SIG_IGN installs no handler code.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Err(nix::Error::EINTR) => continue,
            Ok(_) => continue,
            Err(_) => return super::EXIT_SETUP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_callers_range_by_name_or_id() {
        let text = "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n";
        assert_eq!(
            parse_subordinate_ids(text, Some("alice"), 5),
            Some(SubordinateRange { start: 100000, count: 65536 })
        );
        assert_eq!(
            parse_subordinate_ids(text, Some("carol"), 1001),
            Some(SubordinateRange { start: 200000, count: 1000 })
        );
        assert_eq!(parse_subordinate_ids(text, Some("bob"), 7), None);
        assert_eq!(parse_subordinate_ids("garbage\n::\n", Some("x"), 1), None);
    }
}

/// `--userns keep-id` maps for a container inside berth's user namespace, whose own maps are
/// `own_uid_map` / `own_gid_map` (the text of /proc/self/uid_map, gid_map there): the caller's id
/// stays the same id inside, the ids below it come from the subordinate range, the rest map to
/// themselves. None when berth's namespace has no subordinate range or the id is too large.
pub fn keep_id_maps(own_uid_map: &str, own_gid_map: &str) -> Option<KeepIdMaps> {
    Some(KeepIdMaps { uid_map: keep_id_map(own_uid_map)?, gid_map: keep_id_map(own_gid_map)? })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepIdMaps {
    pub uid_map: String,
    pub gid_map: String,
}

/// The caller's own host ids (uid, gid), which a `--userns keep-id` container runs as by
/// default: read from the maps inside berth's user namespace (where they are id 0), this
/// process's ids outside it. The one answer for the supervisor and `exec` alike.
pub fn caller_ids() -> (u64, u64) {
    let read = |file| std::fs::read_to_string(file).unwrap_or_default();
    let uid = mapped_caller(&read("/proc/self/uid_map")).unwrap_or(u64::from(nix::unistd::getuid().as_raw()));
    let gid = mapped_caller(&read("/proc/self/gid_map")).unwrap_or(u64::from(nix::unistd::getgid().as_raw()));
    (uid, gid)
}

fn map_rows(own_map: &str) -> Vec<Vec<u64>> {
    own_map
        .lines()
        .map(|l| l.split_whitespace().filter_map(|f| f.parse().ok()).collect())
        .filter(|r: &Vec<u64>| r.len() == 3)
        .collect()
}

/// The host id berth's user namespace maps to its id 0 alone; None outside it.
fn mapped_caller(own_map: &str) -> Option<u64> {
    Some(map_rows(own_map).iter().find(|r| r[0] == 0 && r[2] == 1)?[1])
}

/// One map: berth's namespace has id 0 = the caller's host id `U`, and 1..=N = subordinate ids.
/// Inside: 0..U → 1..=U, U → 0, U+1..=N → themselves.
fn keep_id_map(own_map: &str) -> Option<String> {
    let caller = mapped_caller(own_map)?;
    let subordinate = map_rows(own_map).iter().find(|r| r[0] == 1)?[2];
    if caller == 0 || caller > subordinate {
        return None;
    }
    let mut map = format!("0 1 {caller}\n{caller} 0 1\n");
    if subordinate > caller {
        map.push_str(&format!("{} {} {}\n", caller + 1, caller + 1, subordinate - caller));
    }
    Some(map)
}

#[cfg(test)]
mod keep_id_tests {
    use super::*;

    #[test]
    fn keep_id_maps_the_caller_to_itself() {
        let own = "         0       1001          1\n         1     100000      65536\n";
        let maps = keep_id_maps(own, own).unwrap();
        assert_eq!(maps.uid_map, "0 1 1001\n1001 0 1\n1002 1002 64535\n");
        assert_eq!(mapped_caller(own), Some(1001));
        assert_eq!(mapped_caller("0 0 4294967295\n"), None, "outside berth's namespace");
        assert_eq!(keep_id_maps("0 1001 1\n", "0 1001 1\n"), None, "single-id mapping has no room");
        assert_eq!(keep_id_maps("0 0 4294967295\n", "0 0 4294967295\n"), None, "not rootless");
    }
}
