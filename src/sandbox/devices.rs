//! Device nodes beyond the default ones: `--device HOST[:CONTAINER][:PERMISSIONS]`, every host
//! device for `--privileged`, and the devices cgroup policy (cgroup v1) that limits which nodes
//! a container may use at all, whatever nodes it makes with CAP_MKNOD.
//!
//! On cgroup v2 device access is controlled by an eBPF program attached to the cgroup; berth
//! does not load one, so there the only limits are the nodes it creates and, for rootless
//! containers, that a user namespace cannot make device nodes.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::spec::Device;

/// Docker's `--device` syntax, parsed: (host path, container path, cgroup permissions).
pub fn parse_device(text: &str) -> Result<(String, String, String), String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, second, third) = match parts.as_slice() {
        [source] => (*source, None, None),
        [source, second] => (*source, Some(*second), None),
        [source, second, third] => (*source, Some(*second), Some(*third)),
        _ => return Err(format!("invalid device specification: {text}")),
    };
    let mut permissions = "rwm".to_owned();
    let mut destination = source;
    if let Some(second) = second {
        // The second field is the permissions when it reads like them (Docker's rule).
        if third.is_none() && valid_permissions(second) {
            permissions = second.to_owned();
        } else {
            destination = second;
        }
    }
    if let Some(third) = third {
        if !valid_permissions(third) {
            return Err(format!("invalid device specification: {text}: bad permissions {third:?} (use r, w and m)"));
        }
        permissions = third.to_owned();
    }
    if !source.starts_with('/') || !destination.starts_with('/') {
        return Err(format!("invalid device specification: {text}: paths must be absolute"));
    }
    Ok((source.to_owned(), destination.to_owned(), permissions))
}

/// Some of r, w and m, each at most once.
fn valid_permissions(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        && text.chars().enumerate().all(|(i, c)| !text[..i].contains(c))
}

fn gathering_error(host: &str, e: impl std::fmt::Display) -> String {
    format!("error gathering device information while adding custom device {host:?}: {e}")
}

/// The device node(s) at `host` (a device, a symlink to one, or a directory of them, taken
/// recursively, as Docker does) for the container at `container`.
pub fn resolve(host: &str, container: &str, permissions: &str) -> Result<Vec<Device>, String> {
    let resolved = fs::canonicalize(host).map_err(|e| gathering_error(host, io_text(&e)))?;
    let meta = fs::metadata(&resolved).map_err(|e| gathering_error(host, io_text(&e)))?;
    if meta.is_dir() {
        let mut found = Vec::new();
        walk(&resolved, &mut |path, meta| {
            let relative = path.strip_prefix(&resolved).unwrap_or(path);
            let inside = Path::new(container).join(relative);
            found.push(device(path, &inside.to_string_lossy(), meta, permissions));
        })
        .map_err(|e| gathering_error(host, io_text(&e)))?;
        return Ok(found);
    }
    if !(meta.file_type().is_char_device() || meta.file_type().is_block_device()) {
        return Err(gathering_error(host, "not a device node"));
    }
    Ok(vec![device(&resolved, container, &meta, permissions)])
}

fn device(host: &Path, container: &str, meta: &fs::Metadata, permissions: &str) -> Device {
    Device {
        host_path: host.to_owned(),
        path: container.to_owned(),
        block: meta.file_type().is_block_device(),
        major: nix::sys::stat::major(meta.rdev()),
        minor: nix::sys::stat::minor(meta.rdev()),
        mode: meta.mode() & 0o7777,
        cgroup_permissions: permissions.to_owned(),
    }
}

/// The host's device nodes under /dev, for `--privileged` (runc's list: no pts, shm, fd,
/// mqueue, console, nor the ones every container gets anyway).
pub fn host_devices() -> Vec<Device> {
    let mut found = Vec::new();
    let _ = walk(Path::new("/dev"), &mut |path, meta| {
        let name = path.to_string_lossy();
        if !super::mounts::is_default_device(&name) {
            found.push(device(path, &name, meta, "rwm"));
        }
    });
    found
}

/// Calls `found` for every device node below `dir` (symlinks not followed), skipping the
/// directories that are mounts of their own in a container.
fn walk(dir: &Path, found: &mut dyn FnMut(&Path, &fs::Metadata)) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        let name = entry.file_name();
        if meta.is_dir() {
            if !matches!(name.to_str(), Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")) {
                walk(&path, found)?;
            }
        } else if (meta.file_type().is_char_device() || meta.file_type().is_block_device()) && name != "console" {
            found(&path, &meta);
        }
    }
    Ok(())
}

fn io_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => super::process::errno_text(nix::errno::Errno::from_raw(code)),
        None => e.to_string(),
    }
}

