//! The API contract checked with a small client written here: negotiation headers, version
//! prefixes, the hijacked attach stream with Docker's 8-byte frames, wait's early headers,
//! errors as `{"message"}` with Docker's status codes, bad input, clients that go away, and
//! the listener's rules (owner-only socket, foreign paths refused, idle exit).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Service, service_env};
use crate::util::{TestEnv, poll_for, require_root};

/// One response: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

fn connect(socket: &Path) -> UnixStream {
    let stream = UnixStream::connect(socket).expect("connecting to the API socket");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    stream
}

fn send(stream: &mut UnixStream, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("writing the request");
    // A server that refuses a huge body may close before it is all sent; its reply says why.
    let _ = stream.write_all(body);
}

/// Status line and headers.
fn read_head(reader: &mut BufReader<UnixStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status =
        line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            return (status, headers);
        }
        let (name, value) = line.split_once(':').expect("a header");
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

/// The body, by Content-Length or chunked.
fn read_body(reader: &mut BufReader<UnixStream>, headers: &[(String, String)], head: bool) -> Vec<u8> {
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let mut body = Vec::new();
    if head {
        return body;
    }
    if header("transfer-encoding") == Some("chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).expect("chunk");
            if size == 0 {
                return body;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let length: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    body.resize(length, 0);
    reader.read_exact(&mut body).expect("body");
    body
}

fn request(socket: &Path, method: &str, path: &str, body: &[u8]) -> Reply {
    let mut stream = connect(socket);
    let json_header: &[(&str, &str)] = if body.is_empty() { &[] } else { &[("Content-Type", "application/json")] };
    send(&mut stream, method, path, json_header, body);
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    let body = read_body(&mut reader, &headers, method == "HEAD");
    Reply { status, headers, body }
}

/// Docker's multiplexed frames: (stream kind, payload) each.
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 8 {
        assert_eq!(&bytes[1..4], &[0, 0, 0], "frame header padding");
        let len = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        out.push((bytes[0], bytes[8..8 + len].to_vec()));
        bytes = &bytes[8 + len..];
    }
    assert!(bytes.is_empty(), "a partial frame at the end");
    out
}

#[test]
fn ping_version_prefixes_and_errors_follow_dockers_contract() {
    let Some((env, service)) = service_env("the API's HTTP contract") else { return };
    let socket = &service.socket;
    let head = request(socket, "HEAD", "/_ping", b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("api-version"), Some("1.50"));
    assert_eq!(head.header("ostype"), Some("linux"));
    assert_eq!(head.header("builder-version"), Some("1"));
    for path in ["/_ping", "/v1.24/_ping", "/v1.50/_ping"] {
        let ping = request(socket, "GET", path, b"");
        assert_eq!((ping.status, ping.body.as_slice()), (200, &b"OK"[..]), "{path}");
    }
    assert_eq!(request(socket, "GET", "/v1.41/version", b"").json()["ApiVersion"], "1.50");
    let unknown = request(socket, "GET", "/v1.50/no/such/endpoint", b"");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["message"], "page not found");
    let missing = request(socket, "GET", "/containers/nothing-here/json", b"");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "No such container: nothing-here");
    let no_image = request(socket, "POST", "/containers/create", br#"{"Image":"not-pulled"}"#);
    assert_eq!(no_image.status, 404, "the CLI pulls on this 404");
    assert!(no_image.json()["message"].as_str().unwrap().starts_with("No such image"), "{:?}", no_image.json());
    // Bad input: a clear error, nothing changed.
    let malformed = request(socket, "POST", "/containers/create", b"{\"Image\": \"busybox\",");
    assert_eq!(malformed.status, 400);
    assert!(malformed.json()["message"].as_str().unwrap().contains("malformed JSON"));
    let wrong_type = request(socket, "POST", "/containers/create", br#"{"Image":"busybox","Cmd":[1,2]}"#);
    assert_eq!(wrong_type.status, 400);
    let huge = vec![b' '; 5 * 1024 * 1024];
    let too_big = request(socket, "POST", "/volumes/create", &huge);
    assert_eq!(too_big.status, 413);
    let bad_filter = request(socket, "GET", "/containers/json?filters=%5B1%5D", b"");
    assert_eq!(bad_filter.status, 400);
    // Conflicts and not-modified.
    let created =
        request(socket, "POST", "/containers/create?name=dup", br#"{"Image":"busybox","Cmd":["sleep","100"]}"#);
    assert_eq!(created.status, 201);
    let id = created.json()["Id"].as_str().unwrap().to_owned();
    let again = request(socket, "POST", "/containers/create?name=dup", br#"{"Image":"busybox","Cmd":["true"]}"#);
    assert_eq!(again.status, 409);
    assert_eq!(request(socket, "POST", &format!("/containers/{id}/stop"), b"").status, 304);
    assert_eq!(request(socket, "POST", &format!("/containers/{id}/start"), b"").status, 204);
    assert_eq!(request(socket, "POST", &format!("/containers/{id}/start"), b"").status, 304);
    assert_eq!(request(socket, "DELETE", &format!("/containers/{id}"), b"").status, 409);
    let go_filters = format!("/containers/json?filters={}", urlencode(r#"{"name":{"dup":true}}"#));
    let py_filters = format!("/containers/json?filters={}", urlencode(r#"{"name":["dup"]}"#));
    for path in [go_filters, py_filters] {
        let listed = request(socket, "GET", &path, b"").json();
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{path}: {listed}");
        assert_eq!(listed[0]["Names"], json!(["/dup"]));
        assert_eq!(listed[0]["State"], "running");
    }
    assert_eq!(request(socket, "DELETE", &format!("/containers/{id}?force=1"), b"").status, 204);
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
    env.assert_store_ok();
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[test]
fn attach_before_start_gets_every_byte_in_multiplexed_frames() {
    let Some((env, service)) = service_env("the hijacked attach stream") else { return };
    let socket = &service.socket;
    let script = "echo first; echo to-stderr >&2; i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done; exit 7";
    let body = json!({ "Image": "busybox", "Cmd": ["sh", "-c", script] }).to_string();
    let created = request(socket, "POST", "/containers/create", body.as_bytes());
    assert_eq!(created.status, 201, "{:?}", String::from_utf8_lossy(&created.body));
    let id = created.json()["Id"].as_str().unwrap().to_owned();
    // Attach (hijacked) and wait, both before start, as `docker run` does.
    let mut attach = connect(socket);
    send(
        &mut attach,
        "POST",
        &format!("/v1.50/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
        b"",
    );
    let mut attach = BufReader::new(attach);
    let (status, headers) = read_head(&mut attach);
    assert_eq!(status, 101);
    assert!(headers.contains(&("content-type".into(), "application/vnd.docker.multiplexed-stream".into())));
    let mut wait = connect(socket);
    send(&mut wait, "POST", &format!("/containers/{id}/wait?condition=next-exit"), &[], b"");
    let mut wait = BufReader::new(wait);
    // The headers come before the container even starts.
    let (wait_status, wait_headers) = read_head(&mut wait);
    assert_eq!(wait_status, 200);
    assert_eq!(request(socket, "POST", &format!("/containers/{id}/start"), b"").status, 204);
    let mut stream = Vec::new();
    attach.read_to_end(&mut stream).expect("reading the attach stream to its end");
    let frames = frames(&stream);
    let stdout: Vec<u8> = frames.iter().filter(|(k, _)| *k == 1).flat_map(|(_, b)| b.clone()).collect();
    let stderr: Vec<u8> = frames.iter().filter(|(k, _)| *k == 2).flat_map(|(_, b)| b.clone()).collect();
    let expected: String =
        std::iter::once("first\n".to_owned()).chain((0..200).map(|i| format!("line-{i}\n"))).collect();
    assert_eq!(String::from_utf8_lossy(&stdout), expected);
    assert_eq!(String::from_utf8_lossy(&stderr), "to-stderr\n");
    let body = read_body(&mut wait, &wait_headers, false);
    let waited: Value = serde_json::from_slice(&body).expect("wait body");
    assert_eq!(waited["StatusCode"], 7);
    // The log has the same, multiplexed too.
    let logs = request(socket, "GET", &format!("/containers/{id}/logs?stdout=1&stderr=1"), b"");
    assert_eq!(logs.header("content-type"), Some("application/vnd.docker.multiplexed-stream"));
    let logged: Vec<u8> = frames_of(&logs.body, 1);
    assert_eq!(String::from_utf8_lossy(&logged), expected);
    assert_eq!(request(socket, "DELETE", &format!("/containers/{id}"), b"").status, 204);
    env.assert_store_ok();
}

fn frames_of(bytes: &[u8], kind: u8) -> Vec<u8> {
    frames(bytes).into_iter().filter(|(k, _)| *k == kind).flat_map(|(_, b)| b).collect()
}

#[test]
fn clients_that_go_away_mid_stream_leave_the_service_up_and_the_store_valid() {
    let Some((env, service)) = service_env("clients leaving mid-stream") else { return };
    let socket = &service.socket;
    let body = br#"{"Image":"busybox","Cmd":["sh","-c","while true; do echo tick; sleep 0.05; done"]}"#;
    let id = request(socket, "POST", "/containers/create?name=ticker", body).json()["Id"].as_str().unwrap().to_owned();
    assert_eq!(request(socket, "POST", &format!("/containers/{id}/start"), b"").status, 204);
    for _ in 0..5 {
        // A followed log, a hijacked attach and a wait, each dropped after the first bytes.
        let mut logs = connect(socket);
        send(&mut logs, "GET", &format!("/containers/{id}/logs?follow=1&stdout=1"), &[], b"");
        let mut first = [0u8; 64];
        let _ = logs.read(&mut first).expect("the log stream starts");
        drop(logs);
        let mut attach = connect(socket);
        send(
            &mut attach,
            "POST",
            &format!("/containers/{id}/attach?stream=1&stdout=1"),
            &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
            b"",
        );
        let _ = attach.read(&mut first).expect("the attach stream starts");
        drop(attach);
        let mut wait = connect(socket);
        send(&mut wait, "POST", &format!("/containers/{id}/wait"), &[], b"");
        drop(wait);
        // A request cut off in its body.
        let mut cut = connect(socket);
        cut.write_all(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 1000\r\n\r\n{\"Ima")
            .expect("partial");
        drop(cut);
    }
    assert_eq!(request(socket, "GET", "/_ping", b"").status, 200, "the service stays up");
    let listed = request(socket, "GET", "/containers/json", b"").json();
    assert_eq!(listed[0]["Names"], json!(["/ticker"]));
    assert_eq!(request(socket, "POST", &format!("/containers/{id}/kill"), b"").status, 204);
    assert_eq!(request(socket, "DELETE", &format!("/containers/{id}?force=1&v=1"), b"").status, 204);
    env.assert_store_ok();
}

#[test]
fn the_service_refuses_a_socket_path_someone_else_owns_and_exits_when_idle() {
    if !require_root("chowning a socket path to another user") {
        return;
    }
    let env = crate::util::ContainerEnv::new(TestEnv::new(), "unused");
    let foreign = env.path("foreign.sock");
    let listener = std::os::unix::net::UnixListener::bind(&foreign).expect("binding");
    drop(listener);
    std::os::unix::fs::chown(&foreign, Some(65534), None).expect("chown");
    let out = env.berth(&["system", "service", &format!("unix://{}", foreign.display())]);
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("owned by uid 65534"), "{stderr}");
    let far = env.berth(&["system", "service", "tcp://0.0.0.0:0"]);
    assert!(String::from_utf8_lossy(&far.stderr).contains("not a loopback address"), "{far:?}");
    // Idle exit: nobody connects, the service ends by itself after --time.
    let started = Instant::now();
    let mut service = Service::start_with(&env, &["--time", "1"]);
    let ended = poll_for(Duration::from_secs(15), || service.child.try_wait().ok().flatten());
    let status = ended.expect("the idle service exits");
    assert!(status.success(), "{status}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn a_socket_activated_service_answers_the_first_request() {
    if !crate::util::require_program("systemd-socket-activate") {
        return;
    }
    let env = crate::util::ContainerEnv::new(TestEnv::new(), "unused");
    let socket = env.path("activated.sock");
    let mut args: Vec<String> = vec!["-l".into(), socket.display().to_string(), crate::util::BERTH.into()];
    for (flag, value) in [("--root", &env.root), ("--runroot", &env.runroot), ("--config", &env.config)] {
        args.extend([flag.to_owned(), value.display().to_string()]);
    }
    args.extend(["system", "service", "--time", "1"].map(str::to_owned));
    let mut activator = std::process::Command::new("systemd-socket-activate")
        .args(&args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("systemd-socket-activate");
    let listening = poll_for(Duration::from_secs(10), || socket.exists().then_some(()));
    assert!(listening.is_some(), "systemd-socket-activate did not listen");
    // The first connection starts berth, which takes the socket from LISTEN_FDS.
    let ping = request(&socket, "GET", "/v1.50/_ping", b"");
    assert_eq!((ping.status, ping.body.as_slice()), (200, &b"OK"[..]));
    assert_eq!(request(&socket, "GET", "/containers/json?all=1", b"").json(), json!([]));
    let ended = poll_for(Duration::from_secs(15), || activator.try_wait().ok().flatten());
    assert!(ended.is_some_and(|s| s.success()), "the activated service exits when idle");
}

#[test]
fn a_hundred_concurrent_clients_are_all_answered() {
    let Some((env, service)) = service_env("concurrent API clients") else { return };
    let socket = service.socket.clone();
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let socket = socket.clone();
            std::thread::spawn(move || match i % 4 {
                0 => request(&socket, "GET", "/_ping", b"").status,
                1 => request(&socket, "GET", "/containers/json?all=1", b"").status,
                2 => request(&socket, "GET", "/images/json", b"").status,
                _ => request(&socket, "POST", "/containers/create", b"{not json").status,
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().expect("a client thread")).collect();
    for (i, status) in statuses.iter().enumerate() {
        assert_eq!(*status, if i % 4 == 3 { 400 } else { 200 }, "client {i}");
    }
    assert_eq!(request(&socket, "GET", "/_ping", b"").status, 200);
    env.assert_store_ok();
}
