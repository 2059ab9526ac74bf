//! `build:` sections through the library builder: up builds a missing image (named
//! PROJECT-SERVICE, or image:), with args, target, labels and a Dockerfile of another name;
//! `compose build`; `up --no-build` refuses a missing image and creates nothing; `down --rmi`.

use crate::compose_up::Project;

const BUILT: &str = "services:
  app:
    build:
      context: ./app
      dockerfile: App.dockerfile
      target: final
      args:
        GREETING: built by compose
      labels:
        made.by: compose
    init: true
    command: sh -c 'cat /greeting; exec sleep 300'
  named:
    image: local/named:1
    build:
      context: ./app
      dockerfile_inline: |
        FROM busybox
        RUN echo inline > /greeting
    command: cat /greeting
";

const DOCKERFILE: &str = "FROM busybox AS base
ARG GREETING=default
RUN echo \"$GREETING\" > /greeting
FROM base AS final
FROM busybox AS unused
RUN false
";

#[test]
fn up_builds_missing_images_and_compose_build_rebuilds() {
    let Some(p) = Project::new("compose build", BUILT) else { return };
    std::fs::create_dir_all(p.dir.join("app")).unwrap();
    std::fs::write(p.dir.join("app/App.dockerfile"), DOCKERFILE).unwrap();
    // --no-build with nothing built: a clear error, nothing created.
    let out = p.compose(&["up", "-d", "--no-build"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not built (up --no-build)"), "{stderr}");
    assert!(p.names().is_empty(), "{:?}", p.names());

    let (_, progress) = p.ok(&["up", "-d"]);
    assert!(progress.contains("proj-app  Built"), "{progress}");
    let images = p.env.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains("proj-app:latest") && images.contains("local/named:1"), "{images}");
    let label = p.env.berth_ok(&["image", "inspect", "-f", "{{index .Config.Labels \"made.by\"}}", "proj-app"]);
    assert_eq!(label.trim(), "compose");
    crate::util::wait_until(std::time::Duration::from_secs(10), "the app's output", || {
        p.ok(&["logs", "app"]).0.contains("built by compose")
    });
    crate::util::wait_until(std::time::Duration::from_secs(10), "the inline build's output", || {
        p.ok(&["logs", "named"]).0.contains("inline")
    });

    // A second up builds nothing; `compose build --build-arg` makes a new image, which the
    // next up recreates the container for.
    let (_, progress) = p.ok(&["up", "-d"]);
    assert!(!progress.contains("Built"), "{progress}");
    p.ok(&["build", "--build-arg", "GREETING=rebuilt", "app"]);
    let (_, progress) = p.ok(&["up", "-d"]);
    assert!(progress.contains("proj-app-1  Recreated"), "{progress}");
    crate::util::wait_until(std::time::Duration::from_secs(10), "the rebuilt app's output", || {
        p.ok(&["logs", "app"]).0.contains("rebuilt")
    });
    // --rmi local: the images built under PROJECT-SERVICE names go, named ones stay.
    let (_, progress) = p.ok(&["down", "-t", "1", "--rmi", "local"]);
    assert!(progress.contains("Image proj-app  Removed"), "{progress}");
    assert!(p.names().is_empty());
    let images = p.env.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!images.contains("proj-app") && images.contains("local/named:1"), "{images}");
}

/// `compose push` sends a built image to its image: name, `compose pull` fetches a service's
/// image back (a service built here is not pulled). Registry on 127.0.0.1; no network is made
/// (the store's default network is loopback only), so no lab is needed.
#[test]
fn push_then_pull_through_a_local_registry() {
    if !crate::util::require_root("compose push and pull") || !crate::util::require_program("docker-registry") {
        return;
    }
    let registry = crate::util::Registry::start();
    let image = registry.image("proj/app:1");
    let env = crate::util::TestEnv::new().with_busybox("busybox", &[], |_| {});
    let dir = env.path("proj");
    std::fs::create_dir_all(&dir).unwrap();
    let compose = format!(
        "services:\n  app:\n    image: {image}\n    build:\n      context: .\n      dockerfile_inline: |\n        \
         FROM busybox\n        LABEL pushed.by=compose\n  other:\n    image: {image}\n"
    );
    std::fs::write(dir.join("compose.yaml"), compose).unwrap();
    let p = Project { env, dir, lab: None };
    p.ok(&["build", "app"]);
    p.ok(&["push"]);
    assert!(registry.log().contains("proj/app"), "{}", registry.log());
    p.env.berth_ok(&["rmi", &image]);
    let (_, progress) = p.ok(&["pull"]);
    assert!(progress.contains("other Pulled") && !progress.contains("app Pulled"), "{progress}");
    let label = p.env.berth_ok(&["image", "inspect", "-f", "{{index .Config.Labels \"pushed.by\"}}", &image]);
    assert_eq!(label.trim(), "compose");
}
