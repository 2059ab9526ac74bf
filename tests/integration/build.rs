//! `berth build`: instructions, multi-stage, the cache, reproducibility and bad input, on the
//! busybox image; `podman build` as an oracle for the file trees when it is installed.

use std::path::{Path, PathBuf};

use crate::util::{ContainerEnv, assert_one_error_line, root_with_busybox};

/// A context directory in the environment with `files` (path, content) and a Dockerfile.
fn context(env: &ContainerEnv, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

fn build(env: &ContainerEnv, args: &[&str], dir: &Path) -> (String, String) {
    let mut all: Vec<String> = vec!["build".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push(dir.display().to_string());
    let out = env.berth(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build failed ({}):\n{stdout}\n{stderr}", out.status);
    let id = stdout.trim().lines().last().unwrap_or("").to_owned();
    assert!(id.starts_with("sha256:") && id.len() == 71, "build should print the image id, printed {stdout:?}");
    (id, stderr)
}

fn build_fails(env: &ContainerEnv, dir: &Path) -> String {
    let (code, stderr) = env.berth_err(&["build", "-q", "--no-cache", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "a failed build exits 1:\n{stderr}");
    let line = assert_one_error_line(&stderr);
    assert!(env.berth_ok(&["ps", "-aq"]).trim().is_empty(), "a failed build leaves no container");
    env.assert_store_ok();
    line
}

fn run(env: &ContainerEnv, image: &str, script: &str) -> String {
    env.berth_ok(&["run", "--rm", image, "sh", "-c", script])
}

#[test]
fn every_config_instruction_and_file_steps() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let dir = context(
        &env,
        "ctx",
        "FROM bb\n\
         ARG WHO=world\n\
         ENV GREETING=hello A=1\n\
         LABEL org.example.kind=test\n\
         WORKDIR /app\n\
         COPY a.txt ./\n\
         COPY --chown=65534:65534 --chmod=0640 b.txt /data/b.txt\n\
         COPY sub/ /app/sub/\n\
         ADD archive.tar /unpacked/\n\
         RUN echo \"$GREETING $WHO\" > /app/run.txt && mkdir -p /made\n\
         USER nobody\n\
         EXPOSE 8080/tcp\n\
         VOLUME /data\n\
         STOPSIGNAL SIGINT\n\
         HEALTHCHECK --interval=5s CMD [\"true\"]\n\
         SHELL [\"/bin/sh\", \"-c\"]\n\
         ONBUILD RUN echo child\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
         CMD [\"cat /app/run.txt\"]\n",
        &[("a.txt", "A\n"), ("b.txt", "B\n"), ("sub/deep/c.txt", "C\n")],
    );
    // A tar archive in the context, unpacked by ADD.
    let staging = env.path("tarsrc");
    std::fs::create_dir_all(staging.join("t")).unwrap();
    std::fs::write(staging.join("t/inner.txt"), "inner\n").unwrap();
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&staging)
        .arg("-cf")
        .arg(dir.join("archive.tar"))
        .arg("t")
        .status()
        .unwrap();
    assert!(status.success());
    let (_, stderr) = build(&env, &["-t", "app:1", "--build-arg", "WHO=berth", "--label", "extra=yes"], &dir);
    assert!(stderr.contains("STEP 1/19: FROM bb"), "{stderr}");
    let out = env.berth_ok(&["run", "--rm", "app:1"]);
    assert_eq!(out, "hello berth\n");
    let files = env.berth_ok(&[
        "run",
        "--rm",
        "--user",
        "0",
        "--entrypoint",
        "",
        "app:1",
        "sh",
        "-c",
        "cat /app/a.txt /app/sub/deep/c.txt /unpacked/t/inner.txt; stat -c '%u:%g %a' /data/b.txt; pwd; id -u; test -d /made && echo made",
    ]);
    assert_eq!(files, "A\nC\ninner\n65534:65534 640\n/app\n0\nmade\n");
    let config = env.inspect_json("app:1");
    let c = &config["Config"];
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["Labels"]["org.example.kind"], "test");
    assert_eq!(c["Labels"]["extra"], "yes");
    assert!(c["ExposedPorts"].get("8080/tcp").is_some(), "{c}");
    assert!(c["Volumes"].get("/data").is_some(), "{c}");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD", "true"]));
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo child"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["cat /app/run.txt"]));
    let env_list: Vec<String> = serde_json::from_value(c["Env"].clone()).unwrap();
    assert!(env_list.contains(&"GREETING=hello".to_owned()) && env_list.contains(&"A=1".to_owned()), "{env_list:?}");
    // The sandbox's mount targets never reach a layer.
    let history = env.berth_ok(&["history", "--no-trunc", "app:1"]);
    assert!(history.contains("RUN"), "{history}");
    env.assert_store_ok();
}

#[test]
fn mount_targets_stay_out_of_run_layers() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    // An image without /etc/hosts, /proc and friends: the sandbox makes them for the RUN.
    let dir = context(&env, "ctx", "FROM bb\nRUN rm -rf /proc /sys /dev /etc/hosts 2>/dev/null; true\nRUN true\n", &[]);
    let (id, _) = build(&env, &["-t", "plain"], &dir);
    let layers = env.inspect("plain", "{{len .RootFS.Layers}}");
    let base_layers = env.inspect("bb", "{{len .RootFS.Layers}}");
    // `RUN true` changes nothing: no layer.
    assert!(layers.parse::<usize>().unwrap() <= base_layers.parse::<usize>().unwrap() + 1, "{layers} layers");
    assert!(id.starts_with("sha256:"));
    env.assert_store_ok();
}

#[test]
fn multi_stage_with_copy_from_and_target() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let dir = context(
        &env,
        "ctx",
        "FROM bb AS builder\n\
         RUN mkdir -p /out && echo built > /out/artifact && chown 65534:65534 /out/artifact\n\
         FROM bb AS unused\n\
         RUN exit 7\n\
         FROM scratch AS final\n\
         COPY --from=builder /bin/busybox /bin/busybox\n\
         COPY --from=builder /out/ /result/\n\
         COPY --from=0 /out/artifact /again\n\
         FROM final AS test\n\
         COPY --from=builder /etc/passwd /etc/passwd\n",
        &[],
    );
    build(&env, &["-t", "multi", "--target", "final"], &dir);
    let out = env.berth_ok(&["run", "--rm", "multi", "/bin/busybox", "cat", "/result/artifact", "/again"]);
    assert_eq!(out, "built\nbuilt\n");
    let owner = env.berth_ok(&["run", "--rm", "multi", "/bin/busybox", "stat", "-c", "%u:%g", "/result/artifact"]);
    assert_eq!(owner, "65534:65534\n", "COPY --from keeps owners");
    // The last stage by default; the stage that fails is never needed.
    build(&env, &["-t", "multi:test"], &dir);
    let out = env.berth_ok(&["run", "--rm", "multi:test", "/bin/busybox", "cat", "/etc/passwd"]);
    assert!(out.starts_with("root:"), "{out}");
    env.assert_store_ok();
}

