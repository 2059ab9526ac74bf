//! A rootless container's own network, from its supervisor: pasta (the default; the host's
//! addresses copied, source addresses kept, published ports bound by pasta on the host), or
//! slirp4netns where pasta is missing. The helper is the supervisor's child, run in the
//! foreground and made to die with the supervisor (`sandbox::netns::die_with_parent`), so
//! nothing outlives a kill -9 of the supervisor; dropping the [`RootlessSetup`] ends it.
//!
//! Called in spawn's `before_start` hook, from the host's network namespace (the supervisor's),
//! with the container's namespace open: the helper joins it through an inherited fd.
//!
//! The published ports are probed first (`reserve::Mode::Probe`): a port in use fails here
//! with `address already in use` and the port, a port below
//! net.ipv4.ip_unprivileged_port_start with an error naming that sysctl, and random host ports
//! are chosen; the ports as resolved go to `published.json` in the container's run directory,
//! which `ps`, `port` and `inspect` read.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::NetworkError;
use super::hosts::{ExtraHost, HostsInput, hosts_file};
use super::pasta::{self, NETNS_FD, PastaOptions};
use super::ports::{PortMapping, PublishSpec};
use super::reserve::{self, Mode};
use super::resolv::{self, DnsFlags, ResolvConf};
use super::slirp::{self, SlirpOptions};
use crate::sandbox::netns::{die_with_parent, pass_fd};

/// How long a helper gets to configure the container's interface.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The fd slirp4netns gets the container's run directory as (its API socket is made there).
const SLIRP_DIR_FD: i32 = 6;

/// The file in the container's run directory that lists its published ports.
pub const PUBLISHED_FILE: &str = "published.json";

#[derive(Debug, thiserror::Error)]
pub enum RootlessNetError {
    #[error(
        "rootless networking needs pasta (the passt package) or slirp4netns, and neither is installed (or use \
         --network none)"
    )]
    NoHelper,
    #[error("starting {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("{program} failed: {reason}")]
    Failed { program: &'static str, reason: String },
    #[error("{program} did not configure the container's network within {}s", READY_TIMEOUT.as_secs())]
    Timeout { program: &'static str },
    #[error("slirp4netns refused port {port}: {reason}")]
    Forward { port: u16, reason: String },
    #[error(transparent)]
    Pasta(#[from] pasta::PastaError),
}

/// Which helper connects a rootless container (`--network bridge|pasta|slirp4netns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HelperChoice {
    /// pasta where installed, else slirp4netns.
    #[default]
    Auto,
    Pasta,
    Slirp4netns,
}

impl HelperChoice {
    /// The helper a rootless container's network name asks for: `bridge` (the default
    /// network's name), `pasta`, `slirp4netns`; None for any other network.
    pub fn for_network(name: &str) -> Option<HelperChoice> {
        match name {
            "bridge" => Some(HelperChoice::Auto),
            "pasta" => Some(HelperChoice::Pasta),
            "slirp4netns" => Some(HelperChoice::Slirp4netns),
            _ => None,
        }
    }
}

pub struct RootlessRequest<'a> {
    pub netns: BorrowedFd<'a>,
    pub publish: &'a [PublishSpec],
    pub helper: HelperChoice,
    pub hostname: &'a str,
    pub domainname: &'a str,
    pub extra_hosts: &'a [ExtraHost],
    pub dns: &'a DnsFlags,
    pub host_resolv: &'a ResolvConf,
    /// The container's run directory: the helper's pid file, log and API socket, and
    /// [`PUBLISHED_FILE`].
    pub run_dir: &'a Path,
    /// Where pasta's feature probe is cached (a file of the run root).
    pub probe_cache: &'a Path,
}

/// What the supervisor keeps for the container's life; dropping it ends the helper.
pub struct RootlessSetup {
    helper: Child,
    /// slirp4netns quits when this (the write end of its exit pipe) closes.
    _exit_pipe: Option<OwnedFd>,
    published: PathBuf,
    pub mappings: Vec<PortMapping>,
    /// The content of the container's /etc/hosts.
    pub hosts: String,
    /// The content of the container's /etc/resolv.conf.
    pub resolv_conf: String,
}

