//! Mounts as users write them — `-v`, `--mount`, `--tmpfs`, `--volumes-from` in Docker's syntax —
//! turned into container records' [`Mount`]s; and those turned into what the sandbox mounts
//! (`SandboxMount`) and what `inspect` shows ("Mounts").

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use super::record::{ContainerConfig, Mount, MountKind, MountOptions};
use super::volumes::check_name;
use crate::sandbox::spec::{SandboxMount, SandboxMountKind};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MountSpecError {
    #[error("invalid volume specification: {spec:?}: {reason}")]
    Volume { spec: String, reason: String },
    #[error("invalid argument {spec:?} for \"--mount\" flag: {reason}")]
    Mount { spec: String, reason: String },
    #[error("invalid argument {spec:?} for \"--tmpfs\" flag: {reason}")]
    Tmpfs { spec: String, reason: String },
    #[error("invalid argument {spec:?} for \"--volumes-from\" flag: {reason}")]
    VolumesFrom { spec: String, reason: String },
    #[error("duplicate mount point: {0}")]
    Duplicate(String),
}

/// Bind propagation modes Docker accepts.
const PROPAGATIONS: [&str; 6] = ["shared", "rshared", "slave", "rslave", "private", "rprivate"];

/// Docker's tmpfs mount flags (`--tmpfs /x:exec,ro`), as the mount(8) words.
const TMPFS_FLAGS: [&str; 22] = [
    "rw",
    "ro",
    "exec",
    "noexec",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "sync",
    "async",
    "dirsync",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "mand",
    "nomand",
    "remount",
];

/// tmpfs's own options (`size=64m`, `mode=1777`).
const TMPFS_DATA: [&str; 8] = ["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "huge"];

/// A clean absolute container path: "/a/b" for "/a//b/./", refusing relative paths, "/" and "..".
fn container_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("invalid mount path: {path:?} mount path must be absolute"));
    }
    if path.contains('\0') {
        return Err("mount path contains a NUL byte".into());
    }
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
            Component::ParentDir => return Err(format!("invalid mount path: {path:?} must not contain \"..\"")),
            _ => {}
        }
    }
    if parts.is_empty() {
        return Err("destination can't be '/'".into());
    }
    Ok(format!("/{}", parts.join("/")))
}

/// A host path for a bind: absolute, no NUL; kept as given otherwise (Docker cleans it).
fn host_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("bind source path {path:?} must be absolute"));
    }
    if path.contains('\0') {
        return Err("bind source path contains a NUL byte".into());
    }
    let cleaned: PathBuf = Path::new(path).components().collect();
    Ok(cleaned.display().to_string())
}

/// Docker's `-v` mode words: one of rw/ro, one of z/Z, nocopy, a propagation, or the ignored
/// macOS consistency words.
fn apply_volume_mode(mount: &mut Mount, mode: &str) -> Result<(), String> {
    let (mut rw_seen, mut label_seen, mut propagation_seen) = (false, false, false);
    for word in mode.split(',') {
        match word {
            "rw" | "ro" if !rw_seen => {
                rw_seen = true;
                mount.read_only = word == "ro";
            }
            "z" | "Z" if !label_seen => label_seen = true,
            "nocopy" if mount.kind == MountKind::Volume && !mount.options.nocopy => mount.options.nocopy = true,
            p if PROPAGATIONS.contains(&p) && mount.kind == MountKind::Bind && !propagation_seen => {
                propagation_seen = true;
                mount.options.propagation = p.to_owned();
            }
            "consistent" | "cached" | "delegated" => {}
            _ => return Err(format!("invalid mode: {mode}")),
        }
    }
    mount.options.mode = mode.to_owned();
    Ok(())
}

/// True for a string made only of valid `-v` mode words (so "/data:ro" is DEST:MODE).
fn looks_like_mode(text: &str) -> bool {
    !text.is_empty()
        && text.split(',').all(|w| {
            matches!(w, "rw" | "ro" | "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated")
                || PROPAGATIONS.contains(&w)
        })
}

