//! Volumes as users see them: names, the local driver's options, which containers use which
//! volume, creating the volumes a new container names, and removing the anonymous ones with
//! their container.
//!
//! Locks: whether a volume is in use is a question about container records, so every change
//! takes the containers lock first (order 2), then the volumes lock (order 3).

use crate::events::{self, Event};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::index::{ContainerError, Index, find};
use super::record::{Container, ContainerConfig, Mount, MountKind};
use crate::store::{Store, StoreError, VolumeIndex, VolumeRecord};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If \
         you intended to pass a host directory, use absolute path"
    )]
    InvalidName(String),
    #[error("volume name {0:?} is too short, names should be at least two alphanumeric characters")]
    NameTooShort(String),
    #[error("no such volume: {0}")]
    NotFound(String),
    #[error("remove {name}: volume is in use - [{}]", containers.join(", "))]
    InUse { name: String, containers: Vec<String> },
    #[error("{0}")]
    BadOption(String),
}

/// Docker's rule, [a-zA-Z0-9][a-zA-Z0-9_.-]+, and never "..": a name becomes a directory name.
pub fn check_name(name: &str) -> Result<(), VolumeError> {
    let b = name.as_bytes();
    let valid_chars = !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        && !name.contains("..");
    if !valid_chars {
        return Err(VolumeError::InvalidName(name.to_owned()));
    }
    if b.len() < 2 {
        return Err(VolumeError::NameTooShort(name.to_owned()));
    }
    Ok(())
}

/// A random 64-hex name, as Docker gives anonymous volumes.
pub fn random_name() -> String {
    super::record::new_id()
}

/// The local driver's options, as Docker checks them (keys type, device, o; type and device
/// need each other, o needs both), limited to what berth can mount: `type=tmpfs` (o as tmpfs
/// options) and `type=none` with `o=bind` and an absolute `device`.
pub fn check_options(options: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    let bad = |m: String| Err(VolumeError::BadOption(m));
    if options.is_empty() {
        return Ok(());
    }
    if let Some(key) = options.keys().find(|k| !matches!(k.as_str(), "type" | "device" | "o" | "size")) {
        return bad(format!("invalid option: {key:?}"));
    }
    if options.contains_key("size") {
        return bad("invalid option \"size\": berth's local driver has no quota support".into());
    }
    let required: [(&str, &[&str]); 3] = [("device", &["type"]), ("type", &["device"]), ("o", &["device", "type"])];
    for (key, needs) in required {
        if options.contains_key(key)
            && let Some(missing) = needs.iter().find(|n| !options.contains_key(**n))
        {
            return bad(format!("missing required option: {missing:?}"));
        }
    }
    let o = options.get("o").map(String::as_str).unwrap_or("");
    match options.get("type").map(String::as_str) {
        Some("tmpfs") => Ok(()),
        Some("none") if o.split(',').any(|w| w == "bind" || w == "rbind") => {
            if options.get("device").is_some_and(|d| d.starts_with('/')) {
                Ok(())
            } else {
                bad("option \"device\" must be an absolute host path for a bind (o=bind)".into())
            }
        }
        Some(other) => bad(format!(
            "unsupported volume type {other:?}: berth's local driver mounts type=tmpfs, or type=none with o=bind and \
             device=/host/path"
        )),
        None => Ok(()),
    }
}

fn new_record(
    name: &str,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
    anonymous: bool,
) -> VolumeRecord {
    VolumeRecord {
        name: name.to_owned(),
        driver: "local".into(),
        labels,
        options,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        anonymous,
    }
}

/// The record for `name`, created (not yet written) if it is missing. Needs the volumes lock,
/// exclusive; the caller writes the index, then makes the directory: in that order a kill leaves
/// at most a record whose directory its first mount makes, never a directory no record owns.
fn ensure(
    index: &mut VolumeIndex,
    name: &str,
    labels: &BTreeMap<String, String>,
    options: &BTreeMap<String, String>,
    anonymous: bool,
) -> Result<(VolumeRecord, bool), VolumeError> {
    if let Some(existing) = index.get(name) {
        return Ok((existing.clone(), false));
    }
    check_name(name)?;
    check_options(options)?;
    let record = new_record(name, labels.clone(), options.clone(), anonymous);
    index.volumes.push(record.clone());
    Ok((record, true))
}

