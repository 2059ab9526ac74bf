//! Rootless containers' own network (pasta by default, slirp4netns by name), as the berthtest
//! user: berth runs in a lab's "host" namespace (networking.rs's Lab), which gets a default
//! route to the lab's "outside" namespace (pasta needs an interface with one) and a second
//! address (on lo) (where the container reaches the host: Debian 12's pasta copies the
//! first one into the container). Traffic goes only between the lab's namespaces, the
//! containers' and loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::networking::{Lab, OUTSIDE};
use crate::util::{
    BUSYBOX, ContainerEnv, NETWORK_CONFIG, TestEnv, assert_one_error_line, poll_for, require_program, wait_until,
};

/// The host's first address (on the link to the outside; pasta copies it) and its second.
const HOST_FIRST: &str = "10.199.0.1";
const HOST_SECOND: &str = "10.199.1.1";

/// udp_echo.c, compiled once per test run.
fn udp_echo_binary() -> Option<&'static Path> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
            std::fs::create_dir_all(dir).ok()?;
            let built = dir.join(format!("udp_echo-{}", std::process::id()));
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/udp_echo.c");
            let status = Command::new("cc").args(["-static", "-O1", "-o"]).arg(&built).arg(&source).status();
            let binary = dir.join("udp_echo");
            (status.is_ok_and(|s| s.success()) && std::fs::rename(&built, &binary).is_ok()).then_some(binary)
        })
        .as_deref()
}

/// A rootless berth in a lab, with a busybox image "bb" (/www/index.html for httpd, every
/// applet, /bin/udp_echo). The containers go before the servers and the namespaces.
struct RootlessLab {
    env: ContainerEnv,
    servers: Vec<Child>,
    lab: Lab,
}

impl std::ops::Deref for RootlessLab {
    type Target = ContainerEnv;
    fn deref(&self) -> &ContainerEnv {
        &self.env
    }
}

impl Drop for RootlessLab {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl RootlessLab {
    fn new() -> Option<RootlessLab> {
        if !["pasta", "cc"].iter().all(|p| require_program(p)) {
            return None;
        }
        let mut env = TestEnv::rootless()?;
        let lab = Lab::new()?;
        let Some(udp_echo) = udp_echo_binary() else {
            crate::util::skip_or_fail("cc -static failed to build udp_echo.c (is libc6-dev installed?)");
            return None;
        };
        lab.in_host("ip", &["route", "add", "default", "via", OUTSIDE]);
        lab.in_host("ip", &["addr", "add", &format!("{HOST_SECOND}/32"), "dev", "lo"]);
        env.set_config(NETWORK_CONFIG);
        env.netns = Some(lab.host_path());
        let env = env.with_busybox("bb", &[], |root| {
            let applets = Command::new(BUSYBOX).arg("--list").output().expect("busybox --list");
            for applet in String::from_utf8_lossy(&applets.stdout).lines().filter(|a| *a != "busybox") {
                let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
            }
            std::fs::copy(udp_echo, root.join("bin/udp_echo")).unwrap();
            std::fs::create_dir_all(root.join("www")).unwrap();
            std::fs::write(root.join("www/index.html"), "hello from the container\n").unwrap();
        });
        Some(RootlessLab { env, servers: Vec::new(), lab })
    }

    /// A command in the lab's host namespace.
    fn in_host(&self, program: &str, args: &[&str]) -> Command {
        Lab::command_in(&self.lab.host, program, args)
    }

    /// wget of http://ADDR/index.html from the host namespace, retried while the server starts.
    fn fetch(&self, addr: &str) -> Option<String> {
        let url = format!("http://{addr}/index.html");
        poll_for(Duration::from_secs(5), || {
            let out = self.in_host(BUSYBOX, &["timeout", "3", BUSYBOX, "wget", "-q", "-O", "-", &url]).output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        })
    }

    /// A detached httpd on port 80 of a container with `flags`; its id.
    fn web_server(&self, flags: &[&str]) -> String {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(flags);
        args.extend(["bb", "httpd", "-f", "-p", "80", "-h", "/www"]);
        self.berth_ok(&args).trim().to_owned()
    }

