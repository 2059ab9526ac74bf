//! Volumes and mounts: `volume create/ls/inspect/rm/prune`, `-v`, `--mount`, `--tmpfs`,
//! `--read-only`, `--volumes-from`, copy-up of image content into new volumes, anonymous
//! volumes removed with their container, and mount destinations that are symlinks in the image.
//! They need root (namespaces, overlay) and Debian's busybox-static.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::Value;

use crate::util::{ContainerEnv, TestEnv, WAIT, require_root, wait_until};

/// A test store with the image "vbox": busybox plus /seed/file (uid 1000, mode 0640), symlinks
/// /slash → / and /up → ../../.., and an image VOLUME /anonvol; or None (skipped) when not root.
pub fn setup(what: &str) -> Option<ContainerEnv> {
    if !require_root(what) {
        return None;
    }
    Some(with_image(TestEnv::new()))
}

/// The same image in a rootless environment (berth run as the unprivileged test user).
pub fn setup_rootless() -> Option<ContainerEnv> {
    Some(with_image(TestEnv::rootless()?))
}

fn with_image(env: TestEnv) -> ContainerEnv {
    env.with_busybox("vbox", &["VOLUME /anonvol"], |rootfs| {
        std::fs::create_dir_all(rootfs.join("seed/sub")).unwrap();
        std::fs::write(rootfs.join("seed/file"), "from the image\n").unwrap();
        std::fs::write(rootfs.join("seed/sub/deep"), "deep\n").unwrap();
        std::os::unix::fs::chown(rootfs.join("seed/file"), Some(1000), Some(1000)).unwrap();
        std::fs::set_permissions(rootfs.join("seed/file"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::create_dir_all(rootfs.join("anonvol")).unwrap();
        std::fs::write(rootfs.join("anonvol/preset"), "preset\n").unwrap();
        std::os::unix::fs::symlink("/", rootfs.join("slash")).unwrap();
        std::os::unix::fs::symlink("../../..", rootfs.join("up")).unwrap();
    })
}

/// The first subordinate uid of the rootless test user (container uid 1 on disk).
pub fn subordinate_start() -> u32 {
    let text = std::fs::read_to_string("/etc/subuid").unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{}:", crate::util::ROOTLESS_USER))).unwrap();
    line.split(':').nth(1).unwrap().parse().unwrap()
}

impl ContainerEnv {
    /// Like [`ContainerEnv::sh`] but expecting the script to fail: its stderr.
    pub fn sh_fails(&self, flags: &[&str], script: &str) -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["vbox", "sh", "-c", script]);
        self.berth_err(&args).1
    }

    /// Names of every volume.
    pub fn volumes(&self) -> Vec<String> {
        self.berth_ok(&["volume", "ls", "-q"]).lines().map(str::to_owned).collect()
    }

    pub fn wait_for_file_in(&self, container: &str, path: &str) {
        wait_until(WAIT, &format!("{path} appears in {container}"), || {
            self.berth(&["exec", container, "test", "-e", path]).status.success()
        });
    }
}

#[test]
fn named_volume_data_survives_every_container_that_used_it() {
    let Some(env) = setup("volumes") else { return };
    env.sh(&["-v", "keep:/data"], "echo first > /data/f");
    env.berth_ok(&["run", "--name", "writer", "-v", "keep:/data", "vbox", "sh", "-c", "echo second >> /data/f"]);
    // rm -v removes anonymous volumes only.
    env.berth_ok(&["rm", "-v", "writer"]);
    assert_eq!(env.sh(&["-v", "keep:/data"], "cat /data/f"), "first\nsecond\n");
    assert!(env.volumes().contains(&"keep".to_string()));
    assert_eq!(std::fs::read_to_string(env.root.join("volumes/keep/_data/f")).unwrap(), "first\nsecond\n");
}

