//! The decisions `run`/`create`, `rmi` and `ps` share with compose and the API (the library
//! APIs in `image::ensure`, `image::remove` and `container::query`): pull policies against a
//! real loopback registry, and Docker's `ps` filters on real container records.

use crate::util::{Compression, OciImageBuilder, Registry, TarEntry, TestEnv, assert_one_error_line};

/// The image id a container was created from.
fn image_of(env: &TestEnv, container: &str) -> String {
    env.berth_ok(&["container", "inspect", "-f", "{{.Image}}", container]).trim().to_owned()
}

#[test]
fn pull_policies_decide_when_create_pulls() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let name = registry.image("policy/app:1");
    let first = OciImageBuilder::busybox().build();
    registry.push(&first, "policy/app", "1");

    // never: a missing image is an error, and nothing is pulled.
    let line = env.berth_fails_125(&["create", "--pull", "never", &name, "true"]);
    assert!(line.contains("no such image"), "{line}");
    assert!(env.image_ids().is_empty());

    // missing: pulled once, with Docker's notice; then the local image is used.
    let out = env.command(["create", "--name", "ctr-a", "--pull", "missing", &name, "true"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("Unable to find image '{name}' locally")));
    let first_id = env.inspect(&name, "{{.Id}}");
    assert_eq!(image_of(&env, "ctr-a"), first_id);
    env.berth_ok(&["create", "--name", "ctr-b", "--pull", "never", &name, "true"]);

    // newer: the registry's new image under the same name is pulled.
    let second =
        OciImageBuilder::busybox().layer_entries(vec![TarEntry::file("v2", "two\n")], Compression::Gzip).build();
    registry.push(&second, "policy/app", "1");
    env.berth_ok(&["create", "--name", "ctr-c", "--pull", "missing", &name, "true"]);
    assert_eq!(image_of(&env, "ctr-c"), first_id, "missing does not look at the registry");
    env.berth_ok(&["create", "--name", "ctr-d", "--pull", "newer", &name, "true"]);
    let second_id = env.inspect(&name, "{{.Id}}");
    assert_ne!(second_id, first_id);
    assert_eq!(image_of(&env, "ctr-d"), second_id);

    // Without the registry: newer keeps using the local image and says why; always fails.
    drop(registry);
    let out = env.command(["create", "--name", "ctr-e", "--pull", "newer", &name, "true"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("berth: warning: using the local image"), "{stderr}");
    assert_eq!(image_of(&env, "ctr-e"), second_id);
    let (code, stderr) = env.berth_err(&["create", "--name", "ctr-f", "--pull", "always", &name, "true"]);
    assert_eq!(code, 125);
    assert_one_error_line(&stderr);
    assert!(env.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]).lines().all(|n| n != "ctr-f"));

    let (code, stderr) = env.berth_err(&["create", "--pull", "sometimes", &name, "true"]);
    assert_eq!(code, 125);
    assert!(stderr.contains("'sometimes'") && stderr.contains("newer"), "{stderr}");
    env.assert_store_ok();
}

#[test]
fn ps_filters_follow_dockers() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let name = registry.image("filters/app:1");
    registry.push(&OciImageBuilder::busybox().build(), "filters/app", "1");
    env.berth_ok(&["pull", "-q", &name]);
    let create = |args: &[&str]| {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[&name, "true"]);
        env.berth_ok(&all);
    };
    create(&["--name", "web-1", "--label", "tier=front", "-v", "webdata:/srv"]);
    create(&["--name", "web-2", "--label", "tier=back", "--network", "none"]);
    create(&["--name", "db", "--label", "tier", "--network", "host"]);
    let names = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            args.extend_from_slice(&["--filter", f]);
        }
        env.berth_ok(&args).lines().map(str::to_owned).collect()
    };
    assert_eq!(names(&[]), ["db", "web-2", "web-1"]);
    assert_eq!(names(&["name=^web-[0-9]$"]), ["web-2", "web-1"]);
    assert_eq!(names(&["name=web", "name=db"]), ["db", "web-2", "web-1"]);
    assert_eq!(names(&["label=tier=front"]), ["web-1"]);
    assert_eq!(names(&["label=tier", "network=none"]), ["web-2"]);
    assert_eq!(names(&["network=host"]), ["db"]);
    assert_eq!(names(&["volume=webdata"]), ["web-1"]);
    assert_eq!(names(&["volume=/srv"]), ["web-1"]);
    assert_eq!(names(&["since=web-1"]), ["db", "web-2"]);
    assert_eq!(names(&["before=db", "since=web-1"]), ["web-2"]);
    assert_eq!(names(&["status=created", "health=none", "is-task=false"]), ["db", "web-2", "web-1"]);
    assert!(names(&["status=running"]).is_empty());
    assert!(names(&["publish=80"]).is_empty());
    let ancestor = format!("ancestor={name}");
    assert_eq!(names(&[&ancestor]).len(), 3);
    // Without -a, a status filter still lists stopped containers, as Docker's does.
    let created = env.berth_ok(&["ps", "--filter", "status=created", "-q"]);
    assert_eq!(created.lines().count(), 3);

    // A filter naming a missing container is a refused request (1, as Docker's); a malformed
    // filter is a usage error (125).
    for (filter, says, code) in [
        ("before=nosuch", "no such container: nosuch", 1),
        ("colour=red", "supported filters are", 125),
        ("name=(", "not a regular expression", 125),
        ("status=sleeping", "status is one of", 125),
    ] {
        let line = env.berth_fails_with(code, &["ps", "--filter", filter]);
        assert!(line.contains(says), "{filter}: {line}");
    }
}
