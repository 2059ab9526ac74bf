//! `run`/`create`'s resource flags beyond -m/--cpus/-c/--pids-limit, and the kernel settings
//! (`--oom-score-adj`, `--group-add`, `--shm-size`, `--sysctl`, `--cgroupns`,
//! `--device-cgroup-rule`, `--tmpfs` options, `--annotation`), each read back inside a container.

use std::path::Path;

use crate::util::{TestEnv, require_root, root_with_busybox};

/// A block device of this host: its /dev path and MAJOR:MINOR.
fn host_block_device() -> (String, String) {
    for entry in std::fs::read_dir("/sys/block").expect("/sys/block").flatten() {
        let name = entry.file_name().into_string().unwrap();
        let node = format!("/dev/{name}");
        let number = std::fs::read_to_string(entry.path().join("dev")).unwrap_or_default().trim().to_owned();
        if Path::new(&node).exists() && !name.starts_with("loop") && !number.is_empty() {
            return (node, number);
        }
    }
    panic!("no block device in /sys/block has a node in /dev");
}

fn v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

#[test]
fn cgroup_limits_are_read_back_inside_the_container() {
    let Some(env) = root_with_busybox("cgroup limits", "busybox") else { return };
    let (device, number) = host_block_device();
    let read_bps = format!("{device}:1mb");
    let write_iops = format!("{device}:100");
    let flags = [
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--memory-reservation",
        "32m",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "--device-read-bps",
        &read_bps,
        "--device-write-iops",
        &write_iops,
    ];
    if v2() {
        let out = env.sh(
            &flags,
            "cd /sys/fs/cgroup; cat memory.max memory.swap.max memory.low cpu.max cpuset.cpus cpuset.mems; grep -c . io.max; cat io.max",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..6], ["67108864", "67108864", "33554432", "25000 50000", "0", "0"], "{out}");
        assert!(out.contains(&format!("{number} rbps=1048576 wbps=max riops=max wiops=100")), "{out}");
    } else {
        let out = env.sh(
            &flags,
            "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes \
             cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us cpuset/cpuset.cpus cpuset/cpuset.mems \
             blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_iops_device; \
             cat memory/memory.memsw.limit_in_bytes 2>/dev/null || echo no-swap-accounting",
        );
        let lines: Vec<&str> = out.lines().collect();
        let expected = [
            "67108864",
            "33554432",
            "50000",
            "25000",
            "0",
            "0",
            &format!("{number} 1048576"),
            &format!("{number} 100"),
        ];
        assert_eq!(lines[..8], expected, "{out}");
        assert!(lines[8] == "134217728" || lines[8] == "no-swap-accounting", "{out}");
        let oom = env.sh(&["-m", "64m", "--oom-kill-disable"], "cat /sys/fs/cgroup/memory/memory.oom_control");
        assert!(oom.lines().any(|l| l == "oom_kill_disable 1"), "{oom}");
        let rules = env.sh(&["--device-cgroup-rule", "c 42:* rmw"], "cat /sys/fs/cgroup/devices/devices.list");
        assert!(rules.lines().any(|l| l == "c 42:* rwm"), "{rules}");
    }

    let mut create = vec!["create", "--name", "limited"];
    create.extend_from_slice(&flags);
    create.extend(["--oom-kill-disable", "--blkio-weight", "300", "busybox", "true"]);
    env.berth_ok(&create);
    let host = &env.inspect_container("limited")["HostConfig"];
    assert_eq!(host["MemorySwap"], 128 << 20);
    assert_eq!(host["MemoryReservation"], 32 << 20);
    assert_eq!((host["CpuPeriod"].as_i64(), host["CpuQuota"].as_i64()), (Some(50000), Some(25000)));
    assert_eq!((host["CpusetCpus"].as_str(), host["CpusetMems"].as_str()), (Some("0"), Some("0")));
    assert_eq!(host["BlkioDeviceReadBps"], serde_json::json!([{ "Path": device, "Rate": 1 << 20 }]));
    assert_eq!(host["BlkioDeviceWriteIOps"], serde_json::json!([{ "Path": device, "Rate": 100 }]));
    assert_eq!(host["BlkioDeviceReadIOps"], serde_json::Value::Null);
}

