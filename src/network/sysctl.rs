//! The kernel settings a bridge network needs, written in the network namespace of the calling
//! thread (the host's, or a test's):
//! - `net.ipv4.ip_forward=1` (and IPv6 forwarding for `--ipv6` networks): containers' traffic is
//!   routed through the host;
//! - `net.ipv4.conf.<bridge>.route_localnet=1`: a port published on 127.0.0.1 is DNATed to a
//!   container, and the packet, still from 127.0.0.1, must be allowed out of the bridge (the
//!   firewall drops anything else that arrives on a bridge for 127.0.0.0/8).

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("setting {}: {error}", path.display())]
pub struct SysctlError {
    path: PathBuf,
    error: io::Error,
}

/// Writes `value` to `/proc/sys/<key with dots as slashes>` unless it already holds it (a
/// write needs privilege even when it changes nothing).
pub fn set(key: &str, value: &str) -> Result<(), SysctlError> {
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|error| SysctlError { path, error })
}

/// Forwarding on (IPv4, and IPv6 when asked) and localhost routing on `bridge`.
pub fn prepare_bridge(bridge: &str, ipv6: bool) -> Result<(), SysctlError> {
    set("net.ipv4.ip_forward", "1")?;
    if ipv6 {
        set("net.ipv6.conf.all.forwarding", "1")?;
    }
    // An interface name may hold dots, which sysctl keys use as separators: write the path.
    let path = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    if !std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1") {
        std::fs::write(&path, "1").map_err(|error| SysctlError { path: path.into(), error })?;
    }
    Ok(())
}