#[test]
fn the_cache_hits_and_invalidates() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let dockerfile =
        "FROM bb\nARG V=1\nCOPY a.txt /a.txt\nRUN echo $V > /v && cat /proc/sys/kernel/random/uuid > /stamp\n";
    let dir = context(&env, "ctx", dockerfile, &[("a.txt", "one\n")]);
    let (first, _) = build(&env, &["-t", "cached"], &dir);
    let stamp = run(&env, "cached", "cat /stamp");
    // Fully cached: the same image, the RUN did not run again.
    let (again, stderr) = build(&env, &["-t", "cached"], &dir);
    assert_eq!(first, again);
    assert_eq!(stderr.matches("--> Using cache").count(), 2, "{stderr}");
    // --no-cache runs everything.
    let (_, stderr) = build(&env, &["-t", "cached", "--no-cache"], &dir);
    assert!(!stderr.contains("Using cache"), "{stderr}");
    assert_ne!(run(&env, "cached", "cat /stamp"), stamp);
    // A content change (same size, mtime reset) invalidates COPY and what follows.
    std::fs::write(dir.join("a.txt"), "two\n").unwrap();
    let (id, stderr) = build(&env, &["-t", "cached"], &dir);
    assert!(!stderr.contains("Using cache"), "{stderr}");
    assert_eq!(run(&env, &id, "cat /a.txt"), "two\n");
    // An ARG change invalidates the RUN only.
    let (_, stderr) = build(&env, &["-t", "cached", "--build-arg", "V=2"], &dir);
    assert_eq!(stderr.matches("--> Using cache").count(), 1, "{stderr}");
    assert_eq!(run(&env, "cached", "cat /v"), "2\n");
    // A parent change (another base image) invalidates everything.
    env.import_busybox("bb", &["ENV X=1"], |root| std::fs::write(root.join("marker"), "x").unwrap());
    let (_, stderr) = build(&env, &["-t", "cached", "--build-arg", "V=2"], &dir);
    assert!(!stderr.contains("Using cache"), "{stderr}");
    let cache = r#"{{if eq .Type "Build Cache"}}{{.TotalCount}} {{.Active}}{{end}}"#;
    assert_eq!(env.berth_ok(&["system", "df", "--format", cache]).trim(), "7 0", "system df counts the entries");
    assert_eq!(env.berth_ok(&["builder", "prune", "-f"]).trim(), "Removed 7 build cache entries");
    assert_eq!(env.berth_ok(&["system", "df", "--format", cache]).trim(), "0 0");
    build(&env, &["-t", "cached", "--build-arg", "V=3"], &dir);
    let pruned = env.berth_ok(&["system", "prune", "-f"]);
    assert!(pruned.contains("Deleted build cache objects:\n"), "system prune clears the cache too: {pruned}");
    assert_eq!(env.berth_ok(&["system", "df", "--format", cache]).trim(), "0 0");
    env.assert_store_ok();
}

