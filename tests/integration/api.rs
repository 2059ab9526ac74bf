//! `berth system service` driven by the real `docker` CLI (28.x) with DOCKER_HOST pointing at
//! the test's own socket, each test with its own store: what docker users do must work, and the
//! CLI and the API must see the same containers.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::util::{ContainerEnv, Registry, poll_for, require_program, root_with_busybox};

/// A running service on its own socket in `env`, killed on drop.
pub struct Service {
    pub child: Child,
    pub socket: PathBuf,
    docker_config: PathBuf,
}

impl Service {
    /// `system service --time 0 unix://SOCKET` in `env`, once its socket answers.
    pub fn start(env: &ContainerEnv) -> Service {
        Service::start_with(env, &["--time", "0"])
    }

    pub fn start_with(env: &ContainerEnv, flags: &[&str]) -> Service {
        let socket = env.path("api.sock");
        let mut args = vec!["system", "service"];
        args.extend_from_slice(flags);
        let address = format!("unix://{}", socket.display());
        args.push(&address);
        let child = env.command(&args).stderr(Stdio::null()).spawn().expect("starting the service");
        let up =
            poll_for(Duration::from_secs(10), || std::os::unix::net::UnixStream::connect(&socket).ok().map(|_| ()));
        assert!(up.is_some(), "the service did not start listening on {}", socket.display());
        let docker_config = env.path("docker-config");
        std::fs::create_dir_all(&docker_config).expect("docker config dir");
        Service { child, socket, docker_config }
    }

    /// The docker CLI pointed at this service.
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        cmd
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        let mut child =
            self.docker_command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("docker");
        // A hung request must fail the test, not hang it.
        let done = poll_for(Duration::from_secs(60), || child.try_wait().ok().flatten());
        if done.is_none() {
            let _ = child.kill();
            panic!("docker {} did not finish within 60 s", args.join(" "));
        }
        child.wait_with_output().expect("docker output")
    }

    /// `docker ARGS`, which must succeed; its stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // Rootless, berth's parent waits while its child (in the user namespace) serves: that
        // child gets the TERM, then the parent goes.
        let pid = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for child in children.split_whitespace() {
            let _ = Command::new("kill").arg(child).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A root environment with busybox and a service on its socket; None after a skip.
pub fn service_env(what: &str) -> Option<(ContainerEnv, Service)> {
    if !require_program("docker") {
        return None;
    }
    let env = root_with_busybox(what, "busybox")?;
    let service = Service::start(&env);
    Some((env, service))
}

#[test]
fn docker_version_info_and_images_describe_berth() {
    let Some((env, service)) = service_env("the API serves a store") else { return };
    let version = service.docker_ok(&["version", "--format", "{{.Server.Platform.Name}} {{.Server.APIVersion}}"]);
    assert_eq!(version.trim(), "berth 1.50");
    let info = service.docker_ok(&["info", "--format", "{{.Images}} {{.Driver}} {{.OSType}}"]);
    assert_eq!(info.trim(), "1 overlay linux");
    let images = service.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.trim(), "localhost/busybox:latest");
    let inspected = service.docker_ok(&["image", "inspect", "--format", "{{.Os}}", "busybox"]);
    assert_eq!(inspected.trim(), "linux");
    let mode = std::fs::metadata(&service.socket).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "the socket is owner (and group) only");
    drop(env);
}

