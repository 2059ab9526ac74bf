//! Rootless networking through pasta (Debian's passt package): a tap device in the container's
//! namespace with the host's addresses copied (no NAT, source addresses kept), and published
//! ports bound on the host by pasta itself.
//!
//! What Debian 12's pasta (2023_03_09) needs and lacks, found on this machine:
//! - it cannot open `/proc/PID/ns/net` of a process in berth's user namespace (EACCES, after it
//!   has dropped its capabilities), so berth passes the namespace as an inherited fd and names
//!   it `/proc/self/fd/N`;
//! - run as root (real, or berth's namespaced root) it switches to `nobody` before joining the
//!   namespace and then cannot (`Couldn't switch to pasta namespaces`): `--runas 0:0`;
//! - it needs a host interface with a default route ("External interface not usable");
//! - no `--map-guest-addr` (2024-08): the host is then reachable from the container only at
//!   another of the host's addresses (`host.containers.internal` gets the first one that is not
//!   the address pasta copies), found by [`host_address_for_container`];
//! - it quits by itself only when a bind-mounted namespace file is deleted: berth's supervisor
//!   keeps its pid (`--pid`) and ends it with the container instead.
//!
//! pasta forks into the background once the namespace is configured, so its first process
//! exiting with 0 means "ready".

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::ports::{PortMapping, Protocol};

/// Where pasta answers DNS in the container (forwarded to the host's resolver).
pub const DNS_FORWARD: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The address newer pastas map to the host (`--map-guest-addr`), Podman's choice.
pub const GUEST_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 2);
/// The fd number the container's network namespace is passed to pasta as.
pub const NETNS_FD: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PastaError {
    #[error("pasta not found (looked in PATH, /usr/bin and /usr/local/bin): install the passt package")]
    Missing,
    #[error("running {program} --help: {reason}")]
    Probe { program: String, reason: String },
}

/// What this pasta can do beyond Debian 12's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PastaFeatures {
    /// `--map-guest-addr ADDR`: the container reaches the host at ADDR.
    pub map_guest_addr: bool,
}

/// Reads the features off `pasta --help` (its text goes to stdout or stderr, depending on the
/// version).
pub fn features_from_help(help: &str) -> PastaFeatures {
    PastaFeatures { map_guest_addr: help.contains("--map-guest-addr") }
}

pub fn find_pasta() -> Result<PathBuf, PastaError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join("pasta"))
        .find(|p| p.is_file())
        .ok_or(PastaError::Missing)
}

/// Runs `pasta --help` once and reads its features.
pub fn probe(program: &Path) -> Result<PastaFeatures, PastaError> {
    let output = Command::new(program)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| PastaError::Probe { program: program.display().to_string(), reason: e.to_string() })?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok(features_from_help(&text))
}

/// The probe's result as cached for one pasta binary (its path, size and mtime).
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct CachedProbe {
    program: PathBuf,
    size: u64,
    mtime_ns: i128,
    features: PastaFeatures,
}

fn identity(program: &Path) -> Option<(u64, i128)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(program).ok()?;
    Some((meta.size(), i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())))
}

/// [`probe`], remembered in `cache` (a file of the run root) while the binary stays the same:
/// a container start need not run `pasta --help` each time. A cache that cannot be written
/// is only a missed saving.
pub fn probe_cached(program: &Path, cache: &Path) -> Result<PastaFeatures, PastaError> {
    let id = identity(program);
    let cached: Option<CachedProbe> = std::fs::read(cache).ok().and_then(|b| serde_json::from_slice(&b).ok());
    if let (Some(c), Some((size, mtime_ns))) = (&cached, id)
        && c.program == program
        && c.size == size
        && c.mtime_ns == mtime_ns
    {
        return Ok(c.features);
    }
    let features = probe(program)?;
    if let Some((size, mtime_ns)) = id {
        let entry = CachedProbe { program: program.to_owned(), size, mtime_ns, features };
        let _ = crate::store::write_file_atomically(cache, &serde_json::to_vec(&entry).expect("serializable"));
    }
    Ok(features)
}

/// pasta's port specs for `mappings` of `protocol`: `[ADDR/]HOST[-END][:CTR[-END]]`,
/// consecutive ports with the same shift in one spec; "none" when there are none.
pub fn port_specs(mappings: &[PortMapping], protocol: Protocol) -> Vec<String> {
    let mut of: Vec<&PortMapping> = mappings.iter().filter(|m| m.protocol == protocol).collect();
    of.sort_by_key(|m| (m.host_ip, m.host_port));
    let mut specs = Vec::new();
    let mut i = 0;
    while i < of.len() {
        let first = of[i];
        let mut j = i;
        while j + 1 < of.len()
            && of[j + 1].host_ip == first.host_ip
            && u32::from(of[j + 1].host_port) == u32::from(of[j].host_port) + 1
            && u32::from(of[j + 1].container_port) == u32::from(of[j].container_port) + 1
        {
            j += 1;
        }
        let last = of[j];
        let mut spec = match first.host_ip {
            Some(ip) => format!("{ip}/"),
            None => String::new(),
        };
        spec.push_str(&first.host_port.to_string());
        if j > i {
            spec.push_str(&format!("-{}", last.host_port));
        }
        spec.push_str(&format!(":{}", first.container_port));
        if j > i {
            spec.push_str(&format!("-{}", last.container_port));
        }
        specs.push(spec);
        i = j + 1;
    }
    if specs.is_empty() {
        specs.push("none".to_owned());
    }
    specs
}

