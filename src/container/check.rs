//! `system check` for containers and volumes: directories no record owns. A kill between a
//! create's directories and its record, or a removal that could only free its data before its
//! record (a full disk, see `store::reserve`) and was killed between the two, leaves one; it
//! holds space nothing else would ever free. With repair they are removed.

use super::index::{ContainerError, Index};
use crate::store::Store;

#[derive(Debug, Default)]
pub struct LeftoverReport {
    pub containers: usize,
    pub volumes: usize,
    pub problems: Vec<String>,
    pub repaired: Vec<String>,
}

/// Takes the containers lock, then the volumes lock: shared, or exclusive to repair (so no
/// create is between its directories and its record meanwhile).
pub fn check_leftovers(store: &Store, repair: bool) -> Result<LeftoverReport, ContainerError> {
    let mut report = LeftoverReport::default();
    {
        let _lock = if repair { store.lock_containers_exclusive()? } else { store.lock_containers_shared()? };
        let index: Index = store.containers()?;
        report.containers = index.containers.len();
        for name in store.container_dir_names()? {
            if index.containers.iter().any(|c| c.id == name) {
                continue;
            }
            report.problems.push(format!("container directory {name}: no container record owns it"));
            if repair {
                store.remove_container_leftovers(&name)?;
                report.repaired.push(format!("removed container directory {name}"));
            }
        }
    }
    let _lock = if repair { store.lock_volumes_exclusive()? } else { store.lock_volumes_shared()? };
    let volumes = store.volumes()?;
    report.volumes = volumes.volumes.len();
    for name in store.volume_dir_names()? {
        if volumes.volumes.iter().any(|v| v.name == name) {
            continue;
        }
        report.problems.push(format!("volume directory {name}: no volume record owns it"));
        if repair {
            store.remove_volume_dir(&name)?;
            report.repaired.push(format!("removed volume directory {name}"));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::Container;

    #[test]
    fn directories_without_records_are_reported_and_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
        for id in ["kept", "orphan"] {
            store.create_container_dirs(id).unwrap();
        }
        let kept = Container { id: "kept".into(), name: "k".into(), ..Default::default() };
        store.write_containers(&Index { containers: vec![kept] }).unwrap();
        store.create_volume_dir("lost").unwrap();

        let report = check_leftovers(&store, false).unwrap();
        assert_eq!(
            report.problems,
            [
                "container directory orphan: no container record owns it",
                "volume directory lost: no volume record owns it"
            ]
        );
        assert!(report.repaired.is_empty());
        assert!(store.container_dir("orphan").exists());

        let report = check_leftovers(&store, true).unwrap();
        assert_eq!(report.repaired.len(), 2);
        assert!(!store.container_dir("orphan").exists() && !store.container_run_dir("orphan").exists());
        assert!(store.container_dir("kept").exists());
        assert!(!store.volume_data_dir("lost").exists());
        assert!(check_leftovers(&store, false).unwrap().problems.is_empty());
    }
}