/// `volume create`: a new volume, or the existing one of that name (as Docker's local driver
/// answers). Takes the volumes lock, exclusive.
pub fn create(
    store: &Store,
    name: Option<&str>,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
) -> Result<VolumeRecord, VolumeError> {
    if let Some(name) = name {
        check_name(name)?;
    }
    check_options(&options)?;
    let _lock = store.lock_volumes_exclusive()?;
    let mut index = store.volumes()?;
    let name = name.map_or_else(random_name, str::to_owned);
    let (record, created) = ensure(&mut index, &name, &labels, &options, false)?;
    if created {
        store.write_volumes(&index)?;
        store.create_volume_dir(&name)?;
        events::record(store, Event::volume("create", &record.name, &record.driver));
    }
    Ok(record)
}

/// Every volume. Takes the volumes lock, shared.
pub fn list(store: &Store) -> Result<Vec<VolumeRecord>, VolumeError> {
    let _lock = store.lock_volumes_shared()?;
    Ok(store.volumes()?.volumes)
}

/// Volume name → ids of the containers whose mounts use it.
pub type Users = BTreeMap<String, Vec<String>>;

/// For each volume name, the ids of the containers whose mounts use it.
pub fn users(index: &Index) -> Users {
    let mut out = Users::new();
    for container in &index.containers {
        let names: BTreeSet<&str> = super::mounts::volume_names(&container.config).collect();
        for name in names {
            out.entry(name.to_owned()).or_default().push(container.id.clone());
        }
    }
    out
}

/// Every volume with the containers using it, read consistently: containers lock (shared), then
/// volumes lock (shared).
pub fn list_with_users(store: &Store) -> Result<(Vec<VolumeRecord>, Users), VolumeError> {
    let _containers = store.lock_containers_shared()?;
    let index: Index = store.containers()?;
    let _volumes = store.lock_volumes_shared()?;
    Ok((store.volumes()?.volumes, users(&index)))
}

/// Docker's VolumeInspect document.
pub fn inspect_json(store: &Store, volume: &VolumeRecord) -> Value {
    let mut labels = volume.labels.clone();
    if volume.anonymous {
        labels.insert("com.docker.volume.anonymous".into(), String::new());
    }
    json!({
        "CreatedAt": volume.created,
        "Driver": volume.driver,
        "Labels": if labels.is_empty() { Value::Null } else { json!(labels) },
        "Mountpoint": store.volume_data_dir(&volume.name),
        "Name": volume.name,
        "Options": if volume.options.is_empty() { Value::Null } else { json!(volume.options) },
        "Scope": "local",
    })
}

/// `volume rm`: removes one volume unless a container (running or not) uses it; with `force`
/// a missing volume is not an error (an in-use one still is, as with Docker). Takes the
/// containers lock (shared), then the volumes lock (exclusive).
pub fn remove(store: &Store, name: &str, force: bool) -> Result<(), VolumeError> {
    let _containers = store.lock_containers_shared()?;
    let index: Index = store.containers()?;
    let _volumes = store.lock_volumes_exclusive()?;
    let mut volumes = store.volumes()?;
    let Some(position) = volumes.volumes.iter().position(|v| v.name == name) else {
        return if force { Ok(()) } else { Err(VolumeError::NotFound(name.to_owned())) };
    };
    if let Some(ids) = users(&index).remove(name) {
        return Err(VolumeError::InUse { name: name.to_owned(), containers: ids });
    }
    let removed = volumes.volumes.remove(position);
    // The data first: a kill between leaves a record without it, which `volume rm` finishes,
    // never data no record owns; and on a full disk the record then has room.
    store.remove_volume_dir(name)?;
    store.write_releasing_reserve(|| store.write_volumes(&volumes))?;
    events::record(store, Event::volume("destroy", &removed.name, &removed.driver));
    Ok(())
}

/// What `volume prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub names: Vec<String>,
    pub bytes: u64,
}

/// Removes every unused volume that is anonymous (or every unused one, with `all`). Takes the
/// containers lock (shared), then the volumes lock (exclusive).
pub fn prune(store: &Store, all: bool) -> Result<Pruned, VolumeError> {
    let _containers = store.lock_containers_shared()?;
    let index: Index = store.containers()?;
    let _volumes = store.lock_volumes_exclusive()?;
    let used = users(&index);
    let mut volumes = store.volumes()?;
    let (doomed, kept): (Vec<VolumeRecord>, Vec<VolumeRecord>) =
        volumes.volumes.drain(..).partition(|v| (all || v.anonymous) && !used.contains_key(&v.name));
    volumes.volumes = kept;
    // The data first, as in `remove`.
    let mut pruned = Pruned::default();
    let mut gone = Vec::new();
    for volume in doomed {
        pruned.bytes += disk_usage(&store.volume_dir(&volume.name));
        store.remove_volume_dir(&volume.name)?;
        pruned.names.push(volume.name);
        gone.push(volume.driver);
    }
    store.write_releasing_reserve(|| store.write_volumes(&volumes))?;
    for (name, driver) in pruned.names.iter().zip(&gone) {
        events::record(store, Event::volume("destroy", name, driver));
    }
    Ok(pruned)
}