#[test]
fn two_containers_share_one_volume_at_once() {
    let Some(env) = setup("volumes") else { return };
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "ca",
        "-v",
        "shared:/s",
        "vbox",
        "sh",
        "-c",
        "echo from-a > /s/a; sleep 1000",
    ]);
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "cb",
        "-v",
        "shared:/s",
        "vbox",
        "sh",
        "-c",
        "echo from-b > /s/b; sleep 1000",
    ]);
    env.wait_for_file_in("ca", "/s/b");
    env.wait_for_file_in("cb", "/s/a");
    assert_eq!(env.berth_ok(&["exec", "ca", "cat", "/s/b"]), "from-b\n");
    assert_eq!(env.berth_ok(&["exec", "cb", "cat", "/s/a"]), "from-a\n");
}

#[test]
fn a_new_volume_is_filled_with_the_images_content_once() {
    let Some(env) = setup("volumes") else { return };
    let out = env.sh(&["-v", "fresh:/seed"], "stat -c '%u:%g %a' /seed/file; cat /seed/file /seed/sub/deep");
    assert_eq!(out, "1000:1000 640\nfrom the image\ndeep\n");
    let on_disk = env.root.join("volumes/fresh/_data/file");
    let meta = std::fs::metadata(&on_disk).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (1000, 0o640));
    // A volume that is not empty is left as it is.
    env.sh(&["-v", "fresh:/seed"], "rm /seed/file");
    assert_eq!(env.sh(&["-v", "fresh:/seed"], "ls /seed"), "sub\n");
    // nocopy: an empty volume stays empty; a path the image lacks gives an empty volume too.
    assert_eq!(env.sh(&["-v", "bare:/seed:nocopy"], "ls -A /seed"), "");
    assert_eq!(env.sh(&["--mount", "type=volume,src=bare2,dst=/seed,volume-nocopy"], "ls -A /seed"), "");
    assert_eq!(env.sh(&["-v", "elsewhere:/not/in/image"], "ls -A /not/in/image"), "");
}

#[test]
fn bind_mounts_read_write_and_read_only() {
    let Some(env) = setup("bind mounts") else { return };
    let host = env.path("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "host data\n").unwrap();
    let spec = format!("{}:/h", host.display());
    assert_eq!(env.sh(&["-v", &spec], "cat /h/in; echo back > /h/out"), "host data\n");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");

    let ro = format!("{}:/h:ro", host.display());
    let err = env.sh_fails(&["-v", &ro], "cat /h/in >/dev/null && echo nope > /h/denied");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!host.join("denied").exists());
    let mount_ro = format!("type=bind,source={},target=/h,readonly", host.display());
    assert!(env.sh_fails(&["--mount", &mount_ro], "touch /h/denied").contains("Read-only"));

    // -v creates a missing host path; --mount refuses it.
    let missing = env.path("made-by-v");
    env.sh(&["-v", &format!("{}:/m", missing.display())], "touch /m/x");
    assert!(missing.join("x").is_file());
    let gone = env.path("never-made");
    let line = env.berth_fails_125(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={},dst=/m", gone.display()),
        "vbox",
        "true",
    ]);
    assert!(line.contains("bind source path does not exist"), "{line}");
    assert!(!gone.exists());

    // A single file can be bound too.
    let file = host.join("in");
    assert_eq!(env.sh(&["-v", &format!("{}:/etc/in.conf:ro", file.display())], "cat /etc/in.conf"), "host data\n");
}