    /// The host port `berth port CONTAINER PORT` reports, with its address.
    fn host_port(&self, container: &str, port: &str) -> (String, u16) {
        let out = self.berth_ok(&["port", container, port]);
        let line = out.lines().next().unwrap_or_else(|| panic!("no mapping for {port}: {out:?}"));
        let (ip, port) = line.rsplit_once(':').unwrap();
        (ip.to_owned(), port.parse().unwrap())
    }
}

/// The pid of a process's parent (field 4 of /proc/PID/stat).
fn parent_of(pid: &str) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The pids of `parent`'s pasta children (Debian's pasta is passt, which may exec passt.avx2).
fn pasta_children(parent: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let ppid = stat[close + 2..].split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok());
        if matches!(&stat[open + 1..close], "pasta" | "passt" | "passt.avx2") && ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn rootless_default_network_is_pasta_with_the_hosts_address_and_a_way_to_the_host() {
    let Some(mut env) = RootlessLab::new() else { return };
    // A server on the host's second address, and one outside.
    let site = env.path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "hello from the host\n").unwrap();
    env.give(&site);
    let listen = format!("{HOST_SECOND}:8081");
    let server = env
        .in_host(BUSYBOX, &["httpd", "-f", "-p", &listen, "-h", &site.display().to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    env.servers.push(server);
    wait_until(Duration::from_secs(5), "the host's server listening", || {
        let out = env.in_host(BUSYBOX, &["netstat", "-ltn"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&listen)
    });
    let out = env.sh(
        &["--hostname", "web1"],
        "ip -o -4 addr show; cat /etc/hosts /etc/resolv.conf; \
         wget -q -O - http://host.containers.internal:8081/index.html",
    );
    assert!(out.contains(&format!("inet {HOST_FIRST}/24")), "the host's address is copied: {out}");
    assert!(
        out.lines().any(|l| l.starts_with(HOST_SECOND) && l.contains("host.containers.internal")),
        "the host at its other address: {out}"
    );
    assert!(out.lines().any(|l| l.starts_with(HOST_FIRST) && l.contains("web1")), "{out}");
    let first_server = out.lines().find(|l| l.starts_with("nameserver")).unwrap_or_default();
    assert_eq!(first_server, "nameserver 169.254.1.1", "pasta's DNS forwarder first: {out}");
    assert!(out.ends_with("hello from the host\n"), "{out}");
    let inspect = env.inspect_container(&env.web_server(&["--name", "web"]));
    assert_eq!(inspect["HostConfig"]["NetworkMode"], "bridge");
    env.berth_ok(&["rm", "-f", "web"]);
    // By name: pasta, as Podman calls it; user networks are not for rootless containers yet.
    assert_eq!(env.sh(&["--network", "pasta"], "ip -o -4 addr show | grep -c 10.199.0.1").trim(), "1");
    let line = env.berth_fails_125(&["run", "--rm", "--network", "web", "bb", "true"]);
    assert!(line.contains("rootless containers cannot join network web"), "{line}");
    let line = env.berth_fails_125(&["run", "--rm", "--ip", "10.0.0.5", "bb", "true"]);
    assert!(line.contains("--ip needs a user-defined network"), "{line}");
}

#[test]
fn rootless_published_ports_reach_the_container_over_tcp_and_udp() {
    let Some(env) = RootlessLab::new() else { return };
    let id = env.web_server(&["--name", "web", "-p", "127.0.0.1::80", "-p", "8000-8001:8000-8001/udp"]);
    let (ip, port) = env.host_port("web", "80");
    assert_eq!(ip, "127.0.0.1");
    assert_ne!(port, 0);
    assert_eq!(env.fetch(&format!("127.0.0.1:{port}")).as_deref(), Some("hello from the container\n"));
    let ps = env.berth_ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    assert!(ps.contains("0.0.0.0:8001->8001/udp"), "{ps}");
    // UDP through the range's second port, from the host's loopback and from its address.
    env.berth_ok(&["exec", "-d", &id, "udp_echo", "serve", "8001"]);
    let udp_echo = udp_echo_binary().unwrap().display().to_string();
    for addr in ["127.0.0.1", HOST_SECOND] {
        let answer = poll_for(Duration::from_secs(5), || {
            let out = env.in_host(&udp_echo, &["ask", addr, "8001", "ping"]).output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        });
        assert_eq!(answer.as_deref(), Some("echo:ping\n"), "UDP to {addr}:8001");
    }
    let inspect = env.inspect_container("web");
    assert_eq!(inspect["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"], port.to_string());
    env.berth_ok(&["stop", "-t", "1", "web"]);
    assert_eq!(env.berth_ok(&["port", "web"]), "", "no ports once stopped");
    // Started again: a new pasta, the same port asked for (a random one again here).
    env.berth_ok(&["start", "web"]);
    let (_, again) = env.host_port("web", "80");
    assert_eq!(env.fetch(&format!("127.0.0.1:{again}")).as_deref(), Some("hello from the container\n"));
}

#[test]
fn rootless_port_errors_are_clear_at_run_and_change_nothing() {
    let Some(env) = RootlessLab::new() else { return };
    let (code, stderr) = env.berth_err(&["run", "--rm", "-p", "80:80", "bb", "true"]);
    assert_ne!(code, 0);
    let line = assert_one_error_line(&stderr);
    assert!(line.contains("cannot publish port 80") && line.contains("net.ipv4.ip_unprivileged_port_start"), "{line}");
    env.web_server(&["--name", "first", "-p", "127.0.0.1::80"]);
    let (_, port) = env.host_port("first", "80");
    let taken = format!("127.0.0.1:{port}:80");
    let (code, stderr) = env.berth_err(&["run", "-d", "--name", "second", "-p", &taken, "bb", "sleep", "60"]);
    assert_ne!(code, 0);
    let line = assert_one_error_line(&stderr);
    assert!(line.contains("address already in use") && line.contains(&port.to_string()), "{line}");
    let running = env.berth_ok(&["ps", "-q"]);
    assert_eq!(running.lines().count(), 1, "only the first runs: {running}");
    assert_eq!(env.fetch(&format!("127.0.0.1:{port}")).as_deref(), Some("hello from the container\n"));
}

#[test]
fn rootless_pasta_ends_with_its_supervisor_even_after_kill_9() {
    let Some(env) = RootlessLab::new() else { return };
    let id = env.web_server(&["-p", "127.0.0.1::80"]);
    let (_, port) = env.host_port(&id, "80");
    let pid = env.berth_ok(&["inspect", "-f", "{{.State.Pid}}", &id]).trim().to_owned();
    let supervisor = parent_of(&pid);
    let pastas = pasta_children(supervisor);
    assert_eq!(pastas.len(), 1, "one pasta, the supervisor's child");
    let pasta = pastas[0];
    Command::new("kill").args(["-9", &supervisor.to_string()]).status().unwrap();
    wait_until(Duration::from_secs(5), "pasta gone with its supervisor", || {
        !Path::new(&format!("/proc/{pasta}")).exists()
    });
    assert_eq!(env.berth_ok(&["port", &id]), "", "no ports are shown once pasta is gone");
    env.berth_ok(&["rm", "-f", &id]);
    // Its port is free: another container publishes it.
    let again = env.web_server(&["-p", &format!("127.0.0.1:{port}:80")]);
    assert_eq!(env.fetch(&format!("127.0.0.1:{port}")).as_deref(), Some("hello from the container\n"));
    // A clean stop ends pasta too.
    let pid = env.berth_ok(&["inspect", "-f", "{{.State.Pid}}", &again]).trim().to_owned();
    let pasta = pasta_children(parent_of(&pid))[0];
    env.berth_ok(&["stop", "-t", "1", &again]);
    assert!(!Path::new(&format!("/proc/{pasta}")).exists(), "pasta ended before stop returned");
}

#[test]
fn rootless_slirp4netns_by_name_publishes_ports() {
    let Some(env) = RootlessLab::new() else { return };
    if !require_program("slirp4netns") {
        return;
    }
    let out = env.sh(&["--network", "slirp4netns"], "ip -o -4 addr show; cat /etc/resolv.conf");
    assert!(out.contains("inet 10.0.2.100/24"), "{out}");
    assert!(out.contains("nameserver 10.0.2.3"), "{out}");
    env.web_server(&["--name", "slow", "--network", "slirp4netns", "-p", "127.0.0.1::80"]);
    let (_, port) = env.host_port("slow", "80");
    assert_eq!(env.fetch(&format!("127.0.0.1:{port}")).as_deref(), Some("hello from the container\n"));
}

/// `inner` (a berth command) run with `resolv` bind-mounted on /etc/resolv.conf in a mount
/// namespace of its own: what berth and pasta read as the host's resolvers.
fn with_resolv_conf(inner: Command, resolv: &Path) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
    ]);
    cmd.arg(resolv).arg(inner.get_program()).args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.stdin(Stdio::null());
    cmd
}

