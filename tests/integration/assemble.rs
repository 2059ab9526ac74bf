//! Image assembly as `commit` and `import` do it: reproducible image ids when the creation time
//! is fixed (SOURCE_DATE_EPOCH), empty layers for unchanged containers, Docker's history and
//! author rules, and the `--change` instructions a Dockerfile also has. They need root and
//! Debian's busybox-static (the image "vbox" of `volumes::setup`).

use serde_json::{Value, json};

use crate::util::{TestEnv, assert_one_error_line};
use crate::volumes::setup;

const EPOCH: &str = "1700000000";
const EPOCH_RFC3339: &str = "2023-11-14T22:13:20Z";

/// `berth ARGS` with SOURCE_DATE_EPOCH set, which must succeed; its stdout, trimmed.
fn at_epoch(env: &TestEnv, epoch: &str, args: &[&str]) -> String {
    let out = env.command(args).env("SOURCE_DATE_EPOCH", epoch).output().expect("running berth");
    assert!(out.status.success(), "berth {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn committing_a_container_twice_at_the_same_time_gives_the_same_image() {
    let Some(env) = setup("commit reproducibility") else { return };
    env.berth_ok(&[
        "run",
        "--name",
        "source",
        "vbox",
        "sh",
        "-c",
        "mkdir -p /srv/d && echo hi > /srv/d/f && rm /bin/ls",
    ]);
    let commit = |epoch: &str, name: &str, message: &str| {
        at_epoch(
            &env,
            epoch,
            &["commit", "-c", "ENV A=1", "-c", "EXPOSE 80", "-m", message, "-a", "me", "source", name],
        )
    };
    let first = commit(EPOCH, "one", "same");
    let second = commit(EPOCH, "two", "same");
    assert_eq!(first, second, "the same container, changes and time give the same config digest");
    assert_eq!(env.inspect("one", "{{.Created}}"), EPOCH_RFC3339);
    // Whatever Docker would record differently gives another image.
    assert_ne!(commit("1700000001", "three", "same"), first, "another creation time");
    assert_ne!(commit(EPOCH, "four", "other"), first, "another message");
    let history = env.berth_ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "one"]);
    assert_eq!(history.lines().next(), Some("sh -c mkdir -p /srv/d && echo hi > /srv/d/f && rm /bin/ls|same"));
    assert_eq!(
        env.berth_ok(&["run", "--rm", "one", "sh", "-c", "cat /srv/d/f; test -e /bin/ls || echo gone"]),
        "hi\ngone\n"
    );
    // An image already stored is not stored twice.
    assert_eq!(env.image_ids().iter().filter(|id| **id == first).count(), 1);
    env.assert_store_ok();
}

#[test]
fn importing_a_tarball_twice_at_the_same_time_gives_the_same_image() {
    let Some(env) = setup("import reproducibility") else { return };
    let tarball = env.busybox_tarball(|_| {});
    let args = |name: &'static str| ["import", "-c", "CMD [\"sh\"]", "-m", "rootfs", tarball.to_str().unwrap(), name];
    assert_eq!(at_epoch(&env, EPOCH, &args("x")), at_epoch(&env, EPOCH, &args("y")));
    assert_eq!(env.inspect("x", "{{.Created}}"), EPOCH_RFC3339);
    let out = env.command(args("z")).env("SOURCE_DATE_EPOCH", "yesterday").output().expect("running berth");
    assert_eq!(out.status.code(), Some(125));
    let line = assert_one_error_line(&String::from_utf8_lossy(&out.stderr));
    assert!(line.contains("SOURCE_DATE_EPOCH"), "{line}");
    assert_eq!(env.image_ids().len(), 2, "vbox and x (= y)");
}

#[test]
fn an_unchanged_container_commits_as_an_empty_layer() {
    let Some(env) = setup("empty commit") else { return };
    // The sandbox made /etc/hosts, /etc/resolv.conf, /proc, … in the upper dir to mount on;
    // like Docker's init layer, they are not the container's changes.
    env.berth_ok(&["run", "--name", "idle", "vbox", "true"]);
    let id = env.berth_ok(&["commit", "-c", "LABEL stage=config-only", "idle", "idle-image"]);
    let image = env.inspect_json("idle-image");
    let base = env.inspect_json("vbox");
    assert_eq!(image["RootFS"]["Layers"], base["RootFS"]["Layers"], "no layer is added");
    assert_eq!(image["Id"], id.trim());
    assert_eq!(image["Config"]["Labels"], json!({"stage": "config-only"}));
    let sizes = env.berth_ok(&["history", "--format", "{{.Size}}", "idle-image"]);
    assert_eq!(sizes.lines().next(), Some("0"), "{sizes}");
    // The placeholders did not hide the files the sandbox mounts in a container of the image.
    let hosts = env.berth_ok(&["run", "--rm", "idle-image", "cat", "/etc/hosts"]);
    assert!(hosts.contains("localhost"), "{hosts}");
    env.assert_store_ok();
}