#[test]
fn anonymous_volumes_go_with_their_container() {
    let Some(env) = setup("anonymous volumes") else { return };
    // `-v /path` and the image's VOLUME /anonvol: both anonymous, both gone after run --rm.
    let out = env.sh(&["-v", "/scratch"], "echo x > /scratch/f; cat /anonvol/preset");
    assert_eq!(out, "preset\n", "the image's content is copied into its VOLUME");
    assert!(env.volumes().is_empty(), "{:?}", env.volumes());

    env.berth_ok(&["create", "--name", "kept", "-v", "/scratch", "-v", "named:/n", "vbox", "true"]);
    assert_eq!(env.volumes().len(), 3, "{:?}", env.volumes());
    let mounts = env.inspect_container("kept")["Mounts"].as_array().unwrap().clone();
    assert_eq!(mounts.len(), 3, "{mounts:?}");
    let named = mounts.iter().find(|m| m["Destination"] == "/n").unwrap();
    assert_eq!(
        (named["Type"].as_str(), named["Name"].as_str(), named["RW"].as_bool()),
        (Some("volume"), Some("named"), Some(true))
    );
    assert!(named["Source"].as_str().unwrap().ends_with("volumes/named/_data"));
    env.berth_ok(&["rm", "-v", "kept"]);
    assert_eq!(env.volumes(), ["named"]);

    // Without -v they stay, dangling, until a prune; a prune keeps named volumes unless -a.
    env.berth_ok(&["run", "--name", "left", "-v", "/scratch", "vbox", "true"]);
    env.berth_ok(&["rm", "left"]);
    assert_eq!(env.volumes().len(), 3);
    let dangling = env.berth_ok(&["volume", "ls", "-q", "-f", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 3, "{dangling}");
    let pruned = env.berth_ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains("Deleted Volumes:") && pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(env.volumes(), ["named"]);
    env.berth_ok(&["volume", "prune", "-f", "-a"]);
    assert!(env.volumes().is_empty());
}

#[test]
fn volumes_in_use_are_not_removed() {
    let Some(env) = setup("volumes") else { return };
    env.berth_ok(&["create", "--name", "user", "-v", "busy:/b", "vbox", "true"]);
    for args in [&["volume", "rm", "busy"][..], &["volume", "rm", "-f", "busy"][..]] {
        let line = env.berth_fails_with(1, args);
        assert!(line.contains("volume is in use"), "{line}");
    }
    // Neither busy nor the anonymous volume of the image's VOLUME goes.
    env.berth_ok(&["volume", "prune", "-f", "-a"]);
    assert_eq!(env.volumes().len(), 2);
    assert!(env.volumes().contains(&"busy".to_string()));
    env.berth_ok(&["rm", "user"]);
    assert_eq!(env.berth_ok(&["volume", "rm", "busy"]).trim(), "busy");
    assert!(!env.root.join("volumes/busy").exists());
    assert!(env.berth_fails_with(1, &["volume", "rm", "busy"]).contains("no such volume"));
    env.berth_ok(&["volume", "rm", "-f", "busy"]);
}

#[test]
fn malformed_mounts_fail_with_125_naming_the_problem() {
    let Some(env) = setup("mount flags") else { return };
    for (flag, spec, expected) in [
        ("--mount", "type=bind,src=/,dst=/x,foo=bar", "unexpected key 'foo'"),
        ("--mount", "type=bind,src=/,dst=/x,bogus", "\"bogus\""),
        ("--mount", "type=weird,dst=/x", "'type'"),
        ("--mount", "type=bind,dst=/x", "'source'"),
        ("--mount", "type=volume,src=v1", "target"),
        ("--mount", "type=tmpfs,dst=/x,tmpfs-size=lots", "'tmpfs-size'"),
        ("--mount", "type=tmpfs,dst=/x,tmpfs-mode=99x", "'tmpfs-mode'"),
        ("--mount", "type=bind,src=/,dst=/x,tmpfs-size=1m", "'tmpfs-size'"),
        ("--mount", "type=volume,dst=/x,bind-propagation=rshared", "'bind-propagation'"),
        ("-v", "data:relative", "must be absolute"),
        ("-v", "/h:/c:bogus", "invalid mode"),
        ("-v", "data:/", "destination can't be '/'"),
        ("--tmpfs", "/t:bogus", "bogus"),
        ("--tmpfs", "relative", "must be absolute"),
        ("--volumes-from", "x:maybe", "maybe"),
    ] {
        let line = env.berth_fails_125(&["run", "--rm", flag, spec, "vbox", "true"]);
        assert!(line.contains(expected), "{flag} {spec}: {line}");
    }
    let line = env.berth_fails_125(&["run", "--rm", "-v", "aa:/d", "-v", "bb:/d", "vbox", "true"]);
    assert!(line.contains("duplicate mount point: /d"), "{line}");
    assert!(env.volumes().is_empty(), "nothing is created by a refused run: {:?}", env.volumes());
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn volume_names_are_checked() {
    let Some(env) = setup("volume names") else { return };
    for name in ["..", "../x", "a/b", "/abs", "a..b", "x", "-x", ".hidden"] {
        let line = env.berth_fails_with(1, &["volume", "create", "--", name]);
        assert!(line.contains("volume name") || line.contains("invalid characters"), "{name}: {line}");
    }
    for spec in ["..:/x", "a..b:/x", "./rel:/x", "a/b:/x"] {
        let line = env.berth_fails_125(&["run", "--rm", "-v", spec, "vbox", "true"]);
        assert!(line.contains("invalid characters"), "{spec}: {line}");
    }
    assert!(env.berth_fails_125(&["run", "--rm", "--mount", "src=../x,dst=/x", "vbox", "true"]).contains("'source'"));
    assert!(env.volumes().is_empty());
    assert!(!env.root.join("x").exists() && !env.root.join("volumes/..").join("x").exists());
}

#[test]
fn volume_create_ls_and_inspect_follow_docker() {
    let Some(env) = setup("volume verbs") else { return };
    assert_eq!(env.berth_ok(&["volume", "create", "--label", "env=prod", "--label", "team", "web"]).trim(), "web");
    // Creating it again gives the same volume.
    assert_eq!(env.berth_ok(&["volume", "create", "web"]).trim(), "web");
    let random = env.berth_ok(&["volume", "create"]).trim().to_owned();
    assert_eq!(random.len(), 64, "{random}");
    assert!(random.bytes().all(|b| b.is_ascii_hexdigit()));

    let table = env.berth_ok(&["volume", "ls"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("DRIVER") && lines[0].contains("VOLUME NAME"), "{table}");
    assert_eq!(lines.len(), 3, "{table}");
    assert_eq!(env.berth_ok(&["volume", "ls", "-q", "-f", "label=env=prod"]).trim(), "web");
    assert_eq!(env.berth_ok(&["volume", "ls", "-q", "-f", "name=we"]).trim(), "web");
    assert_eq!(
        env.berth_ok(&["volume", "ls", "--format", "{{.Name}} {{.Driver}}", "-f", "name=web"]).trim(),
        "web local"
    );
    let json: Value =
        serde_json::from_str(env.berth_ok(&["volume", "ls", "--format", "json", "-f", "name=web"]).trim()).unwrap();
    assert_eq!((json["Name"].as_str(), json["Scope"].as_str()), (Some("web"), Some("local")));
    assert!(env.berth_fails_125(&["volume", "ls", "-f", "size=1"]).contains("invalid filter"));

    let out = env.berth_ok(&["volume", "inspect", "web"]);
    let all: Value = serde_json::from_str(&out).unwrap();
    let v = &all[0];
    assert_eq!(v["Name"], "web");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["env"], "prod");
    assert_eq!(v["Mountpoint"].as_str().unwrap(), env.root.join("volumes/web/_data").to_str().unwrap());
    assert!(v["CreatedAt"].as_str().unwrap().starts_with("20"), "{v}");
    assert_eq!(env.berth_ok(&["volume", "inspect", "-f", "{{.Driver}}", "web"]).trim(), "local");
    assert!(env.berth_fails_with(1, &["volume", "inspect", "nope"]).contains("no such volume"));
}

#[test]
fn local_driver_options_tmpfs_and_bind() {
    let Some(env) = setup("volume options") else { return };
    env.berth_ok(&["volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=2m", "mem"]);
    let out = env.sh(&["-v", "mem:/m"], "mount | grep ' /m '");
    assert!(out.contains("tmpfs") && out.contains("size=2048k"), "{out}");
    let host = env.path("bound");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "bound\n").unwrap();
    let device = format!("device={}", host.display());
    env.berth_ok(&["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", &device, "hostvol"]);
    assert_eq!(env.sh(&["-v", "hostvol:/b"], "cat /b/f; echo w > /b/w"), "bound\n");
    assert!(host.join("w").is_file());
    for (opt, expected) in [
        ("foo=bar", "invalid option: \"foo\""),
        ("type=tmpfs", "missing required option"),
        ("type=nfs", "missing required option"),
    ] {
        let line = env.berth_fails_125(&["volume", "create", "-o", opt, "badopts"]);
        assert!(line.contains(expected), "{opt}: {line}");
    }
    let line = env.berth_fails_125(&["volume", "create", "-o", "type=nfs", "-o", "device=:/x", "nfsvol"]);
    assert!(line.contains("unsupported volume type"), "{line}");
}

#[test]
fn tmpfs_mounts_take_a_size() {
    let Some(env) = setup("tmpfs") else { return };
    let out = env.sh(&["--tmpfs", "/t:size=1m,mode=1770"], "mount | grep ' /t '; stat -c %a /t");
    assert!(out.contains("size=1024k") && out.contains("noexec"), "{out}");
    assert!(out.ends_with("1770\n"), "{out}");
    // Two megabytes do not fit.
    env.sh_fails(&["--tmpfs", "/t:size=1m"], "head -c 2000000 /dev/zero > /t/big");
    env.sh(&["--tmpfs", "/t:size=1m"], "head -c 900000 /dev/zero > /t/fits");
    let out = env.sh(&["--mount", "type=tmpfs,dst=/m,tmpfs-size=2m"], "mount | grep ' /m '");
    assert!(out.contains("size=2048k"), "{out}");
    let mounts = {
        env.berth_ok(&["create", "--name", "tmp", "--tmpfs", "/run", "vbox", "true"]);
        env.inspect_container("tmp")["Mounts"].clone()
    };
    assert_eq!(mounts[0]["Type"], "tmpfs");
    assert_eq!(mounts[0]["Destination"], "/run");
}

#[test]
fn read_only_root_with_writable_tmpfs() {
    let Some(env) = setup("--read-only") else { return };
    let err = env.sh_fails(&["--read-only"], "touch /x");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(env.sh_fails(&["--read-only"], "touch /tmp/x").contains("Read-only"));
    let out = env.sh(
        &["--read-only", "--tmpfs", "/tmp", "-v", "rw:/data"],
        "touch /tmp/x /data/y /dev/shm/z && cat /proc/self/stat >/dev/null && echo ok",
    );
    assert_eq!(out, "ok\n");
    env.berth_ok(&["create", "--name", "ro", "--read-only", "vbox", "true"]);
    assert_eq!(env.inspect_container("ro")["HostConfig"]["ReadonlyRootfs"], true);
}

#[test]
fn volumes_from_shares_another_containers_mounts() {
    let Some(env) = setup("--volumes-from") else { return };
    let host = env.path("h");
    std::fs::create_dir_all(&host).unwrap();
    env.berth_ok(&[
        "run",
        "--name",
        "source",
        "-v",
        "vf:/data",
        "-v",
        "/anon",
        "-v",
        &format!("{}:/h", host.display()),
        "vbox",
        "sh",
        "-c",
        "echo shared > /data/f; echo anon > /anon/g",
    ]);
    assert_eq!(env.sh(&["--volumes-from", "source"], "cat /data/f /anon/g; touch /h/from-user"), "shared\nanon\n");
    assert!(host.join("from-user").is_file());
    let err = env.sh_fails(&["--volumes-from", "source:ro"], "touch /data/nope");
    assert!(err.contains("Read-only"), "{err}");
    // An explicit mount at the same destination wins.
    assert_eq!(env.sh(&["--volumes-from", "source", "-v", "other:/data"], "ls -A /data"), "");
    // The anonymous volume is shared, so removing the source with -v keeps it while another
    // container uses it.
    env.berth_ok(&["create", "--name", "sharer", "--volumes-from", "source", "vbox", "true"]);
    env.berth_ok(&["rm", "-v", "source"]);
    // vf, other, and the two anonymous ones (/anon and the image's /anonvol) sharer still uses.
    assert_eq!(env.volumes().len(), 4, "{:?}", env.volumes());
    env.berth_ok(&["rm", "-v", "sharer"]);
    assert_eq!(env.volumes(), ["other", "vf"]);
    assert!(env.berth_fails_125(&["run", "--rm", "--volumes-from", "ghost", "vbox", "true"]).contains("ghost"));
}

#[test]
fn mount_destinations_that_are_symlinks_land_inside_the_container() {
    let Some(env) = setup("symlinked mount targets") else { return };
    let host = env.path("bindsrc");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("marker"), "bound\n").unwrap();
    // /slash → / and /up → ../../..: the binds land on the container's /landed and /up-landed.
    let out = env.sh(
        &["-v", &format!("{}:/slash/landed", host.display()), "-v", &format!("{}:/up/up-landed", host.display())],
        "cat /landed/marker /up-landed/marker",
    );
    assert_eq!(out, "bound\nbound\n");
    assert!(!Path::new("/landed").exists() && !Path::new("/up-landed").exists());
    // A volume whose destination is a symlink to / is mounted on the container's root path,
    // not over anything of the host's.
    assert_eq!(env.sh(&["-v", "sl:/slash/vol"], "touch /vol/in && ls /vol"), "in\n");
    assert!(env.root.join("volumes/sl/_data/in").is_file());
}