impl RootlessSetup {
    fn new(helper: Child, exit_pipe: Option<OwnedFd>, run_dir: &Path, mappings: Vec<PortMapping>) -> RootlessSetup {
        RootlessSetup {
            helper,
            _exit_pipe: exit_pipe,
            published: run_dir.join(PUBLISHED_FILE),
            mappings,
            hosts: String::new(),
            resolv_conf: String::new(),
        }
    }
}

impl Drop for RootlessSetup {
    fn drop(&mut self) {
        let _ = self.helper.kill();
        let _ = self.helper.wait();
        let _ = std::fs::remove_file(&self.published);
    }
}

/// The ports a running rootless container publishes, as its supervisor wrote them (none when
/// the file is missing or unreadable: this only shows).
pub fn published_ports(run_dir: &Path) -> Vec<PortMapping> {
    std::fs::read(run_dir.join(PUBLISHED_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Whether this network namespace has a default route (IPv4 or IPv6), as pasta needs.
fn has_default_route() -> bool {
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    default_route_in(&read("/proc/net/route"), &read("/proc/net/ipv6_route"))
}

/// [`has_default_route`] on the text of /proc/net/route and /proc/net/ipv6_route (IPv6's
/// `::/0` on lo is the kernel's unreachable placeholder, not a route out).
fn default_route_in(route: &str, ipv6_route: &str) -> bool {
    let v4 = route.lines().skip(1).any(|l| l.split_whitespace().nth(1) == Some("00000000"));
    v4 || ipv6_route.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 9 && f[0].bytes().all(|b| b == b'0') && f[1] == "00" && f[9] != "lo"
    })
}

/// The interface of the IPv4 default route, from /proc/net/route's text.
fn default_route_interface(route: &str) -> Option<String> {
    route.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&"00000000")).then(|| fields[0].to_owned())
    })
}

/// The host's IPv4 addresses, and the one pasta copies into a container: the first address
/// of the interface with the default route (pasta's choice of "external interface").
fn host_addresses() -> (Vec<IpAddr>, Option<IpAddr>) {
    let route_iface = default_route_interface(&std::fs::read_to_string("/proc/net/route").unwrap_or_default());
    let mut all = Vec::new();
    let mut copied = None;
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for ifaddr in addrs {
            let Some(v4) = ifaddr.address.as_ref().and_then(|a| a.as_sockaddr_in()).map(|a| a.ip()) else {
                continue;
            };
            let ip = IpAddr::V4(v4);
            if copied.is_none() && route_iface.as_deref() == Some(ifaddr.interface_name.as_str()) {
                copied = Some(ip);
            }
            all.push(ip);
        }
    }
    (all, copied)
}

fn etc_files(
    request: &RootlessRequest<'_>,
    own: Option<IpAddr>,
    host: Option<IpAddr>,
    mode: resolv::Mode,
) -> Result<(String, String), NetworkError> {
    let addresses: Vec<IpAddr> = own.into_iter().collect();
    let hosts = hosts_file(&HostsInput {
        hostname: request.hostname,
        domainname: request.domainname,
        addresses: &addresses,
        extra: request.extra_hosts,
        host_gateway: host,
        base: None,
    })?;
    let conf = resolv::container_resolv_conf(request.host_resolv, request.dns, mode);
    Ok((hosts, resolv::render(&conf)))
}

/// Puts a rootless container on its own network (see the module comment).
pub fn set_up_rootless(request: &RootlessRequest<'_>) -> Result<RootlessSetup, NetworkError> {
    let reservation = reserve::reserve(request.publish, Mode::Probe, true)?;
    let pasta_program = match request.helper {
        HelperChoice::Slirp4netns => None,
        HelperChoice::Pasta => Some(pasta::find_pasta().map_err(RootlessNetError::from)?),
        // Debian 12's pasta refuses a host without a default route ("External interface not
        // usable"); slirp4netns needs none, so an offline host still gets a network.
        HelperChoice::Auto => match pasta::find_pasta() {
            Ok(_) if !has_default_route() && slirp::find_slirp4netns().is_some() => None,
            found => found.ok(),
        },
    };
    let setup = match pasta_program {
        Some(program) => start_pasta(request, &program, reservation.mappings)?,
        None => {
            let program = slirp::find_slirp4netns().ok_or(RootlessNetError::NoHelper)?;
            start_slirp(request, &program, reservation.mappings)?
        }
    };
    let text = serde_json::to_vec(&setup.mappings).expect("port mappings serialize");
    crate::store::write_file_atomically(&setup.published, &text)?;
    Ok(setup)
}