#[test]
fn the_same_inputs_give_the_same_image_in_two_stores() {
    let Some(one) = root_with_busybox("building runs containers", "bb") else { return };
    let Some(two) = root_with_busybox("building runs containers", "bb") else { return };
    // The base image itself the same in both stores: imported with a fixed creation time.
    for env in [&one, &two] {
        let tarball = env.busybox_tarball(|_| {});
        let out = env
            .command(["import", "-m", "base", tarball.to_str().unwrap(), "base"])
            .env("SOURCE_DATE_EPOCH", "0")
            .output();
        assert!(out.unwrap().status.success());
    }
    let dockerfile = "FROM base\nCOPY . /src/\nRUN mkdir -p /out && cat /src/a.txt > /out/a && echo ran > /out/b\n\
                      ENV X=1\nCMD [\"cat\", \"/out/a\"]\n";
    let a = context(&one, "ctx", dockerfile, &[("a.txt", "content\n"), ("d/e.txt", "e\n")]);
    let b = context(&two, "ctx", dockerfile, &[("a.txt", "content\n"), ("d/e.txt", "e\n")]);
    let (id_a, _) = build(&one, &["-t", "r", "--build-arg", "SOURCE_DATE_EPOCH=1700000000"], &a);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (id_b, _) = build(&two, &["-t", "r", "--build-arg", "SOURCE_DATE_EPOCH=1700000000"], &b);
    assert_eq!(id_a, id_b, "the same Dockerfile and context give the same image");
    assert_eq!(one.inspect("r", "{{.Created}}"), two.inspect("r", "{{.Created}}"));
}

#[test]
fn bad_input_is_a_clear_error_with_its_line() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let cases: &[(&str, &str)] = &[
        ("FROM bb\nFROBNICATE x\n", "line 2"),
        ("FROM bb\nRUN <<EOF\necho never ends\n", "lines 2-3"),
        ("FROM bb\nCOPY missing.txt /\n", "line 2"),
        ("FROM bb\nCOPY ../x /\n", "line 2"),
        ("FROM bb\nRUN true\nRUN exit 3\n", "line 3"),
    ];
    for (i, (dockerfile, line)) in cases.iter().enumerate() {
        let dir = context(&env, &format!("bad{i}"), dockerfile, &[]);
        let error = build_fails(&env, &dir);
        assert!(error.contains(&format!("Dockerfile {line}")), "{dockerfile:?}: {error}");
    }
    let dir = context(&env, "exit", "FROM bb\nRUN exit 3\n", &[]);
    let error = build_fails(&env, &dir);
    assert!(error.contains("exit code: 3"), "{error}");
    // A usage error is 125.
    let (code, _) = env.berth_err(&["build", "--bogus-flag", "."]);
    assert_eq!(code, 125);
}