#[test]
fn commit_takes_no_author_from_its_base_and_applies_dockerfile_instructions() {
    let Some(env) = setup("commit config") else { return };
    env.berth_ok(&["run", "--name", "first", "vbox", "sh", "-c", "echo one > /one"]);
    env.berth_ok(&["commit", "-a", "first author", "first", "authored"]);
    assert_eq!(env.inspect("authored", "{{.Author}}"), "first author");
    env.berth_ok(&["run", "--name", "second", "authored", "sh", "-c", "echo two > /two"]);
    env.berth_ok(&[
        "commit",
        "-c",
        "HEALTHCHECK --interval=5s --retries=2 CMD cat /two",
        "-c",
        "ONBUILD RUN echo child",
        "-c",
        r#"ENTRYPOINT ["/bin/sh", "-c"]"#,
        "-c",
        "WORKDIR /srv/../data/./app",
        "second",
        "child",
    ]);
    let child = env.inspect_json("child");
    assert_eq!(child["Author"], "", "an author is not inherited, as with Docker");
    let config = &child["Config"];
    assert_eq!(
        config["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "cat /two"], "Interval": 5_000_000_000u64, "Retries": 2})
    );
    assert_eq!(config["OnBuild"], json!(["RUN echo child"]));
    assert_eq!(config["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert!(matches!(&config["Cmd"], Value::Null), "an ENTRYPOINT resets the container's CMD: {config}");
    assert_eq!(config["WorkingDir"], "/data/app");
    assert_eq!(child["RootFS"]["Layers"].as_array().map(Vec::len), Some(3));
    assert_eq!(env.berth_ok(&["run", "--rm", "--workdir", "/", "child", "cat /one /two"]), "one\ntwo\n");
    let line = env.berth_fails_125(&["commit", "-c", r#"SHELL ["/bin/bash", "-c"]"#, "second", "refused"]);
    assert!(line.contains("unsupported instruction SHELL"), "{line}");
    let line = env.berth_fails_125(&["commit", "-c", "HEALTHCHECK --interval=1x CMD true", "second", "refused"]);
    assert!(line.contains("invalid duration"), "{line}");
    env.assert_store_ok();
}

/// Docker imports tarballs compressed with bzip2 and xz too; the layer is kept as a plain tar.
#[test]
fn import_reads_bzip2_and_xz_tarballs() {
    let env = TestEnv::new();
    let dir = env.path("tree");
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/motd"), "hello\n").unwrap();
    let tarball = env.path("tree.tar");
    let tar = std::process::Command::new("tar").arg("-C").arg(&dir).arg("-cf").arg(&tarball).arg(".").status();
    assert!(tar.unwrap().success());
    for tool in ["bzip2", "xz"] {
        let compressed = std::process::Command::new(tool)
            .args(["-c", tarball.to_str().unwrap()])
            .output()
            .unwrap_or_else(|e| panic!("{tool} (scripts/setup installs it): {e}"));
        assert!(compressed.status.success());
        let file = env.path(&format!("tree.tar.{tool}"));
        std::fs::write(&file, &compressed.stdout).unwrap();
        let name = format!("from-{tool}");
        env.berth_ok(&["import", file.to_str().unwrap(), &name]);
        let layers = env.layer_dirs();
        let motd = layers.iter().map(|l| env.layer_diff(l).join("etc/motd")).find(|p| p.exists());
        let motd = motd.unwrap_or_else(|| panic!("{tool}: no layer holds etc/motd ({layers:?})"));
        assert_eq!(std::fs::read_to_string(motd).unwrap(), "hello\n");
        let saved = env.path(&format!("saved-{tool}.tar"));
        env.berth_ok(&["save", "-o", saved.to_str().unwrap(), &name]);
        let listing = std::process::Command::new("tar").arg("-tf").arg(&saved).output().unwrap();
        assert!(listing.status.success(), "{tool}: saved archive unreadable");
    }
    let (_, stderr) = env.berth_err(&["import", "/dev/null", "empty"]);
    assert_one_error_line(&stderr);
    env.assert_store_ok();
}
