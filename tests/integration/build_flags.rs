//! `berth build`'s `--timestamp`, SOURCE_DATE_EPOCH checks, `--platform` (the host's only, the
//! platform args predefined) and `--pull` (the base image fetched again from a loopback
//! registry).

use std::path::{Path, PathBuf};

use crate::util::{ContainerEnv, Registry, assert_one_error_line, root_with_busybox};

fn context(env: &ContainerEnv, name: &str, dockerfile: &str) -> PathBuf {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.join("a.txt"), "A\n").unwrap();
    dir
}

fn build(env: &ContainerEnv, args: &[&str], dir: &Path) -> (String, String) {
    let mut all: Vec<String> = vec!["build".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push(dir.display().to_string());
    let out = env.berth(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build failed ({}):\n{stderr}", out.status);
    (String::from_utf8_lossy(&out.stdout).trim().to_owned(), stderr)
}

fn build_fails(env: &ContainerEnv, args: &[&str], dir: &Path) -> String {
    let mut all: Vec<String> = vec!["build".into(), "-q".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push(dir.display().to_string());
    let (code, stderr) = env.berth_err(&all);
    assert_eq!(code, 1, "a failed build exits 1:\n{stderr}");
    assert_one_error_line(&stderr)
}

fn created(env: &ContainerEnv, image: &str) -> String {
    env.berth_ok(&["image", "inspect", "-f", "{{.Created}}", image]).trim().to_owned()
}

fn host_platform() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        other => panic!("no platform name for {other} in this test"),
    }
}

#[test]
fn timestamp_now_opts_out_of_reproducibility_and_bad_epochs_are_refused() {
    let Some(env) = root_with_busybox("building mounts snapshots", "bb") else { return };
    let dir = context(&env, "ctx", "FROM bb\nCOPY a.txt /a.txt\n");
    let mtime = std::fs::metadata(dir.join("a.txt")).unwrap().modified().unwrap();
    let mtime = mtime.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    // Reproducible by default: no git, no SOURCE_DATE_EPOCH → 1970, times clamped to it.
    build(&env, &["-t", "repro"], &dir);
    assert!(created(&env, "repro").starts_with("1970-01-01T00:00:00"), "{}", created(&env, "repro"));
    let stat = |image: &str| env.berth_ok(&["run", "--rm", image, "stat", "-c", "%Y", "/a.txt"]).trim().to_owned();
    assert_eq!(stat("repro"), "0");
    // now: created now, the file keeps its own time; a rebuild still uses the cache.
    let year = chrono_year_now();
    let (first, _) = build(&env, &["--timestamp", "now", "-t", "now1"], &dir);
    assert!(created(&env, "now1").starts_with(&year), "{}", created(&env, "now1"));
    assert_eq!(stat("now1"), mtime);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (second, stderr) = build(&env, &["--timestamp", "now", "-t", "now2"], &dir);
    assert!(stderr.contains("--> Using cache"), "{stderr}");
    assert_ne!(first, second, "a different creation time is a different image");
    // A number of seconds: as SOURCE_DATE_EPOCH, winning over it.
    let out = env
        .command(["build", "-q", "--timestamp", "86400", "-t", "day", dir.to_str().unwrap()])
        .env("SOURCE_DATE_EPOCH", "5")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(created(&env, "day").starts_with("1970-01-02T00:00:00"), "{}", created(&env, "day"));
    // Bad values.
    let (code, stderr) = env.berth_err(&["build", "--timestamp", "yesterday", dir.to_str().unwrap()]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("'yesterday'") && stderr.contains("now"), "{stderr}");
    let line = build_fails(&env, &["--build-arg", "SOURCE_DATE_EPOCH=soon"], &dir);
    assert!(line.contains("invalid SOURCE_DATE_EPOCH \"soon\""), "{line}");
    let out = env.command(["build", "-q", dir.to_str().unwrap()]).env("SOURCE_DATE_EPOCH", "-3").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = assert_one_error_line(&String::from_utf8_lossy(&out.stderr));
    assert!(line.contains("invalid SOURCE_DATE_EPOCH \"-3\""), "{line}");
}

fn chrono_year_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // Days to a civil year (good for any date this test will see).
    let days = (secs / 86400) as i64;
    let mut year = 1970;
    let mut left = days;
    loop {
        let len = if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 { 366 } else { 365 };
        if left < len {
            return format!("{year}-");
        }
        left -= len;
        year += 1;
    }
}