/// The devices cgroup rules of a container (runc's default allow list, which Docker uses, plus
/// the added devices): mknod of anything, use of the default nodes, ptys, /dev/net/tun.
pub fn cgroup_rules(devices: &[Device]) -> Vec<String> {
    let mut rules: Vec<String> = [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
        "c 10:200 rwm",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for d in devices {
        rules.push(format!("{} {}:{} {}", if d.block { 'b' } else { 'c' }, d.major, d.minor, d.cgroup_permissions));
    }
    rules
}

/// Applies the device policy to whichever of the container's cgroup directories (the parents
/// of its join files) is a v1 devices cgroup: deny everything, then allow `rules`. Runs in the
/// container's first process once it is in its cgroup, before it makes any node.
pub fn restrict_cgroup(join_files: &[PathBuf], rules: &[String]) -> io::Result<()> {
    for dir in join_files.iter().filter_map(|f| f.parent()) {
        let deny = dir.join("devices.deny");
        if !deny.exists() {
            continue;
        }
        fs::write(&deny, "a")?;
        let allow = dir.join("devices.allow");
        for rule in rules {
            // One rule per write: the kernel parses a single rule from each.
            fs::write(&allow, rule)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triple(a: &str, b: &str, c: &str) -> (String, String, String) {
        (a.into(), b.into(), c.into())
    }

    #[test]
    fn device_flags_parse_like_dockers() {
        assert_eq!(parse_device("/dev/fuse"), Ok(triple("/dev/fuse", "/dev/fuse", "rwm")));
        assert_eq!(parse_device("/dev/null:/dev/mynull"), Ok(triple("/dev/null", "/dev/mynull", "rwm")));
        assert_eq!(parse_device("/dev/null:r"), Ok(triple("/dev/null", "/dev/null", "r")));
        assert_eq!(parse_device("/dev/null:/dev/x:rw"), Ok(triple("/dev/null", "/dev/x", "rw")));
        assert!(parse_device("/dev/null:/dev/x:rwx").is_err());
        assert!(parse_device("/dev/null:/dev/x:rr").is_err());
        assert!(parse_device("/a:/b:r:w").is_err());
        assert!(parse_device("null").is_err());
        assert!(parse_device("/dev/null:relative").is_err());
    }

    #[test]
    fn host_nodes_are_resolved_with_their_numbers() {
        let null = resolve("/dev/null", "/dev/mynull", "rw").unwrap();
        assert_eq!(null.len(), 1);
        let d = &null[0];
        assert_eq!((d.block, d.major, d.minor, d.path.as_str()), (false, 1, 3, "/dev/mynull"));
        assert_eq!(d.host_path, PathBuf::from("/dev/null"));
        assert_eq!(d.mode, 0o666);
        let err = resolve("/dev/nope-berth", "/dev/nope-berth", "rwm").unwrap_err();
        assert_eq!(
            err,
            r#"error gathering device information while adding custom device "/dev/nope-berth": no such file or directory"#
        );
        let err = resolve("/etc/hostname", "/dev/x", "rwm").unwrap_err();
        assert!(err.ends_with("not a device node"), "{err}");
    }

    #[test]
    fn directories_give_every_node_below_them() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("link")).unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        // Symlinks and plain files inside a directory are not devices.
        assert!(resolve(dir.path().to_str().unwrap(), "/dev/d", "rwm").unwrap().is_empty());
        // A symlink given by name is followed.
        let via_link = resolve(dir.path().join("link").to_str().unwrap(), "/dev/n", "rwm").unwrap();
        assert_eq!((via_link[0].major, via_link[0].minor), (1, 3));
    }

    #[test]
    fn privileged_gets_the_hosts_other_devices() {
        let all = host_devices();
        assert!(all.iter().all(|d| !d.path.starts_with("/dev/pts/") && d.path != "/dev/console"));
        assert!(!all.iter().any(|d| d.path == "/dev/null"), "the default nodes are made anyway");
    }

    #[test]
    fn cgroup_rules_allow_the_defaults_and_the_added() {
        let added = resolve("/dev/null", "/dev/mynull", "r").unwrap();
        let rules = cgroup_rules(&added);
        assert_eq!(rules[0], "c *:* m");
        assert!(rules.contains(&"c 136:* rwm".to_string()));
        assert_eq!(rules.last().unwrap(), "c 1:3 r");
    }

    #[test]
    fn the_policy_goes_only_to_a_devices_cgroup() {
        let dir = tempfile::tempdir().unwrap();
        let devices = dir.path().join("devices");
        let memory = dir.path().join("memory");
        std::fs::create_dir_all(&devices).unwrap();
        std::fs::create_dir_all(&memory).unwrap();
        std::fs::write(devices.join("devices.deny"), "").unwrap();
        restrict_cgroup(&[memory.join("tasks"), devices.join("tasks")], &["c 1:3 rwm".into()]).unwrap();
        assert_eq!(std::fs::read_to_string(devices.join("devices.deny")).unwrap(), "a");
        assert_eq!(std::fs::read_to_string(devices.join("devices.allow")).unwrap(), "c 1:3 rwm");
        assert!(!memory.join("devices.allow").exists());
    }
}