/// `-v [SOURCE:]DESTINATION[:MODE]`: a host path (absolute SOURCE) is a bind, any other SOURCE
/// names a volume, no SOURCE asks for an anonymous volume.
pub fn parse_volume_flag(spec: &str) -> Result<Mount, MountSpecError> {
    let bad = |reason: String| MountSpecError::Volume { spec: spec.to_owned(), reason };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [dst, mode] if looks_like_mode(mode) && dst.starts_with('/') => ("", *dst, *mode),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(bad("too many colons".into())),
    };
    if spec.is_empty() || destination.is_empty() {
        return Err(bad("no destination given".into()));
    }
    let destination = container_path(destination).map_err(bad)?;
    let mut mount = Mount { destination, ..Default::default() };
    if source.starts_with('/') {
        mount.kind = MountKind::Bind;
        mount.source = host_path(source).map_err(bad)?;
        mount.options.create_host_path = true;
    } else {
        mount.kind = MountKind::Volume;
        if !source.is_empty() {
            check_name(source).map_err(|e| bad(e.to_string()))?;
            mount.source = source.to_owned();
        }
    }
    if !mode.is_empty() {
        apply_volume_mode(&mut mount, mode).map_err(bad)?;
    }
    if mount.kind == MountKind::Volume && mount.options.mode.is_empty() {
        // What Docker shows for a `-v` volume without a mode.
        mount.options.mode = "z".into();
    }
    Ok(mount)
}

/// Splits `--mount`'s comma-separated fields as Go's encoding/csv does: a field may be quoted
/// ("volume-opt=o=size=1m,uid=1000") with "" for a literal quote.
fn split_csv(spec: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = spec.chars().peekable();
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_field_start => loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quote".into()),
                }
            },
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
                continue;
            }
            c => field.push(c),
        }
        at_field_start = false;
    }
    fields.push(field);
    Ok(fields)
}

fn parse_bool(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None | Some("1" | "true" | "True" | "TRUE") => Ok(true),
        Some("0" | "false" | "False" | "FALSE") => Ok(false),
        Some(other) => Err(format!("invalid value for {key}: {other:?} (use true or false)")),
    }
}

/// Docker's RAMInBytes: a number with an optional b, k, m, g, t (binary multiples).
pub fn parse_size(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').filter(|s| !s.is_empty()).unwrap_or(&lower);
    let (number, shift) = match lower.chars().last()? {
        'k' => (&lower[..lower.len() - 1], 10),
        'm' => (&lower[..lower.len() - 1], 20),
        'g' => (&lower[..lower.len() - 1], 30),
        't' => (&lower[..lower.len() - 1], 40),
        _ => (lower, 0),
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| (value * (1u64 << shift) as f64) as u64)
}

fn key_value(value: &str, what: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        None if !value.is_empty() => Ok((value.to_owned(), String::new())),
        _ => Err(format!("invalid {what} {value:?}: expected KEY=VALUE")),
    }
}