#[test]
fn rootless_volumes_binds_and_tmpfs() {
    let Some(env) = setup_rootless() else { return };
    let (uid, _) = env.run_as.unwrap();
    // Copy-up keeps the image's owners, shifted into the user's subordinate ids on disk; what
    // the container's root writes belongs to the user.
    let out = env.sh(&["-v", "data:/seed"], "stat -c %u /seed/file; echo new > /seed/new; id -u");
    assert_eq!(out, "1000\n0\n");
    let data = env.root.join("volumes/data/_data");
    assert_eq!(std::fs::metadata(data.join("file")).unwrap().uid(), subordinate_start() + 999);
    assert_eq!(std::fs::metadata(data.join("new")).unwrap().uid(), uid);
    assert_eq!(env.sh(&["-v", "data:/seed"], "cat /seed/new"), "new\n");
    // A bind of the user's own directory, read-write and read-only.
    let host = env.path("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    env.give(&host);
    env.sh(&["-v", &format!("{}:/h", host.display())], "echo w > /h/w");
    assert_eq!(std::fs::metadata(host.join("w")).unwrap().uid(), uid);
    assert!(env.sh_fails(&["-v", &format!("{}:/h:ro", host.display())], "touch /h/x").contains("Read-only"));
    let out = env.sh(&["--read-only", "--tmpfs", "/tmp:size=1m"], "touch /tmp/ok && mount | grep ' /tmp '");
    assert!(out.contains("size=1024k"), "{out}");
    env.berth_ok(&["run", "--name", "anon", "-v", "/scratch", "vbox", "true"]);
    env.berth_ok(&["rm", "-v", "anon"]);
    assert_eq!(env.volumes(), ["data"]);
    env.berth_ok(&["volume", "rm", "data"]);
    assert!(env.volumes().is_empty());
}
