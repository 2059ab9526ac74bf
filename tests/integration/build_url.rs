//! `berth build`'s ADD of a URL, from a tiny HTTP server the test runs on loopback: the file,
//! its mode and Last-Modified time, `--checksum` (a mismatch names the line; a cached rebuild
//! asks nothing), a changed download misses the cache; git sources are refused clearly.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::util::{ContainerEnv, assert_one_error_line, root_with_busybox};

/// An HTTP/1.0 server on 127.0.0.1 serving `files` (path → body) with a fixed Last-Modified,
/// counting the requests; it lives as long as the test process (its thread blocks in accept).
struct Server {
    addr: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requests: Arc<AtomicUsize>,
}

const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const LAST_MODIFIED_SECS: i64 = 1_445_412_480;

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let (served, count) = (files.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                        break;
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = served.lock().unwrap().get(&path).cloned();
                let response = match body {
                    Some(body) => {
                        let mut r = format!(
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nLast-Modified: {LAST_MODIFIED}\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend(body);
                        r
                    }
                    None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                };
                let _ = stream.write_all(&response);
            }
        });
        Server { addr, files, requests }
    }

    fn serve(&self, path: &str, body: &str) {
        self.files.lock().unwrap().insert(path.to_owned(), body.as_bytes().to_vec());
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(text.as_bytes())))
}

fn context(env: &ContainerEnv, name: &str, dockerfile: &str) -> PathBuf {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir
}

/// A build with the epoch after LAST_MODIFIED (times are clamped to the epoch); its stderr.
fn build_ok(env: &ContainerEnv, tag: &str, dir: &Path) -> String {
    let dir = dir.to_str().unwrap();
    let out = env.berth(&["build", "--build-arg", "SOURCE_DATE_EPOCH=2000000000", "-t", tag, dir]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build failed ({}):\n{stderr}", out.status);
    stderr
}

fn build_fails(env: &ContainerEnv, dir: &Path) -> String {
    let (code, stderr) = env.berth_err(&["build", "-q", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "a failed build exits 1:\n{stderr}");
    let line = assert_one_error_line(&stderr);
    env.assert_store_ok();
    line
}

#[test]
fn add_of_a_url_downloads_checks_and_caches() {
    let Some(env) = root_with_busybox("building mounts snapshots", "bb") else { return };
    let server = Server::start();
    server.serve("/files/hello.txt", "hello over http\n");
    server.serve("/files/tool", "#!/bin/sh\necho tool\n");
    let good = sha256("#!/bin/sh\necho tool\n");
    let dir = context(
        &env,
        "ctx",
        &format!(
            "FROM bb\nADD {} /dl/\nADD --checksum={good} --chmod=755 {} /usr/local/bin/tool\n",
            server.url("/files/hello.txt"),
            server.url("/files/tool")
        ),
    );
    build_ok(&env, "fetched", &dir);
    let out = env.berth_ok(&[
        "run",
        "--rm",
        "fetched",
        "sh",
        "-c",
        "cat /dl/hello.txt; stat -c '%a %u %Y' /dl/hello.txt /usr/local/bin/tool; tool",
    ]);
    let expected = format!("hello over http\n600 0 {LAST_MODIFIED_SECS}\n755 0 {LAST_MODIFIED_SECS}\ntool\n");
    assert_eq!(out, expected);

    // Cached: the URL without a checksum is fetched again to compare; the one with a checksum
    // is not asked for at all.
    let before = server.requests();
    let stderr = build_ok(&env, "fetched", &dir);
    assert_eq!(stderr.matches("--> Using cache").count(), 2, "{stderr}");
    assert_eq!(server.requests() - before, 1, "only the URL without a checksum is fetched");

    // A changed download misses the cache.
    server.serve("/files/hello.txt", "changed\n");
    let stderr = build_ok(&env, "changed", &dir);
    assert_eq!(stderr.matches("--> Using cache").count(), 0, "{stderr}");
    assert_eq!(env.berth_ok(&["run", "--rm", "changed", "cat", "/dl/hello.txt"]), "changed\n");
}

#[test]
fn bad_urls_and_checksums_are_clear_errors_with_their_line() {
    let Some(env) = root_with_busybox("building mounts snapshots", "bb") else { return };
    let server = Server::start();
    server.serve("/f", "content\n");
    let wrong = sha256("other");
    let dir = context(&env, "mismatch", &format!("FROM bb\nADD --checksum={wrong} {} /f\n", server.url("/f")));
    let line = build_fails(&env, &dir);
    assert!(line.contains("Dockerfile line 2") && line.contains("checksum mismatch"), "{line}");
    assert!(line.contains(&wrong) && line.contains(&sha256("content\n")), "{line}");

    let dir = context(&env, "missing", &format!("FROM bb\nADD {} /f\n", server.url("/nothing")));
    let line = build_fails(&env, &dir);
    assert!(line.contains("Dockerfile line 2") && line.contains("404"), "{line}");

    let dir = context(&env, "badsum", &format!("FROM bb\nADD --checksum=md5:abc {} /f\n", server.url("/f")));
    let line = build_fails(&env, &dir);
    assert!(line.contains("invalid checksum"), "{line}");

    for git in ["git@example.invalid:a/b.git", "https://example.invalid/a/b.git"] {
        let dir = context(&env, "git", &format!("FROM bb\nADD {git} /src\n"));
        let line = build_fails(&env, &dir);
        assert!(line.contains("Dockerfile line 2") && line.contains("git repository is not supported"), "{line}");
    }
    assert_eq!(env.berth_ok(&["images", "-q"]).lines().count(), 1, "only the base image: nothing was made");
}
