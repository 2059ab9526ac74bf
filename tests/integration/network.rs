//! `berth network` through the binary, each test with its own store. Nothing here needs a
//! container: records are created, listed, inspected and removed; a running container's
//! attachment is stood in for by a runtime state entry whose owner is this test process (alive)
//! or a process that has ended (dead). Whatever touches the firewall runs inside a network
//! namespace made for it (`unshare --net`), never in the host's.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::util::{BERTH, TestEnv, assert_one_error_line, require_program, require_root};

fn ok(env: &TestEnv, args: &[&str]) -> String {
    env.berth_ok(args)
}

/// Runs berth, expects exit 1 (Docker's for these) and one error line; returns it.
fn fails_1(env: &TestEnv, args: &[&str]) -> String {
    let (code, stderr) = env.berth_err(args);
    assert_eq!(code, 1, "berth {} exit code; stderr:\n{stderr}", args.join(" "));
    assert_one_error_line(&stderr)
}

fn network_id(env: &TestEnv, name: &str) -> String {
    ok(env, &["network", "inspect", "-f", "{{.Id}}", name]).trim().to_owned()
}

fn inspect(env: &TestEnv, name: &str) -> Value {
    let out = ok(env, &["network", "inspect", name]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect is not JSON ({e}):\n{out}"));
    v[0].clone()
}

/// Field 22 of /proc/PID/stat.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    after.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// An owner that is alive for the whole test: this process.
fn live_owner() -> Value {
    json!({ "pid": std::process::id(), "start_time": start_time(std::process::id()) })
}

/// An owner that is dead: a process that has ended.
fn dead_owner() -> Value {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    let start = start_time(pid);
    child.wait().unwrap();
    json!({ "pid": pid, "start_time": start })
}

/// Stands in for a running container attached to network `id` (what the start path records).
fn attach_in_state(env: &TestEnv, id: &str, container: &str, addr: &str, owner: Value, ports: Value) {
    let dir = env.runroot.join("networks");
    std::fs::create_dir_all(&dir).unwrap();
    let container_id = format!("{container}{}", "0".repeat(64 - container.len()));
    let state = json!({
        "endpoints": {
            &container_id: {
                "container_id": container_id,
                "container_name": container,
                "owner": owner,
                "ifname": "eth0",
                "host_veth": "vethnotthere0",
                "mac": "02:42:0a:00:00:02",
                "addresses": [addr],
                "ports": ports,
                "complete": true,
            }
        },
        "last": {},
    });
    std::fs::write(dir.join(format!("{id}.json")), serde_json::to_vec(&state).unwrap()).unwrap();
}

/// Runs `script` with `sh` in a network namespace of its own, `$BERTH` being this test's
/// berth (with its --root, --runroot and --config); returns stdout, asserting success.
fn in_own_netns(env: &TestEnv, script: &str) -> String {
    let berth = format!(
        "{BERTH} --root {} --runroot {} --config {}",
        env.root.display(),
        env.runroot.display(),
        env.config.display()
    );
    let out = Command::new("unshare")
        .args(["--net", "--", "sh", "-ec", script])
        .env("BERTH", berth)
        .stdin(Stdio::null())
        .output()
        .expect("running unshare");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{script}\nstdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn create_ls_inspect_rm_like_docker() {
    let env = TestEnv::new();
    // The predefined networks exist from the first use.
    let ls = ok(&env, &["network", "ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(lines[0].starts_with("NETWORK ID") && lines[0].contains("NAME") && lines[0].ends_with("SCOPE"), "{ls}");
    let names: Vec<&str> = lines[1..].iter().map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    let bridge = inspect(&env, "bridge");
    assert_eq!(bridge["Driver"], "bridge");
    assert_eq!(bridge["Options"]["com.docker.network.bridge.name"], "berth0");
    let subnet = bridge["IPAM"]["Config"][0]["Subnet"].as_str().unwrap().to_owned();
    for peer in ["172.17.0.0/16", "10.88.0.0/16"] {
        assert_ne!(subnet, peer, "the default subnet avoids Docker's and Podman's");
    }

    let id = ok(&env, &["network", "create", "--label", "team=web", "web"]).trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let web = inspect(&env, "web");
    assert_eq!(web["Id"], id.as_str());
    assert_eq!(web["Name"], "web");
    assert_eq!(web["Scope"], "local");
    assert_eq!(web["Internal"], false);
    assert_eq!(web["Containers"], json!({}));
    assert_eq!(web["Labels"]["team"], "web");
    assert_eq!(web["Options"]["com.docker.network.bridge.name"], "berth1");
    assert!(web["IPAM"]["Config"][0]["Subnet"].as_str().unwrap().ends_with("/24"));
    assert_eq!(inspect(&env, &id[..8])["Name"], "web", "a unique id prefix names a network");

    ok(
        &env,
        &[
            "network",
            "create",
            "--subnet",
            "10.212.0.0/24",
            "--gateway",
            "10.212.0.254",
            "--ip-range",
            "10.212.0.128/25",
            "--internal",
            "--ipv6",
            "-o",
            "mtu=1400",
            "back",
        ],
    );
    let back = inspect(&env, "back");
    assert_eq!(back["Internal"], true);
    assert_eq!(back["EnableIPv6"], true);
    assert_eq!(
        back["IPAM"]["Config"][0],
        json!({"Subnet": "10.212.0.0/24", "Gateway": "10.212.0.254", "IPRange": "10.212.0.128/25"})
    );
    assert!(back["IPAM"]["Config"][1]["Subnet"].as_str().unwrap().starts_with("fd"));
    assert_eq!(back["Options"]["com.docker.network.driver.mtu"], "1400");

    assert_eq!(ok(&env, &["network", "ls", "-q", "--filter", "name=we"]).trim(), &id[..12]);
    assert_eq!(ok(&env, &["network", "ls", "-q", "--no-trunc", "--filter", "label=team=web"]).trim(), id);
    let custom =
        ok(&env, &["network", "ls", "--filter", "type=custom", "--format", "{{.Name}} {{.Driver}} {{.Internal}}"]);
    assert_eq!(custom, "back bridge true\nweb bridge false\n");
    let builtin = ok(&env, &["network", "ls", "--filter", "type=builtin", "--format", "{{.Name}}"]);
    assert_eq!(builtin, "bridge\nhost\nnone\n");
    let json_rows = ok(&env, &["network", "ls", "--format", "json", "--filter", "name=back"]);
    let row: Value = serde_json::from_str(json_rows.trim()).unwrap();
    assert_eq!(row["Name"], "back");

    assert_eq!(ok(&env, &["network", "rm", "web", "back"]), "web\nback\n");
    assert!(!ok(&env, &["network", "ls"]).contains("web"));
    let line = fails_1(&env, &["network", "inspect", "web"]);
    assert_eq!(line, "berth: network web not found");
}

#[test]
fn hostile_input_is_refused_and_changes_nothing() {
    let env = TestEnv::new();
    ok(&env, &["network", "create", "--subnet", "10.213.0.0/24", "front"]);
    let records = env.root.join("networks.json");
    let before = read(&records);
    let cases: &[(&[&str], &str)] = &[
        (&["--subnet", "10.0.0.0/33", "x"], "berth: creating network x: invalid CIDR address: 10.0.0.0/33"),
        (
            &["a/b"],
            "berth: creating network a/b: invalid network name \"a/b\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        ),
        (&["front"], "berth: creating network front: network with name front already exists"),
        (&["bridge"], "berth: creating network bridge: network with name bridge already exists"),
        (
            &["--subnet", "10.213.0.128/25", "x"],
            "berth: creating network x: invalid pool request: Pool overlaps with other one on this address space \
             (10.213.0.128/25 and 10.213.0.0/24 of network front)",
        ),
        (
            &["--subnet", "10.214.0.1/24", "x"],
            "berth: creating network x: invalid subnet 10.214.0.1/24: host bits are set (the network address is 10.214.0.0/24)",
        ),
        (
            &["--driver", "macvlan", "x"],
            "berth: creating network x: driver \"macvlan\" is not supported: berth has only the bridge driver",
        ),
        (&["-o", "mtu=99999", "x"], "berth: creating network x: invalid mtu \"99999\": use a number from 68 to 65535"),
        (&["--gateway", "10.9.9.9", "x"], "berth: creating network x: every --gateway and --ip-range needs a --subnet"),
    ];
    for (args, want) in cases {
        let mut full = vec!["network", "create"];
        full.extend_from_slice(args);
        assert_eq!(fails_1(&env, &full), *want);
    }
    assert_eq!(read(&records), before, "no failed create changed the records");

    assert_eq!(
        fails_1(&env, &["network", "rm", "bridge"]),
        "berth: bridge is a pre-defined network and cannot be removed"
    );
    assert_eq!(fails_1(&env, &["network", "rm", "host"]), "berth: host is a pre-defined network and cannot be removed");
    assert_eq!(fails_1(&env, &["network", "rm", "nope"]), "berth: network nope not found");
    assert_eq!(ok(&env, &["network", "rm", "-f", "nope"]), "");
    assert_eq!(fails_1(&env, &["network", "ls", "--filter", "color=red"]).split(':').next(), Some("berth"));
    assert_eq!(read(&records), before);
}

#[test]
fn a_network_in_use_is_not_removed_until_its_container_is_gone() {
    if !require_root("the dead container's clean-up runs nft and netlink in a namespace made for it")
        || !require_program("unshare")
        || !require_program("nft")
    {
        return;
    }
    let env = TestEnv::new();
    ok(&env, &["network", "create", "--subnet", "10.215.0.0/24", "web"]);
    let id = network_id(&env, "web");
    attach_in_state(&env, &id, "app", "10.215.0.2", live_owner(), json!([]));
    let line = fails_1(&env, &["network", "rm", "web"]);
    assert_eq!(line, "berth: error while removing network: network web has active endpoints (app)");
    assert!(inspect(&env, "web")["Containers"].as_object().unwrap().values().any(|c| c["Name"] == "app"));
    assert_eq!(ok(&env, &["network", "prune", "-f"]), "", "prune keeps a network in use");
    assert!(ok(&env, &["network", "ls"]).contains("web"));

    // The container's supervisor dies: the next command cleans up after it (in a namespace of
    // its own, where berth's table is applied and removed), and the network can go.
    attach_in_state(&env, &id, "app", "10.215.0.2", dead_owner(), json!([]));
    assert_eq!(inspect(&env, "web")["Containers"], json!({}), "a dead container is not shown");
    let out = in_own_netns(&env, "$BERTH network rm web");
    assert_eq!(out, "web\n");
    assert!(!env.runroot.join("networks").join(format!("{id}.json")).exists());
}

#[test]
fn prune_removes_unused_networks_by_filter() {
    let env = TestEnv::new();
    ok(&env, &["network", "create", "keep"]);
    ok(&env, &["network", "create", "--label", "tmp=1", "scratch"]);
    ok(&env, &["network", "create", "--label", "tmp=1", "scratch2"]);
    let out = ok(&env, &["network", "prune", "-f", "--filter", "label=tmp=1"]);
    assert_eq!(out, "Deleted Networks:\nscratch\nscratch2\n");
    let out = ok(&env, &["network", "prune", "-f", "--filter", "until=24h"]);
    assert_eq!(out, "", "nothing is a day old");
    assert_eq!(ok(&env, &["network", "prune", "-f"]), "Deleted Networks:\nkeep\n");
    assert_eq!(ok(&env, &["network", "ls", "--format", "{{.Name}}"]), "bridge\nhost\nnone\n");
    let (code, stderr) = env.berth_err(&["network", "prune"]);
    assert_eq!(code, 1, "not confirmed without a terminal: {stderr}");
}

#[test]
fn reload_rebuilds_berths_table_in_the_namespace_and_touches_no_other() {
    if !require_root("reload applies nftables rules (in a namespace made for it)")
        || !require_program("unshare")
        || !require_program("nft")
    {
        return;
    }
    let env = TestEnv::new();
    ok(&env, &["network", "create", "--subnet", "10.216.0.0/24", "web"]);
    let id = network_id(&env, "web");
    let ports = json!([{ "host_ip": "127.0.0.1", "host_port": 18080, "container_port": 80, "protocol": "tcp" }]);
    attach_in_state(&env, &id, "app", "10.216.0.2", live_owner(), ports);
    // Someone flushed everything (here: a table of someone else's stays as it was).
    let out = in_own_netns(
        &env,
        "nft add table inet other; nft add chain inet other keep; $BERTH network reload; nft list table inet berth; \
         nft list table inet other",
    );
    assert!(out.contains("ip daddr 127.0.0.1 tcp dport 18080 dnat ip to 10.216.0.2:80"), "{out}");
    assert!(out.contains("ip saddr 10.216.0.0/24 oifname != \"berth1\" masquerade"), "{out}");
    assert!(out.contains("table inet other") && out.contains("chain keep"), "{out}");
    // With no container left, the network's rules stay (as its bridge does) and the
    // container's go; with the network removed, no table is left.
    attach_in_state(&env, &id, "app", "10.216.0.2", dead_owner(), json!([]));
    let out = in_own_netns(&env, "$BERTH network reload; nft list table inet berth");
    assert!(out.contains("ip saddr 10.216.0.0/24 oifname != \"berth1\" masquerade"), "{out}");
    assert!(!out.contains("chain ctr-"), "{out}");
    let out = in_own_netns(&env, "$BERTH network reload; $BERTH network rm web; nft list tables");
    assert!(!out.contains("inet berth"), "{out}");
}