/// How pasta is to be run for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastaOptions<'a> {
    pub ports: &'a [PortMapping],
    /// Where pasta writes its pid (its background process's).
    pub pid_file: &'a Path,
    pub features: PastaFeatures,
    pub mtu: Option<u32>,
}

/// pasta's command line (without the program): the namespace is fd [`NETNS_FD`], which the
/// caller passes.
pub fn args(options: &PastaOptions<'_>) -> Vec<String> {
    let mut args: Vec<String> = ["--config-net", "--quiet", "--runas", "0:0"].map(str::to_owned).to_vec();
    for (flag, protocol) in [("-t", Protocol::Tcp), ("-u", Protocol::Udp)] {
        for spec in port_specs(options.ports, protocol) {
            args.push(flag.to_owned());
            args.push(spec);
        }
    }
    // No automatic forwarding from the container to the host's ports; no gateway mapped to
    // the host's loopback (the host's loopback services stay private).
    args.extend(["-T", "none", "-U", "none", "--no-map-gw"].map(str::to_owned));
    args.extend(["--dns-forward".to_owned(), DNS_FORWARD.to_string()]);
    if options.features.map_guest_addr {
        args.extend(["--map-guest-addr".to_owned(), GUEST_ADDR.to_string()]);
    }
    if let Some(mtu) = options.mtu {
        args.extend(["--mtu".to_owned(), mtu.to_string()]);
    }
    args.extend(["--netns".to_owned(), format!("/proc/self/fd/{NETNS_FD}")]);
    args.extend(["--pid".to_owned(), options.pid_file.display().to_string()]);
    args
}

