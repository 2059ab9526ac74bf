//! Attaching, detaching and garbage collection: the logic with a recording kernel (no root),
//! and the whole path for real in network namespaces the test makes (a "host" with berth's
//! bridge and table, a "container"), with a published port reached from the host's loopback.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};

use super::NetworkError;
use super::attach::{self, AttachRequest, ContainerRef, Join};
use super::firewall::nft;
use super::gc;
use super::kernel::HostKernel;
use super::kernel::recording::RecordingKernel;
use super::manage::{self, CreateOptions};
use super::ports::{PortMapping, Protocol};
use super::state::{NetworkState, Owner};
use super::test_support::{require_root_and_nft, turn};
use crate::sandbox::netns::{in_netns, in_new_netns};
use crate::store::Store;

const C1: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
const C2: &str = "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2";
const LIVE: Owner = Owner { pid: 100, start_time: 1 };
const DEAD: Owner = Owner { pid: 200, start_time: 1 };

fn alive(o: Owner) -> bool {
    o != DEAD
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
    (dir, store)
}

fn net(store: &Store, name: &str, subnet: &str) -> String {
    let opts = CreateOptions { name: name.into(), subnets: vec![subnet.into()], ..CreateOptions::default() };
    manage::create(store, &opts).unwrap().id
}

fn join(network: &str) -> Join {
    Join { network: network.into(), ..Join::default() }
}

fn request<'a>(
    id: &'a str,
    netns: &'a OwnedFd,
    joins: &'a [Join],
    ports: &'a [PortMapping],
    owner: Owner,
) -> AttachRequest<'a> {
    AttachRequest { container: ContainerRef { id, name: &id[..4], owner, netns: netns.as_fd() }, joins, ports }
}

fn some_fd() -> OwnedFd {
    OwnedFd::from(std::fs::File::open("/dev/null").unwrap())
}

fn state(store: &Store, id: &str) -> NetworkState {
    let _lock = store.lock_networks_shared().unwrap();
    store.network_state(id).unwrap()
}

