//! Compose projects on their networks, root, with berth in a lab's namespace: services reach
//! each other by service name, container name and alias; `ports:` answer from the host side;
//! the per-service network keys reach the container; `down` takes the networks away.

use std::time::Duration;

use crate::compose_up::Project;
use crate::networking::Lab;
use crate::util::BUSYBOX;

/// One wget of http://ADDR/index.html from the lab's host namespace, retried while the server
/// starts: its body, or None.
fn fetch_from_host(lab: &Lab, addr: &str) -> Option<String> {
    let url = format!("http://{addr}/index.html");
    crate::util::poll_for(Duration::from_secs(5), || {
        let out = Lab::command_in(&lab.host, BUSYBOX, &["timeout", "3", BUSYBOX, "wget", "-q", "-O", "-", &url])
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
}

const TWO_NETWORKS: &str = "services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /www
    ports: ['127.0.0.1:18090:80', {target: 80, published: '18091', host_ip: 127.0.0.1}]
    networks:
      default:
      back:
        aliases: [frontend]
  client:
    image: busybox
    init: true
    command: sleep 300
    hostname: cli
    domainname: example.test
    dns_search: [search.test]
    extra_hosts: ['gateway.test=10.1.2.3']
    networks:
      back:
        ipv4_address: 10.88.5.50
  loner:
    image: busybox
    init: true
    command: sleep 300
    network_mode: none
  sidecar:
    image: busybox
    init: true
    command: sleep 300
    network_mode: service:client
    depends_on: [client]
networks:
  back:
    ipam:
      config:
        - subnet: 10.88.5.0/24
";

#[test]
fn services_reach_each_other_by_name_and_published_ports_answer() {
    let Some(p) = Project::new("compose networks", TWO_NETWORKS) else { return };
    let (_, progress) = p.ok(&["up", "-d"]);
    assert!(
        progress.contains("Network proj_default  Created") && progress.contains("Network proj_back  Created"),
        "{progress}"
    );
    let probe = "for h in web frontend proj-web-1; do wget -q -O - http://$h/index.html; done; \
                 ip -o -4 addr show eth0; hostname; cat /etc/hosts /etc/resolv.conf";
    let (out, _) = p.ok(&["exec", "-T", "client", "sh", "-c", probe]);
    assert_eq!(out.matches("hello from the container").count(), 3, "by service name, alias, container name: {out}");
    assert!(out.contains("inet 10.88.5.50/24"), "ipv4_address on the ipam subnet: {out}");
    assert!(out.contains("10.1.2.3") && out.contains("gateway.test"), "extra_hosts: {out}");
    assert!(out.contains("cli.example.test"), "hostname and domainname: {out}");
    assert!(out.contains("search search.test"), "dns_search: {out}");
    // `back` only: web's name on the default network is not the client's to reach, but web
    // is on both; the sidecar shares the client's namespace.
    let (side, _) = p.ok(&["exec", "-T", "sidecar", "sh", "-c", "ip -o -4 addr show eth0"]);
    assert!(side.contains("10.88.5.50"), "network_mode service:client shares its namespace: {side}");
    let (alone, _) = p.ok(&["exec", "-T", "loner", "ip", "-o", "link", "show"]);
    assert!(alone.contains("lo:") && !alone.contains("eth0"), "network_mode none: {alone}");
    let lab = p.lab.as_ref().unwrap();
    for port in ["18090", "18091"] {
        let body = fetch_from_host(lab, &format!("127.0.0.1:{port}"));
        assert_eq!(body.as_deref(), Some("hello from the container\n"), "published port {port}");
    }
    let (ps, _) = p.ok(&["ps"]);
    assert!(ps.contains("127.0.0.1:18090->80/tcp"), "{ps}");
    let port = p.env.berth_ok(&["port", "proj-web-1", "80"]);
    assert!(port.contains("127.0.0.1:18090"), "{port}");

    p.ok(&["down", "-t", "1"]);
    assert!(p.names().is_empty());
    let networks = p.env.berth_ok(&["network", "ls"]);
    assert!(!networks.contains("proj_default") && !networks.contains("proj_back"), "{networks}");
    assert_eq!(fetch_from_host_once(lab, "127.0.0.1:18090"), None, "the port went with the container");
}

fn fetch_from_host_once(lab: &Lab, addr: &str) -> Option<String> {
    let url = format!("http://{addr}/index.html");
    let out =
        Lab::command_in(&lab.host, BUSYBOX, &["timeout", "3", BUSYBOX, "wget", "-q", "-O", "-", &url]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An external network is joined, never created or removed; an internal one is made internal;
/// a network the file does not define is a clear error that creates nothing.
#[test]
fn external_and_internal_networks() {
    let compose = "services:
  app:
    image: busybox
    init: true
    command: sleep 300
    networks: [shared, private]
networks:
  shared:
    external: true
    name: outer
  private:
    internal: true
";
    let Some(p) = Project::new("compose external networks", compose) else { return };
    let out = p.compose(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("outer"), "the missing external network is named: {stderr}");
    p.ok(&["down"]);
    p.env.berth_ok(&["network", "create", "outer"]);
    p.ok(&["up", "-d"]);
    let (out, _) = p.ok(&["exec", "-T", "app", "sh", "-c", "ip -o -4 addr; ip route"]);
    assert!(out.contains("eth0") && out.contains("eth1"), "on both networks: {out}");
    let nets = p.env.berth_ok(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", "proj-app-1"]);
    assert!(nets.contains("outer") && nets.contains("proj_private"), "{nets}");
    let internal = p.env.berth_ok(&["network", "inspect", "-f", "{{.Internal}}", "proj_private"]);
    assert_eq!(internal.trim(), "true");
    p.ok(&["down", "-t", "1"]);
    let networks = p.env.berth_ok(&["network", "ls"]);
    assert!(networks.contains("outer") && !networks.contains("proj_private"), "{networks}");
}
