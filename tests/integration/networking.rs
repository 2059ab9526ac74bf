//! Containers on networks, root: berth runs in a network namespace the test makes ("host"), with
//! a veth to a second one ("outside") that stands for the world. Traffic goes only between
//! those namespaces, the containers' and loopback. Each test's namespaces are its own.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::util::{
    BUSYBOX, ContainerEnv, NETWORK_CONFIG, TestEnv, assert_one_error_line, require_program, require_root, wait_until,
};

/// The outside namespace's address, and the host's on the same link.
pub const OUTSIDE: &str = "10.199.0.2";
const HOST_SIDE: &str = "10.199.0.1";

/// Two network namespaces joined by a veth: "host", where berth runs, and "outside".
pub struct Lab {
    pub host: String,
    pub outside: String,
    servers: Vec<Child>,
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("running {program}: {e}"))
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(out.status.success(), "{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Lab {
    /// None (a skip, or a failure in CI) without root, ip, nsenter or nft.
    pub fn new() -> Option<Lab> {
        if !require_root("networking tests make network namespaces, bridges and firewall rules")
            || !["ip", "nsenter", "nft"].iter().all(|p| require_program(p))
        {
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("bt{}-{n}", std::process::id());
        let lab = Lab { host: format!("{tag}-h"), outside: format!("{tag}-o"), servers: Vec::new() };
        for ns in [&lab.host, &lab.outside] {
            run_ok("ip", &["netns", "add", ns]);
            run_ok("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        run_ok(
            "ip",
            &["-n", &lab.host, "link", "add", "vo0", "type", "veth", "peer", "name", "vo1", "netns", &lab.outside],
        );
        run_ok("ip", &["-n", &lab.host, "addr", "add", &format!("{HOST_SIDE}/24"), "dev", "vo0"]);
        run_ok("ip", &["-n", &lab.host, "link", "set", "vo0", "up"]);
        run_ok("ip", &["-n", &lab.outside, "addr", "add", &format!("{OUTSIDE}/24"), "dev", "vo1"]);
        run_ok("ip", &["-n", &lab.outside, "link", "set", "vo1", "up"]);
        Some(lab)
    }

    pub fn host_path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.host)
    }

    /// A command in namespace `ns` (one of the lab's).
    pub fn command_in(ns: &str, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{ns}")).arg("--").arg(program).args(args).stdin(Stdio::null());
        cmd
    }

    /// Output of `program args` in the host namespace, asserting success.
    pub fn in_host(&self, program: &str, args: &[&str]) -> String {
        let out = Lab::command_in(&self.host, program, args).output().expect("nsenter");
        assert!(out.status.success(), "{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An HTTP server (busybox httpd) on OUTSIDE:port serving `dir`, for the lab's life.
    pub fn serve_outside(&mut self, port: u16, dir: &std::path::Path) {
        let listen = format!("{OUTSIDE}:{port}");
        let dir = dir.display().to_string();
        let child = Lab::command_in(&self.outside, BUSYBOX, &["httpd", "-f", "-p", &listen, "-h", &dir])
            .stdout(Stdio::null())
            .spawn()
            .expect("starting busybox httpd");
        self.servers.push(child);
        let outside = self.outside.clone();
        wait_until(Duration::from_secs(5), "the outside server listening", || {
            let out = Lab::command_in(&outside, BUSYBOX, &["netstat", "-ltn"]).output().expect("netstat");
            String::from_utf8_lossy(&out.stdout).contains(&listen)
        });
    }

    /// The host namespace's links, by name.
    pub fn host_links(&self) -> Vec<String> {
        self.in_host("ip", &["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            .collect()
    }

    /// The host namespace's nftables ruleset.
    pub fn host_ruleset(&self) -> String {
        self.in_host("nft", &["list", "ruleset"])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
        for ns in [&self.host, &self.outside] {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}

/// A busybox image in a store whose berth runs in a lab's host namespace. The containers go
/// (the env is dropped) before the namespaces do.
pub struct NetEnv {
    pub env: ContainerEnv,
    pub lab: Lab,
}

impl std::ops::Deref for NetEnv {
    type Target = ContainerEnv;
    fn deref(&self) -> &ContainerEnv {
        &self.env
    }
}

impl NetEnv {
    pub fn new() -> Option<NetEnv> {
        NetEnv::with_image(&[])
    }

    /// With `changes` to the image ("EXPOSE 80"); the image has /www/index.html for httpd,
    /// and /bin/udpecho (udpecho.c) when it builds.
    pub fn with_image(changes: &[&str]) -> Option<NetEnv> {
        let lab = Lab::new()?;
        let mut env = TestEnv::with_config(NETWORK_CONFIG);
        env.netns = Some(lab.host_path());
        let udpecho = crate::util::static_helper("udpecho");
        let env = env.with_busybox("bb", changes, |root| {
            std::fs::create_dir_all(root.join("www")).unwrap();
            std::fs::write(root.join("www/index.html"), "hello from the container\n").unwrap();
            if let Some(udpecho) = &udpecho {
                std::fs::copy(udpecho, root.join("bin/udpecho")).unwrap();
            }
        });
        Some(NetEnv { env, lab })
    }

    /// A detached container serving /www with httpd on port 80, with `flags`; its id.
    pub fn web_server(&self, flags: &[&str]) -> String {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(flags);
        args.extend(["bb", "httpd", "-f", "-p", "80", "-h", "/www"]);
        self.berth_ok(&args).trim().to_owned()
    }

    /// wget of http://ADDR/index.html from the lab's namespace `ns` (retried while the server
    /// starts); its body, or None. (Debian's busybox wget crashes with -T: busybox timeout bounds it.)
    pub fn fetch_from(&self, ns: &str, addr: &str) -> Option<String> {
        crate::util::poll_for(Duration::from_secs(5), || self.fetch_once(ns, addr))
    }

    /// One wget of http://ADDR/index.html from `ns`: its body, or None.
    pub fn fetch_once(&self, ns: &str, addr: &str) -> Option<String> {
        let url = format!("http://{addr}/index.html");
        let out =
            Lab::command_in(ns, BUSYBOX, &["timeout", "3", BUSYBOX, "wget", "-q", "-O", "-", &url]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

pub fn inspect_field(env: &NetEnv, container: &str, format: &str) -> String {
    env.berth_ok(&["inspect", "-f", format, container]).trim().to_owned()
}

/// The ppid of a process (field 4 of /proc/PID/stat).
fn parent_of(pid: &str) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(1).unwrap().parse().unwrap()
}

pub fn endpoints_in_state(env: &NetEnv) -> usize {
    let dir = env.runroot.join("networks");
    let Ok(entries) = std::fs::read_dir(&dir) else { return 0 };
    entries
        .map(|e| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            v["endpoints"].as_object().map_or(0, |o| o.len())
        })
        .sum()
}

#[test]
fn the_default_network_reaches_the_outside_and_leaves_nothing_behind() {
    let Some(mut env) = NetEnv::new() else { return };
    let site = env.path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("hello.txt"), "hello from outside\n").unwrap();
    env.lab.serve_outside(8080, &site);
    let out = env.sh(
        &["--hostname", "web1"],
        &format!("wget -q -O - http://{OUTSIDE}:8080/hello.txt; ip -o -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf"),
    );
    assert!(out.starts_with("hello from outside\n"), "{out}");
    let addr =
        out.lines().find(|l| l.contains("eth0")).and_then(|l| l.split_whitespace().nth(3)).expect("eth0 address");
    assert!(addr.starts_with("10.77.") && addr.ends_with("/16"), "the default network's pool: {out}");
    let ip = addr.split('/').next().unwrap();
    assert!(out.contains("default via 10.77.0.1"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with(ip) && l.contains("web1")),
        "the container's own name on its address: {out}"
    );
    assert!(out.contains("host.docker.internal"), "{out}");
    // Gone with the container: its veth, its address; the bridge and its rules stay.
    let links = env.lab.host_links();
    assert!(links.iter().all(|l| !l.starts_with("veth")), "{links:?}");
    assert!(links.contains(&"berth0".to_owned()), "the bridge stays, as Docker's: {links:?}");
    let rules = env.lab.host_ruleset();
    assert!(rules.contains("oifname != \"berth0\" masquerade") && !rules.contains("chain ctr-"), "{rules}");
    assert_eq!(endpoints_in_state(&env), 0);
    // none: loopback only; host: the namespace berth runs in.
    let none = env.sh(&["--network", "none"], "ip -o link show");
    assert!(none.contains("lo:") && !none.contains("eth0"), "{none}");
    let host = env.sh(&["--network", "host"], "ip -o link show");
    assert!(host.contains("vo0"), "{host}");
}

#[test]
fn network_flags_are_checked_at_create_and_change_nothing() {
    let Some(env) = NetEnv::new() else { return };
    let line = env.berth_fails_125(&["run", "--rm", "--network", "nosuch", "bb", "true"]);
    assert!(line.contains("network nosuch not found"), "{line}");
    let line = env.berth_fails_125(&["run", "--rm", "-p", "99999:80", "bb", "true"]);
    assert!(line.contains("invalid hostPort: 99999"), "{line}");
    let line = env.berth_fails_125(&["run", "--rm", "--network", "host", "--network", "bridge", "bb", "true"]);
    assert!(line.contains("conflicting options"), "{line}");
    let line = env.berth_fails_125(&["run", "--rm", "--network", "none", "--ip", "10.77.0.9", "bb", "true"]);
    assert!(line.contains("--ip needs a bridge network"), "{line}");
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]), "", "no container was made");
}

#[test]
fn a_network_in_use_is_not_removed() {
    let Some(env) = NetEnv::new() else { return };
    env.berth_ok(&["network", "create", "web"]);
    env.berth_ok(&["run", "-d", "--name", "app", "--network", "web", "bb", "sleep", "600"]);
    let (code, stderr) = env.berth_err(&["network", "rm", "web"]);
    assert_eq!(code, 1, "{stderr}");
    let line = assert_one_error_line(&stderr);
    assert!(line.contains("web") && line.contains("active endpoints") && line.contains("app"), "{line}");
    let addr = inspect_field(&env, "app", "{{.HostConfig.NetworkMode}}");
    assert_eq!(addr, "web");
    env.berth_ok(&["rm", "-f", "app"]);
    env.berth_ok(&["network", "rm", "web"]);
    assert!(env.lab.host_links().iter().all(|l| !l.starts_with("veth") && l != "berth1"), "{:?}", env.lab.host_links());
}

#[test]
fn a_killed_supervisor_leaves_nothing_the_next_networking_command_does_not_collect() {
    let Some(env) = NetEnv::new() else { return };
    let id = env.berth_ok(&["run", "-d", "bb", "sleep", "600"]).trim().to_owned();
    let pid = inspect_field(&env, &id, "{{.State.Pid}}");
    assert!(env.lab.host_links().iter().any(|l| l.starts_with("veth")), "{:?}", env.lab.host_links());
    assert!(env.lab.host_ruleset().contains("table inet berth"));
    assert_eq!(endpoints_in_state(&env), 1);
    let supervisor = parent_of(&pid);
    run_ok("kill", &["-9", &supervisor.to_string()]);
    wait_until(Duration::from_secs(5), "the supervisor gone", || {
        !std::path::Path::new(&format!("/proc/{supervisor}")).exists() || parent_of(&pid) != supervisor
    });
    // The next container's set-up collects it first.
    let next = env.berth_ok(&["run", "-d", "bb", "sleep", "600"]).trim().to_owned();
    assert_eq!(endpoints_in_state(&env), 1, "the dead supervisor's endpoint is collected");
    let veths: Vec<String> = env.lab.host_links().into_iter().filter(|l| l.starts_with("veth")).collect();
    assert_eq!(veths.len(), 1, "only the new container's veth: {veths:?}");
    let rules = env.lab.host_ruleset();
    assert!(rules.contains("table inet berth"), "{rules}");
    // The orphaned container is still stoppable and removable; then the network command that
    // comes next (here network prune) collects what is left.
    env.berth_ok(&["rm", "-f", &id]);
    let out = env.sh(&[], "ip -o -4 addr show eth0");
    assert!(out.contains("inet 10.77."), "{out}");
    let next_pid = inspect_field(&env, &next, "{{.State.Pid}}");
    run_ok("kill", &["-9", &parent_of(&next_pid).to_string()]);
    wait_until(Duration::from_secs(5), "the second supervisor gone", || {
        parent_of(&next_pid) == 1 || !std::path::Path::new(&format!("/proc/{next_pid}")).exists()
    });
    env.berth_ok(&["network", "prune", "-f"]);
    assert_eq!(endpoints_in_state(&env), 0);
    assert!(env.lab.host_links().iter().all(|l| !l.starts_with("veth")), "{:?}", env.lab.host_links());
    assert!(!env.lab.host_ruleset().contains("chain ctr-"), "{}", env.lab.host_ruleset());
}

#[test]
fn network_container_shares_the_other_containers_interfaces() {
    let Some(env) = NetEnv::new() else { return };
    env.web_server(&["--name", "web"]);
    let web_ip = inspect_field(&env, "web", "{{.NetworkSettings.IPAddress}}");
    let out =
        env.sh(&["--network", "container:web"], "ip -o -4 addr show eth0; wget -q -O - http://127.0.0.1/index.html");
    assert!(out.contains(&format!("inet {web_ip}/")), "the same eth0: {out}");
    assert!(out.contains("hello from the container"), "the same loopback: {out}");
    let mode = env.berth_ok(&["create", "--name", "shared", "--network", "container:web", "bb", "true"]);
    assert_eq!(
        inspect_field(&env, mode.trim(), "{{.HostConfig.NetworkMode}}"),
        format!("container:{}", inspect_field(&env, "web", "{{.Id}}"))
    );
    env.berth_ok(&["stop", "web"]);
    let line = env.berth_fails_125(&["run", "--rm", "--network", "container:web", "bb", "true"]);
    assert!(line.contains("not running"), "{line}");
    let line = env.berth_fails_125(&["run", "--rm", "--network", "container:nosuch", "bb", "true"]);
    assert!(line.contains("no such container"), "{line}");
    // A container whose namespace another one names is not removed, even with -f.
    env.berth_ok(&["start", "web"]);
    let (code, stderr) = env.berth_err(&["rm", "-f", "web"]);
    assert_eq!(code, 1, "{stderr}");
    let line = assert_one_error_line(&stderr);
    assert_eq!(
        line,
        "berth: cannot remove container web: its network namespace is shared by shared (--network container:web): \
         remove them first"
    );
    assert_eq!(inspect_field(&env, "web", "{{.State.Status}}"), "running", "rm changed nothing");
    env.berth_ok(&["rm", "shared"]);
    env.berth_ok(&["rm", "-f", "web"]);
}