#[test]
fn blkio_weight_is_applied_or_discarded_with_dockers_warning() {
    let Some(env) = root_with_busybox("cgroup limits", "busybox") else { return };
    let mut run = env.command(["run", "--rm", "--blkio-weight", "300", "busybox", "sh", "-c"]);
    let script = if v2() {
        "cat /sys/fs/cgroup/io.bfq.weight 2>/dev/null || cat /sys/fs/cgroup/io.weight 2>/dev/null || echo none"
    } else {
        "cat /sys/fs/cgroup/blkio/blkio.weight 2>/dev/null || cat /sys/fs/cgroup/blkio/blkio.bfq.weight 2>/dev/null || echo none"
    };
    let out = run.arg(script).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let discarded = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.";
    if stderr.contains(discarded) {
        assert_eq!(stdout.trim(), "none", "a discarded weight has no file to show: {stdout}");
    } else {
        assert!(stdout.contains("300") || stdout.contains("default 2971"), "{stdout} {stderr}");
    }
}

#[test]
fn bad_resource_flags_are_refused_with_dockers_words_and_create_nothing() {
    let Some(env) = root_with_busybox("cgroup limits", "busybox") else { return };
    for (flags, message) in [
        (&["--memory-swap", "100m"][..], "You should always set the Memory limit when using Memoryswap limit"),
        (&["-m", "64m", "--memory-swap", "32m"][..], "Minimum memoryswap limit should be larger than memory limit"),
        (&["-m", "64m", "--memory-reservation", "128m"][..], "can not be less than memory reservation limit"),
        (&["--cpus", "1", "--cpu-period", "50000"][..], "Conflicting options: Nano CPUs and CPU Period"),
        (&["--cpu-period", "10"][..], "CPU cfs period can not be less than 1ms"),
        (&["--cpu-quota", "10"][..], "CPU cfs quota can not be less than 1ms"),
        (&["--cpuset-cpus", "4000"][..], "Requested CPUs are not available - requested 4000, available: "),
        (&["--cpuset-mems", "0-x"][..], "Invalid value 0-x for cpuset mems"),
        (&["--blkio-weight", "5"][..], "Range of blkio weight is from 10 to 1000"),
        (&["--device-read-bps", "/dev/null:1"][..], "/dev/null is not a block device"),
        (&["--device-write-bps", "/dev/vda"][..], "bad format: /dev/vda"),
        (&["--oom-score-adj", "-1001"][..], "Invalid value -1001, range for oom score adj is [-1000, 1000]"),
        (&["--device-cgroup-rule", "c 1:3 rwx"][..], "invalid device cgroup format 'c 1:3 rwx'"),
        (&["--sysctl", "kernel.pid_max=10"][..], "sysctl 'kernel.pid_max' is not whitelisted"),
        (&["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"][..], "not allowed in the host's network"),
        (&["--cgroupns", "shared"][..], "invalid cgroup namespace mode"),
        (&["--shm-size", "lots"][..], "--shm-size"),
        (&["--annotation", "novalue"][..], "--annotation"),
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let line = env.berth_fails_125(&args);
        assert!(line.contains(message), "{flags:?}: {line}");
    }
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "", "a refused create leaves no container");
}

