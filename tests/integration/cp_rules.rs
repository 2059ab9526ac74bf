//! `cp` where Docker refuses or accepts what berth once got wrong: a directory is never replaced
//! by a file nor a file by a directory, in either direction (issue 16, defect 1); a tar on stdin
//! may be gzip, bzip2, xz or zstd compressed (defect 2). They need root and busybox-static.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{ContainerEnv, require_program};
use crate::volumes::setup;

/// A running container "run" and an exited one "stopped", each with /tmp/foo/precious (a
/// directory with a file in it), /tmp/bar (a file) and /data/hello (a file).
fn with_containers(what: &str) -> Option<ContainerEnv> {
    let env = setup(what)?;
    let prepare = "mkdir -p /tmp/foo /data && echo keep > /tmp/foo/precious && echo file > /tmp/bar \
                   && echo hello > /data/hello";
    env.berth_ok(&["run", "-d", "--name", "run", "vbox", "sh", "-c", &format!("{prepare}; sleep 1000")]);
    env.wait_for_file_in("run", "/data/hello");
    env.berth_ok(&["run", "--name", "stopped", "vbox", "sh", "-c", prepare]);
    Some(env)
}

fn berth_with_stdin(env: &ContainerEnv, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child =
        env.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // berth may refuse before it has read everything: a short write is not the test's failure.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// A tar (made by tar(1)) of `dir`'s content.
fn tar_of(dir: &Path) -> Vec<u8> {
    let out = Command::new("tar").arg("-C").arg(dir).arg("-cf").arg("-").arg(".").output().unwrap();
    assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// What `path` holds in the container, read through `cp CONTAINER:PATH -`.
fn read_in(env: &ContainerEnv, container: &str, path: &str) -> String {
    let out = env.berth(&["cp", &format!("{container}:{path}"), "-"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut entry = archive.entries().unwrap().next().expect("one member").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
    text
}

fn assert_refused(out: &std::process::Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "stderr: {stderr}");
    let line = crate::util::assert_one_error_line(&stderr);
    assert!(line.contains(expected), "{line}");
}

#[test]
fn cp_into_a_container_never_replaces_a_directory_with_a_file_or_a_file_with_a_directory() {
    let Some(env) = with_containers("cp overwrite rules") else { return };
    let host = env.path("host");
    std::fs::create_dir_all(host.join("file-foo")).unwrap();
    std::fs::write(host.join("file-foo/foo"), "not a directory\n").unwrap();
    std::fs::create_dir_all(host.join("dir-bar/bar/inside")).unwrap();
    let file_foo = tar_of(&host.join("file-foo"));
    let dir_bar = tar_of(&host.join("dir-bar"));
    for name in ["run", "stopped"] {
        let to_tmp = format!("{name}:/tmp");
        // A tar on stdin holding a file foo, where /tmp/foo is a directory: refused, as Docker does.
        let out = berth_with_stdin(&env, &["cp", "-", &to_tmp], &file_foo);
        assert_refused(&out, r#"cannot overwrite directory "/tmp/foo" with non-directory "/tmp""#);
        // The same from a host path.
        let out = env.berth(&["cp", host.join("file-foo/foo").to_str().unwrap(), &to_tmp]);
        assert_refused(&out, r#"cannot overwrite directory "/tmp/foo" with non-directory "/tmp""#);
        // A directory bar where /tmp/bar is a file: refused the other way round.
        let out = berth_with_stdin(&env, &["cp", "-", &to_tmp], &dir_bar);
        assert_refused(&out, r#"cannot overwrite non-directory "/tmp/bar" with directory "/tmp""#);
        let out = env.berth(&["cp", host.join("dir-bar/bar").to_str().unwrap(), &format!("{to_tmp}/")]);
        assert_refused(&out, r#"cannot overwrite non-directory "/tmp/bar" with directory "/tmp""#);
        // Nothing was lost.
        assert_eq!(read_in(&env, name, "/tmp/foo/precious"), "keep\n");
        assert_eq!(read_in(&env, name, "/tmp/bar"), "file\n");
    }
    // What Docker does replace still is: a file by a file.
    std::fs::write(host.join("bar"), "replaced\n").unwrap();
    env.berth_ok(&["cp", host.join("bar").to_str().unwrap(), "run:/tmp"]);
    assert_eq!(env.berth_ok(&["exec", "run", "cat", "/tmp/bar", "/tmp/foo/precious"]), "replaced\nkeep\n");
}

#[test]
fn cp_out_of_a_container_never_replaces_a_host_directory_with_a_file_or_a_file_with_a_directory() {
    let Some(env) = with_containers("cp overwrite rules, to the host") else { return };
    for name in ["run", "stopped"] {
        let out_dir = env.path(&format!("out-{name}"));
        std::fs::create_dir_all(out_dir.join("hello")).unwrap();
        std::fs::write(out_dir.join("hello/precious"), "keep").unwrap();
        std::fs::write(out_dir.join("foo"), "a host file").unwrap();
        let out = env.berth(&["cp", &format!("{name}:/data/hello"), out_dir.to_str().unwrap()]);
        let hello = out_dir.join("hello");
        assert_refused(
            &out,
            &format!("cannot overwrite directory {:?} with non-directory", hello.display().to_string()),
        );
        let out = env.berth(&["cp", &format!("{name}:/tmp/foo"), out_dir.to_str().unwrap()]);
        let foo = out_dir.join("foo");
        assert_refused(&out, &format!("cannot overwrite non-directory {:?} with directory", foo.display().to_string()));
        assert_eq!(std::fs::read_to_string(out_dir.join("hello/precious")).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(out_dir.join("foo")).unwrap(), "a host file");
    }
}

#[test]
fn cp_takes_gzip_bzip2_xz_and_zstd_compressed_tars_on_stdin() {
    let Some(env) = with_containers("cp compressed stdin") else { return };
    let content = env.path("content");
    std::fs::create_dir_all(content.join("sub")).unwrap();
    std::fs::write(content.join("sub/file"), "compressed\n").unwrap();
    let tar = tar_of(&content);
    let empty = env.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for tool in ["gzip", "bzip2", "xz", "zstd"] {
        if !require_program(tool) {
            return;
        }
        let plain = env.path(&format!("content.{tool}.tar"));
        std::fs::write(&plain, &tar).unwrap();
        let compressed = Command::new(tool).arg("-c").arg("-q").arg(&plain).output().unwrap();
        assert!(compressed.status.success(), "{tool}: {}", String::from_utf8_lossy(&compressed.stderr));
        for name in ["run", "stopped"] {
            // `cp -` extracts into an existing directory: make one.
            let dest = format!("/tmp/{tool}");
            env.berth_ok(&["cp", empty.to_str().unwrap(), &format!("{name}:{dest}")]);
            let out = berth_with_stdin(&env, &["cp", "-", &format!("{name}:{dest}")], &compressed.stdout);
            assert!(out.status.success(), "{tool} into {name}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(read_in(&env, name, &format!("{dest}/sub/file")), "compressed\n", "{tool} into {name}");
        }
    }
}