/// Bytes used by the files under `path` (not following symlinks).
pub fn disk_usage(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum()).unwrap_or(0)
}

/// Completes a new container's mounts while its record is created (the caller holds the
/// containers lock, exclusive, and has the current index): `--volumes-from` mounts where no
/// explicit mount sits, anonymous volumes for the image's VOLUMEs where nothing is mounted, a
/// name for every anonymous volume; then creates the volumes that do not exist yet (volumes
/// lock, exclusive) and records their driver options in the mounts.
pub fn prepare_mounts(store: &Store, index: &Index, config: &mut ContainerConfig) -> Result<(), ContainerError> {
    let mut mounts = std::mem::take(&mut config.mounts);
    for spec in &config.volumes_from {
        let (source, read_only) = super::mounts::parse_volumes_from(spec)?;
        let from = find(index, &source)?;
        for mount in from.config.mounts.iter().filter(|m| m.kind != MountKind::Tmpfs) {
            if mounts.iter().any(|m| m.destination == mount.destination) {
                continue;
            }
            let mut shared = mount.clone();
            if let Some(ro) = read_only {
                shared.read_only = ro;
            }
            mounts.push(shared);
        }
    }
    for destination in &config.volumes {
        if !mounts.iter().any(|m| &m.destination == destination) {
            mounts.push(Mount { kind: MountKind::Volume, destination: destination.clone(), ..Default::default() });
        }
    }
    let needs_volumes = mounts.iter().any(|m| m.kind == MountKind::Volume);
    if needs_volumes {
        let _volumes = store.lock_volumes_exclusive()?;
        let mut volumes = store.volumes()?;
        let mut changed = false;
        for mount in mounts.iter_mut().filter(|m| m.kind == MountKind::Volume) {
            let anonymous = mount.source.is_empty();
            if anonymous {
                mount.source = random_name();
            }
            let (record, created) = ensure(
                &mut volumes,
                &mount.source,
                &mount.options.volume_labels,
                &mount.options.volume_options,
                anonymous,
            )?;
            changed |= created;
            mount.options.volume_options = record.options;
        }
        if changed {
            store.write_volumes(&volumes)?;
        }
        for mount in mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            store.create_volume_dir(&mount.source)?;
        }
    }
    config.mounts = super::mounts::in_mount_order(mounts);
    Ok(())
}

