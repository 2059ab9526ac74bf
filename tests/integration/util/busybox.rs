//! The busybox test image: a whole userland in one static file (Debian's busybox-static), and the
//! one way tests import it into their store.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BUSYBOX, ContainerEnv, TestEnv, require_root};

/// The busybox applets linked into [`busybox_rootfs`].
pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "true", "false", "echo", "cat", "ls", "id", "sleep", "env", "pwd", "touch", "mkdir", "rm", "stat", "wc",
    "head", "test", "grep", "hostname", "ps", "mount", "sync", "whoami", "printf", "uname", "date", "chmod", "ip",
    "wget", "nc", "netstat", "nslookup", "httpd",
];

/// Makes a minimal root filesystem in `dir`: /bin/busybox (Debian's static build) with symlinks
/// for [`BUSYBOX_APPLETS`], /etc/passwd and /etc/group (root, nobody), and empty /tmp, /proc,
/// /sys, /dev, /root.
pub fn busybox_rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir bin");
    std::fs::copy(BUSYBOX, dir.join("bin/busybox")).expect("copying /bin/busybox (install busybox-static)");
    std::fs::set_permissions(dir.join("bin/busybox"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for applet in BUSYBOX_APPLETS {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).expect("applet symlink");
    }
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir etc");
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
    for d in ["tmp", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
}

impl TestEnv {
    /// A tarball of [`busybox_rootfs`] after `customize` changed it (pass `|_| {}` for none),
    /// in this environment's directory and readable by its berth. GNU tar writes it, so owners,
    /// modes and set-id bits that `customize` gave survive; with sorted names and every mtime 0 the
    /// same content always makes the same tarball, and so the same image id.
    pub fn busybox_tarball(&self, customize: impl FnOnce(&Path)) -> PathBuf {
        let rootfs = tempfile::Builder::new().prefix("busybox-rootfs-").tempdir_in(self.dir.path()).expect("temp dir");
        busybox_rootfs(rootfs.path());
        customize(rootfs.path());
        let (_, tarball) = tempfile::Builder::new()
            .prefix("busybox-")
            .suffix(".tar")
            .tempfile_in(self.dir.path())
            .expect("temp file")
            .keep()
            .expect("keeping the tarball");
        let mut top: Vec<_> =
            std::fs::read_dir(rootfs.path()).expect("reading the rootfs").flatten().map(|e| e.file_name()).collect();
        top.sort();
        let status = Command::new("tar")
            .args(["--numeric-owner", "--sort=name", "--mtime=@0", "-C"])
            .arg(rootfs.path())
            .arg("-cf")
            .arg(&tarball)
            .args(&top)
            .status()
            .expect("running tar");
        assert!(status.success(), "tar of the busybox rootfs failed");
        self.give(&tarball);
        tarball
    }

    /// `berth import` of [`TestEnv::busybox_tarball`]`(customize)` as `name`, with a `--change`
    /// for each of `changes` ("VOLUME /data", …); returns the image id berth printed.
    pub fn import_busybox(&self, name: &str, changes: &[&str], customize: impl FnOnce(&Path)) -> String {
        let tarball = self.busybox_tarball(customize);
        let mut args = vec!["import".to_owned()];
        for change in changes {
            args.extend(["--change".to_owned(), (*change).to_owned()]);
        }
        args.extend([tarball.display().to_string(), name.to_owned()]);
        let out = self.berth_ok(&args);
        let id = out.trim().to_owned();
        assert!(id.starts_with("sha256:") && id.len() == 71, "import should print the image id, printed {out:?}");
        std::fs::remove_file(&tarball).expect("removing the imported tarball");
        id
    }

    /// This environment with the busybox image imported as `name` (see
    /// [`TestEnv::import_busybox`]), as a [`ContainerEnv`], which removes its containers on drop.
    pub fn with_busybox(self, name: &'static str, changes: &[&str], customize: impl FnOnce(&Path)) -> ContainerEnv {
        self.import_busybox(name, changes, customize);
        ContainerEnv::new(self, name)
    }
}

/// A fresh root environment with the plain busybox image imported as `name`; None (a skip, or a
/// failure in CI) when the tests do not run as root, which containers need. `what` says why.
pub fn root_with_busybox(what: &str, name: &'static str) -> Option<ContainerEnv> {
    if !require_root(what) {
        return None;
    }
    Some(TestEnv::new().with_busybox(name, &[], |_| {}))
}
