//! `docker cp` both ways through `berth system service` (GET/HEAD/PUT
//! /containers/{id}/archive over berth's cp code).

use crate::api::service_env;

#[test]
fn docker_cp_copies_into_and_out_of_containers() {
    let Some((env, service)) = service_env("docker cp through the API") else { return };
    service.docker_ok(&["run", "-d", "--name", "files", "busybox", "sleep", "100"]);
    let host = env.path("host");
    std::fs::create_dir_all(host.join("dir/sub")).expect("host dir");
    std::fs::write(host.join("dir/sub/a.txt"), "alpha\n").expect("file");
    std::fs::write(host.join("one.txt"), "one\n").expect("file");

    service.docker_ok(&["cp", host.join("one.txt").to_str().unwrap(), "files:/tmp/"]);
    service.docker_ok(&["cp", host.join("dir").to_str().unwrap(), "files:/tmp/copied"]);
    assert_eq!(service.docker_ok(&["exec", "files", "cat", "/tmp/one.txt", "/tmp/copied/sub/a.txt"]), "one\nalpha\n");

    service.docker_ok(&[
        "exec",
        "files",
        "sh",
        "-c",
        "mkdir -p /data/x && echo inside > /data/x/f && echo top > /data/t",
    ]);
    let back = env.path("back");
    std::fs::create_dir_all(&back).expect("back dir");
    service.docker_ok(&["cp", "files:/data/t", back.join("t.txt").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(back.join("t.txt")).expect("t"), "top\n");
    service.docker_ok(&["cp", "files:/data", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(back.join("data/x/f")).expect("f"), "inside\n");

    let missing = service.docker(&["cp", "files:/no/such/file", back.to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).to_lowercase().contains("could not find the file"), "{missing:?}");
    // A stopped container's files are reached too.
    service.docker_ok(&["stop", "-t", "1", "files"]);
    service.docker_ok(&["cp", "files:/tmp/one.txt", back.join("again.txt").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(back.join("again.txt")).expect("again"), "one\n");
    env.assert_store_ok();
}

#[test]
fn docker_export_and_save_stream_tars() {
    let Some((env, service)) = service_env("docker export and save through the API") else { return };
    service.docker_ok(&["create", "--name", "exported", "busybox", "true"]);
    let tar = env.path("fs.tar");
    service.docker_ok(&["export", "-o", tar.to_str().unwrap(), "exported"]);
    let listing = std::process::Command::new("tar").arg("-tf").arg(&tar).output().expect("tar");
    assert!(
        String::from_utf8_lossy(&listing.stdout).lines().any(|l| l == "bin/busybox"),
        "the rootfs is in the export"
    );
    let image = env.path("image.tar");
    service.docker_ok(&["save", "-o", image.to_str().unwrap(), "busybox"]);
    let listing = std::process::Command::new("tar").arg("-tf").arg(&image).output().expect("tar");
    assert!(String::from_utf8_lossy(&listing.stdout).lines().any(|l| l == "manifest.json"), "a docker-archive");
    service.docker_ok(&["rm", "exported"]);
    service.docker_ok(&["rmi", "busybox"]);
    let loaded = service.docker_ok(&["load", "-i", image.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image"), "{loaded}");
    assert_eq!(service.docker_ok(&["run", "--rm", "busybox", "echo", "back"]), "back\n");
    let missing = service.docker(&["save", "-o", image.to_str().unwrap(), "no-such-image"]);
    assert!(!missing.status.success());
}
