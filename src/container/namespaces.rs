//! `--pid host|container:X`, `--ipc host|container:X|shareable|private|none`, `--uts host`:
//! which of a container's namespaces it shares, as Docker's HostConfig keeps them (PidMode,
//! IpcMode, UTSMode strings; `container:X` holds X's id once created), and what the sandbox
//! joins at each start.

use std::path::PathBuf;

use super::index::{ContainerError, load};
use super::record::{ContainerConfig, Status};
use crate::sandbox::spec::{SharedNamespace, ShmMount};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("invalid argument {value:?} for \"--{flag}\" flag: invalid {what} mode: use {allowed}")]
    Mode { flag: &'static str, value: String, what: &'static str, allowed: &'static str },
    #[error("Conflicting options: hostname and the UTS mode")]
    HostnameWithHostUts,
    #[error("sysctl '{key}' is not allowed in the host's {what} namespace")]
    HostSysctl { key: String, what: &'static str },
}

/// Checks `--pid`, `--ipc` and `--uts` and gives Docker's strings ("" where not given).
pub fn parse(
    pid: Option<&str>,
    ipc: Option<&str>,
    uts: Option<&str>,
    hostname: Option<&str>,
) -> Result<(String, String, String), NamespaceError> {
    let pid = match pid.unwrap_or("") {
        p @ ("" | "host") => p.to_owned(),
        p if p.strip_prefix("container:").is_some_and(|c| !c.is_empty()) => p.to_owned(),
        p => return Err(mode("pid", p, "PID", "host or container:NAME")),
    };
    let ipc = match ipc.unwrap_or("") {
        i @ ("" | "host" | "private" | "shareable" | "none") => i.to_owned(),
        i if i.strip_prefix("container:").is_some_and(|c| !c.is_empty()) => i.to_owned(),
        i => return Err(mode("ipc", i, "IPC", "host, private, shareable, none or container:NAME")),
    };
    let uts = match uts.unwrap_or("") {
        u @ ("" | "host") => u.to_owned(),
        u => return Err(mode("uts", u, "UTS", "host")),
    };
    if uts == "host" && hostname.is_some_and(|h| !h.is_empty()) {
        return Err(NamespaceError::HostnameWithHostUts);
    }
    Ok((pid, ipc, uts))
}

fn mode(flag: &'static str, value: &str, what: &'static str, allowed: &'static str) -> NamespaceError {
    NamespaceError::Mode { flag, value: value.to_owned(), what, allowed }
}

/// Sysctls of a namespace the container shares with the host are refused (Docker's rule).
pub fn check_sysctl(key: &str, ipc: &str, uts: &str) -> Result<(), NamespaceError> {
    let ipc_key = key.starts_with("kernel.msg")
        || key.starts_with("kernel.sem")
        || key.starts_with("kernel.shm")
        || key.starts_with("fs.mqueue.");
    if ipc == "host" && ipc_key {
        return Err(NamespaceError::HostSysctl { key: key.to_owned(), what: "IPC" });
    }
    if uts == "host" && key == "kernel.domainname" {
        return Err(NamespaceError::HostSysctl { key: key.to_owned(), what: "UTS" });
    }
    Ok(())
}

/// At create: `container:X` becomes X's id (a rename does not break the link, as in Docker);
/// an IPC donor must have been made `--ipc shareable`. Reads the containers' records.
pub fn resolve(store: &Store, config: &mut ContainerConfig) -> Result<(), ContainerError> {
    let host = &mut config.process_host;
    if let Some(other) = host.pid_mode.strip_prefix("container:") {
        host.pid_mode = format!("container:{}", load(store, other)?.id);
    }
    if let Some(other) = host.ipc_mode.strip_prefix("container:") {
        let donor = load(store, other)?;
        if !matches!(donor.config.process_host.ipc_mode.as_str(), "shareable" | "host") {
            return Err(ContainerError::WrongState {
                id: donor.name,
                status: "not shareable",
                what: "non-shareable IPC (hint: use --ipc shareable for the donor container)".into(),
            });
        }
        host.ipc_mode = format!("container:{}", donor.id);
    }
    if host.uts_mode == "host" {
        config.hostname = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    }
    Ok(())
}

/// Why a namespace to share cannot be joined at start.
#[derive(Debug, thiserror::Error)]
#[error("cannot join the {what} namespace of container {name}: it is not running")]
pub struct NotRunning {
    what: &'static str,
    name: String,
}

/// The PID and IPC namespaces and the /dev/shm of a container about to start.
pub fn shared(
    store: &Store,
    config: &ContainerConfig,
) -> Result<(SharedNamespace, SharedNamespace, ShmMount), NotRunning> {
    let host = &config.process_host;
    let join = |mode: &str, what: &'static str| -> Result<SharedNamespace, NotRunning> {
        match mode {
            "host" => Ok(SharedNamespace::Host),
            m => match m.strip_prefix("container:") {
                Some(id) => Ok(SharedNamespace::Join(running_namespace(store, id, what)?)),
                None => Ok(SharedNamespace::New),
            },
        }
    };
    let pid = join(&host.pid_mode, "pid")?;
    let ipc = join(&host.ipc_mode, "ipc")?;
    let shm = match host.ipc_mode.as_str() {
        "host" => ShmMount::Host,
        "none" => ShmMount::None,
        _ => ShmMount::Tmpfs,
    };
    Ok((pid, ipc, shm))
}

/// `/proc/PID/ns/WHAT` of running container `id`.
fn running_namespace(store: &Store, id: &str, what: &'static str) -> Result<PathBuf, NotRunning> {
    let not_running = |name: String| NotRunning { what, name };
    let other = load(store, id).map_err(|_| not_running(id[..id.len().min(12)].to_owned()))?;
    let alive = matches!(other.state.status, Status::Running | Status::Paused)
        && super::liveness::is_alive(other.state.pid, other.state.pid_start_time);
    if !alive {
        return Err(not_running(other.name));
    }
    Ok(PathBuf::from(format!("/proc/{}/ns/{what}", other.state.pid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_docker_names_them() {
        assert_eq!(parse(None, None, None, None).unwrap(), (String::new(), String::new(), String::new()));
        let (pid, ipc, uts) = parse(Some("container:web"), Some("shareable"), Some("host"), None).unwrap();
        assert_eq!((pid.as_str(), ipc.as_str(), uts.as_str()), ("container:web", "shareable", "host"));
        for (pid, ipc, uts) in
            [(Some("private2"), None, None), (None, Some("container:"), None), (None, None, Some("x"))]
        {
            let err = parse(pid, ipc, uts, None).unwrap_err().to_string();
            assert!(err.starts_with("invalid argument"), "{err}");
        }
        let err = parse(None, None, Some("host"), Some("box")).unwrap_err();
        assert_eq!(err.to_string(), "Conflicting options: hostname and the UTS mode");
        assert!(check_sysctl("kernel.shmmax", "host", "").is_err());
        assert!(check_sysctl("kernel.shmmax", "", "host").is_ok());
        assert!(check_sysctl("kernel.domainname", "", "host").is_err());
    }
}