#[test]
fn rootless_dns_goes_through_pastas_forwarder_to_the_hosts_resolver() {
    let Some(mut env) = RootlessLab::new() else { return };
    // The host's resolver is a tiny DNS server in the outside namespace.
    let udp_echo = udp_echo_binary().unwrap().display().to_string();
    let server = Lab::command_in(&env.lab.outside, &udp_echo, &["dns", OUTSIDE, "53", "10.1.2.3"]).spawn().unwrap();
    env.servers.push(server);
    let resolv = env.path("resolv.conf");
    std::fs::write(&resolv, format!("nameserver {OUTSIDE}\n")).unwrap();
    let script = "grep -m 1 ^nameserver /etc/resolv.conf; \
                  for i in 1 2 3 4 5 6 7 8 9 10; do nslookup -type=a db.example.test 169.254.1.1 && break; sleep 0.2; done";
    let out = with_resolv_conf(env.command(["run", "--rm", "bb", "sh", "-c", script]), &resolv).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("nameserver 169.254.1.1\n"), "{stdout}");
    assert!(stdout.contains("Address: 10.1.2.3"), "the name resolved through pasta: {stdout}");
}

#[test]
fn rootless_containers_on_a_host_without_a_default_route_get_slirp4netns() {
    let Some(env) = RootlessLab::new() else { return };
    if !require_program("slirp4netns") {
        return;
    }
    env.lab.in_host("ip", &["route", "del", "default"]);
    let out = env.sh(&[], "ip -o -4 addr show");
    assert!(out.contains("inet 10.0.2.100/24"), "slirp4netns, which needs no default route: {out}");
    // Asked for by name, pasta says why it cannot.
    let (code, stderr) = env.berth_err(&["run", "--rm", "--network", "pasta", "bb", "true"]);
    assert_ne!(code, 0);
    let line = assert_one_error_line(&stderr);
    assert!(line.contains("pasta failed"), "{line}");
}