fn log_file(path: &Path) -> Result<std::fs::File, NetworkError> {
    std::fs::File::create(path).map_err(|e| crate::store::StoreError::io(path, e).into())
}

/// The last line the helper wrote to its log (its error), or its exit status.
fn failure_reason(log: &Path, status: std::process::ExitStatus) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().rev().find(|l| !l.trim().is_empty()).map_or_else(|| status.to_string(), |l| l.trim().to_owned())
}

fn spawn(program: &Path, mut command: Command) -> Result<Child, RootlessNetError> {
    die_with_parent(&mut command);
    command.spawn().map_err(|source| RootlessNetError::Spawn { program: program.display().to_string(), source })
}

fn start_pasta(
    request: &RootlessRequest<'_>,
    program: &Path,
    mappings: Vec<PortMapping>,
) -> Result<RootlessSetup, NetworkError> {
    let features = pasta::probe_cached(program, request.probe_cache).map_err(RootlessNetError::from)?;
    let pid_file = request.run_dir.join("pasta.pid");
    let log = request.run_dir.join("pasta.log");
    let _ = std::fs::remove_file(&pid_file);
    let options = PastaOptions { ports: &mappings, pid_file: &pid_file, features, mtu: None };
    let mut command = Command::new(program);
    // In the foreground: the supervisor's child, which dies with it. pasta writes its pid
    // file once the namespace is configured.
    command.arg("--foreground").args(pasta::args(&options));
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file(&log)?);
    let netns = request.netns.try_clone_to_owned().map_err(|e| crate::store::StoreError::io(&pid_file, e))?;
    pass_fd(&mut command, netns, NETNS_FD).map_err(|e| crate::store::StoreError::io(&pid_file, e.into()))?;
    let child = spawn(program, command)?;
    // From here on, dropping the setup ends pasta.
    let mut setup = RootlessSetup::new(child, None, request.run_dir, mappings);
    let child = &mut setup.helper;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if std::fs::metadata(&pid_file).is_ok_and(|m| m.len() > 0) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let reason = failure_reason(&log, status);
            return Err(RootlessNetError::Failed { program: "pasta", reason }.into());
        }
        if Instant::now() > deadline {
            return Err(RootlessNetError::Timeout { program: "pasta" }.into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let (host_addrs, copied) = host_addresses();
    let host = pasta::host_address_for_container(features, &host_addrs, copied);
    (setup.hosts, setup.resolv_conf) = etc_files(request, copied, host, resolv::Mode::Pasta)?;
    Ok(setup)
}

fn start_slirp(
    request: &RootlessRequest<'_>,
    program: &Path,
    mappings: Vec<PortMapping>,
) -> Result<RootlessSetup, NetworkError> {
    let api = request.run_dir.join("slirp.sock");
    let log = request.run_dir.join("slirp4netns.log");
    let _ = std::fs::remove_file(&api);
    let io = |e: nix::errno::Errno| NetworkError::from(crate::store::StoreError::io(&api, e.into()));
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io)?;
    let (exit_r, exit_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io)?;
    // The run directory's path may be longer than a socket address holds (108 bytes): the
    // socket is named through an fd of the directory, in slirp4netns and here.
    let dir = std::fs::File::open(request.run_dir).map_err(|e| crate::store::StoreError::io(request.run_dir, e))?;
    let theirs = PathBuf::from(format!("/proc/self/fd/{SLIRP_DIR_FD}/slirp.sock"));
    let ours = PathBuf::from(format!("/proc/self/fd/{}/slirp.sock", dir.as_raw_fd()));
    let options = SlirpOptions { netns_fd: NETNS_FD, ready_fd: 4, exit_fd: 5, api_socket: &theirs };
    let mut command = Command::new(program);
    command.args(slirp::args(&options)).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file(&log)?);
    let netns = request.netns.try_clone_to_owned().map_err(|e| crate::store::StoreError::io(&api, e))?;
    pass_fd(&mut command, netns, NETNS_FD).map_err(io)?;
    pass_fd(&mut command, ready_w, 4).map_err(io)?;
    pass_fd(&mut command, exit_r, 5).map_err(io)?;
    pass_fd(
        &mut command,
        OwnedFd::from(dir.try_clone().map_err(|e| crate::store::StoreError::io(&api, e))?),
        SLIRP_DIR_FD,
    )
    .map_err(io)?;
    let child = spawn(program, command)?;
    // From here on, dropping the setup ends slirp4netns.
    let mut setup = RootlessSetup::new(child, Some(exit_w), request.run_dir, mappings);
    // Our copies of the passed ends closed with the command: EOF means slirp4netns is gone.
    let ready = wait_readable(ready_r.as_fd(), READY_TIMEOUT) && {
        let mut byte = [0u8; 1];
        std::fs::File::from(ready_r).read(&mut byte).is_ok_and(|n| n == 1)
    };
    if !ready {
        let _ = setup.helper.kill();
        let reason = setup.helper.wait().map_or_else(|_| "no answer".to_owned(), |s| failure_reason(&log, s));
        return Err(RootlessNetError::Failed { program: "slirp4netns", reason }.into());
    }
    let (host_addrs, _) = host_addresses();
    let host = pasta::host_address_for_container(Default::default(), &host_addrs, None);
    let own = Some(IpAddr::V4(slirp::CONTAINER_ADDR));
    (setup.hosts, setup.resolv_conf) = etc_files(request, own, host, resolv::Mode::Slirp)?;
    for mapping in &setup.mappings {
        add_hostfwd(&ours, mapping)?;
    }
    Ok(setup)
}

fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0)
}

/// One published port through slirp4netns's API socket.
fn add_hostfwd(api: &Path, mapping: &PortMapping) -> Result<(), NetworkError> {
    let fail = |reason: String| RootlessNetError::Forward { port: mapping.host_port, reason };
    let mut stream = UnixStream::connect(api).map_err(|e| fail(e.to_string()))?;
    stream.write_all(slirp::hostfwd_request(mapping).as_bytes()).map_err(|e| fail(e.to_string()))?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| fail(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&answer).map_err(|_| fail(answer.clone()))?;
    if let Some(error) = value.get("error") {
        let desc = error.get("desc").and_then(|d| d.as_str()).map_or_else(|| error.to_string(), str::to_owned);
        return Err(fail(desc).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn helper_choices_and_published_ports_read_back() {
        assert_eq!(HelperChoice::for_network("bridge"), Some(HelperChoice::Auto));
        assert_eq!(HelperChoice::for_network("slirp4netns"), Some(HelperChoice::Slirp4netns));
        assert_eq!(HelperChoice::for_network("web"), None);
        let dir = tempfile::tempdir().unwrap();
        assert!(published_ports(dir.path()).is_empty());
        let m = PortMapping {
            host_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            host_port: 8080,
            container_port: 80,
            protocol: super::super::ports::Protocol::Tcp,
        };
        std::fs::write(dir.path().join(PUBLISHED_FILE), serde_json::to_vec(&[m]).unwrap()).unwrap();
        assert_eq!(published_ports(dir.path()), [m]);
    }

    #[test]
    fn default_routes_are_read_off_procfs() {
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                     vo0\t0000C70A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                     vo0\t00000000\t0200C70A\t0003\t0\t0\t0\t00000000\n";
        let no_default = "Iface\tDestination\n vo0\t0000C70A\t00000000\n";
        let v6_lo = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                     00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        let v6_out = v6_lo.replace("      lo", "    eth0");
        assert!(default_route_in(route, ""));
        assert!(!default_route_in(no_default, v6_lo), "the unreachable ::/0 on lo is no way out");
        assert!(default_route_in(no_default, &v6_out));
        assert_eq!(default_route_interface(route).as_deref(), Some("vo0"));
        assert_eq!(default_route_interface(no_default), None);
    }

    #[test]
    fn the_hosts_addresses_include_the_copied_one() {
        let (all, copied) = host_addresses();
        if let Some(copied) = copied {
            assert!(all.contains(&copied), "{all:?} {copied}");
        }
    }
}
