//! Every form `run`/`create` accepted before the parsing moved here, and the refusals.

use std::collections::BTreeMap;

use super::*;
use crate::container::record::{MountKind, NetworkMode};

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn flags() -> CreateFlags {
    CreateFlags { image: "busybox".into(), ..Default::default() }
}

#[test]
fn memory_sizes_use_binary_units() {
    assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
    assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
    assert_eq!(parse_memory("512k").unwrap(), 512 << 10);
    assert_eq!(parse_memory("100b").unwrap(), 100);
    assert_eq!(parse_memory("4096").unwrap(), 4096);
    assert!(matches!(parse_memory("lots"), Err(OptionsError::Size(_))));
    assert!(matches!(parse_memory("-1m"), Err(OptionsError::Size(_))));
    assert!(matches!(parse_memory("0"), Err(OptionsError::ZeroSize(_))));
}

#[test]
fn security_opts_parse_like_dockers() {
    let opts = |items: &[&str]| parse_security_opts(&v(items));
    assert_eq!(opts(&[]).unwrap(), SecurityOpts::default());
    assert!(opts(&["no-new-privileges=false"]).unwrap().allow_new_privileges);
    assert!(opts(&["no-new-privileges:false"]).unwrap().allow_new_privileges);
    assert!(!opts(&["no-new-privileges:false", "no-new-privileges"]).unwrap().allow_new_privileges);
    assert!(!opts(&["no-new-privileges=true"]).unwrap().allow_new_privileges);
    assert_eq!(opts(&["seccomp=unconfined"]).unwrap().seccomp_profile.as_deref(), Some("unconfined"));
    assert!(matches!(opts(&["no-new-privileges=maybe"]), Err(OptionsError::NoNewPrivileges { .. })));
    assert!(matches!(opts(&["apparmor=foo"]), Err(OptionsError::SecurityOpt { .. })));
    assert!(matches!(opts(&["seccomp="]), Err(OptionsError::SecurityOpt { .. })));
    let missing = opts(&["seccomp=/nonexistent/profile.json"]).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/profile.json"), "{missing}");
    assert!(missing.to_string().contains("No such file or directory"), "{missing}");
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let given = format!("seccomp={}", profile.display());
    assert!(opts(&[&given]).unwrap().seccomp_profile.unwrap().contains("keyctl"));
    std::fs::write(&profile, "{ broken").unwrap();
    let broken = opts(&[&given]).unwrap_err().to_string();
    assert!(broken.contains("p.json") && broken.contains("decoding seccomp profile failed"), "{broken}");
}

#[test]
fn capabilities_and_devices_are_checked_at_create() {
    let caps = |items: &[&str]| normalize_capabilities(&v(items));
    assert_eq!(caps(&["net_admin", "CAP_SYS_PTRACE", "all"]).unwrap(), ["CAP_NET_ADMIN", "CAP_SYS_PTRACE", "ALL"]);
    assert_eq!(caps(&["FLY"]).unwrap_err().to_string(), r#"unknown capability: "CAP_FLY""#);
    let devices = parse_devices(&v(&["/dev/null:/dev/mynull:rw"])).unwrap();
    assert_eq!((devices[0].path_in_container.as_str(), devices[0].cgroup_permissions.as_str()), ("/dev/mynull", "rw"));
    assert!(parse_devices(&v(&["/dev/berth-missing"])).unwrap_err().to_string().contains("no such file or directory"));
}

#[test]
fn ulimits_parse_soft_and_hard() {
    assert_eq!(parse_ulimit("nofile=1024:2048").unwrap(), Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 });
    assert_eq!(parse_ulimit("nproc=10").unwrap().hard, 10);
    assert_eq!(parse_ulimit("core=-1").unwrap().soft, u64::MAX);
    assert_eq!(parse_ulimit("stack=unlimited:unlimited").unwrap().hard, u64::MAX);
    for (bad, why) in [
        ("nofile=9:1", "soft limit above hard limit"),
        ("bogus=1", "unknown limit \"bogus\""),
        ("nofile", "expected NAME=SOFT[:HARD]"),
        ("nofile=x", "\"x\" is not a number"),
    ] {
        let err = parse_ulimit(bad).unwrap_err().to_string();
        assert_eq!(err, format!("invalid ulimit {bad:?}: {why}"));
    }
}

