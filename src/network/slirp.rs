//! The fallback for rootless containers where pasta is missing: slirp4netns (Debian's 1.2).
//! Slower than pasta (no TCP window scaling in libslirp) and it NATs (the container sees
//! 10.0.2.100, connections from the host arrive from 10.0.2.2), but it needs nothing else.
//!
//! It runs in the foreground as the supervisor's child: it writes to `--ready-fd` once the tap
//! is up, and quits when `--exit-fd` (whose write end the supervisor holds) is closed, so it
//! ends with the supervisor even after a kill -9. Published ports are added over its API
//! socket, one `add_hostfwd` request each. The namespace is passed as an inherited fd, as for
//! pasta.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::ports::PortMapping;

/// The container's address, the host as the container sees it, and the DNS forwarder:
/// slirp4netns's fixed defaults.
pub const CONTAINER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
/// The MTU Podman uses with it (throughput grows with the MTU).
pub const MTU: u32 = 65520;

pub fn find_slirp4netns() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]).map(|d| d.join("slirp4netns")).find(|p| p.is_file())
}

/// How slirp4netns is to be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlirpOptions<'a> {
    /// The container's network namespace, as the fd the child gets.
    pub netns_fd: i32,
    pub ready_fd: i32,
    pub exit_fd: i32,
    pub api_socket: &'a Path,
}

/// slirp4netns's command line (without the program).
pub fn args(options: &SlirpOptions<'_>) -> Vec<String> {
    vec![
        "--configure".to_owned(),
        format!("--mtu={MTU}"),
        // The host's loopback stays private (10.0.2.2 would otherwise reach it).
        "--disable-host-loopback".to_owned(),
        format!("--ready-fd={}", options.ready_fd),
        format!("--exit-fd={}", options.exit_fd),
        format!("--api-socket={}", options.api_socket.display()),
        "--netns-type=path".to_owned(),
        format!("/proc/self/fd/{}", options.netns_fd),
        "tap0".to_owned(),
    ]
}

/// One published port as an API request (one line of JSON).
pub fn hostfwd_request(mapping: &PortMapping) -> String {
    let host_addr = mapping.host_ip.map_or_else(|| "0.0.0.0".to_owned(), |ip| ip.to_string());
    json!({
        "execute": "add_hostfwd",
        "arguments": {
            "proto": mapping.protocol.as_str(),
            "host_addr": host_addr,
            "host_port": mapping.host_port,
            "guest_addr": CONTAINER_ADDR.to_string(),
            "guest_port": mapping.container_port,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::ports::Protocol;

    #[test]
    fn command_line_and_port_requests() {
        let options =
            SlirpOptions { netns_fd: 3, ready_fd: 4, exit_fd: 5, api_socket: Path::new("/run/b/c1/slirp.sock") };
        assert_eq!(
            args(&options).join(" "),
            "--configure --mtu=65520 --disable-host-loopback --ready-fd=4 --exit-fd=5 \
             --api-socket=/run/b/c1/slirp.sock --netns-type=path /proc/self/fd/3 tap0"
        );
        let m = PortMapping { host_ip: None, host_port: 8080, container_port: 80, protocol: Protocol::Udp };
        let request: serde_json::Value = serde_json::from_str(&hostfwd_request(&m)).unwrap();
        assert_eq!(request["execute"], "add_hostfwd");
        assert_eq!(request["arguments"]["proto"], "udp");
        assert_eq!(request["arguments"]["host_addr"], "0.0.0.0");
        assert_eq!(request["arguments"]["host_port"], 8080);
        assert_eq!(request["arguments"]["guest_addr"], "10.0.2.100");
        assert_eq!(request["arguments"]["guest_port"], 80);
        // The container, its gateway (the host) and the DNS forwarder share slirp4netns's /24.
        let net = crate::network::subnet::Subnet::containing(CONTAINER_ADDR.into(), 24);
        assert!(net.contains(GATEWAY.into()) && net.contains(DNS.into()));
    }

    /// slirp4netns for real, in namespaces the test makes: it configures tap0 in the
    /// "container", says so on the ready fd, and quits when the exit fd closes.
    #[test]
    fn slirp4netns_configures_the_container_and_quits_with_its_exit_fd() {
        use std::io::Read;
        use std::os::fd::AsFd;
        use std::process::{Command, Stdio};

        use crate::network::netlink::Netlink;
        use crate::sandbox::netns::{in_netns, in_new_netns, pass_fd};

        use crate::network::test_support::{require, require_root};
        if !require_root("network namespaces for slirp4netns") {
            return;
        }
        let Some(program) = require(find_slirp4netns(), "slirp4netns") else { return };
        let host = in_new_netns(|ns| ns).unwrap();
        let container = in_new_netns(|ns| ns).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let api = dir.path().join("slirp.sock");
        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (exit_r, exit_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let options = SlirpOptions { netns_fd: 3, ready_fd: 4, exit_fd: 5, api_socket: &api };
        let ns = container.try_clone().unwrap();
        let mut child = in_netns(host.as_fd(), || {
            let mut command = Command::new(&program);
            command.args(args(&options)).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            pass_fd(&mut command, ns, 3).unwrap();
            pass_fd(&mut command, ready_w, 4).unwrap();
            pass_fd(&mut command, exit_r, 5).unwrap();
            command.spawn().unwrap()
        })
        .unwrap();
        let mut ready = [0u8; 1];
        std::fs::File::from(ready_r).read_exact(&mut ready).unwrap();
        assert_eq!(&ready, b"1");
        let mut inside = Netlink::open_in(container.as_fd()).unwrap();
        assert!(inside.link_by_name("tap0").unwrap().is_some(), "tap0 is in the container's namespace");
        assert!(api.exists(), "the API socket is there for port forwarding");
        drop(exit_w);
        let mut ended = None;
        for _ in 0..500 {
            ended = child.try_wait().unwrap();
            if ended.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if ended.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("slirp4netns did not quit when its exit fd closed");
        }
    }
}