#[test]
fn docker_run_rm_delivers_output_and_the_exit_code() {
    let Some((_env, service)) = service_env("docker run through the API") else { return };
    // Output from the first byte: the CLI attaches before it starts the container.
    let out = service.docker(&["run", "--rm", "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 3"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n", "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(service.docker_ok(&["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    assert_eq!(service.docker_ok(&["ps", "-aq"]), "", "--rm containers are gone");
    let missing = service.docker(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", String::from_utf8_lossy(&missing.stderr));
    let mut child = service
        .docker_command(&["run", "-i", "--rm", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker run -i");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(b"through stdin\n").expect("writing stdin");
    let out = child.wait_with_output().expect("docker run -i");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through stdin\n");
    assert!(out.status.success());
}

#[test]
fn detached_containers_are_shared_between_the_cli_and_the_api() {
    let Some((env, service)) = service_env("docker run -d through the API") else { return };
    let id = service.docker_ok(&["run", "-d", "--name", "web", "busybox", "sh", "-c", "echo started; exec sleep 100"]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = service.docker_ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "web running");
    // What the API made, berth shows, and the other way round.
    assert_eq!(env.berth_ok(&["ps", "--format", "{{.Names}}"]).trim(), "web");
    env.berth_ok(&["create", "--name", "made-by-cli", "busybox", "true"]);
    let all = service.docker_ok(&["ps", "-a", "--format", "{{.Names}}", "--filter", "name=made-by"]);
    assert_eq!(all.trim(), "made-by-cli");
    let labelled = service.docker_ok(&["ps", "-a", "--format", "{{.Names}}", "--filter", "status=created"]);
    assert_eq!(labelled.trim(), "made-by-cli");
    let logs = poll_for(Duration::from_secs(10), || {
        let out = service.docker_ok(&["logs", "web"]);
        (out == "started\n").then_some(out)
    });
    assert!(logs.is_some(), "docker logs shows the container's output");
    let inspect = service.docker_ok(&["inspect", "--format", "{{.State.Status}} {{.Name}}", "web"]);
    assert_eq!(inspect.trim(), "running /web");
    service.docker_ok(&["stop", "-t", "1", "web"]);
    let state = env.inspect_container("web");
    assert_eq!(state["State"]["Status"], "exited");
    service.docker_ok(&["rm", "web", "made-by-cli"]);
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
    let gone = service.docker(&["rm", "web"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("No such container: web"), "{gone:?}");
    env.assert_store_ok();
}

#[test]
fn docker_volume_create_ls_rm() {
    let Some((env, service)) = service_env("volumes through the API") else { return };
    assert_eq!(service.docker_ok(&["volume", "create", "--label", "k=v", "data1"]).trim(), "data1");
    let ls = service.docker_ok(&["volume", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "label=k=v"]);
    assert_eq!(ls.trim(), "data1 local");
    assert_eq!(env.berth_ok(&["volume", "ls", "-q"]).trim(), "data1");
    let out = service.docker_ok(&["run", "--rm", "-v", "data1:/data", "busybox", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(out, "");
    assert_eq!(service.docker_ok(&["run", "--rm", "-v", "data1:/data", "busybox", "cat", "/data/f"]), "kept\n");
    service.docker_ok(&["volume", "rm", "data1"]);
    assert_eq!(service.docker_ok(&["volume", "ls", "-q"]), "");
    let missing = service.docker(&["volume", "inspect", "data1"]);
    assert!(!missing.status.success());
}

#[test]
fn docker_pull_from_a_loopback_registry() {
    let Some((env, service)) = service_env("docker pull through the API") else { return };
    let registry = Registry::start();
    let name = registry.image("api/busybox:v1");
    env.berth_ok(&["tag", "busybox", &name]);
    env.berth_ok(&["push", &name]);
    env.berth_ok(&["rmi", &name]);
    env.berth_ok(&["rmi", "busybox"]);
    assert_eq!(env.berth_ok(&["images", "-q"]), "");
    let out = service.docker_ok(&["pull", &name]);
    assert!(out.contains("Status: Downloaded newer image for"), "{out}");
    let again = service.docker_ok(&["pull", &name]);
    assert!(again.contains("Status: Image is up to date for"), "{again}");
    let images = service.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.trim(), name);
    assert_eq!(service.docker_ok(&["run", "--rm", &name, "echo", "pulled"]), "pulled\n");
    // Fully qualified: with `search = []` (the tests' config) berth's tag of a short name goes
    // to docker.io while lookups of short names go to localhost.
    service.docker_ok(&["tag", &name, "localhost/retagged:v2"]);
    let images = env.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.lines().any(|l| l.ends_with("retagged:v2")), "{images}");
    let history = service.docker_ok(&["history", "-q", "localhost/retagged:v2"]);
    assert!(!history.trim().is_empty());
    service.docker_ok(&["rmi", "localhost/retagged:v2"]);
    let missing = service.docker(&["pull", &registry.image("api/none:v1")]);
    assert!(!missing.status.success(), "a missing image fails the pull");
    let pruned = service.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(pruned.contains("deleted: sha256:"), "{pruned}");
    assert_eq!(env.berth_ok(&["images", "-q"]), "");
    env.assert_store_ok();
}

#[test]
fn docker_networks_create_connect_and_remove() {
    if !require_program("docker") {
        return;
    }
    let Some(env) = crate::networking::NetEnv::new() else { return };
    let service = Service::start(&env);
    service.docker_ok(&["network", "create", "--label", "team=a", "apinet"]);
    let ls = service.docker_ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "label=team=a"]);
    assert_eq!(ls.trim(), "apinet bridge");
    assert!(env.berth_ok(&["network", "ls"]).contains("apinet"));
    service.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "apinet",
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let ip = service.docker_ok(&["inspect", "--format", "{{.NetworkSettings.Networks.apinet.IPAddress}}", "web"]);
    assert!(!ip.trim().is_empty(), "the container has an address on the network");
    let fetched = poll_for(Duration::from_secs(10), || {
        let out = service.docker(&[
            "run",
            "--rm",
            "--network",
            "apinet",
            "bb",
            "wget",
            "-q",
            "-O",
            "-",
            "http://web/index.html",
        ]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert_eq!(fetched.as_deref(), Some("hello from the container\n"), "names resolve on the network");
    let inspect = service.docker_ok(&["network", "inspect", "--format", "{{.Name}} {{.Labels.team}}", "apinet"]);
    assert_eq!(inspect.trim(), "apinet a");
    let in_use = service.docker(&["network", "rm", "apinet"]);
    assert!(!in_use.status.success(), "a network in use is not removed");
    service.docker_ok(&["network", "create", "second"]);
    service.docker_ok(&["network", "connect", "second", "web"]);
    let second = service.docker_ok(&["inspect", "--format", "{{.NetworkSettings.Networks.second.IPAddress}}", "web"]);
    assert!(!second.trim().is_empty(), "connected to the second network");
    service.docker_ok(&["network", "disconnect", "second", "web"]);
    service.docker_ok(&["rm", "-f", "web"]);
    service.docker_ok(&["network", "rm", "apinet", "second"]);
    assert!(!env.berth_ok(&["network", "ls"]).contains("apinet"));
    let missing = service.docker(&["network", "inspect", "apinet"]);
    assert!(!missing.status.success());
}

#[test]
fn docker_top_and_stats_show_a_running_container() {
    let Some((_env, service)) = service_env("top and stats through the API") else { return };
    service.docker_ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "100"]);
    let top = service.docker_ok(&["top", "busy"]);
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.lines().any(|l| l.ends_with("sleep 100")), "{top}");
    let stats = service.docker_ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "busy"]);
    assert_eq!(stats.trim(), "busy 1");
    service.docker_ok(&["rm", "-f", "busy"]);
    let stopped = service.docker(&["top", "busy"]);
    assert!(!stopped.status.success());
}

#[test]
fn a_rootless_service_runs_containers_for_the_docker_cli() {
    if !require_program("docker") {
        return;
    }
    let Some(env) = crate::util::TestEnv::rootless() else { return };
    let env = env.with_busybox("busybox", &[], |_| {});
    let service = Service::start(&env);
    let info = service.docker_ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(info.contains("rootless"), "{info}");
    let out = service.docker(&["run", "--rm", "busybox", "sh", "-c", "echo rootless-hi; id -u; exit 5"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "rootless-hi\n0\n", "{out:?}");
    assert_eq!(out.status.code(), Some(5));
    service.docker_ok(&["run", "-d", "--name", "rl", "busybox", "sleep", "100"]);
    assert_eq!(env.berth_ok(&["ps", "--format", "{{.Names}}"]).trim(), "rl");
    service.docker_ok(&["rm", "-f", "rl"]);
    env.assert_store_ok();
}