/// `--mount type=bind|volume|tmpfs,source=…,destination=…,…` in Docker's syntax. A bind's source
/// must exist (`-v` would create it; `--mount` does not).
pub fn parse_mount_flag(spec: &str) -> Result<Mount, MountSpecError> {
    let bad = |reason: String| MountSpecError::Mount { spec: spec.to_owned(), reason };
    let mut kind = MountKind::Volume;
    let mut source = String::new();
    let mut destination = String::new();
    let mut options = MountOptions::default();
    let mut read_only = false;
    // Which option families were used, to refuse e.g. tmpfs-size on a bind.
    let mut families: Vec<(&'static str, String)> = Vec::new();
    let mut tmpfs_size = None;
    let mut tmpfs_mode = None;
    for field in split_csv(spec).map_err(bad)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_owned())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let needs_value =
            || value.clone().ok_or_else(|| bad(format!("invalid field {field:?}: must be a key=value pair")));
        match key.as_str() {
            "type" => {
                kind = match needs_value()?.as_str() {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    other => {
                        return Err(bad(format!(
                            "unsupported mount type {other:?} in 'type': use bind, volume or tmpfs"
                        )));
                    }
                }
            }
            "source" | "src" => source = needs_value()?,
            "target" | "destination" | "dst" => destination = needs_value()?,
            "readonly" | "ro" => read_only = parse_bool(&key, value.as_deref()).map_err(bad)?,
            "bind-propagation" => {
                let p = needs_value()?;
                if !PROPAGATIONS.contains(&p.as_str()) {
                    return Err(bad(format!(
                        "invalid value {p:?} for 'bind-propagation': use one of {}",
                        PROPAGATIONS.join(", ")
                    )));
                }
                options.propagation = p;
                families.push(("bind", key.clone()));
            }
            "bind-nonrecursive" | "bind-recursive" => {
                return Err(bad(format!("'{key}' is not supported: berth's binds are always recursive")));
            }
            "volume-nocopy" => {
                options.nocopy = parse_bool(&key, value.as_deref()).map_err(bad)?;
                families.push(("volume", key.clone()));
            }
            "volume-driver" => {
                let driver = needs_value()?;
                if driver != "local" {
                    return Err(bad(format!(
                        "volume driver {driver:?} in 'volume-driver' is not supported: only local"
                    )));
                }
                families.push(("volume", key.clone()));
            }
            "volume-label" => {
                let (k, v) = key_value(&needs_value()?, "volume-label").map_err(bad)?;
                options.volume_labels.insert(k, v);
                families.push(("volume", key.clone()));
            }
            "volume-opt" => {
                let (k, v) = key_value(&needs_value()?, "volume-opt").map_err(bad)?;
                options.volume_options.insert(k, v);
                families.push(("volume", key.clone()));
            }
            "tmpfs-size" => {
                let text = needs_value()?;
                let size = parse_size(&text).ok_or_else(|| bad(format!("invalid value {text:?} for 'tmpfs-size'")))?;
                tmpfs_size = Some(size);
                families.push(("tmpfs", key.clone()));
            }
            "tmpfs-mode" => {
                let text = needs_value()?;
                let mode = u32::from_str_radix(&text, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| {
                    bad(format!("invalid value {text:?} for 'tmpfs-mode': expected octal permissions"))
                })?;
                tmpfs_mode = Some(mode);
                families.push(("tmpfs", key.clone()));
            }
            "consistency" => {}
            _ if value.is_none() => return Err(bad(format!("invalid field {field:?}: must be a key=value pair"))),
            _ => return Err(bad(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    let kind_name = match kind {
        MountKind::Bind => "bind",
        MountKind::Volume => "volume",
        MountKind::Tmpfs => "tmpfs",
    };
    if let Some((family, key)) = families.iter().find(|(family, _)| *family != kind_name) {
        return Err(bad(format!("cannot mix '{family}-*' options ('{key}') with mount type '{kind_name}'")));
    }
    if destination.is_empty() {
        return Err(bad("target is required: give 'target' (or 'dst')".into()));
    }
    let destination = container_path(&destination).map_err(|e| bad(format!("'target': {e}")))?;
    let mut mount = Mount { kind, source: String::new(), destination, read_only, options };
    match kind {
        MountKind::Bind => {
            if source.is_empty() {
                return Err(bad("'source' is required for a bind mount".into()));
            }
            mount.source = host_path(&source).map_err(|e| bad(format!("'source': {e}")))?;
            if std::fs::symlink_metadata(&mount.source).is_err() {
                return Err(bad(format!("bind source path does not exist: {}", mount.source)));
            }
        }
        MountKind::Volume => {
            if !source.is_empty() {
                check_name(&source).map_err(|e| bad(format!("'source': {e}")))?;
            }
            mount.source = source;
        }
        MountKind::Tmpfs => {
            if !source.is_empty() {
                return Err(bad("'source' must not be given for a tmpfs mount".into()));
            }
            let mut data = Vec::new();
            if let Some(size) = tmpfs_size {
                data.push(format!("size={size}"));
            }
            if let Some(mode) = tmpfs_mode {
                data.push(format!("mode={mode:o}"));
            }
            mount.options.tmpfs = data.join(",");
        }
    }
    Ok(mount)
}

/// `--tmpfs /path[:OPTIONS]`, OPTIONS as mount(8) takes them (`size=64m,mode=1777,exec`).
pub fn parse_tmpfs_flag(spec: &str) -> Result<Mount, MountSpecError> {
    let bad = |reason: String| MountSpecError::Tmpfs { spec: spec.to_owned(), reason };
    let (path, options) = spec.split_once(':').unwrap_or((spec, ""));
    let destination = container_path(path).map_err(bad)?;
    let mut read_only = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some((key, value)) if TMPFS_DATA.contains(&key) => {
                if key == "size" && !valid_tmpfs_size(value) {
                    return Err(bad(format!("invalid size {value:?}")));
                }
                if key == "mode" && u32::from_str_radix(value, 8).map_or(true, |m| m > 0o7777) {
                    return Err(bad(format!("invalid mode {value:?}: expected octal permissions")));
                }
            }
            None if TMPFS_FLAGS.contains(&option) => read_only |= option == "ro",
            _ => return Err(bad(format!("unknown tmpfs option {option:?}"))),
        }
    }
    let options = MountOptions { tmpfs: options.to_owned(), ..Default::default() };
    Ok(Mount { kind: MountKind::Tmpfs, source: String::new(), destination, read_only, options })
}

/// What the kernel takes for tmpfs's size=: a number with an optional k, m, g, t, p, e or %.
fn valid_tmpfs_size(value: &str) -> bool {
    let digits = value.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', 't', 'T', 'p', 'P', 'e', 'E', '%']);
    !digits.is_empty() && value.len() - digits.len() <= 1 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `--volumes-from CONTAINER[:ro|rw]`: the container and the mode to force, if any.
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>), MountSpecError> {
    let bad = |reason: String| MountSpecError::VolumesFrom { spec: spec.to_owned(), reason };
    let (name, mode) = match spec.split_once(':') {
        Some((name, mode)) => (name, Some(mode)),
        None => (spec, None),
    };
    if name.is_empty() {
        return Err(bad("no container given".into()));
    }
    let read_only = match mode {
        None => None,
        Some("ro") => Some(true),
        Some("rw") => Some(false),
        Some(other) => return Err(bad(format!("invalid mode {other:?}: use ro or rw"))),
    };
    Ok((name.to_owned(), read_only))
}

/// Refuses two explicit mounts at one destination, as Docker does.
pub fn check_duplicates(mounts: &[Mount]) -> Result<(), MountSpecError> {
    for (i, mount) in mounts.iter().enumerate() {
        if mounts[..i].iter().any(|m| m.destination == mount.destination) {
            return Err(MountSpecError::Duplicate(mount.destination.clone()));
        }
    }
    Ok(())
}

/// Mounts that would hide others go first: sorted by destination depth (a stable sort keeps the
/// given order otherwise), so `/data` is mounted before `/data/sub`.
pub fn in_mount_order(mut mounts: Vec<Mount>) -> Vec<Mount> {
    mounts.sort_by_key(|m| m.destination.matches('/').count());
    mounts
}

/// What a container's mounts are for the sandbox. A `-v` bind whose host path is missing gets
/// it created as a directory (as Docker does); a `--mount` bind's must exist. Runs in the
/// supervisor, in berth's user namespace when rootless.
pub fn sandbox_mounts(store: &Store, mounts: &[Mount]) -> Result<Vec<SandboxMount>, StoreError> {
    mounts.iter().map(|m| sandbox_mount(store, m)).collect()
}

fn missing_source(path: &Path) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        error: std::io::Error::new(std::io::ErrorKind::NotFound, "bind source path does not exist"),
    }
}