#[test]
fn attach_allocates_plumbs_and_writes_complete_endpoints() {
    let (_dir, store) = store();
    let front = net(&store, "front", "10.230.0.0/24");
    let back = net(&store, "back", "10.231.0.0/24");
    let fd = some_fd();
    let mut kernel = RecordingKernel::default();
    let joins = [Join { aliases: vec!["www".into()], ..join("front") }, join("back")];
    let ports = [PortMapping { host_ip: None, host_port: 8080, container_port: 80, protocol: Protocol::Tcp }];
    let got = attach::attach(&store, &mut kernel, &request(C1, &fd, &joins, &ports, LIVE), &alive).unwrap();
    let veth_front = attach::veth_name(C1, &front);
    let veth_back = attach::veth_name(C1, &back);
    assert_eq!(
        kernel.calls,
        [
            "bridge berth1 10.230.0.1/24 ipv6=false".to_owned(),
            format!("attach {veth_front} eth0 on 7 10.230.0.2/24 via 10.230.0.1"),
            "bridge berth2 10.231.0.1/24 ipv6=false".to_owned(),
            format!("attach {veth_back} eth1 on 7 10.231.0.2/24 via "), // one default route: eth0's
            "firewall setting up the container's firewall rules".to_owned(),
        ]
    );
    let script = &kernel.scripts[0];
    assert!(
        script
            .contains("add rule inet berth ctr-c1c1c1c1c1c1 meta nfproto ipv4 tcp dport 8080 dnat ip to 10.230.0.2:80"),
        "{script}"
    );
    assert!(script.contains("add element inet berth bridges { \"berth1\", \"berth2\" }"), "{script}");
    assert_eq!(got.addresses(), ["10.230.0.2".parse::<IpAddr>().unwrap(), "10.231.0.2".parse().unwrap()]);
    assert_eq!(got.host_gateway(), Some("10.230.0.1".parse().unwrap()));
    assert!(got.uses_dns() && got.may_forward_dns());
    assert_eq!(got.dns_state_files(&store).len(), 2);
    let endpoint = &state(&store, &front).endpoints[C1];
    assert!(endpoint.complete);
    let seen: Vec<String> = attach::endpoints_of(&store, C1).unwrap().into_iter().map(|(n, _)| n.name).collect();
    assert_eq!(seen.len(), 2);
    assert!(seen.contains(&"front".to_owned()) && seen.contains(&"back".to_owned()));
    assert_eq!((endpoint.aliases.as_slice(), endpoint.ports.len()), (&["www".to_owned()][..], 1));
    assert!(state(&store, &back).endpoints[C1].ports.is_empty(), "ports go with the first network only");

    // A second container gets the next address; the first cannot attach twice.
    let mut kernel = RecordingKernel::default();
    let got2 = attach::attach(&store, &mut kernel, &request(C2, &fd, &[join("front")], &[], LIVE), &alive).unwrap();
    assert_eq!(got2.addresses(), ["10.230.0.3".parse::<IpAddr>().unwrap()]);
    let err = attach::attach(&store, &mut kernel, &request(C1, &fd, &[join("front")], &[], LIVE), &alive).unwrap_err();
    assert!(matches!(err, NetworkError::AlreadyAttached { .. }), "{err}");

    // Detaching removes the veths, the container's chain, and the bridge its network no longer needs.
    let mut kernel = RecordingKernel::default();
    assert!(attach::detach(&store, &mut kernel, C1).unwrap());
    let mut calls = kernel.calls.clone();
    calls.sort();
    let mut want = vec![
        format!("detach {veth_back}"),
        format!("detach {veth_front}"),
        "firewall removing the container's firewall rules".to_owned(),
    ];
    want.sort();
    assert_eq!(calls, want, "bridges stay until their network is removed");
    assert!(kernel.scripts[0].contains("delete chain inet berth ctr-c1c1c1c1c1c1"));
    assert!(!state(&store, &front).endpoints.contains_key(C1));
    assert!(state(&store, &back).endpoints.is_empty());
    // Detaching what is not attached touches nothing.
    let mut kernel = RecordingKernel::default();
    assert!(!attach::detach(&store, &mut kernel, C1).unwrap());
    assert!(kernel.calls.is_empty());
}

#[test]
fn a_failed_attach_leaves_nothing() {
    let (_dir, store) = store();
    let front = net(&store, "front", "10.232.0.0/24");
    net(&store, "back", "10.233.0.0/24");
    let fd = some_fd();
    let veth_back = attach::veth_name(C1, &manage::load(&store).unwrap().iter().find(|n| n.name == "back").unwrap().id);
    let mut kernel = RecordingKernel { fail: vec![format!("attach {veth_back}")], ..RecordingKernel::default() };
    let joins = [join("front"), join("back")];
    let err = attach::attach(&store, &mut kernel, &request(C1, &fd, &joins, &[], LIVE), &alive).unwrap_err();
    assert!(err.to_string().contains("failed on purpose"), "{err}");
    let veth_front = attach::veth_name(C1, &front);
    assert!(kernel.calls.contains(&format!("detach {veth_front}")), "{:?}", kernel.calls);
    assert!(state(&store, &front).endpoints.is_empty());
    // The address is free again.
    let mut kernel = RecordingKernel::default();
    let got = attach::attach(&store, &mut kernel, &request(C2, &fd, &[join("front")], &[], LIVE), &alive).unwrap();
    assert_eq!(got.addresses(), ["10.232.0.3".parse::<IpAddr>().unwrap()], "the search goes on after the last address");
}

