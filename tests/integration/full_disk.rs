//! A store on a full disk: the store root is a small tmpfs the test mounts. Removing things
//! must always work there (berth keeps a reserve for the record rewrite of a removal and, once
//! that is used, frees a removal's data before its record: `store::reserve`); what adds to the
//! store fails with "no space left on device" naming what failed, exit 125, and leaves the
//! store valid with its staging cleaned.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::*;

/// A ContainerEnv whose store root is a tmpfs of `size` MiB, unmounted on drop (after the
/// containers are removed, before the temp dir is).
struct SmallDisk {
    env: Option<ContainerEnv>,
    mount: PathBuf,
}

impl SmallDisk {
    fn new(what: &str, size_mib: u32) -> Option<SmallDisk> {
        if !require_root(what) {
            return None;
        }
        let env = TestEnv::new();
        std::fs::create_dir_all(&env.root).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m,mode=755"), "tmpfs"])
            .arg(&env.root)
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting a tmpfs on {}", env.root.display());
        let mount = env.root.clone();
        Some(SmallDisk { env: Some(env.with_busybox("busybox", &[], |_| {})), mount })
    }

    fn env(&self) -> &ContainerEnv {
        self.env.as_ref().unwrap()
    }

    fn available(&self) -> u64 {
        let path = CString::new(self.mount.as_os_str().as_bytes()).unwrap();
        // SAFETY: a zeroed statvfs is a valid out-parameter; the path is NUL-terminated.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
        st.f_bavail * st.f_frsize
    }

    /// Fills what is left of the disk with a file outside the store's own entries.
    fn fill(&self) -> PathBuf {
        let filler = self.mount.join("filler");
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&filler).unwrap();
        let chunk = vec![1u8; 64 << 10];
        while file.write_all(&chunk).is_ok() {}
        let small = [1u8; 512];
        while file.write_all(&small).is_ok() {}
        assert!(self.available() < 64 << 10, "the disk is not full: {} bytes left", self.available());
        filler
    }

    /// No container directory, no staging or trash left, once a `--rm` container's supervisor
    /// has finished deleting (it does so after telling the client the exit code).
    fn wait_for_deletion(&self) {
        let root = self.mount.clone();
        wait_until(Duration::from_secs(20), "the removed container's data to be deleted", || {
            list_dir(&root.join("containers")).is_empty() && list_dir(&root.join("tmp")).is_empty()
        });
    }

    fn assert_clean(&self) {
        let out = self.env().berth_ok(&["system", "check"]);
        assert!(out.contains(": 0 problems"), "{out}");
        assert_eq!(list_dir(&self.mount.join("tmp")), Vec::<String>::new(), "staging left");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // The containers first (ContainerEnv's drop), in the mounted store.
        if let Some(env) = self.env.take() {
            let ids = env.berth_ok(&["ps", "-aq", "--no-trunc"]);
            for id in ids.lines() {
                let _ = env.berth(&["rm", "-f", id]);
            }
            // Before the temp dir holding the mount point is removed (as `env` drops).
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.mount).status();
        }
    }
}

#[test]
fn run_rm_filling_the_disk_still_removes_the_container() {
    let Some(disk) = SmallDisk::new("mounting a small tmpfs", 64) else { return };
    let env = disk.env();
    let free_before = disk.available();
    let (code, _) = env.berth_err(&["run", "--rm", "busybox", "sh", "-c", "busybox dd if=/dev/zero of=/big bs=1M"]);
    assert_eq!(code, 1, "dd's own exit code (it fails on the full disk)");
    disk.wait_for_deletion();
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
    assert!(disk.available() + (4 << 20) >= free_before, "the space came back: {} of {free_before}", disk.available());
    disk.assert_clean();
    assert_eq!(env.sh(&[], "echo again"), "again\n");
}

#[test]
fn removing_works_on_a_full_disk() {
    let Some(disk) = SmallDisk::new("mounting a small tmpfs", 64) else { return };
    let env = disk.env();
    env.berth_ok(&["volume", "create", "data"]);
    // A running container fills the disk through its volume and its own layer.
    let id = env.berth_ok(&[
        "run",
        "-d",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "busybox dd if=/dev/zero of=/data/big bs=1M count=20; busybox dd if=/dev/zero of=/big bs=1M; sleep 1000",
    ]);
    let id = id.trim();
    wait_until(Duration::from_secs(20), "the container to fill the disk", || disk.available() < 64 << 10);
    // Ending it records its end (drawing on the reserve); removing it must still work.
    assert_eq!(env.berth_ok(&["rm", "-f", id]).trim(), id);
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
    assert_eq!(list_dir(&disk.mount.join("containers")), Vec::<String>::new());

    // The volume's 20 MiB are all that is left: fill the rest, then remove it.
    let filler = disk.fill();
    assert_eq!(env.berth_ok(&["volume", "rm", "data"]).trim(), "data");
    assert_eq!(env.berth_ok(&["volume", "ls", "-q"]), "");

    // A kept container, an anonymous volume, a second name of the image: all removable with the
    // disk full again, by rm, prune and rmi.
    env.berth_ok(&["tag", "busybox", "second:name"]);
    env.berth_ok(&["run", "--name", "kept", "-v", "/anon", "busybox", "sh", "-c", "echo x > /anon/f"]);
    std::fs::remove_file(&filler).unwrap();
    disk.fill();
    assert!(env.berth_ok(&["rmi", "second:name"]).starts_with("Untagged: "));
    env.berth_ok(&["container", "prune", "-f"]);
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
    env.berth_ok(&["volume", "prune", "-f"]);
    assert_eq!(env.berth_ok(&["volume", "ls", "-q"]), "");
    env.berth_ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(env.berth_ok(&["images", "-q"]), "");
    disk.assert_clean();
}

