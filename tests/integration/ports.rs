//! Published ports, root: `-p` in its forms, `-P`, `port`, ps PORTS, inspect NetworkSettings and
//! the conflict error, with berth in a lab's "host" namespace; clients connect from there (to
//! 127.0.0.1) and from the "outside" namespace (to the host's address on their link).

use serde_json::Value;

use crate::networking::{Lab, NetEnv, endpoints_in_state, inspect_field};
use crate::util::assert_one_error_line;

const HOST_SIDE: &str = "10.199.0.1";

#[test]
fn published_ports_are_reachable_on_loopback_and_from_outside() {
    let Some(env) = NetEnv::new() else { return };
    let id = env.web_server(&["--name", "web", "-p", "127.0.0.1:18080:80", "-p", "18081:80", "-p", "18082-18083:80"]);
    let host = env.lab.host.clone();
    let outside = env.lab.outside.clone();
    let body = env.fetch_from(&host, "127.0.0.1:18080");
    assert_eq!(body.as_deref(), Some("hello from the container\n"), "127.0.0.1 publishing from the host");
    let body = env.fetch_from(&outside, &format!("{HOST_SIDE}:18081"));
    assert_eq!(body.as_deref(), Some("hello from the container\n"), "every-address publishing from outside");
    assert_eq!(
        env.fetch_from(&outside, &format!("{HOST_SIDE}:18080")),
        None,
        "127.0.0.1 only is not reachable from outside"
    );
    let ports = env.berth_ok(&["port", "web"]);
    let lines: Vec<&str> = ports.lines().collect();
    assert_eq!(lines.len(), 3, "{ports}");
    assert!(lines.contains(&"80/tcp -> 127.0.0.1:18080") && lines.contains(&"80/tcp -> 0.0.0.0:18081"), "{ports}");
    let ranged = lines.iter().find(|l| l.contains(":1808") && !l.ends_with("18080") && !l.ends_with("18081")).unwrap();
    assert!(ranged.ends_with("18082") || ranged.ends_with("18083"), "one free port of the range: {ports}");
    assert!(env.berth_ok(&["port", "web", "80/tcp"]).lines().any(|l| l == "127.0.0.1:18080"));
    let (code, stderr) = env.berth_err(&["port", "web", "81"]);
    assert_eq!(code, 1);
    assert!(assert_one_error_line(&stderr).contains("No public port '81/tcp' published for web"), "{stderr}");
    let ps = env.berth_ok(&["ps", "--format", "{{.Ports}}|{{.Networks}}"]);
    assert!(ps.contains("127.0.0.1:18080->80/tcp") && ps.contains("0.0.0.0:18081->80/tcp"), "{ps}");
    assert!(ps.trim_end().ends_with("|bridge"), "{ps}");
    // ps --filter publish= (host ports) and expose= (container ports), as Docker's.
    env.berth_ok(&["run", "-d", "--name", "plain", "--expose", "7000-7010/udp", "bb", "sleep", "600"]);
    let names = |filter: &str| env.berth_ok(&["ps", "--filter", filter, "--format", "{{.Names}}"]);
    assert_eq!(names("publish=18081"), "web\n");
    assert_eq!(names("publish=18080-18081/tcp"), "web\n");
    assert_eq!(names("publish=80"), "", "80 is the container's port, not a published one");
    assert_eq!(names("publish=18081/udp"), "");
    assert_eq!(names("expose=80"), "web\n");
    assert_eq!(names("expose=7005/udp"), "plain\n");
    assert_eq!(names("expose=7005"), "", "tcp unless told");
    let line = env.berth_fails_125(&["ps", "--filter", "publish=http"]);
    assert!(line.contains("invalid filter") && line.contains("not a port number"), "{line}");
    env.berth_ok(&["rm", "-f", "plain"]);
    let settings: Value =
        serde_json::from_str(&inspect_field(&env, &id, "{{json .NetworkSettings}}")).expect("NetworkSettings is JSON");
    let ip = settings["IPAddress"].as_str().unwrap();
    assert!(ip.starts_with("10.77."), "{settings}");
    assert_eq!(settings["Gateway"], "10.77.0.1");
    assert_eq!(settings["IPPrefixLen"], 16);
    assert_eq!(settings["Networks"]["bridge"]["IPAddress"], ip);
    assert_eq!(settings["MacAddress"].as_str().unwrap().len(), 17);
    let bindings = settings["Ports"]["80/tcp"].as_array().unwrap();
    assert!(bindings.iter().any(|b| b["HostIp"] == "127.0.0.1" && b["HostPort"] == "18080"), "{settings}");
    env.berth_ok(&["rm", "-f", "web"]);
    assert_eq!(env.fetch_once(&host, "127.0.0.1:18080"), None, "the forward went with the container");
}