#[test]
fn process_settings_are_seen_inside() {
    if !require_root("containers") {
        return;
    }
    let env = TestEnv::new().with_busybox("busybox", &[], |root| {
        std::fs::write(root.join("etc/group"), "root:x:0:\nstaff:x:50:\nnogroup:x:65534:\n").unwrap();
    });
    assert_eq!(env.sh(&["--oom-score-adj", "500"], "cat /proc/self/oom_score_adj").trim(), "500");
    assert_eq!(env.sh(&["--group-add", "staff", "--group-add", "1234"], "id -G").trim(), "0 50 1234");
    let shm = |flags: &[&str]| env.sh(flags, "grep ' /dev/shm ' /proc/mounts");
    assert!(shm(&[]).contains("size=65536k"), "{}", shm(&[]));
    assert!(shm(&["--shm-size", "128m"]).contains("size=131072k"));
    let sysctls = env.sh(
        &["--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=123456789"],
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax",
    );
    assert_eq!(sysctls.lines().collect::<Vec<_>>(), ["1", "123456789"]);
    assert_ne!(std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap().trim(), "123456789", "the host's stays");

    let private = env.sh(&[], "cat /proc/self/cgroup");
    assert!(private.lines().all(|l| !l.contains("/berth/")), "{private}");
    let host = env.sh(&["--cgroupns", "host"], "cat /proc/self/cgroup");
    assert!(host.lines().any(|l| l.contains("/berth/")), "{host}");

    let tmpfs =
        env.sh(&["--tmpfs", "/scratch:size=1m,mode=700,noexec"], "grep ' /scratch ' /proc/mounts; stat -c %a /scratch");
    assert!(tmpfs.contains("size=1024k") && tmpfs.contains("noexec") && tmpfs.contains("mode=700"), "{tmpfs}");
    assert_eq!(tmpfs.lines().last(), Some("700"));

    env.berth_ok(&[
        "create",
        "--name",
        "tuned",
        "--annotation",
        "org.example.a=1",
        "--group-add",
        "staff",
        "--sysctl",
        "kernel.sem=250 32000 32 128",
        "--oom-score-adj",
        "300",
        "--cgroupns",
        "host",
        "--shm-size",
        "1g",
        "busybox",
        "true",
    ]);
    let host = &env.inspect_container("tuned")["HostConfig"];
    assert_eq!(host["Annotations"], serde_json::json!({ "org.example.a": "1" }));
    assert_eq!(host["GroupAdd"], serde_json::json!(["staff"]));
    assert_eq!(host["Sysctls"], serde_json::json!({ "kernel.sem": "250 32000 32 128" }));
    assert_eq!((host["OomScoreAdj"].as_i64(), host["CgroupnsMode"].as_str()), (Some(300), Some("host")));
    assert_eq!(host["ShmSize"], 1u64 << 30);
    env.berth_ok(&["start", "-a", "tuned"]);
}

/// The namespace `/proc/PID/ns/NAME` link of a process of this host.
fn ns(pid: &str, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}")).unwrap().to_string_lossy().into_owned()
}

