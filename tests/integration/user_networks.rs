//! User-defined networks, root: names resolved by the embedded DNS responder (container name,
//! --network-alias, short id), isolation between networks, --internal, with berth in a lab's
//! "host" namespace.

use crate::networking::{NetEnv, OUTSIDE, inspect_field};

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias_and_no_other_network_does() {
    let Some(env) = NetEnv::new() else { return };
    env.berth_ok(&["network", "create", "web"]);
    env.berth_ok(&["network", "create", "other"]);
    let id = env.web_server(&["--name", "db", "--network", "web", "--network-alias", "database"]);
    let db_ip = inspect_field(&env, "db", "{{.NetworkSettings.Networks.web.IPAddress}}");
    assert!(!db_ip.is_empty());
    let short = &id[..12];
    let out = env.sh(
        &["--network", "web"],
        &format!(
            "cat /etc/resolv.conf; nslookup db; wget -q -O - http://db/index.html; wget -q -O - http://database/index.html; \
             wget -q -O - http://{short}/index.html"
        ),
    );
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert!(out.contains(&db_ip), "db resolves to its address: {out}");
    assert_eq!(out.matches("hello from the container").count(), 3, "by name, alias and short id: {out}");
    // Another network: no name, no route.
    let out = env.sh(
        &["--network", "other"],
        &format!("nslookup db >/dev/null 2>&1 && echo resolved; timeout 3 wget -q -O - http://{db_ip}/index.html || echo unreachable"),
    );
    assert!(!out.contains("resolved") && out.contains("unreachable"), "{out}");
}

#[test]
fn an_internal_network_has_no_route_out() {
    let Some(mut env) = NetEnv::new() else { return };
    let site = env.path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "outside\n").unwrap();
    env.lab.serve_outside(8080, &site);
    env.berth_ok(&["network", "create", "--internal", "int"]);
    env.berth_ok(&["network", "create", "out"]);
    let url = format!("http://{OUTSIDE}:8080/index.html");
    let out = env.sh(&["--network", "out"], &format!("wget -q -O - {url}"));
    assert_eq!(out, "outside\n");
    let out = env.sh(&["--network", "int"], &format!("timeout 3 wget -q -O - {url} || echo unreachable; ip route"));
    assert!(out.contains("unreachable") && !out.contains("default"), "{out}");
}

#[test]
fn a_running_container_connected_to_a_network_is_reached_there_by_name_and_leaves_it_on_disconnect() {
    let Some(env) = NetEnv::new() else { return };
    env.berth_ok(&["network", "create", "front"]);
    env.berth_ok(&["network", "create", "back"]);
    env.web_server(&["--name", "api", "--network", "front"]);
    let probe = "wget -q -O - http://api/index.html || echo unreachable";
    assert!(env.sh(&["--network", "back"], probe).contains("unreachable"));
    env.berth_ok(&["network", "connect", "--alias", "service", "back", "api"]);
    let out = env.sh(&["--network", "back"], &format!("{probe}; wget -q -O - http://service/index.html"));
    assert_eq!(out.matches("hello from the container").count(), 2, "{out}");
    let links = env.berth_ok(&["exec", "api", "ip", "-o", "link", "show"]);
    assert!(links.contains("eth0") && links.contains("eth1"), "{links}");
    assert!(env.berth_ok(&["exec", "api", "ip", "route"]).lines().filter(|l| l.starts_with("default")).count() == 1);
    // Its /etc/hosts names it on the new network too, as Docker's does; and no longer after.
    let front_ip = inspect_field(&env, "api", "{{.NetworkSettings.Networks.front.IPAddress}}");
    let back_ip = inspect_field(&env, "api", "{{.NetworkSettings.Networks.back.IPAddress}}");
    let hostname = env.berth_ok(&["exec", "api", "hostname"]).trim().to_owned();
    let hosts = env.berth_ok(&["exec", "api", "cat", "/etc/hosts"]);
    let named =
        |hosts: &str, ip: &str| hosts.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == [ip, &hostname]);
    assert!(named(&hosts, &front_ip) && named(&hosts, &back_ip), "{hosts}");
    assert!(hosts.find(&front_ip) < hosts.find(&back_ip), "the first network's address first: {hosts}");
    let (code, stderr) = env.berth_err(&["network", "connect", "back", "api"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("already attached"), "{stderr}");
    env.berth_ok(&["network", "disconnect", "back", "api"]);
    assert!(env.sh(&["--network", "back"], probe).contains("unreachable"));
    let links = env.berth_ok(&["exec", "api", "ip", "-o", "link", "show"]);
    assert!(!links.contains("eth1"), "{links}");
    let hosts = env.berth_ok(&["exec", "api", "cat", "/etc/hosts"]);
    assert!(named(&hosts, &front_ip) && !hosts.contains(&back_ip), "{hosts}");
    env.berth_ok(&["network", "rm", "back"]);
}