fn sandbox_mount(store: &Store, mount: &Mount) -> Result<SandboxMount, StoreError> {
    let destination = mount.destination.clone();
    let read_only = mount.read_only;
    let bind = |source: PathBuf, copy_up: bool| SandboxMount {
        source,
        destination: destination.clone(),
        kind: SandboxMountKind::Bind { copy_up, propagation: mount.options.propagation.clone() },
        read_only,
    };
    Ok(match mount.kind {
        MountKind::Bind => {
            let source = PathBuf::from(&mount.source);
            if std::fs::symlink_metadata(&source).is_err() {
                if !mount.options.create_host_path {
                    return Err(missing_source(&source));
                }
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&source)
                    .map_err(|e| StoreError::io(&source, e))?;
            }
            bind(source, false)
        }
        MountKind::Volume => {
            let opts = &mount.options.volume_options;
            match opts.get("type").map(String::as_str) {
                Some("tmpfs") => SandboxMount {
                    source: PathBuf::new(),
                    destination: destination.clone(),
                    kind: SandboxMountKind::Tmpfs { options: opts.get("o").cloned().unwrap_or_default() },
                    read_only,
                },
                Some("none") => {
                    let device = PathBuf::from(opts.get("device").cloned().unwrap_or_default());
                    if std::fs::symlink_metadata(&device).is_err() {
                        return Err(missing_source(&device));
                    }
                    bind(device, false)
                }
                // Made here if missing: a kill between a volume's record and its directory
                // leaves the record only (see volumes::ensure).
                _ => bind(store.create_volume_dir(&mount.source)?, !mount.options.nocopy),
            }
        }
        MountKind::Tmpfs => SandboxMount {
            source: PathBuf::new(),
            destination,
            kind: SandboxMountKind::Tmpfs { options: mount.options.tmpfs.clone() },
            read_only,
        },
    })
}

