//! `berth build`'s RUN steps on networks, root: berth runs in the networking tests' lab (a
//! namespace the test made, with a veth to an "outside" one serving HTTP). RUN gets the default
//! bridge network as `berth run` does, `--network none|host` and `RUN --network=` change it.

use std::path::{Path, PathBuf};

use crate::networking::{NetEnv, OUTSIDE, endpoints_in_state};
use crate::util::assert_one_error_line;

fn context(env: &NetEnv, name: &str, dockerfile: &str) -> PathBuf {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir
}

fn build(env: &NetEnv, args: &[&str], dir: &Path) -> std::process::Output {
    let mut all: Vec<String> = vec!["build".into(), "--no-cache".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push(dir.display().to_string());
    env.berth(&all)
}

fn build_ok(env: &NetEnv, args: &[&str], dir: &Path) -> String {
    let out = build(env, args, dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build failed ({}):\n{stderr}", out.status);
    stderr
}

#[test]
fn run_steps_get_the_default_network_and_the_flags_change_it() {
    let Some(mut env) = NetEnv::new() else { return };
    let site = env.path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("hello.txt"), "hello from outside\n").unwrap();
    env.lab.serve_outside(8080, &site);
    let url = format!("http://{OUTSIDE}:8080/hello.txt");
    let dir = context(
        &env,
        "fetch",
        &format!(
            "FROM bb\nRUN wget -q -O /fetched.txt {url} && ip -o -4 addr show eth0 > /addr.txt\n\
             RUN --network=none ip -o link show > /none.txt\n\
             RUN --network=host ip -o link show > /host.txt\n"
        ),
    );
    build_ok(&env, &["-t", "fetched"], &dir);
    let out = env.berth_ok(&["run", "--rm", "--network", "none", "fetched", "cat", "/fetched.txt", "/addr.txt"]);
    assert!(out.starts_with("hello from outside\n"), "{out}");
    assert!(out.contains(" 10.77."), "RUN was on the default network's pool: {out}");
    let none = env.berth_ok(&["run", "--rm", "--network", "none", "fetched", "cat", "/none.txt"]);
    assert!(none.contains("lo:") && !none.contains("eth0"), "{none}");
    let host = env.berth_ok(&["run", "--rm", "--network", "none", "fetched", "cat", "/host.txt"]);
    assert!(host.contains("vo0"), "RUN --network=host is in berth's namespace: {host}");
    // Nothing of the step containers' networking is left.
    assert_eq!(endpoints_in_state(&env), 0);
    assert!(env.lab.host_links().iter().all(|l| !l.starts_with("veth")), "{:?}", env.lab.host_links());

    // --network none: the same fetch fails, naming the line.
    let out = build(&env, &["-q", "--network", "none"], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let line = assert_one_error_line(&String::from_utf8_lossy(&out.stderr));
    assert!(line.contains("Dockerfile line 2") && line.contains("exit code: 1"), "{line}");
    // --network host: RUN sees berth's own links.
    let dir = context(&env, "host", "FROM bb\nRUN ip -o link show > /links.txt\n");
    build_ok(&env, &["--network", "host", "-t", "hostnet"], &dir);
    let links = env.berth_ok(&["run", "--rm", "--network", "none", "hostnet", "cat", "/links.txt"]);
    assert!(links.contains("vo0"), "{links}");
    // An unknown mode is a usage error.
    let (code, stderr) = env.berth_err(&["build", "--network", "bridge0", dir.to_str().unwrap()]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("'bridge0'") && stderr.contains("--network"), "{stderr}");
    assert!(env.berth_ok(&["ps", "-aq"]).trim().is_empty(), "no step container is left");
}

/// A build's `--network` is part of a RUN's cache key: a step made without a network is not
/// reused under host or the default (nor the other way), and `--network none` shares its step
/// with `RUN --network=none`, which is the same step.
#[test]
fn the_network_is_part_of_a_run_steps_cache_key() {
    let Some(env) = NetEnv::new() else { return };
    let dir = context(&env, "keyed", "FROM bb\nRUN ip -o link show > /links.txt\n");
    let cached = |args: &[&str], tag: &str| {
        let mut all = vec!["build", "--progress", "plain", "-t", tag];
        all.extend_from_slice(args);
        all.push(dir.to_str().unwrap());
        let out = env.berth(&all.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "build failed ({}):\n{stderr}", out.status);
        let links = env.berth_ok(&["run", "--rm", "--network", "none", tag, "cat", "/links.txt"]);
        (stderr.contains("--> Using cache"), links)
    };
    let (hit, links) = cached(&["--network", "none"], "none1");
    assert!(!hit && !links.contains("vo0") && !links.contains("eth0"), "{links}");
    let (hit, links) = cached(&["--network", "host"], "host1");
    assert!(!hit, "the step made under --network none was reused under host");
    assert!(links.contains("vo0"), "{links}");
    let (hit, links) = cached(&[], "default1");
    assert!(!hit, "a step made under none or host was reused on the default network");
    assert!(links.contains("eth0") && !links.contains("vo0"), "{links}");
    // Each mode hits its own entry again.
    for (args, tag, has) in [(&["--network", "none"][..], "none2", "lo:"), (&["--network", "host"], "host2", "vo0")] {
        let (hit, links) = cached(args, tag);
        assert!(hit && links.contains(has), "{tag}: {links}");
    }
    // RUN --network=none under the default is the step --network none made.
    std::fs::write(dir.join("Dockerfile"), "FROM bb\nRUN --network=none ip -o link show > /links.txt\n").unwrap();
    let (hit, links) = cached(&[], "none3");
    assert!(hit && !links.contains("eth0"), "{links}");
}