#[test]
fn a_port_conflict_fails_at_run_naming_the_port_and_leaks_nothing() {
    let Some(env) = NetEnv::new() else { return };
    env.web_server(&["-p", "127.0.0.1:18090:80"]);
    let (code, stderr) = env.berth_err(&["run", "--rm", "-p", "127.0.0.1:18090:80", "bb", "true"]);
    assert_eq!(code, 125);
    let line = assert_one_error_line(&stderr);
    assert!(line.contains("127.0.0.1:18090") && line.contains("address already in use"), "{line}");
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]).lines().count(), 1, "the --rm container is gone");
    assert_eq!(endpoints_in_state(&env), 1, "only the first container's endpoint");
    let veths = env.lab.host_links().into_iter().filter(|l| l.starts_with("veth")).count();
    assert_eq!(veths, 1);
}

#[test]
fn publish_all_publishes_the_exposed_ports_to_random_ones() {
    let Some(env) = NetEnv::with_image(&["EXPOSE 80"]) else { return };
    env.web_server(&["--name", "web", "-P", "--expose", "9000/udp"]);
    let ports = env.berth_ok(&["port", "web"]);
    let tcp = ports.lines().find(|l| l.starts_with("80/tcp -> 0.0.0.0:")).unwrap_or_else(|| panic!("{ports}"));
    let port = tcp.rsplit(':').next().unwrap();
    assert!(ports.lines().any(|l| l.starts_with("9000/udp -> 0.0.0.0:")), "--expose is published too: {ports}");
    let outside = env.lab.outside.clone();
    let body = env.fetch_from(&outside, &format!("{HOST_SIDE}:{port}"));
    assert_eq!(body.as_deref(), Some("hello from the container\n"));
}

#[test]
fn a_udp_port_is_published_to_loopback_and_to_every_address() {
    let Some(env) = NetEnv::new() else { return };
    if crate::util::static_helper("udpecho").is_none() {
        return crate::util::skip_or_fail("cc -static failed to build udpecho.c (is libc6-dev installed?)");
    }
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "echo",
        "-p",
        "127.0.0.1:18053:53/udp",
        "-p",
        "18054:53/udp",
        "bb",
        "udpecho",
        "serve",
        "53",
    ]);
    let udpecho = crate::util::static_helper("udpecho").unwrap();
    let send = |ns: &str, addr: &str, port: &str| {
        let out = Lab::command_in(ns, udpecho.to_str().unwrap(), &["send", addr, port, "ping"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let host = env.lab.host.clone();
    let outside = env.lab.outside.clone();
    let poll = |ns: &str, addr: &str, port: &str| {
        crate::util::poll_for(std::time::Duration::from_secs(5), || {
            Some(send(ns, addr, port)).filter(|r| !r.is_empty())
        })
    };
    assert_eq!(poll(&host, "127.0.0.1", "18053").as_deref(), Some("echo:ping"), "127.0.0.1 publishing from the host");
    assert_eq!(poll(&outside, HOST_SIDE, "18054").as_deref(), Some("echo:ping"), "every address, from outside");
    assert_eq!(send(&outside, HOST_SIDE, "18053"), "", "127.0.0.1 only is not reachable from outside");
    assert_eq!(env.berth_ok(&["port", "echo", "53/udp"]).lines().count(), 2);
    env.berth_ok(&["rm", "-f", "echo"]);
    assert_eq!(send(&host, "127.0.0.1", "18053"), "", "the forward went with the container");
}