/// After `container` was removed (`rm -v`, `run --rm`): removes its anonymous volumes that no
/// remaining container uses (one shared through `--volumes-from` stays). Takes the containers
/// lock (shared), then the volumes lock (exclusive). Best effort per volume: returns the names
/// it could not remove with why.
pub fn remove_anonymous(store: &Store, container: &Container) -> Result<Vec<(String, String)>, VolumeError> {
    let names: BTreeSet<&str> = super::mounts::volume_names(&container.config).collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let _containers = store.lock_containers_shared()?;
    let index: Index = store.containers()?;
    let used = users(&index);
    let _volumes = store.lock_volumes_exclusive()?;
    let mut volumes = store.volumes()?;
    let doomed: Vec<String> = volumes
        .volumes
        .iter()
        .filter(|v| v.anonymous && names.contains(v.name.as_str()) && !used.contains_key(&v.name))
        .map(|v| v.name.clone())
        .collect();
    if doomed.is_empty() {
        return Ok(Vec::new());
    }
    volumes.volumes.retain(|v| !doomed.contains(&v.name));
    // The data first, as in `remove`.
    let mut failed = Vec::new();
    for name in &doomed {
        if let Err(e) = store.remove_volume_dir(name) {
            failed.push((name.clone(), e.to_string()));
        }
    }
    store.write_releasing_reserve(|| store.write_volumes(&volumes))?;
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::create::add_to_index;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
        (dir, store)
    }

    #[test]
    fn names_follow_dockers_rule_without_dot_dot() {
        for good in ["data", "my-vol_1.x", "0a"] {
            check_name(good).unwrap();
        }
        for bad in ["..", "a..b", "../x", "a/b", "/abs", "-x", ".x", "a b", "a\0b", ""] {
            assert!(matches!(check_name(bad), Err(VolumeError::InvalidName(_))), "{bad:?}");
        }
        assert!(matches!(check_name("a"), Err(VolumeError::NameTooShort(_))));
        assert_eq!(random_name().len(), 64);
    }

    #[test]
    fn options_are_checked_like_the_local_driver() {
        check_options(&opts(&[])).unwrap();
        check_options(&opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")])).unwrap();
        check_options(&opts(&[("type", "none"), ("device", "/srv"), ("o", "bind")])).unwrap();
        for (bad, why) in [
            (opts(&[("foo", "x")]), "invalid option: \"foo\""),
            (opts(&[("type", "tmpfs")]), "missing required option: \"device\""),
            (opts(&[("device", "/x")]), "missing required option: \"type\""),
            (opts(&[("o", "bind"), ("device", "/x")]), "missing required option: \"type\""),
            (opts(&[("type", "nfs"), ("device", ":/x")]), "unsupported volume type \"nfs\""),
            (opts(&[("type", "none"), ("device", "rel"), ("o", "bind")]), "absolute"),
            (opts(&[("size", "1g")]), "quota"),
        ] {
            let err = check_options(&bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn create_is_idempotent_and_rm_refuses_volumes_in_use() {
        let (_dir, store) = temp_store();
        let v = create(&store, Some("data"), opts(&[("a", "b")]), BTreeMap::new()).unwrap();
        assert_eq!((v.name.as_str(), v.driver.as_str(), v.anonymous), ("data", "local", false));
        assert_eq!(create(&store, Some("data"), BTreeMap::new(), BTreeMap::new()).unwrap(), v);
        assert!(store.volume_data_dir("data").is_dir());
        let random = create(&store, None, BTreeMap::new(), BTreeMap::new()).unwrap();
        assert_eq!(random.name.len(), 64);

        let mut index = Index::default();
        let mut config = ContainerConfig::default();
        config.mounts.push(super::super::mounts::parse_volume_flag("data:/d").unwrap());
        config.volumes.push("/anon".into());
        prepare_mounts(&store, &index, &mut config).unwrap();
        let anonymous = config.mounts.iter().find(|m| m.destination == "/anon").unwrap().source.clone();
        assert_eq!(anonymous.len(), 64);
        let user = add_to_index(&mut index, Some("user"), config).unwrap();
        let _lock = store.lock_containers_exclusive().unwrap();
        store.write_containers(&index).unwrap();
        drop(_lock);

        let err = remove(&store, "data", true).unwrap_err();
        assert!(err.to_string().contains("volume is in use"), "{err}");
        assert!(matches!(remove(&store, "nope", false), Err(VolumeError::NotFound(_))));
        remove(&store, "nope", true).unwrap();
        // Prune without -a takes unused anonymous volumes only: none yet (ours is used).
        assert!(prune(&store, false).unwrap().names.is_empty());

        let _lock = store.lock_containers_exclusive().unwrap();
        store.write_containers(&Index::default()).unwrap();
        drop(_lock);
        assert!(remove_anonymous(&store, &user).unwrap().is_empty());
        let left: Vec<String> = list(&store).unwrap().into_iter().map(|v| v.name).collect();
        assert!(left.contains(&"data".to_string()) && !left.contains(&anonymous), "{left:?}");
        let pruned = prune(&store, true).unwrap();
        assert_eq!(pruned.names.len(), 2);
        assert!(list(&store).unwrap().is_empty());
    }

    #[test]
    fn volumes_from_shares_mounts_and_explicit_ones_win() {
        let (_dir, store) = temp_store();
        let mut index = Index::default();
        let mut source = ContainerConfig::default();
        source.mounts.push(super::super::mounts::parse_volume_flag("shared:/s").unwrap());
        source.mounts.push(super::super::mounts::parse_volume_flag("other:/o").unwrap());
        prepare_mounts(&store, &index, &mut source).unwrap();
        add_to_index(&mut index, Some("src"), source).unwrap();
        let mut config = ContainerConfig { volumes_from: vec!["src:ro".into()], ..Default::default() };
        config.mounts.push(super::super::mounts::parse_volume_flag("mine:/o").unwrap());
        prepare_mounts(&store, &index, &mut config).unwrap();
        let by_dest: BTreeMap<&str, (&str, bool)> =
            config.mounts.iter().map(|m| (m.destination.as_str(), (m.source.as_str(), m.read_only))).collect();
        assert_eq!(by_dest["/s"], ("shared", true));
        assert_eq!(by_dest["/o"], ("mine", false));
        let mut missing = ContainerConfig { volumes_from: vec!["ghost".into()], ..Default::default() };
        assert!(matches!(prepare_mounts(&store, &index, &mut missing), Err(ContainerError::NotFound(_))));
    }
}