#[test]
fn env_files_come_before_env_flags_and_keys_copy_our_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env");
    std::fs::write(&file, "# a comment\n\nA=from-file\n  B=indented\nPATH\n").unwrap();
    let env = user_env(std::slice::from_ref(&file), &v(&["A=from-flag", "BERTH_SURELY_UNSET_VARIABLE"])).unwrap();
    let path = std::env::var("PATH").unwrap();
    assert_eq!(env, v(&["A=from-file", "B=indented", &format!("PATH={path}"), "A=from-flag"]));
    assert!(matches!(user_env(&[], &v(&["=x"])), Err(OptionsError::Env(_))));
    let missing = user_env(&[dir.path().join("missing")], &[]).unwrap_err().to_string();
    assert!(missing.starts_with("reading env file ") && missing.contains("No such file"), "{missing}");
}

#[test]
fn every_flag_lands_in_the_options() {
    let options = parse(&CreateFlags {
        name: Some("web".into()),
        command: v(&["sh", "-c", "true"]),
        interactive: true,
        tty: true,
        rm: true,
        env: v(&["K=V"]),
        workdir: Some("/srv".into()),
        user: Some("1000:1000".into()),
        entrypoint: Some("/bin/sh".into()),
        hostname: Some("h".into()),
        init: true,
        memory: Some("64m".into()),
        cpus: Some(0.5),
        cpu_shares: Some(512),
        pids_limit: Some(100),
        ulimits: v(&["nofile=10:20"]),
        cap_add: v(&["net_admin"]),
        cap_drop: v(&["chown"]),
        privileged: true,
        security_opts: v(&["no-new-privileges=false", "seccomp=unconfined"]),
        labels: v(&["a=1", "flag"]),
        stop_signal: Some("SIGINT".into()),
        stop_timeout: Some(3),
        net: NetFlags { networks: v(&["host"]), ..NetFlags::default() },
        userns: Some("keep-id".into()),
        volumes: v(&["data:/data"]),
        mounts: v(&["type=tmpfs,target=/scratch"]),
        tmpfs: v(&["/run"]),
        read_only: true,
        volumes_from: v(&["other:ro"]),
        ..flags()
    })
    .unwrap();
    assert_eq!(options.name.as_deref(), Some("web"));
    assert_eq!(options.image_name, "busybox");
    assert_eq!(options.entrypoint, Some(v(&["/bin/sh"])));
    assert_eq!(options.cmd, v(&["sh", "-c", "true"]));
    assert!(options.tty && options.interactive && options.auto_remove && options.init && options.read_only);
    assert_eq!(options.env, v(&["K=V"]));
    assert_eq!((options.working_dir.as_deref(), options.user.as_deref()), (Some("/srv"), Some("1000:1000")));
    assert_eq!(options.hostname.as_deref(), Some("h"));
    let resources = &options.resources;
    assert_eq!(
        (resources.memory, resources.nano_cpus, resources.cpu_shares, resources.pids_limit),
        (Some(64 << 20), Some(500_000_000), Some(512), Some(100))
    );
    assert_eq!(options.ulimits, [Ulimit { name: "nofile".into(), soft: 10, hard: 20 }]);
    assert_eq!((options.cap_add, options.cap_drop), (v(&["CAP_NET_ADMIN"]), v(&["CAP_CHOWN"])));
    assert!(options.privileged && options.allow_new_privileges);
    assert_eq!(options.seccomp_profile.as_deref(), Some("unconfined"));
    assert_eq!(options.labels, BTreeMap::from([("a".into(), "1".into()), ("flag".into(), String::new())]));
    assert_eq!((options.stop_signal.as_deref(), options.stop_timeout), (Some("SIGINT"), Some(3)));
    assert_eq!((options.network, options.userns), (NetworkMode::Host, UsernsMode::KeepId));
    let kinds: Vec<(MountKind, &str)> = options.mounts.iter().map(|m| (m.kind, m.destination.as_str())).collect();
    assert_eq!(kinds, [(MountKind::Volume, "/data"), (MountKind::Tmpfs, "/scratch"), (MountKind::Tmpfs, "/run")]);
    assert_eq!(options.volumes_from, v(&["other:ro"]));
}