#[test]
fn an_interrupted_build_leaves_no_container() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let dir = context(&env, "ctx", "FROM bb\nRUN echo started && sleep 30\n", &[]);
    let mut child = env
        .command(["build", dir.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting the build");
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("started") {
        let n = std::io::Read::read(&mut stderr, &mut buf).unwrap();
        assert!(n > 0, "the build ended early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(env.berth_ok(&["ps", "-aq"]).trim().is_empty(), "the step's container is removed");
    env.assert_store_ok();
}

/// Every entry of a container's exported filesystem: path → (type, mode, owner, link, content
/// digest); times left out. What the sandbox mounts over is left out too.
fn tree_of(export: &[u8]) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest as _;
    let mut out = std::collections::BTreeMap::new();
    let mut archive = tar::Archive::new(export);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_owned();
        let skipped = ["proc", "sys", "dev", "run", "etc/hosts", "etc/hostname", "etc/resolv.conf"];
        if path.is_empty() || skipped.iter().any(|s| path == *s || path.starts_with(&format!("{s}/"))) {
            continue;
        }
        let h = entry.header().clone();
        let link = entry.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        let kind = format!("{:?}", h.entry_type());
        let value = format!(
            "{kind} {:o} {}:{} {link} {}",
            h.mode().unwrap() & 0o7777,
            h.uid().unwrap(),
            h.gid().unwrap(),
            hex::encode(sha2::Sha256::digest(&content))
        );
        out.insert(path, value);
    }
    out
}

#[test]
fn a_build_and_a_podman_build_give_the_same_files() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    if !crate::util::require_program("podman") {
        return;
    }
    let dockerfile = "FROM localhost/bb\n\
                      WORKDIR /app\n\
                      COPY a.txt ./\n\
                      COPY --chown=65534:65534 sub /data/\n\
                      COPY --chmod=0600 a.txt /secret/a\n\
                      ADD archive.tar /unpacked/\n\
                      RUN mkdir -p /out && echo x > /out/x && ln -s x /out/l && chmod 700 /out && rm /bin/wc\n";
    let dir = context(&env, "ctx", dockerfile, &[("a.txt", "a\n"), ("sub/s.txt", "s\n"), ("sub/deeper/t.txt", "t\n")]);
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(dir.join("sub"))
        .arg("-cf")
        .arg(dir.join("archive.tar"))
        .arg("s.txt")
        .status()
        .unwrap();
    assert!(status.success());
    let tarball = env.busybox_tarball(|_| {});
    env.berth_ok(&["import", tarball.to_str().unwrap(), "localhost/bb"]);
    build(&env, &["-t", "oracle"], &dir);
    env.berth_ok(&["create", "--name", "oracle-c", "oracle", "true"]);
    let ours = env.command(["export", "oracle-c"]).output().unwrap();
    assert!(ours.status.success());
    // Podman in a store of its own, chroot isolation (crun refuses this machine's hybrid cgroups).
    let root = env.path("podman-root");
    let podman = |args: &[&str]| {
        let out = std::process::Command::new("podman")
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(env.path("podman-runroot"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    podman(&["import", tarball.to_str().unwrap(), "localhost/bb"]);
    podman(&[
        "build",
        "--isolation",
        "chroot",
        "--network",
        "host",
        "-q",
        "-t",
        "localhost/oracle",
        dir.to_str().unwrap(),
    ]);
    podman(&["create", "--name", "oracle-c", "localhost/oracle", "true"]);
    let theirs = podman(&["export", "oracle-c"]);
    let (ours, theirs) = (tree_of(&ours.stdout), tree_of(&theirs));
    for path in ["app/a.txt", "data/deeper/t.txt", "secret/a", "unpacked/s.txt", "out/l", "bin/busybox"] {
        assert!(ours.contains_key(path), "{path} is in the image: {ours:?}");
    }
    assert!(!ours.contains_key("bin/wc"), "a file RUN removed is gone");
    let differences: Vec<String> = ours
        .keys()
        .chain(theirs.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| ours.get(*k) != theirs.get(*k))
        .map(|k| format!("{k}: berth {:?}, podman {:?}", ours.get(k), theirs.get(k)))
        .collect();
    assert!(differences.is_empty(), "the file trees differ:\n{}", differences.join("\n"));
    let _ = podman(&["rm", "-f", "oracle-c"]);
}

#[test]
fn heredocs_mounts_and_secrets() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let dockerfile = "FROM bb\n\
                      RUN <<EOF\necho one > /h\necho two >> /h\nEOF\n\
                      RUN <<EOT\n#!/bin/sh\necho script > /script\nEOT\n\
                      COPY <<EOF /inline.txt\ninline $HOME\nEOF\n\
                      RUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count\n\
                      RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && test -f /scratch/t\n\
                      RUN --mount=type=bind,source=b.txt,target=/mnt/b.txt cat /mnt/b.txt > /copied\n\
                      RUN --mount=type=secret,id=tok,required=true cp /run/secrets/tok /tmp/seen && test \"$(cat /tmp/seen)\" = s3cret && rm /tmp/seen\n\
                      RUN --mount=type=secret,id=tok,env=TOK test \"$TOK\" = s3cret\n";
    let dir = context(&env, "ctx", dockerfile, &[("b.txt", "bound\n")]);
    let secret = env.path("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let secret_flag = format!("id=tok,src={}", secret.display());
    build(&env, &["-t", "mounts", "--secret", &secret_flag], &dir);
    let out =
        run(&env, "mounts", "cat /h /script /inline.txt /count /copied; ls -d /cache /scratch /mnt /run 2>&1; true");
    assert!(out.starts_with("one\ntwo\nscript\ninline \n1\nbound\n"), "{out}");
    for gone in ["/cache", "/scratch", "/mnt", "/run"] {
        assert!(out.contains(&format!("ls: {gone}: No such file or directory")), "{gone} stays out: {out}");
    }
    // The cache mount persists: a rebuild without the cache sees the first run's file.
    build(&env, &["-t", "mounts", "--no-cache", "--secret", &secret_flag], &dir);
    assert_eq!(run(&env, "mounts", "cat /count"), "2\n");
    // The secret is in no layer.
    env.berth_ok(&["create", "--name", "secret-check", "mounts", "true"]);
    let export = env.command(["export", "secret-check"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&export.stdout).contains("s3cret"));
    // A required secret that is missing is an error.
    let (code, stderr) = env.berth_err(&["build", "-q", "--no-cache", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("secret tok not found"), "{stderr}");
    env.berth_ok(&["rm", "secret-check"]);
    env.assert_store_ok();
}

#[test]
fn a_rootless_build_runs_and_copies_with_the_stores_mapping() {
    let Some(env) = crate::util::TestEnv::rootless() else { return };
    env.import_busybox("bb", &[], |_| {});
    let dir = env.path("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM bb\nCOPY --chown=65534:65534 a.txt /a.txt\nRUN mkdir /out && stat -c %u:%g /a.txt > /out/owner\n",
    )
    .unwrap();
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    env.give(&dir);
    env.berth_ok(&["build", "-q", "-t", "rootless-built", dir.to_str().unwrap()]);
    let out = env.berth_ok(&["run", "--rm", "rootless-built", "cat", "/out/owner"]);
    assert_eq!(out, "65534:65534\n");
    env.assert_store_ok();
}

/// The interval a stage's RUN recorded (`/proc/uptime` at its start and end).
fn interval(env: &ContainerEnv, image: &str, stage: &str) -> (f64, f64) {
    let out = run(env, image, &format!("cat /{stage}/start /{stage}/end"));
    let times: Vec<f64> = out.lines().map(|l| l.split_whitespace().next().unwrap().parse().unwrap()).collect();
    assert_eq!(times.len(), 2, "{out}");
    (times[0], times[1])
}

#[test]
fn independent_stages_run_at_once() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let stage = |name: &str| {
        format!(
            "FROM bb AS {name}\nRUN mkdir /{name} && cat /proc/uptime > /{name}/start && sleep 1 && \
             cat /proc/uptime > /{name}/end\n"
        )
    };
    let dockerfile =
        format!("{}{}FROM bb\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n", stage("one"), stage("two"));
    let dir = context(&env, "parallel", &dockerfile, &[]);
    build(&env, &["-q", "--no-cache", "-t", "par"], &dir);
    let (one, two) = (interval(&env, "par", "one"), interval(&env, "par", "two"));
    assert!(one.0 < two.1 && two.0 < one.1, "the stages' RUNs overlap: one {one:?}, two {two:?}");
    // A stage that needs another still waits for it.
    let chained = context(
        &env,
        "chained",
        &format!(
            "{}FROM one AS two\nRUN mkdir /two && cat /proc/uptime > /two/start && cat /proc/uptime > /two/end\n\
                  FROM bb\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n",
            stage("one")
        ),
        &[],
    );
    build(&env, &["-q", "--no-cache", "-t", "chained"], &chained);
    let (one, two) = (interval(&env, "chained", "one"), interval(&env, "chained", "two"));
    assert!(one.1 <= two.0, "the dependent stage ran after: one {one:?}, two {two:?}");
    // One stage failing while the other runs: the build fails and no step container is left.
    let failing = context(
        &env,
        "failing",
        &format!(
            "{}FROM bb AS two\nRUN exit 3\nFROM bb\nCOPY --from=one /one /one\nCOPY --from=two / /two\n",
            stage("one")
        ),
        &[],
    );
    let line = build_fails(&env, &failing);
    assert!(line.contains("Dockerfile line 4") && line.contains("exit code: 3"), "{line}");
}