#[test]
fn bad_requests_are_refused_before_anything_is_made() {
    let (_dir, store) = store();
    net(&store, "front", "10.234.0.0/29");
    manage::create(&store, &CreateOptions { name: "auto".into(), ..CreateOptions::default() }).unwrap();
    let fd = some_fd();
    let mut kernel = RecordingKernel::default();
    {
        let mut try_attach = |id: &str, joins: &[Join], ports: &[PortMapping]| {
            attach::attach(&store, &mut kernel, &request(id, &fd, joins, ports, LIVE), &alive)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        assert_eq!(try_attach(C1, &[join("nope")], &[]), Err("network nope not found".into()));
        assert_eq!(
            try_attach(C1, &[join("host")], &[]),
            Err("network host cannot be joined: it is the host network (use --network host alone)".into())
        );
        let with_ip = Join { ipv4: Some("10.234.0.9".parse().unwrap()), ..join("auto") };
        assert!(
            try_attach(C1, &[with_ip], &[]).unwrap_err().starts_with("user specified IP address is supported only")
        );
        let outside = Join { ipv4: Some("10.9.9.9".parse().unwrap()), ..join("front") };
        assert_eq!(
            try_attach(C1, &[outside], &[]),
            Err("requested address 10.9.9.9 is not in network front's subnet 10.234.0.0/29".into())
        );
        let v6 = Join { ipv6: Some("fd00::5".parse().unwrap()), ..join("front") };
        assert_eq!(try_attach(C1, &[v6], &[]), Err("network front has no IPv6 subnet (create it with --ipv6)".into()));
        assert!(
            try_attach(C1, &[Join { aliases: vec!["a b".into()], ..join("front") }], &[])
                .unwrap_err()
                .starts_with("invalid alias")
        );
        let loopback6 = [PortMapping {
            host_ip: Some("::1".parse().unwrap()),
            host_port: 80,
            container_port: 80,
            protocol: Protocol::Tcp,
        }];
        assert!(try_attach(C1, &[join("front")], &loopback6).unwrap_err().contains("IPv6 loopback"));
        assert_eq!(
            try_attach(C1, &[join("front"), join("front")], &[]),
            Err(format!("container {} is already attached to network front", &C1[..4]))
        );
    }
    assert!(kernel.calls.is_empty(), "nothing was made: {:?}", kernel.calls);
    let records = manage::load(&store).unwrap();
    let _lock = store.lock_networks_shared().unwrap();
    for r in records {
        let s: NetworkState = store.network_state(&r.id).unwrap();
        assert!(s.endpoints.is_empty(), "{}", r.name);
    }
}

#[test]
fn a_slash_29_fills_up_and_garbage_collection_frees_dead_owners_addresses() {
    let (_dir, store) = store();
    let small = net(&store, "small", "10.235.0.0/29");
    let fd = some_fd();
    let mut kernel = RecordingKernel::default();
    let ids: Vec<String> = (0..5).map(|i| format!("{i}{}", "a".repeat(63))).collect();
    for (i, id) in ids.iter().enumerate() {
        let owner = if i < 2 { DEAD } else { LIVE };
        // No collection yet: every owner counts as alive while filling.
        attach::attach(&store, &mut kernel, &request(id, &fd, &[join("small")], &[], owner), &|_| true).unwrap();
    }
    let err =
        attach::attach(&store, &mut kernel, &request(C1, &fd, &[join("small")], &[], LIVE), &|_| true).unwrap_err();
    assert_eq!(err.to_string(), "no available IPv4 addresses on network small (10.235.0.0/29)");
    // The next attach collects the two dead owners first, and gets an address.
    let mut kernel = RecordingKernel::default();
    let got = attach::attach(&store, &mut kernel, &request(C1, &fd, &[join("small")], &[], LIVE), &alive).unwrap();
    assert!(
        kernel.calls[0].starts_with("detach veth") && kernel.calls[1].starts_with("detach veth"),
        "{:?}",
        kernel.calls
    );
    let a = got.addresses()[0];
    assert!(a == "10.235.0.2".parse::<IpAddr>().unwrap() || a == "10.235.0.3".parse::<IpAddr>().unwrap(), "{a}");
    let s = state(&store, &small);
    assert_eq!(s.endpoints.len(), 4);
    assert!(!s.endpoints.contains_key(&ids[0]) && !s.endpoints.contains_key(&ids[1]));
    // Nothing dead: collection touches nothing.
    let mut kernel = RecordingKernel::default();
    assert!(gc::collect_garbage(&store, &mut kernel, &alive).unwrap().is_empty());
    assert!(kernel.calls.is_empty());
    // Everyone dead: every endpoint goes; the network's rules stay in berth's table as its
    // bridge does, and no container had a chain: no nft at all.
    let mut kernel = RecordingKernel { table: true, ..RecordingKernel::default() };
    assert_eq!(gc::collect_garbage(&store, &mut kernel, &|_| false).unwrap().len(), 4);
    assert!(!kernel.calls.iter().any(|c| c.starts_with("remove bridge")), "{:?}", kernel.calls);
    assert!(kernel.scripts.is_empty(), "{:?}", kernel.scripts);
    // The table missing (someone flushed the ruleset): the next change brings it all back.
    let mut kernel = RecordingKernel::default();
    attach::attach(&store, &mut kernel, &request(C2, &fd, &[join("small")], &[], LIVE), &alive).unwrap();
    assert!(kernel.scripts[0].starts_with("add table inet berth\ndelete table inet berth\n"), "{:?}", kernel.scripts);
    assert!(kernel.scripts[0].contains("ip saddr 10.235.0.0/29 oifname != \"berth1\" masquerade"));
    // The network removed: its rules go, and with no network left, the table.
    let _lock = store.lock_networks_exclusive().unwrap();
    let mut kernel = RecordingKernel { table: true, ..RecordingKernel::default() };
    gc::collect_locked(&store, &manage::load_locked(&store).unwrap(), &mut kernel, &|_| false).unwrap();
    manage::remove_locked(&store, &mut kernel, "small", &|_| Vec::new()).unwrap();
    assert_eq!(kernel.scripts, ["add table inet berth\ndelete table inet berth\n"], "{:?}", kernel.calls);
}

#[test]
fn a_container_without_published_ports_runs_no_nft() {
    let (_dir, store) = store();
    net(&store, "front", "10.239.0.0/24");
    let fd = some_fd();
    // The network's first use installs its rules.
    let mut kernel = RecordingKernel { table: true, ..RecordingKernel::default() };
    attach::attach(&store, &mut kernel, &request(C1, &fd, &[join("front")], &[], LIVE), &alive).unwrap();
    assert_eq!(kernel.scripts.len(), 1);
    assert!(!kernel.scripts[0].contains("ctr-"), "{}", kernel.scripts[0]);
    // The next container, its teardown, and the first's: no script.
    attach::attach(&store, &mut kernel, &request(C2, &fd, &[join("front")], &[], LIVE), &alive).unwrap();
    assert!(attach::detach(&store, &mut kernel, C2).unwrap());
    assert!(attach::detach(&store, &mut kernel, C1).unwrap());
    assert_eq!(kernel.scripts.len(), 1, "{:?}", kernel.scripts);
    // Published ports fill and delete the container's chain only.
    let ports = [PortMapping { host_ip: None, host_port: 8080, container_port: 80, protocol: Protocol::Tcp }];
    attach::attach(&store, &mut kernel, &request(C1, &fd, &[join("front")], &ports, LIVE), &alive).unwrap();
    assert!(kernel.scripts[1].contains("add rule inet berth ctr-c1c1c1c1c1c1"), "{}", kernel.scripts[1]);
    assert!(attach::detach(&store, &mut kernel, C1).unwrap());
    assert!(kernel.scripts[2].ends_with("delete chain inet berth ctr-c1c1c1c1c1c1\n"), "{}", kernel.scripts[2]);
    assert_eq!(kernel.scripts.len(), 3);
}

#[test]
fn reload_rebuilds_the_whole_table() {
    let (_dir, store) = store();
    net(&store, "front", "10.236.0.0/24");
    let fd = some_fd();
    let mut kernel = RecordingKernel::default();
    let ports = [PortMapping { host_ip: None, host_port: 8080, container_port: 80, protocol: Protocol::Tcp }];
    attach::attach(&store, &mut kernel, &request(C1, &fd, &[join("front")], &ports, LIVE), &alive).unwrap();
    let mut kernel = RecordingKernel::default();
    gc::reload(&store, &mut kernel, &alive).unwrap();
    let script = &kernel.scripts[0];
    assert!(script.starts_with("add table inet berth\ndelete table inet berth\n"), "{script}");
    assert!(script.contains("dnat ip to 10.236.0.2:80"), "{script}");
}

/// A throwaway host and container namespace, berth's real kernel work in them.
#[test]
fn a_published_port_on_the_hosts_loopback_reaches_the_container_through_berths_bridge() {
    if !require_root_and_nft("network namespaces, a bridge and nftables rules") {
        return;
    }
    let (_dir, store) = store();
    let host = in_new_netns(|ns| ns).unwrap();
    let container = in_new_netns(|ns| ns).unwrap();
    in_netns(host.as_fd(), || {
        let mut nl = super::netlink::Netlink::open().unwrap();
        let lo = nl.index_of("lo").unwrap();
        nl.set_up(lo, "lo").unwrap();
    })
    .unwrap();
    let front = net(&store, "front", "10.237.0.0/24");
    let listener = in_netns(container.as_fd(), || TcpListener::bind("0.0.0.0:8000").unwrap()).unwrap();
    let ports = [PortMapping {
        host_ip: Some("127.0.0.1".parse().unwrap()),
        host_port: 18000,
        container_port: 8000,
        protocol: Protocol::Tcp,
    }];
    let joins = [join("front")];
    let req = request(C1, &container, &joins, &ports, LIVE);
    let attached =
        in_netns(host.as_fd(), || attach::attach(&store, &mut HostKernel::default(), &req, &alive)).unwrap().unwrap();
    assert_eq!(attached.addresses(), ["10.237.0.2".parse::<IpAddr>().unwrap()]);

    // Host loopback → DNAT (output hook, route_localnet) → the container, masqueraded.
    let mut client = in_netns(host.as_fd(), || TcpStream::connect("127.0.0.1:18000").unwrap()).unwrap();
    client.write_all(b"published").unwrap();
    drop(client);
    let (mut conn, peer) = listener.accept().unwrap();
    assert_eq!(
        peer.ip(),
        "10.237.0.1".parse::<IpAddr>().unwrap(),
        "the host's loopback traffic arrives from the gateway"
    );
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "published");

    // The container reaches the host at its gateway.
    let on_host = in_netns(host.as_fd(), || TcpListener::bind("10.237.0.1:0").unwrap()).unwrap();
    let port = on_host.local_addr().unwrap().port();
    in_netns(container.as_fd(), || TcpStream::connect(("10.237.0.1", port)).unwrap()).unwrap();
    let listed = in_netns(host.as_fd(), || nft::list_table("inet berth").unwrap()).unwrap();
    assert!(listed.contains("ip daddr 127.0.0.1 tcp dport 18000 dnat ip to 10.237.0.2:8000"), "{listed}");

    // The supervisor dies without detaching: the next command collects it, and nothing is left.
    let collected = in_netns(host.as_fd(), || gc::collect_garbage(&store, &mut HostKernel::default(), &|_| false))
        .unwrap()
        .unwrap();
    assert_eq!(collected, [C1]);
    in_netns(host.as_fd(), || {
        let mut nl = super::netlink::Netlink::open().unwrap();
        assert!(nl.link_by_name(&attach::veth_name(C1, &front)).unwrap().is_none());
        let listed = nft::list_table("inet berth").unwrap();
        assert!(!listed.contains("ctr-"), "the container's chain is gone with it: {listed}");
        assert!(listed.contains("ip saddr 10.237.0.0/24 oifname != \"berth1\" masquerade"), "{listed}");
        // The bridge and the network's rules stay with the network, and go with it.
        assert!(nl.link_by_name("berth1").unwrap().is_some());
        let _lock = store.lock_networks_exclusive().unwrap();
        manage::remove_locked(&store, &mut HostKernel::default(), "front", &|_| Vec::new()).unwrap();
        assert!(nl.link_by_name("berth1").unwrap().is_none());
        assert!(nft::list_table("inet berth").is_err(), "no network left: no table");
    })
    .unwrap();
    let mut inside = super::netlink::Netlink::open_in(container.as_fd()).unwrap();
    assert!(inside.link_by_name("eth0").unwrap().is_none());
}