#[test]
fn defaults_and_special_values() {
    let options = parse(&flags()).unwrap();
    assert_eq!((options.network, options.userns), (NetworkMode::Bridge, UsernsMode::Default));
    assert_eq!(options.entrypoint, None);
    assert!(!options.allow_new_privileges && options.seccomp_profile.is_none());
    let cleared = parse(&CreateFlags { entrypoint: Some(String::new()), pids_limit: Some(0), ..flags() }).unwrap();
    assert_eq!(cleared.entrypoint, Some(vec![]));
    assert_eq!(cleared.resources.pids_limit, None, "0 is the default, not a limit of 0");
    let unlimited = parse(&CreateFlags { pids_limit: Some(-1), ..flags() }).unwrap();
    assert_eq!(unlimited.resources.pids_limit, Some(-1));
    let net = |n: &str| CreateFlags { net: NetFlags { networks: v(&[n]), ..NetFlags::default() }, ..flags() };
    for network in ["", "default", "bridge"] {
        assert_eq!(parse(&net(network)).unwrap().network, NetworkMode::Bridge);
    }
    assert_eq!(parse(&net("private")).unwrap().network, NetworkMode::Private);
    assert_eq!(parse(&net("none")).unwrap().network, NetworkMode::None);
    for userns in ["", "host"] {
        let parsed = parse(&CreateFlags { userns: Some(userns.into()), ..flags() }).unwrap();
        assert_eq!(parsed.userns, UsernsMode::Default);
    }
}

#[test]
fn bad_options_are_refused_with_their_own_errors() {
    let refused = |f: CreateFlags| parse(&f).unwrap_err();
    let bad_net = CreateFlags { net: NetFlags { networks: v(&["a/b"]), ..NetFlags::default() }, ..flags() };
    assert!(matches!(refused(bad_net), OptionsError::Network(_)));
    assert!(matches!(refused(CreateFlags { userns: Some("auto".into()), ..flags() }), OptionsError::Userns(_)));
    for cpus in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(refused(CreateFlags { cpus: Some(cpus), ..flags() }), OptionsError::Cpus(_)));
    }
    assert!(matches!(
        refused(CreateFlags { stop_signal: Some("SIGNOPE".into()), ..flags() }),
        OptionsError::StopSignal(_)
    ));
    let duplicate = refused(CreateFlags { volumes: v(&["data:/x"]), tmpfs: v(&["/x"]), ..flags() });
    assert_eq!(duplicate.to_string(), "duplicate mount point: /x");
    assert!(matches!(refused(CreateFlags { volumes_from: v(&["c:bogus"]), ..flags() }), OptionsError::Mount(_)));
    assert!(matches!(refused(CreateFlags { mounts: v(&["type=nfs,target=/x"]), ..flags() }), OptionsError::Mount(_)));
}

#[test]
fn option_errors_print_each_cause_once() {
    use crate::container::create::CreateError;
    let dir = tempfile::tempdir().unwrap();
    let env_file = user_env(&[dir.path().join("missing")], &[]).unwrap_err();
    let seccomp = parse_security_opts(&v(&["seccomp=/nonexistent.json"])).unwrap_err();
    let mount = parse(&CreateFlags { tmpfs: v(&["relative"]), ..flags() }).unwrap_err();
    for error in [env_file, seccomp, mount] {
        crate::image::tests::assert_prints_once(&error);
        crate::image::tests::assert_prints_once(&CreateError::Options(error));
    }
}