#[test]
fn pid_ipc_and_uts_namespaces_are_shared_as_asked() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    let me = std::process::id().to_string();
    let seen = env.sh(
        &["--pid", "host", "--ipc", "host", "--uts", "host"],
        "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname; grep -c ' /dev/shm ' /proc/mounts",
    );
    let host_name = nix::unistd::gethostname().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        [ns(&me, "pid"), ns(&me, "ipc"), ns(&me, "uts"), host_name, "1".into()]
    );
    let own = env.sh(&[], "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; echo $$");
    let own: Vec<&str> = own.lines().collect();
    assert_ne!(own[0], ns(&me, "pid"));
    assert_ne!(own[1], ns(&me, "ipc"));
    assert_eq!(own[2], "1", "a PID namespace of its own by default");

    env.berth_ok(&["run", "-d", "--name", "donor", "--ipc", "shareable", "busybox", "sleep", "1000"]);
    let donor_pid = env.berth_ok(&["inspect", "-f", "{{.State.Pid}}", "donor"]).trim().to_owned();
    let joined = env.sh(&["--pid", "container:donor", "--ipc", "container:donor"], "ps; readlink /proc/self/ns/ipc");
    assert!(joined.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("sleep 1000")), "{joined}");
    assert_eq!(joined.lines().last().unwrap(), ns(&donor_pid, "ipc"));

    env.berth_ok(&["run", "-d", "--name", "private", "busybox", "sleep", "1000"]);
    let line = env.berth_fails_125(&["run", "--rm", "--ipc", "container:private", "busybox", "true"]);
    assert!(line.contains("non-shareable IPC"), "{line}");
    let line = env.berth_fails_125(&["run", "--rm", "--uts", "host", "--hostname", "x", "busybox", "true"]);
    assert!(line.contains("Conflicting options: hostname and the UTS mode"), "{line}");
    let line = env.berth_fails_125(&["run", "--rm", "--pid", "sibling", "busybox", "true"]);
    assert!(line.contains("--pid"), "{line}");
    assert_eq!(env.sh(&["--ipc", "none"], "test -e /dev/shm || echo no-shm").trim(), "no-shm");

    env.berth_ok(&["create", "--name", "follower", "--pid", "container:donor", "--ipc", "host", "busybox", "true"]);
    let host = &env.inspect_container("follower")["HostConfig"];
    let donor_id = env.berth_ok(&["inspect", "-f", "{{.Id}}", "donor"]).trim().to_owned();
    assert_eq!(host["PidMode"].as_str().unwrap(), format!("container:{donor_id}"));
    assert_eq!((host["IpcMode"].as_str(), host["UTSMode"].as_str()), (Some("host"), Some("")));
    env.berth_ok(&["rm", "-f", "donor"]);
    let (code, err) = env.berth_err(&["start", "follower"]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot join the pid namespace of container"), "{err}");
    env.berth_ok(&["rm", "-f", "private", "follower"]);
}