/// The address the container reaches the host at (host.containers.internal): pasta's mapped
/// address where it has one, else another of the host's IPv4 addresses than the one pasta
/// copies into the container (which, inside, is the container's own), if the host has one.
pub fn host_address_for_container(
    features: PastaFeatures,
    host_addrs: &[IpAddr],
    copied: Option<IpAddr>,
) -> Option<IpAddr> {
    if features.map_guest_addr {
        return Some(IpAddr::V4(GUEST_ADDR));
    }
    host_addrs.iter().copied().find(|a| a.is_ipv4() && !a.is_loopback() && Some(*a) != copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ip: Option<&str>, host: u16, container: u16, protocol: Protocol) -> PortMapping {
        PortMapping { host_ip: ip.map(|i| i.parse().unwrap()), host_port: host, container_port: container, protocol }
    }

    #[test]
    fn port_specs_follow_pastas_syntax() {
        let maps = [
            m(None, 8080, 80, Protocol::Tcp),
            m(Some("127.0.0.1"), 9000, 9000, Protocol::Tcp),
            m(Some("127.0.0.1"), 9001, 9001, Protocol::Tcp),
            m(Some("127.0.0.1"), 9002, 9002, Protocol::Tcp),
            m(Some("::1"), 5353, 53, Protocol::Udp),
            m(None, 7000, 8000, Protocol::Udp),
            m(None, 7001, 8001, Protocol::Udp),
        ];
        assert_eq!(port_specs(&maps, Protocol::Tcp), ["8080:80", "127.0.0.1/9000-9002:9000-9002"]);
        assert_eq!(port_specs(&maps, Protocol::Udp), ["7000-7001:8000-8001", "::1/5353:53"]);
        assert_eq!(port_specs(&[], Protocol::Tcp), ["none"]);
    }

    #[test]
    fn the_command_line_for_debians_pasta_and_a_newer_one() {
        let maps = [m(None, 8080, 80, Protocol::Tcp)];
        let pid = Path::new("/run/berth/c1/pasta.pid");
        let old = PastaOptions { ports: &maps, pid_file: pid, features: PastaFeatures::default(), mtu: None };
        assert_eq!(
            args(&old).join(" "),
            "--config-net --quiet --runas 0:0 -t 8080:80 -u none -T none -U none --no-map-gw --dns-forward 169.254.1.1 \
             --netns /proc/self/fd/3 --pid /run/berth/c1/pasta.pid"
        );
        let new = PastaOptions { features: PastaFeatures { map_guest_addr: true }, mtu: Some(1500), ..old };
        let text = args(&new).join(" ");
        assert!(text.contains("--map-guest-addr 169.254.1.2 --mtu 1500 --netns"), "{text}");
    }

    #[test]
    fn features_and_the_hosts_address() {
        assert_eq!(features_from_help("  --no-map-gw  Don't map gateway\n"), PastaFeatures::default());
        assert!(features_from_help("  --map-guest-addr ADDR\n").map_guest_addr);
        let addrs: Vec<IpAddr> =
            ["127.0.0.1", "192.0.2.10", "fd00::1", "198.51.100.7"].iter().map(|a| a.parse().unwrap()).collect();
        let copied = Some("192.0.2.10".parse().unwrap());
        assert_eq!(
            host_address_for_container(PastaFeatures::default(), &addrs, copied),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(host_address_for_container(PastaFeatures::default(), &addrs[..3], copied), None);
        let new = PastaFeatures { map_guest_addr: true };
        assert_eq!(host_address_for_container(new, &addrs, copied), Some(IpAddr::V4(GUEST_ADDR)));
        if let Ok(program) = find_pasta() {
            // This machine's pasta answers the probe (Debian 12's has no --map-guest-addr);
            // the cached answer is the same, and a changed binary is probed again.
            let features = probe(&program).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let cache = dir.path().join("pasta-features.json");
            assert_eq!(probe_cached(&program, &cache).unwrap(), features);
            assert!(cache.exists());
            assert_eq!(probe_cached(&program, &cache).unwrap(), features);
            let mut stale: serde_json::Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
            stale["features"]["map_guest_addr"] = serde_json::json!(!features.map_guest_addr);
            stale["size"] = serde_json::json!(1);
            std::fs::write(&cache, stale.to_string()).unwrap();
            assert_eq!(probe_cached(&program, &cache).unwrap(), features, "another binary's answer is not used");
        }
    }

    /// pasta for real: a "host" namespace with an external interface (a veth to a third
    /// namespace) and a "container" namespace, both private to the test; a port published on
    /// the host's loopback reaches a listener in the container.
    #[test]
    fn pasta_forwards_a_published_port_into_the_container() {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::os::fd::AsFd;

        use crate::network::netlink::{Netlink, VethEnd};
        use crate::sandbox::netns::{in_netns, in_new_netns, pass_fd};

        use crate::network::test_support::{require, require_root};
        if !require_root("network namespaces for pasta") {
            return;
        }
        let Some(program) = require(find_pasta().ok(), "pasta") else { return };
        let outside = in_new_netns(|ns| ns).unwrap();
        let host = in_new_netns(|ns| ns).unwrap();
        let container = in_new_netns(|ns| ns).unwrap();
        let outside_fd = outside.as_fd();
        in_netns(host.as_fd(), || {
            let mut nl = Netlink::open().unwrap();
            let ext = VethEnd { name: "ext0".into(), mtu: None, mac: None };
            let peer = VethEnd { name: "ext1".into(), mtu: None, mac: None };
            nl.create_veth(&ext, &peer, outside_fd).unwrap();
            let index = nl.index_of("ext0").unwrap();
            nl.add_address(index, "ext0", "192.0.2.10".parse().unwrap(), 24).unwrap();
            nl.set_up(index, "ext0").unwrap();
            let lo = nl.index_of("lo").unwrap();
            nl.set_up(lo, "lo").unwrap();
            nl.add_default_route(index, "192.0.2.1".parse().unwrap()).unwrap();
        })
        .unwrap();
        let listener = in_netns(container.as_fd(), || TcpListener::bind("0.0.0.0:0").unwrap()).unwrap();
        let container_port = listener.local_addr().unwrap().port();
        let host_port =
            in_netns(host.as_fd(), || TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pasta.pid");
        let maps = [PortMapping {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port,
            container_port,
            protocol: Protocol::Tcp,
        }];
        let features = probe(&program).unwrap();
        let options = PastaOptions { ports: &maps, pid_file: &pid_file, features, mtu: None };
        let ns = container.try_clone().unwrap();
        let output = in_netns(host.as_fd(), || {
            let mut command = Command::new(&program);
            command.args(args(&options)).stdin(Stdio::null());
            pass_fd(&mut command, ns, NETNS_FD).unwrap();
            command.output().unwrap()
        })
        .unwrap();
        assert!(output.status.success(), "pasta: {}", String::from_utf8_lossy(&output.stderr));
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();

        let mut client = in_netns(host.as_fd(), || TcpStream::connect(("127.0.0.1", host_port)).unwrap()).unwrap();
        client.write_all(b"through pasta").unwrap();
        drop(client);
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        assert_eq!(got, "through pasta");

        // The supervisor ends pasta with the container: by the pid pasta wrote.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).unwrap();
        for _ in 0..200 {
            if std::fs::metadata(format!("/proc/{pid}")).is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
