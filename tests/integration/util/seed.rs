//! Many containers at once, for tests about scale: creating a thousand containers with berth
//! takes a thousand rewrites of containers.json (a minute of the suite), and what such a test
//! checks is what commands do with many records, not how each was made. So one container is
//! created for real and its record and directories are copied under new ids and names, written
//! the way the store writes them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::Value;

use super::{TestEnv, sha256_digest};

impl TestEnv {
    /// Adds a copy of the existing container `source` (a name) under each of `names`, and returns
    /// the new ids in the same order. Each copy is `source`'s record in containers.json with a new
    /// 64-hex id and the new name (and the id, wherever the record holds it, e.g. as the default
    /// hostname, replaced), plus copies of its directories under the root's and runroot's
    /// `containers/`. containers.json is rewritten once, as berth writes it: under an exclusive
    /// flock of `containers.lock`, to a temp file that is fsynced and renamed over it. No berth
    /// command may run in this store meanwhile: the copies are not started or checked.
    pub fn replicate_container(&self, source: &str, names: &[String]) -> Vec<String> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("containers.lock"))
            .expect("opening containers.lock");
        lock.lock().expect("locking containers.lock");
        let path = self.root.join("containers.json");
        let mut index: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("reading containers.json")).expect("containers.json");
        let containers = index["containers"].as_array_mut().expect("a containers array");
        let original = containers.iter().find(|c| c["name"] == source).expect("the source container").clone();
        let old_id = original["id"].as_str().expect("an id").to_owned();
        let template = serde_json::to_string(&original).expect("json");
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let id = sha256_digest(format!("{old_id} {name}").as_bytes())["sha256:".len()..].to_owned();
            let mut copy: Value =
                serde_json::from_str(&template.replace(&old_id, &id).replace(&old_id[..12], &id[..12])).expect("json");
            copy["name"] = Value::String(name.clone());
            containers.push(copy);
            for base in [&self.root, &self.runroot] {
                let from = base.join("containers").join(&old_id);
                if from.exists() {
                    copy_tree(&from, &base.join("containers").join(&id));
                }
            }
            ids.push(id);
        }
        let temp = self.root.join(format!(".containers.json.tmp-{}-seed", std::process::id()));
        let mut file = File::create(&temp).expect("creating the new containers.json");
        file.write_all(&serde_json::to_vec(&index).expect("json")).expect("writing containers.json");
        file.sync_all().expect("fsync");
        let old = std::fs::metadata(&path).expect("stat containers.json");
        std::os::unix::fs::chown(&temp, Some(old.uid()), Some(old.gid())).expect("chown containers.json");
        std::fs::rename(&temp, &path).expect("renaming containers.json into place");
        File::open(&self.root).and_then(|d| d.sync_all()).expect("fsync of the store root");
        ids
    }
}

/// Copies the tree at `from` to `to` (directories, files, symlinks), keeping modes and owners.
fn copy_tree(from: &Path, to: &Path) {
    let meta = std::fs::symlink_metadata(from).expect("stat");
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from).expect("readlink"), to).expect("symlink");
    } else if meta.is_dir() {
        std::fs::DirBuilder::new().mode(meta.mode() & 0o7777).create(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("reading a container directory").flatten() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copying a container file");
    }
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid())).expect("chown");
    if !meta.file_type().is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777)).expect("chmod");
    }
}