#[test]
fn system_check_finds_directories_no_record_owns_and_repair_removes_them() {
    let Some(env) = root_with_busybox("a full store", "busybox") else { return };
    // What a kill between a create's directories and its record leaves.
    let orphan = env.root.join("containers").join("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    std::fs::create_dir_all(orphan.join("upper")).unwrap();
    std::fs::write(orphan.join("upper/big"), vec![0u8; 1 << 20]).unwrap();
    let lost_volume = env.root.join("volumes/lost/_data");
    std::fs::create_dir_all(&lost_volume).unwrap();
    env.berth_ok(&["run", "--name", "real", "busybox", "true"]);

    let out = env.berth(&["system", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("container directory 0123456789ab"), "{stdout}");
    assert!(stdout.contains("volume directory lost: no volume record owns it"), "{stdout}");
    assert!(stdout.contains("1 containers, 0 volumes: 2 problems"), "{stdout}");

    let out = env.berth_ok(&["system", "check", "--repair"]);
    assert!(out.contains("2 repairs"), "{out}");
    assert!(!orphan.exists() && !Path::new(&lost_volume).exists());
    env.assert_store_ok();
    assert_eq!(env.berth_ok(&["start", "-a", "real"]), "");
}

/// Bytes no compressor shrinks (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn adding_to_a_full_disk_fails_clearly_and_leaves_the_store_valid() {
    let Some(disk) = SmallDisk::new("mounting a small tmpfs", 48) else { return };
    let env = disk.env();
    let registry = Registry::start();
    let image = OciImageBuilder::busybox()
        .layer_entries(vec![TarEntry::file("big", noise(8 << 20))], Compression::Gzip)
        .build();
    registry.push(&image, "full/big", "1");
    let reference = format!("{}/full/big:1", registry.addr);
    let layout = env.path("layout");
    image.write_oci_layout(&layout, "1");
    let archive = env.path("layout.tar");
    let tar = |dir: &Path, to: &Path| {
        let status = std::process::Command::new("tar").arg("-C").arg(dir).arg("-cf").arg(to).arg(".").status().unwrap();
        assert!(status.success());
    };
    tar(&layout, &archive);
    let rootfs = env.path("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::write(rootfs.join("big"), noise(8 << 20)).unwrap();
    let rootfs_tar = env.path("rootfs.tar");
    tar(&rootfs, &rootfs_tar);
    // A container with 4 MiB of its own to commit.
    env.berth_ok(&[
        "run",
        "--name",
        "target",
        "busybox",
        "sh",
        "-c",
        "busybox dd if=/dev/urandom of=/big bs=1M count=4",
    ]);
    let images_before = env.image_ids();

    // Full, but for 1 MiB: each of these starts and runs out of space on the way.
    let filler = disk.fill();
    let file = std::fs::OpenOptions::new().write(true).open(&filler).unwrap();
    file.set_len(file.metadata().unwrap().len() - (1 << 20)).unwrap();
    drop(file);
    let big_file = rootfs.join("big").display().to_string();
    // A failed pull exits 1 as Docker's; the others' failures are berth's own: 125.
    let cases: [(Vec<&str>, String, i32); 5] = [
        (vec!["pull", "-q", &reference], format!("berth: pulling {reference}"), 1),
        (
            vec!["load", "-i", archive.to_str().unwrap()],
            format!("berth: loading images from {}", archive.display()),
            125,
        ),
        (
            vec!["import", rootfs_tar.to_str().unwrap(), "imported"],
            format!("berth: importing {}", rootfs_tar.display()),
            125,
        ),
        (vec!["commit", "target", "committed"], "berth: committing target".to_owned(), 125),
        (vec!["cp", &big_file, "target:/copied"], "berth: copying to target:/copied".to_owned(), 125),
    ];
    for (args, what, expected) in cases {
        let (code, stderr) = env.berth_err(&args);
        assert_eq!(code, expected, "{args:?}: {stderr}");
        let line = assert_one_error_line(&stderr);
        assert!(line.starts_with(&what), "{args:?} should say what failed ({what}): {line}");
        assert!(line.ends_with(": no space left on device"), "{args:?}: {line}");
        disk.assert_clean();
        assert_eq!(env.image_ids(), images_before, "{args:?} left an image");
    }
    // With the space back, each works.
    std::fs::remove_file(&filler).unwrap();
    env.berth_ok(&["pull", "-q", &reference]);
    env.berth_ok(&["commit", "target", "committed"]);
    disk.assert_clean();
}