#[test]
fn update_changes_live_limits_records_and_the_restart_policy() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    let (memory, quota, pids) = if v2() {
        ("memory.max", "cpu.max", "pids.max")
    } else {
        ("memory/memory.limit_in_bytes", "cpu/cpu.cfs_quota_us", "pids/pids.max")
    };
    let read = |name: &str| {
        env.berth_ok(&["exec", name, "sh", "-c", &format!("cd /sys/fs/cgroup; cat {memory} {quota} {pids}")])
    };
    env.berth_ok(&["run", "-d", "--name", "live", "-m", "64m", "busybox", "sleep", "1000"]);
    let out = env.berth_ok(&["update", "-m", "128m", "--cpus", "0.5", "--pids-limit", "20", "live"]);
    assert_eq!(out, "live\n");
    let limits = read("live");
    let limits: Vec<&str> = limits.lines().collect();
    assert_eq!(limits[0], "134217728");
    assert!(limits[1] == "50000" || limits[1] == "50000 100000", "{limits:?}");
    assert_eq!(limits[2], "20");
    let host = &env.inspect_container("live")["HostConfig"];
    assert_eq!((host["Memory"].as_i64(), host["NanoCpus"].as_i64()), (Some(128 << 20), Some(500_000_000)));

    // A stopped container: the record only, applied at its next start.
    env.berth_ok(&["create", "--name", "later", "busybox", "sleep", "1000"]);
    env.berth_ok(&["container", "update", "--memory", "96m", "later"]);
    env.berth_ok(&["start", "later"]);
    assert_eq!(read("later").lines().next(), Some("100663296"));

    // Refusals are Docker's daemon answers (exit 1) and change nothing.
    for (args, message) in [
        (&["update", "-m", "1m", "live"][..], "Minimum memory limit allowed is 6MB"),
        (&["update", "--cpuset-cpus", "4000", "live"][..], "Requested CPUs are not available"),
        (&["update", "-m", "1g", "no-such-container"][..], "no such container"),
    ] {
        let line = env.berth_fails_with(1, args);
        assert!(line.contains(message), "{args:?}: {line}");
    }
    assert_eq!(read("live").lines().next(), Some("134217728"));
    env.berth_ok(&["run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "1000"]);
    let line = env.berth_fails_with(1, &["update", "--restart", "always", "gone"]);
    assert!(line.contains("AutoRemove is enabled"), "{line}");
    assert_eq!(env.berth_err(&["update", "-m", "64m"]).0, 125, "no container is a usage error");

    // The new policy is the one the running container's supervisor follows when it ends.
    env.berth_ok(&["run", "-d", "--name", "flaky", "busybox", "sh", "-c", "sleep 2; exit 3"]);
    env.berth_ok(&["update", "--restart", "on-failure:1", "flaky"]);
    crate::util::wait_until(std::time::Duration::from_secs(20), "the restart update asked for", || {
        env.berth_ok(&["inspect", "-f", "{{.RestartCount}}", "flaky"]).trim() == "1"
    });
    env.berth_ok(&["rm", "-f", "live", "later", "gone", "flaky"]);
}

#[test]
fn log_drivers_write_their_format_rotate_and_refuse_what_they_cannot() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    // One line at a time, so the supervisor sees (and rotates between) many writes.
    let script = "i=0; while [ $i -lt 40 ]; do echo line $i; sleep 0.02; i=$((i+1)); done";
    env.berth_ok(&[
        "run",
        "--name",
        "json",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let id = env.berth_ok(&["inspect", "-f", "{{.Id}}", "json"]).trim().to_owned();
    let log = env.root.join("containers").join(&id).join("ctr.log");
    let current = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(current.lines().last().unwrap()).unwrap();
    assert_eq!((last["log"].as_str(), last["stream"].as_str()), (Some("line 39\n"), Some("stdout")));
    assert!(last["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{last}");
    assert!(log.with_extension("log.2").exists() && !log.with_extension("log.3").exists(), "three files in all");
    assert!(std::fs::metadata(&log).unwrap().len() <= 1024);
    let shown = env.berth_ok(&["logs", "json"]);
    let numbers: Vec<u32> = shown.lines().map(|l| l.strip_prefix("line ").unwrap().parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1) && numbers.last() == Some(&39), "{shown}");
    assert!(numbers[0] > 0, "the oldest lines rotated away: {shown}");
    let config = &env.inspect_container("json")["HostConfig"]["LogConfig"];
    assert_eq!(config, &serde_json::json!({ "Type": "json-file", "Config": { "max-file": "3", "max-size": "1k" } }));

    assert_eq!(env.berth_ok(&["run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi"]), "hi\n");
    let line = env.berth_fails_with(1, &["logs", "quiet"]);
    assert!(line.contains("configured logging driver does not support reading"), "{line}");
    for (flags, message) in [
        (&["--log-driver", "journald"][..], "the journald log driver is not supported"),
        (&["--log-driver", "local"][..], "the local log driver is not supported"),
        (&["--log-opt", "max-file=2"][..], "max-file cannot be set when max-size is not set"),
        (&["--log-opt", "mode=non-blocking"][..], "unknown log opt 'mode'"),
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let line = env.berth_fails_125(&args);
        assert!(line.contains(message), "{flags:?}: {line}");
    }
}

#[test]
fn run_attach_relays_only_the_streams_named() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    let run = |flags: &[&str], input: &str| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "sh", "-c", "cat; echo out; echo err >&2"]);
        let mut child = env
            .command(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{flags:?}: {}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(run(&["-a", "stdout"], ""), ("out\n".into(), String::new()));
    assert_eq!(run(&["-a", "STDERR"], ""), (String::new(), "err\n".into()));
    assert_eq!(run(&["-i", "-a", "stdin", "-a", "stdout"], "in\n"), ("in\nout\n".into(), String::new()));
    assert_eq!(run(&[], ""), ("out\n".into(), "err\n".into()));
    let line = env.berth_fails_125(&["run", "-d", "-a", "stdout", "busybox", "true"]);
    assert!(line.contains("Conflicting options: -a and -d"), "{line}");
    let line = env.berth_fails_125(&["run", "--rm", "-a", "stdlog", "busybox", "true"]);
    assert!(line.contains("valid streams are STDIN, STDOUT and STDERR"), "{line}");
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
}
