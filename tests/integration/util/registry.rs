//! A real registry for the tests: Debian's `docker-registry` on a free loopback port.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::{BuiltImage, BuiltIndex, base64, http_request, poll_for, sha256_digest, which};

/// A private Debian `docker-registry` (distribution 2.8) on a free 127.0.0.1 port, storing into
/// its own temp dir, killed on drop. Plain HTTP (berth treats loopback registries as insecure).
pub struct Registry {
    /// "127.0.0.1:PORT", the registry part of image references.
    pub addr: String,
    pub child: Child,
    pub dir: TempDir,
    /// The credentials the registry requires, if started with htpasswd auth.
    pub credentials: Option<(String, String)>,
}

/// Waits until `child` logged that it listens on `addr` and GET /v2/ answers (200, or 401 with
/// auth); the log check makes sure it is our registry answering, not another test's that got
/// the same port. False if `child` exited or was not ready within 20 s.
fn wait_ready(child: &mut Child, addr: &str, log: &Path) -> bool {
    let listening = format!("listening on {addr}");
    let ready = poll_for(Duration::from_secs(20), || {
        if let Ok(Some(_)) = child.try_wait() {
            return Some(false);
        }
        let ours = std::fs::read_to_string(log).is_ok_and(|l| l.contains(&listening));
        let answers = || http_request(addr, "GET", "/v2/", &[], &[]).is_ok_and(|r| r.status == 200 || r.status == 401);
        (ours && answers()).then_some(true)
    });
    ready == Some(true)
}

/// A currently unused loopback port. Another process may take it before we do: callers retry.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().expect("local addr").port()
}

impl Registry {
    /// An anonymous registry (anyone may push and pull).
    pub fn start() -> Registry {
        Registry::start_inner(None)
    }

    /// A registry that requires HTTP basic auth as `user`/`pass` (a bcrypt htpasswd file made
    /// with `htpasswd -Bbn`). distribution 2.8 allows htpasswd auth over plain HTTP.
    pub fn start_with_htpasswd(user: &str, pass: &str) -> Registry {
        Registry::start_inner(Some((user.to_owned(), pass.to_owned())))
    }

    fn start_inner(credentials: Option<(String, String)>) -> Registry {
        assert!(
            which("docker-registry").is_some(),
            "docker-registry is not installed (apt-get install docker-registry)"
        );
        let dir = tempfile::Builder::new().prefix("berth-registry-").tempdir().expect("registry temp dir");
        let auth = match &credentials {
            None => String::new(),
            Some((user, pass)) => {
                let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().expect("running htpasswd");
                assert!(out.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, &out.stdout).expect("writing htpasswd");
                format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", file.display())
            }
        };
        for _attempt in 0..20 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("writing registry config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .expect("starting docker-registry");
            let addr = format!("127.0.0.1:{port}");
            if wait_ready(&mut child, &addr, &dir.path().join("registry.log")) {
                return Registry { addr, child, dir, credentials };
            }
            // Lost the port to someone else (or failed otherwise): try another port.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start on any port");
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// "127.0.0.1:PORT/NAME" — `name` may carry ":tag" or "@digest".
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }

    fn auth_headers(&self) -> Vec<(String, String)> {
        match &self.credentials {
            Some((u, p)) => vec![("Authorization".into(), format!("Basic {}", base64(format!("{u}:{p}").as_bytes())))],
            None => Vec::new(),
        }
    }

    /// Uploads one blob to repository `repo` (monolithic upload: POST then PUT), unless present.
    pub fn push_blob(&self, repo: &str, blob: &[u8]) -> String {
        let digest = sha256_digest(blob);
        push_blob_to(&self.addr, &self.auth_headers(), repo, &digest, blob);
        digest
    }

    /// Uploads a manifest or index under `reference` (a tag or a digest) with its media type.
    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let mut headers = self.auth_headers();
        headers.push(("Content-Type".into(), media_type.to_owned()));
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = http_request(&self.addr, "PUT", &path, &headers, bytes).expect("PUT manifest");
        assert_eq!(resp.status, 201, "PUT {path} failed: {}\n{}", resp.text(), self.log());
    }

    /// Pushes an image (its layers, config and manifest) as `repo:tag`; returns the manifest digest.
    pub fn push(&self, image: &BuiltImage, repo: &str, tag: &str) -> String {
        self.push_image_blobs(image, repo);
        self.push_manifest(repo, tag, image.manifest_media_type, &image.manifest);
        image.manifest_digest.clone()
    }

    fn push_image_blobs(&self, image: &BuiltImage, repo: &str) {
        for layer in &image.layers {
            self.push_blob(repo, &layer.blob);
        }
        self.push_blob(repo, &image.config);
    }

    /// Pushes a multi-platform index and every image in it as `repo:tag`; returns the index digest.
    pub fn push_index(&self, index: &BuiltIndex, repo: &str, tag: &str) -> String {
        for image in &index.images {
            self.push_image_blobs(image, repo);
            self.push_manifest(repo, &image.manifest_digest, image.manifest_media_type, &image.manifest);
        }
        self.push_manifest(repo, tag, index.media_type, &index.bytes);
        index.digest.clone()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Uploads `blob` to `addr` (POST + PUT), skipping it when HEAD says it is there.
pub fn push_blob_to(addr: &str, auth: &[(String, String)], repo: &str, digest: &str, blob: &[u8]) {
    let head = http_request(addr, "HEAD", &format!("/v2/{repo}/blobs/{digest}"), auth, &[]).expect("HEAD blob");
    if head.status == 200 {
        return;
    }
    let start = http_request(addr, "POST", &format!("/v2/{repo}/blobs/uploads/"), auth, &[]).expect("POST upload");
    assert_eq!(start.status, 202, "starting a blob upload failed: {}", start.text());
    let location = start.header("location").expect("upload Location header").to_owned();
    let location = match location.find("/v2/") {
        Some(i) => location[i..].to_owned(),
        None => location,
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let mut headers = auth.to_vec();
    headers.push(("Content-Type".into(), "application/octet-stream".into()));
    let put = http_request(addr, "PUT", &format!("{location}{sep}digest={digest}"), &headers, blob).expect("PUT blob");
    assert_eq!(put.status, 201, "uploading blob {digest} failed: {}", put.text());
}
