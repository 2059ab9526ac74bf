//! `cp`, `export` and `commit`: files in and out of running and stopped containers with Docker's
//! rules, tar streams, symlinks in the container that point at `/` or `../../..` never reaching
//! host files, a container's filesystem as a tar, and a container's changes as a new image.
//! They need root and Debian's busybox-static.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::ContainerEnv;
use crate::volumes::{setup, setup_rootless};

/// A running container "run" and a stopped (exited) one "stopped", both of the test image, each
/// with /data/hello (a file) and /data/dir/inner.
fn with_containers(what: &str) -> Option<ContainerEnv> {
    Some(start_containers(setup(what)?))
}

fn start_containers(env: ContainerEnv) -> ContainerEnv {
    let prepare = "mkdir -p /data/dir && echo hello > /data/hello && echo inner > /data/dir/inner";
    env.berth_ok(&["run", "-d", "--name", "run", "vbox", "sh", "-c", &format!("{prepare}; sleep 1000")]);
    env.wait_for_file_in("run", "/data/dir/inner");
    env.berth_ok(&["run", "--name", "stopped", "vbox", "sh", "-c", prepare]);
    env
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut child =
        Command::new("tar").arg("-tf").arg("-").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "not a tar archive");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

fn berth_with_stdin(env: &ContainerEnv, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child =
        env.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn cp_out_of_running_and_stopped_containers_follows_dockers_rules() {
    let Some(env) = with_containers("cp") else { return };
    for name in ["run", "stopped"] {
        let out = env.path(&format!("out-{name}"));
        std::fs::create_dir_all(&out).unwrap();
        // A file into an existing directory keeps its name; to a new path takes that name.
        env.berth_ok(&["cp", &format!("{name}:/data/hello"), out.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(out.join("hello")).unwrap(), "hello\n");
        env.berth_ok(&["cp", &format!("{name}:/data/hello"), out.join("renamed").to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(out.join("renamed")).unwrap(), "hello\n");
        // A directory to a new path becomes that directory; into an existing one, a child of it.
        env.berth_ok(&["cp", &format!("{name}:/data"), out.join("copy").to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(out.join("copy/dir/inner")).unwrap(), "inner\n");
        env.berth_ok(&["cp", &format!("{name}:/data"), out.join("copy").to_str().unwrap()]);
        assert!(out.join("copy/data/hello").is_file());
        // A trailing /. copies the content.
        std::fs::create_dir_all(out.join("content")).unwrap();
        env.berth_ok(&["cp", &format!("{name}:/data/."), out.join("content").to_str().unwrap()]);
        assert!(out.join("content/hello").is_file() && out.join("content/dir/inner").is_file());
        // Files copied out belong to the caller.
        assert_eq!(std::fs::metadata(out.join("hello")).unwrap().uid(), my_uid());
        // Errors: a missing source, a directory onto a file, a file into a missing directory.
        let line = env.berth_fails_125(&["cp", &format!("{name}:/nope"), out.to_str().unwrap()]);
        assert!(line.contains("could not find the file /nope"), "{line}");
        let line = env.berth_fails_125(&["cp", &format!("{name}:/data"), out.join("hello").to_str().unwrap()]);
        assert!(line.contains("cannot copy a directory to a file"), "{line}");
        let line = env.berth_fails_125(&[
            "cp",
            &format!("{name}:/data/hello"),
            &format!("{}/", out.join("missing").display()),
        ]);
        assert!(line.contains("does not exist"), "{line}");
        // A file the image itself has, seen through the container.
        env.berth_ok(&["cp", &format!("{name}:/seed/file"), out.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(out.join("file")).unwrap(), "from the image\n");
    }
}

fn my_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

#[test]
fn cp_into_running_and_stopped_containers() {
    let Some(env) = with_containers("cp") else { return };
    let src = env.path("src");
    std::fs::create_dir_all(src.join("tree/sub")).unwrap();
    std::fs::write(src.join("tree/sub/f"), "tree file\n").unwrap();
    std::fs::write(src.join("single"), "single\n").unwrap();
    std::os::unix::fs::chown(src.join("single"), Some(1234), Some(1234)).unwrap();
    for name in ["run", "stopped"] {
        env.berth_ok(&["cp", src.join("single").to_str().unwrap(), &format!("{name}:/data/")]);
        env.berth_ok(&["cp", src.join("single").to_str().unwrap(), &format!("{name}:/data/renamed")]);
        env.berth_ok(&["cp", src.join("tree").to_str().unwrap(), &format!("{name}:/newtree")]);
        env.berth_ok(&["cp", src.join("tree").to_str().unwrap(), &format!("{name}:/data")]);
        env.berth_ok(&["cp", "-a", src.join("single").to_str().unwrap(), &format!("{name}:/data/archived")]);
        let line = env.berth_fails_125(&["cp", src.join("tree").to_str().unwrap(), &format!("{name}:/data/hello")]);
        assert!(line.contains("cannot copy a directory to a file"), "{line}");
    }
    let check =
        "cat /data/single /data/renamed /newtree/sub/f /data/tree/sub/f; stat -c %u /data/single /data/archived";
    let expected = "single\nsingle\ntree file\ntree file\n0\n1234\n";
    assert_eq!(env.berth_ok(&["exec", "run", "sh", "-c", check]), expected);
    // The stopped container sees them when it runs.
    env.berth_ok(&["commit", "stopped", "stopped-image"]);
    let out = env.berth_ok(&["run", "--rm", "stopped-image", "sh", "-c", check]);
    assert_eq!(out, expected);
}

#[test]
fn cp_streams_tar_archives_on_stdin_and_stdout() {
    let Some(env) = with_containers("cp streams") else { return };
    for name in ["run", "stopped"] {
        let out = env.berth(&["cp", &format!("{name}:/data"), "-"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let names = tar_names(&out.stdout);
        for expected in ["data/", "data/hello", "data/dir/", "data/dir/inner"] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
        }
        // The archive goes back in as it is, into an existing directory.
        let sent = berth_with_stdin(&env, &["cp", "-", &format!("{name}:/tmp")], &out.stdout);
        assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
        let refused = berth_with_stdin(&env, &["cp", "-", &format!("{name}:/data/hello")], &out.stdout);
        assert_eq!(refused.status.code(), Some(125));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("must be a directory"));
    }
    assert_eq!(env.berth_ok(&["exec", "run", "cat", "/tmp/data/dir/inner"]), "inner\n");
    env.berth_ok(&["commit", "stopped", "streamed"]);
    assert_eq!(env.berth_ok(&["run", "--rm", "streamed", "cat", "/tmp/data/hello"]), "hello\n");
}

#[test]
fn symlinks_in_the_container_never_reach_host_files() {
    let Some(env) = with_containers("cp and symlinks") else { return };
    // A canary on the host, and a file at the same path inside the containers.
    let canary = env.path("canary-dir/canary");
    std::fs::create_dir_all(canary.parent().unwrap()).unwrap();
    std::fs::write(&canary, "host secret\n").unwrap();
    let canary_text = canary.to_str().unwrap();
    let dir_text = canary.parent().unwrap().to_str().unwrap();
    env.berth_ok(&["exec", "run", "sh", "-c", &format!("mkdir -p {dir_text} && echo container > {canary_text}")]);
    // The same path in the stopped container, made by a tar stream (which creates parents).
    let stage = env.path("stage");
    let staged = stage.join(canary.strip_prefix("/").unwrap());
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, "container\n").unwrap();
    let tarball = Command::new("tar").arg("-C").arg(&stage).arg("-cf").arg("-").arg(".").output().unwrap();
    assert!(tarball.status.success());
    let sent = berth_with_stdin(&env, &["cp", "-", "stopped:/"], &tarball.stdout);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let payload = env.path("payload");
    std::fs::write(&payload, "overwritten\n").unwrap();

    for name in ["run", "stopped"] {
        for link in ["/slash", "/up", "/up/up"] {
            let via = format!("{name}:{link}{canary_text}");
            // Reading through the link reads the container's file (as written by a previous
            // round, maybe).
            let out = env.path(&format!("read-{name}-{}", link.replace('/', "_")));
            env.berth_ok(&["cp", &via, out.to_str().unwrap()]);
            let read = std::fs::read_to_string(&out).unwrap();
            assert!(read == "container\n" || read == "overwritten\n", "{via}: {read}");
            let streamed = env.berth(&["cp", &via, "-"]);
            assert!(!String::from_utf8_lossy(&streamed.stdout).contains("host secret"), "{via}");
            // Writing through it writes the container's file.
            env.berth_ok(&["cp", payload.to_str().unwrap(), &via]);
            assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host secret\n", "{via} wrote the host's file");
            env.berth_ok(&["cp", payload.to_str().unwrap(), &format!("{name}:{link}{dir_text}/")]);
            assert!(!canary.parent().unwrap().join("payload").exists(), "{via} wrote into the host's directory");
        }
        // Copying a link itself gives the link, not what it points at on the host.
        let out = env.path(&format!("link-{name}"));
        env.berth_ok(&["cp", &format!("{name}:/slash"), out.to_str().unwrap()]);
        assert_eq!(std::fs::read_link(&out).unwrap(), Path::new("/"));
    }
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host secret\n");
    assert_eq!(env.berth_ok(&["exec", "run", "cat", canary_text]), "overwritten\n");
}

#[test]
fn export_writes_the_containers_files_as_a_tar() {
    let Some(env) = with_containers("export") else { return };
    for name in ["run", "stopped"] {
        let file = env.path(&format!("{name}.tar"));
        env.berth_ok(&["export", "-o", file.to_str().unwrap(), name]);
        let names = tar_names(&std::fs::read(&file).unwrap());
        for expected in ["bin/busybox", "etc/passwd", "data/hello", "data/dir/inner", "seed/file"] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing from the export of {name}");
        }
        assert!(!names.iter().any(|n| n.starts_with("proc/") && n.len() > 5), "nothing of /proc: {names:?}");
        let streamed = env.berth(&["export", name]);
        assert!(streamed.status.success());
        assert_eq!(tar_names(&streamed.stdout).len(), names.len());
    }
    // Deleted image files are not in the export.
    env.berth_ok(&["exec", "run", "rm", "/seed/file"]);
    let out = env.berth(&["export", "run"]);
    assert!(!tar_names(&out.stdout).iter().any(|n| n == "seed/file"));
    assert!(env.berth_fails_with(1, &["export", "ghost"]).contains("no such container"));
}

#[test]
fn commit_makes_an_image_with_the_containers_changes() {
    let Some(env) = with_containers("commit") else { return };
    env.berth_ok(&["exec", "run", "sh", "-c", "echo changed > /seed/file && rm /seed/sub/deep"]);
    let id =
        env.berth_ok(&["commit", "-c", "ENV COMMITTED=yes", "-m", "my change", "-a", "tester", "run", "committed:v1"]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    // The running container was paused for the commit and runs on.
    assert_eq!(env.berth_ok(&["inspect", "-f", "{{.State.Status}}", "run"]).trim(), "running");
    let out = env.berth_ok(&[
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "cat /seed/file; ls /seed/sub; echo $COMMITTED; cat /data/hello",
    ]);
    assert_eq!(out, "changed\nyes\nhello\n");
    let history = env.berth_ok(&["history", "committed:v1"]);
    assert!(history.contains("my change"), "{history}");
    assert_eq!(env.inspect("committed:v1", "{{.Author}}"), "tester");
    // The command of the container becomes the image's.
    assert!(env.inspect("committed:v1", "{{json .Config.Cmd}}").contains("sleep 1000"));
    env.assert_store_ok();
}

#[test]
fn rootless_cp_export_and_commit() {
    let Some(env) = setup_rootless() else { return };
    let env = start_containers(env);
    let (uid, _) = env.run_as.unwrap();
    let src = env.path("in.txt");
    std::fs::write(&src, "from the host\n").unwrap();
    env.give(&src);
    for name in ["run", "stopped"] {
        // Out: the files belong to the user; in: to the container's root.
        let out = env.path(&format!("out-{name}"));
        env.berth_ok(&["cp", &format!("{name}:/data"), out.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(out.join("dir/inner")).unwrap(), "inner\n");
        assert_eq!(std::fs::metadata(out.join("hello")).unwrap().uid(), uid);
        env.berth_ok(&["cp", src.to_str().unwrap(), &format!("{name}:/data/in.txt")]);
        let line =
            env.berth_fails_125(&["cp", &format!("{name}:/up/etc/shadow"), out.join("shadow").to_str().unwrap()]);
        assert!(line.contains("could not find the file"), "{line}");
        let file = env.path(&format!("{name}.tar"));
        env.berth_ok(&["export", "-o", file.to_str().unwrap(), name]);
        assert!(tar_names(&std::fs::read(&file).unwrap()).iter().any(|n| n == "data/in.txt"));
    }
    assert_eq!(env.berth_ok(&["exec", "run", "stat", "-c", "%u %n", "/data/in.txt"]), "0 /data/in.txt\n");
    env.berth_ok(&["commit", "stopped", "rootless-commit"]);
    assert_eq!(env.berth_ok(&["run", "--rm", "rootless-commit", "cat", "/data/in.txt"]), "from the host\n");
}