/// Docker's inspect "Mounts" entries for a container.
pub fn inspect_mounts(store: &Store, config: &ContainerConfig) -> Value {
    let entries: Vec<Value> = config
        .mounts
        .iter()
        .map(|m| match m.kind {
            MountKind::Volume => json!({
                "Type": "volume",
                "Name": m.source,
                "Source": store.volume_data_dir(&m.source),
                "Destination": m.destination,
                "Driver": "local",
                "Mode": m.options.mode,
                "RW": !m.read_only,
                "Propagation": "",
            }),
            MountKind::Bind => json!({
                "Type": "bind",
                "Source": m.source,
                "Destination": m.destination,
                "Mode": m.options.mode,
                "RW": !m.read_only,
                "Propagation": if m.options.propagation.is_empty() { "rprivate" } else { m.options.propagation.as_str() },
            }),
            MountKind::Tmpfs => json!({
                "Type": "tmpfs",
                "Source": "",
                "Destination": m.destination,
                "Mode": m.options.tmpfs,
                "RW": !m.read_only,
                "Propagation": "",
            }),
        })
        .collect();
    Value::Array(entries)
}

/// The names of the volumes a container's mounts use.
pub fn volume_names(config: &ContainerConfig) -> impl Iterator<Item = &str> {
    config.mounts.iter().filter(|m| m.kind == MountKind::Volume && !m.source.is_empty()).map(|m| m.source.as_str())
}