#[test]
fn only_the_hosts_platform_is_built_and_the_platform_args_say_it() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let dir = context(
        &env,
        "ctx",
        "FROM bb\nARG TARGETPLATFORM\nARG BUILDPLATFORM\nRUN echo \"$TARGETPLATFORM $BUILDPLATFORM\" > /p\n",
    );
    let host = host_platform();
    build(&env, &["--platform", host, "-t", "plat"], &dir);
    assert_eq!(env.berth_ok(&["run", "--rm", "plat", "cat", "/p"]), format!("{host} {host}\n"));
    let other = if host == "linux/s390x" { "linux/amd64" } else { "linux/s390x" };
    let line = build_fails(&env, &["--platform", other], &dir);
    assert!(line.contains(other) && line.contains("only the host's platform"), "{line}");
    let line = build_fails(&env, &["--platform", "linux"], &dir);
    assert!(line.contains("invalid --platform \"linux\""), "{line}");
}

#[test]
fn pull_fetches_the_base_image_again() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let registry = Registry::start();
    let base = format!("{}/team/base:1", registry.addr);
    let one = context(&env, "one", "FROM bb\nRUN echo 1 > /marker\n");
    let two = context(&env, "two", "FROM bb\nRUN echo 2 > /marker\n");
    let (v1, _) = build(&env, &["-q", "-t", &base], &one);
    env.berth_ok(&["push", &base]);
    // The registry gets v2 under the tag; the store keeps v1 under it.
    let (_, _) = build(&env, &["-q", "-t", &base], &two);
    env.berth_ok(&["push", &base]);
    env.berth_ok(&["tag", &v1, &base]);
    let app = context(&env, "app", &format!("FROM {base}\nRUN cat /marker > /seen\n"));
    build(&env, &["-q", "-t", "app"], &app);
    assert_eq!(env.berth_ok(&["run", "--rm", "app", "cat", "/seen"]), "1\n", "the local base is used first");
    build(&env, &["-q", "--pull", "-t", "app"], &app);
    assert_eq!(env.berth_ok(&["run", "--rm", "app", "cat", "/seen"]), "2\n", "--pull takes the registry's");
}

#[test]
fn progress_is_plain_lines_off_a_terminal_and_a_live_view_on_one() {
    let Some(env) = root_with_busybox("building runs containers", "bb") else { return };
    let dir = context(&env, "ctx", "FROM bb\nRUN echo hi; echo there\nCOPY a.txt /a.txt\n");
    let (_, stderr) = build(&env, &["--progress", "plain"], &dir);
    assert_eq!(
        stderr,
        "STEP 1/3: FROM bb\nSTEP 2/3: RUN echo hi; echo there\nhi\nthere\nSTEP 3/3: COPY a.txt /a.txt\n"
    );
    // auto off a terminal is plain.
    let (_, stderr) = build(&env, &[], &dir);
    assert_eq!(
        stderr,
        "STEP 1/3: FROM bb\nSTEP 2/3: RUN echo hi; echo there\n--> Using cache\nSTEP 3/3: COPY a.txt /a.txt\n\
         --> Using cache\n"
    );
    if !crate::util::require_program("script") {
        return;
    }
    // On a terminal (script(1) gives berth a pty): each step's line ends with how it went.
    let on_a_terminal = |args: &str| {
        let command_line = format!(
            "{} --root {} --runroot {} --config {} build {args} {}; echo exit=$?",
            crate::util::BERTH,
            env.root.display(),
            env.runroot.display(),
            env.config.display(),
            dir.display()
        );
        let out = std::process::Command::new("script")
            .args(["-qec", &command_line, "/dev/null"])
            .env("HOME", &env.home)
            .env("XDG_RUNTIME_DIR", env.home.join("run"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running script");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = on_a_terminal("--no-cache");
    assert!(text.contains("exit=0"), "{text}");
    assert!(text.contains("\x1b[2m  hi\x1b[0m") && text.contains("\x1b[2m  there\x1b[0m"), "the tail: {text:?}");
    assert!(text.contains("\x1b[1A\x1b[2KSTEP 2/3: RUN echo hi; echo there DONE "), "{text:?}");
    assert!(text.contains("STEP 3/3: COPY a.txt /a.txt DONE "), "{text:?}");
    let text = on_a_terminal("");
    assert!(text.contains("STEP 2/3: RUN echo hi; echo there CACHED"), "{text:?}");
    assert!(!text.contains("--> Using cache"), "{text:?}");
    let text = on_a_terminal("--progress plain");
    assert!(text.contains("--> Using cache") && !text.contains("CACHED"), "{text:?}");
}