/// The supervisor's whole set-up, for real in namespaces the test makes: a container on a user
/// network resolves its own name through 127.0.0.11:53 (the responder polled here as the
/// supervisor's loop will), gets its /etc files, and goes away without a trace.
#[test]
fn set_up_bridge_gives_a_container_names_files_and_a_clean_teardown() {
    use std::net::{SocketAddr, UdpSocket};

    use super::dns::message::{self, Record, TYPE_A};
    use super::ports::parse_publish;
    use super::resolv::{DnsFlags, parse as parse_resolv};
    use super::setup::{BridgeRequest, set_up_bridge, tear_down};

    if !require_root_and_nft("network namespaces, a bridge and nftables rules") {
        return;
    }
    let (_dir, store) = store();
    let host = in_new_netns(|ns| ns).unwrap();
    let container = in_new_netns(|ns| ns).unwrap();
    net(&store, "front", "10.238.0.0/24");
    let joins = [Join { aliases: vec!["api".into()], ..join("front") }];
    let publish = [parse_publish("127.0.0.1::80").unwrap()];
    let host_resolv = parse_resolv("nameserver 127.0.0.53\nsearch example.test\n");
    let dns = DnsFlags::default();
    let extra = [super::hosts::parse_add_host("gw:host-gateway").unwrap()];
    let request = BridgeRequest {
        container: ContainerRef { id: C1, name: "app", owner: LIVE, netns: container.as_fd() },
        joins: &joins,
        publish: &publish,
        rootless: false,
        hostname: "c1c1c1c1c1c1",
        domainname: "",
        extra_hosts: &extra,
        dns: &dns,
        host_resolv: &host_resolv,
    };
    let started = std::time::Instant::now();
    let mut setup = in_netns(host.as_fd(), || set_up_bridge(&store, &mut HostKernel::default(), &request, &alive))
        .unwrap()
        .unwrap();
    eprintln!("set_up_bridge (first container: bridge, veth, rules, DNS redirect): {:?}", started.elapsed());
    assert_eq!(setup.attachment.addresses(), ["10.238.0.2".parse::<IpAddr>().unwrap()]);
    assert_eq!(setup.reservation.mappings.len(), 1);
    assert_ne!(setup.reservation.mappings[0].host_port, 0);
    assert!(setup.hosts.contains("10.238.0.1\tgw\n"), "{}", setup.hosts);
    assert!(setup.hosts.ends_with("10.238.0.2\tc1c1c1c1c1c1\n"), "{}", setup.hosts);
    assert_eq!(
        setup.resolv_conf,
        "# Generated by berth.\nnameserver 127.0.0.11\nsearch example.test\noptions ndots:0\n"
    );

    let responder = setup.responder.as_mut().expect("a user network resolves names");
    let client = in_netns(container.as_fd(), || UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    client.set_nonblocking(true).unwrap();
    let dns_addr: SocketAddr = "127.0.0.11:53".parse().unwrap();
    for (id, name) in [(1u16, "app"), (2, "api")] {
        client.send_to(&message::query(id, name, TYPE_A), dns_addr).unwrap();
        let mut reply = None;
        for _ in 0..200 {
            turn(responder);
            let mut buf = [0u8; 512];
            if let Ok(n) = client.recv(&mut buf) {
                reply = Some(buf[..n].to_vec());
                break;
            }
        }
        let reply = reply.unwrap_or_else(|| panic!("no answer for {name}"));
        assert_eq!(message::answers(&reply).unwrap(), vec![Record::A("10.238.0.2".parse().unwrap())], "{name}");
    }

    let started = std::time::Instant::now();
    assert!(in_netns(host.as_fd(), || tear_down(&store, &mut HostKernel::default(), C1)).unwrap().unwrap());
    eprintln!("tear_down (last container: veth, rules): {:?}", started.elapsed());
    drop(setup);
    assert!(state(&store, &net_id(&store, "front")).endpoints.is_empty());
    let listed = in_netns(host.as_fd(), || nft::list_table("inet berth").unwrap()).unwrap();
    assert!(!listed.contains("ctr-"), "{listed}");
}

fn net_id(store: &Store, name: &str) -> String {
    manage::load(store).unwrap().into_iter().find(|n| n.name == name).unwrap().id
}

/// Isolation for real: containers on one network reach each other, not those of another
/// network; an --internal network has no route out.
#[test]
fn networks_are_isolated_from_each_other_and_internal_ones_have_no_way_out() {
    use std::time::Duration;

    if !require_root_and_nft("network namespaces, bridges and nftables rules") {
        return;
    }
    let (_dir, store) = store();
    let host = in_new_netns(|ns| ns).unwrap();
    net(&store, "a", "10.241.0.0/24");
    net(&store, "b", "10.242.0.0/24");
    let internal = CreateOptions {
        name: "sealed".into(),
        subnets: vec!["10.243.0.0/24".into()],
        internal: true,
        ..CreateOptions::default()
    };
    manage::create(&store, &internal).unwrap();
    let ids = [C1, C2, "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", &"c4".repeat(32)];
    let nets = ["a", "b", "a", "sealed"];
    let mut spaces = Vec::new();
    for (id, network) in ids.iter().zip(nets) {
        let ns = in_new_netns(|ns| ns).unwrap();
        let joins = [join(network)];
        let req = request(id, &ns, &joins, &[], LIVE);
        in_netns(host.as_fd(), || attach::attach(&store, &mut HostKernel::default(), &req, &alive)).unwrap().unwrap();
        spaces.push(ns);
    }
    let listen = |ns: &OwnedFd| in_netns(ns.as_fd(), || TcpListener::bind("0.0.0.0:7000").unwrap()).unwrap();
    let _on_b = listen(&spaces[1]);
    let _on_a = listen(&spaces[2]);
    let connect = |from: &OwnedFd, to: &str| {
        let addr: std::net::SocketAddr = format!("{to}:7000").parse().unwrap();
        in_netns(from.as_fd(), || TcpStream::connect_timeout(&addr, Duration::from_millis(300))).unwrap()
    };
    assert!(connect(&spaces[0], "10.241.0.3").is_ok(), "same network");
    let across = connect(&spaces[0], "10.242.0.2");
    assert!(across.is_err(), "another network is not reachable: {across:?}");
    let err = connect(&spaces[3], "192.0.2.1").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "an internal network has no default route: {err}");
    let listed = in_netns(host.as_fd(), || nft::list_table("inet berth").unwrap()).unwrap();
    assert!(listed.contains("iifname \"berth3\" oifname != \"berth3\" drop"), "{listed}");
    assert!(
        !listed.contains("ip saddr 10.243.0.0/24 oifname != \"berth3\" masquerade"),
        "no NAT out of an internal network"
    );
    // It is berth's forward rules that keep the networks apart: without them, a and b talk.
    nft::apply_in(host.as_fd(), "flush chain inet berth forward\n", "opening up").unwrap();
    assert!(connect(&spaces[0], "10.242.0.2").is_ok(), "routed once the isolation rules are gone");
}