/// Labels given as KEY=VALUE (or KEY), as `volume create --label` takes them.
pub fn parse_labels(labels: &[String]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| l.split_once('=').map_or((l.clone(), String::new()), |(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags_follow_dockers_forms() {
        let m = parse_volume_flag("data:/srv/data").unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.destination.as_str(), m.read_only),
            (MountKind::Volume, "data", "/srv/data", false)
        );
        assert_eq!(m.options.mode, "z");
        let m = parse_volume_flag("/host/dir/:/c//d/:ro,Z").unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.destination.as_str(), m.read_only),
            (MountKind::Bind, "/host/dir", "/c/d", true)
        );
        assert!(m.options.create_host_path);
        assert_eq!(m.options.mode, "ro,Z");
        let m = parse_volume_flag("/scratch").unwrap();
        assert_eq!((m.kind, m.source.as_str(), m.destination.as_str()), (MountKind::Volume, "", "/scratch"));
        let m = parse_volume_flag("/scratch:ro").unwrap();
        assert_eq!((m.source.as_str(), m.read_only), ("", true));
        let m = parse_volume_flag("cache:/c:nocopy").unwrap();
        assert!(m.options.nocopy);
        let m = parse_volume_flag("/h:/c:rshared").unwrap();
        assert_eq!(m.options.propagation, "rshared");
    }

    #[test]
    fn bad_volume_flags_say_why() {
        for (spec, why) in [
            ("data:relative", "must be absolute"),
            ("data:/", "destination can't be '/'"),
            ("data:/a/../b", "\"..\""),
            ("/h:/c:bogus", "invalid mode: bogus"),
            ("/h:/c:ro,rw", "invalid mode"),
            ("data:/c:rshared", "invalid mode"),
            ("/h:/c:nocopy", "invalid mode"),
            ("a:b:c:d", "too many colons"),
            ("", "no destination"),
        ] {
            let err = parse_volume_flag(spec).unwrap_err().to_string();
            assert!(err.contains(why), "{spec}: {err}");
        }
        for name in ["../x", "a/b", "x", "-x", "a..b", "./dir"] {
            let err = parse_volume_flag(&format!("{name}:/c")).unwrap_err().to_string();
            assert!(err.contains("volume name"), "{name}: {err}");
        }
    }

    #[test]
    fn mount_flags_parse_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().display().to_string();
        let m = parse_mount_flag(&format!("type=bind,src={src},dst=/in,readonly,bind-propagation=rslave")).unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.destination.as_str(), m.read_only),
            (MountKind::Bind, src.as_str(), "/in", true)
        );
        assert_eq!(m.options.propagation, "rslave");
        assert!(!m.options.create_host_path);
        let m = parse_mount_flag("type=volume,source=v1,target=/v,volume-nocopy,volume-label=a=b,\"volume-opt=o=size=1m,uid=1\",volume-opt=type=tmpfs,volume-opt=device=tmpfs").unwrap();
        assert_eq!((m.kind, m.source.as_str(), m.options.nocopy), (MountKind::Volume, "v1", true));
        assert_eq!(m.options.volume_labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(m.options.volume_options.get("o").map(String::as_str), Some("size=1m,uid=1"));
        let m = parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770,ro=true").unwrap();
        assert_eq!(
            (m.kind, m.options.tmpfs.as_str(), m.read_only),
            (MountKind::Tmpfs, "size=67108864,mode=1770", true)
        );
        // The default type is volume; no source makes it anonymous.
        let m = parse_mount_flag("dst=/anon").unwrap();
        assert_eq!((m.kind, m.source.as_str()), (MountKind::Volume, ""));
    }

    #[test]
    fn malformed_mount_flags_name_the_bad_key() {
        for (spec, why) in [
            ("type=bind,src=/,dst=/x,foo=bar", "unexpected key 'foo'"),
            ("type=bind,src=/,dst=/x,bogus", "invalid field \"bogus\""),
            ("type=weird,dst=/x", "'type'"),
            ("type=bind,dst=/x", "'source' is required"),
            ("type=bind,src=/nonexistent-berth-test,dst=/x", "bind source path does not exist"),
            ("type=volume,src=v", "target is required"),
            ("type=volume,dst=x", "'target'"),
            ("type=bind,src=/,dst=/x,tmpfs-size=1m", "cannot mix 'tmpfs-*' options ('tmpfs-size')"),
            ("type=tmpfs,dst=/x,volume-nocopy", "cannot mix 'volume-*' options"),
            ("type=volume,dst=/x,bind-propagation=shared", "cannot mix 'bind-*'"),
            ("type=bind,src=/,dst=/x,bind-propagation=sideways", "'bind-propagation'"),
            ("type=tmpfs,dst=/x,tmpfs-size=lots", "'tmpfs-size'"),
            ("type=tmpfs,dst=/x,tmpfs-mode=999", "'tmpfs-mode'"),
            ("type=tmpfs,src=x,dst=/x", "'source' must not be given"),
            ("type=volume,dst=/x,volume-driver=nfs", "'volume-driver'"),
            ("type=bind,src=/,dst=/x,readonly=maybe", "invalid value for readonly"),
            ("type=volume,src=a/b,dst=/x", "volume name"),
        ] {
            let err = parse_mount_flag(spec).unwrap_err().to_string();
            assert!(err.contains(why), "{spec}: {err}");
        }
    }

    #[test]
    fn tmpfs_flags_check_their_options() {
        let m = parse_tmpfs_flag("/run:size=64m,mode=1777,exec").unwrap();
        assert_eq!(
            (m.destination.as_str(), m.options.tmpfs.as_str(), m.read_only),
            ("/run", "size=64m,mode=1777,exec", false)
        );
        assert!(parse_tmpfs_flag("/ro:ro").unwrap().read_only);
        assert_eq!(parse_tmpfs_flag("/t").unwrap().options.tmpfs, "");
        for bad in ["/t:size=lots", "/t:mode=9", "/t:bogus", "t", "/t:size=1mm"] {
            assert!(parse_tmpfs_flag(bad).is_err(), "{bad}");
        }
        assert!(valid_tmpfs_size("50%") && valid_tmpfs_size("1024") && !valid_tmpfs_size("m"));
    }

    #[test]
    fn volumes_from_takes_an_optional_mode() {
        assert_eq!(parse_volumes_from("web").unwrap(), ("web".into(), None));
        assert_eq!(parse_volumes_from("web:ro").unwrap(), ("web".into(), Some(true)));
        assert!(parse_volumes_from("web:z").is_err());
        assert!(parse_volumes_from(":ro").is_err());
    }

    #[test]
    fn duplicates_are_refused_and_parents_mount_first() {
        let a = parse_volume_flag("v1:/data/sub").unwrap();
        let b = parse_volume_flag("v2:/data").unwrap();
        assert!(matches!(check_duplicates(&[a.clone(), a.clone()]), Err(MountSpecError::Duplicate(_))));
        let ordered = in_mount_order(vec![a, b]);
        assert_eq!(ordered[0].destination, "/data");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("2kb"), Some(2048));
        assert_eq!(parse_size("x"), None);
    }
}
