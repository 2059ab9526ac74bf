//! The end of a container: everything that happens once its first process has ended, in one
//! place for both who can see that end — its supervisor (the normal case) and, when the
//! supervisor is gone, the command that notices (`lifecycle::orphan`). Each step of a container's
//! end is one arm below, run in the order of [`STEPS`]; what a later feature has to undo when a
//! container ends (its network, its healthchecks) or decide (a restart) is a step of its own
//! there, at the place marked for it.

use super::index::{ContainerError, ExitRecord, Index, exit_file, read_exit_record};
use super::protocol::attach_socket_name;
use super::record::{Container, NetworkMode, Status};
use crate::network::kernel::HostKernel;
use crate::network::state::Owner;
use crate::sandbox::cgroup::Cgroup;
use crate::store::{Store, Trash, now_rfc3339};

/// One step of a container's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `exit` in the container's directory, when the exit is known and the container kept: the
    /// code outlives a supervisor killed before it records it (see `index::refresh`).
    WriteExitFile,
    /// Under the containers lock, and only if the record still names the process that ended: a
    /// kept container loses its cgroup (a later start makes one at the same path) and its
    /// attach socket, then is recorded Exited; a `--rm` one is unlisted, its directories moved
    /// to the trash.
    RecordEnd,
    /// Off its bridge networks (veths, firewall rules, addresses), before the end is recorded,
    /// so a new start finds them free. Under the networks lock. The supervisor releases its
    /// own; the orphan path collects every endpoint whose supervisor is dead (this one's too),
    /// never one a new supervisor made meanwhile.
    ReleaseNetwork,
    /// The exit code to whoever is attached (the supervisor's clients).
    TellClients,
    /// `--rm`, once nobody waits for it: the cgroup, the anonymous volumes, the directories.
    /// The container is unlisted, so nothing can make a cgroup at its path any more.
    DeleteRemoved,
}

/// The steps, in order. Health checks are the supervisor's, stopped before it calls [`finish`]
/// (the orphan path has none running); the restart decision follows [`finish`] in the
/// supervisor (`supervisor/restart.rs`: a new claim, then the start again). `ReleaseNetwork`
/// comes before `RecordEnd`: interfaces, port forwards and addresses are free once the record
/// says the container ended, so a new start finds them free.
const STEPS: [Step; 5] =
    [Step::WriteExitFile, Step::ReleaseNetwork, Step::RecordEnd, Step::TellClients, Step::DeleteRemoved];

/// How a container's first process ended, as whoever saw it knows it.
#[derive(Debug, Clone)]
pub enum Exit {
    /// Seen by the supervisor, which reaped it.
    Known(ExitRecord),
    /// Noticed after the fact (no supervisor left): the code of the exit file if the supervisor
    /// wrote one before it died, else this guess (128 + the last signal sent), else 137.
    Unknown { guessed_code: Option<i32> },
}

/// What [`finish`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The record no longer named the process that ended (someone else recorded its end, or it
    /// was removed or started again): nothing was done.
    NotOurs,
    /// Recorded Exited, with this code.
    Exited(i32),
    /// A `--rm` container: gone, with this code.
    Removed(i32),
}

/// Ends `container`, whose first process `pid` has ended, in the order of [`STEPS`]. `cgroup`:
/// the container's, if it has one. `tell_clients` gets the exit code (the supervisor's attach
/// clients; the orphan path has none). Takes the containers lock, exclusive (and the volumes
/// lock after it, for a `--rm` container's anonymous volumes).
pub fn finish(
    store: &Store,
    container: &Container,
    pid: i32,
    exit: Exit,
    cgroup: Option<&Cgroup>,
    tell_clients: &mut dyn FnMut(i32),
) -> Result<Finished, ContainerError> {
    let id = &container.id;
    let auto_remove = container.config.auto_remove;
    let mut finished = Finished::NotOurs;
    let mut removed: Option<(Container, Option<Trash>)> = None;
    for step in STEPS {
        match step {
            Step::WriteExitFile => {
                if let (Exit::Known(record), false) = (&exit, auto_remove) {
                    // Best effort: the record below says the same; this only outlives a crash.
                    let _ = crate::store::write_file_atomically(
                        &exit_file(store, id),
                        &serde_json::to_vec(record).expect("serializable"),
                    );
                }
            }
            Step::ReleaseNetwork => {
                if container.config.network == NetworkMode::Bridge {
                    match exit {
                        Exit::Known(_) => release_network(store, id),
                        Exit::Unknown { .. } => {
                            let _ =
                                crate::network::gc::collect_garbage(store, &mut HostKernel::default(), &owner_alive);
                        }
                    }
                }
            }
            Step::RecordEnd => {
                let _lock = store.lock_containers_exclusive()?;
                let mut index: Index = store.containers()?;
                let Some(i) = index.containers.iter().position(|c| c.id == *id) else { return Ok(finished) };
                let state = &index.containers[i].state;
                if state.pid != pid || !matches!(state.status, Status::Running | Status::Paused) {
                    return Ok(finished);
                }
                let record = match &exit {
                    Exit::Known(record) => record.clone(),
                    Exit::Unknown { guessed_code } => read_exit_record(store, id).unwrap_or_else(|| ExitRecord {
                        exit_code: guessed_code.unwrap_or(137),
                        finished_at: now_rfc3339(),
                        oom_killed: false,
                    }),
                };
                if auto_remove {
                    removed = Some(unlist_locked(store, &mut index, i)?);
                    finished = Finished::Removed(record.exit_code);
                } else {
                    if let Some(cgroup) = cgroup {
                        let _ = cgroup.remove();
                    }
                    let _ = std::fs::remove_file(store.container_run_dir(id).join(attach_socket_name()));
                    let state = &mut index.containers[i].state;
                    state.status = Status::Exited;
                    state.exit_code = Some(record.exit_code);
                    state.finished_at = Some(record.finished_at);
                    state.oom_killed = record.oom_killed;
                    // Recording an end must work on a full disk, which a container filling it
                    // brings about.
                    store.write_releasing_reserve(|| store.write_containers(&index))?;
                    finished = Finished::Exited(record.exit_code);
                }
            }
            Step::TellClients => match finished {
                Finished::Exited(code) | Finished::Removed(code) => {
                    crate::container::event::record_with(store, "die", container, "exitCode", &code.to_string());
                    tell_clients(code)
                }
                Finished::NotOurs => {}
            },
            Step::DeleteRemoved => {
                if let Some((container, trash)) = removed.take() {
                    delete_removed(store, &container, cgroup, trash);
                    crate::container::event::record(store, "destroy", &container);
                }
            }
        }
    }
    Ok(finished)
}

/// Whether a network attachment's owner (a supervisor) still lives.
pub fn owner_alive(owner: Owner) -> bool {
    super::liveness::is_alive(owner.pid, owner.start_time)
}

/// Takes a container off its networks (its veths, firewall rules, addresses). Best effort:
/// what is left is an endpoint of a dead owner, which the next networking command collects.
pub fn release_network(store: &Store, id: &str) {
    let _ = crate::network::setup::tear_down(store, &mut HostKernel::default(), id);
}

/// Takes container `i` out of `index` (written back) and its directories into the trash. The
/// caller holds the containers lock, exclusive; deleting what is returned is
/// [`delete_removed`]'s, after the lock.
pub fn unlist_locked(store: &Store, index: &mut Index, i: usize) -> Result<(Container, Option<Trash>), ContainerError> {
    let removed = index.containers.remove(i);
    // Into the trash first: a kill between leaves a record without directories, which the next
    // command that sees the container ended finishes, never directories no record owns.
    let mut trash = store.trash_container_dirs(&removed.id)?;
    store.write_freeing_first(
        || store.write_containers(index),
        || {
            if let Some(trash) = trash.take() {
                trash.empty();
            }
            Ok(())
        },
    )?;
    Ok((removed, trash))
}

/// The rest of removing an unlisted container: its cgroup, its anonymous volumes (those no
/// other container uses; takes the volumes lock), its directories.
pub fn delete_removed(store: &Store, container: &Container, cgroup: Option<&Cgroup>, trash: Option<Trash>) {
    if let Some(cgroup) = cgroup {
        let _ = cgroup.remove();
    }
    let _ = super::volumes::remove_anonymous(store, container);
    if let Some(trash) = trash {
        trash.empty();
    }
}

/// Unlists and deletes a container that never ran: a `--rm` one whose start failed. Takes the
/// containers lock, exclusive.
pub fn remove_unstarted(store: &Store, id: &str, cgroup: Option<&Cgroup>) -> Result<(), ContainerError> {
    let removed = {
        let _lock = store.lock_containers_exclusive()?;
        let mut index: Index = store.containers()?;
        let Some(i) = index.containers.iter().position(|c| c.id == id) else { return Ok(()) };
        unlist_locked(store, &mut index, i)?
    };
    delete_removed(store, &removed.0, cgroup, removed.1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::ContainerConfig;

    fn store_with(containers: Vec<Container>) -> (tempfile::TempDir, Store) {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(&root.path().join("root"), &root.path().join("run"), false).unwrap();
        for c in &containers {
            store.create_container_dirs(&c.id).unwrap();
        }
        store.write_containers(&Index { containers }).unwrap();
        (root, store)
    }

    fn running(id: &str, pid: i32, auto_remove: bool) -> Container {
        let mut c = Container {
            id: id.into(),
            name: format!("n-{id}"),
            config: ContainerConfig { auto_remove, ..Default::default() },
            ..Default::default()
        };
        c.state.status = Status::Running;
        c.state.pid = pid;
        c
    }

    fn known(code: i32) -> Exit {
        Exit::Known(ExitRecord { exit_code: code, finished_at: "2026-12-03T00:00:00Z".into(), oom_killed: false })
    }

    #[test]
    fn a_kept_container_is_recorded_exited_and_clients_hear_the_code() {
        let c = running("c1", 4242, false);
        let (_root, store) = store_with(vec![c.clone()]);
        let mut told = Vec::new();
        assert_eq!(finish(&store, &c, 4242, known(3), None, &mut |code| told.push(code)).unwrap(), Finished::Exited(3));
        assert_eq!(told, [3]);
        let stored = &store.containers::<Container>().unwrap().containers[0];
        assert_eq!((stored.state.status, stored.state.exit_code), (Status::Exited, Some(3)));
        assert_eq!(read_exit_record(&store, "c1").unwrap().exit_code, 3, "the exit file outlives a crash");
    }

    #[test]
    fn an_end_the_record_does_not_name_changes_nothing() {
        let c = running("c1", 4242, false);
        let (_root, store) = store_with(vec![c.clone()]);
        let mut told = Vec::new();
        // Started again meanwhile: another pid.
        assert_eq!(finish(&store, &c, 99, known(0), None, &mut |code| told.push(code)).unwrap(), Finished::NotOurs);
        assert!(told.is_empty());
        assert_eq!(store.containers::<Container>().unwrap().containers[0].state.status, Status::Running);
    }

    #[test]
    fn an_orphan_takes_the_exit_file_or_the_guess() {
        let c = running("c1", 4242, false);
        let (_root, store) = store_with(vec![c.clone()]);
        let unknown = Exit::Unknown { guessed_code: Some(143) };
        assert_eq!(finish(&store, &c, 4242, unknown.clone(), None, &mut |_| {}).unwrap(), Finished::Exited(143));
        let c2 = running("c2", 7, false);
        let (_root2, store2) = store_with(vec![c2.clone()]);
        let record = ExitRecord { exit_code: 5, finished_at: "x".into(), oom_killed: true };
        crate::store::write_file_atomically(&exit_file(&store2, "c2"), &serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(finish(&store2, &c2, 7, unknown, None, &mut |_| {}).unwrap(), Finished::Exited(5));
        assert!(store2.containers::<Container>().unwrap().containers[0].state.oom_killed);
    }

    #[test]
    fn a_removed_container_is_unlisted_and_its_directory_deleted() {
        let (kept, gone) = (running("keep", 1, false), running("gone", 2, true));
        let (_root, store) = store_with(vec![kept, gone.clone()]);
        let mut told = Vec::new();
        assert_eq!(finish(&store, &gone, 2, known(7), None, &mut |c| told.push(c)).unwrap(), Finished::Removed(7));
        assert_eq!(told, [7]);
        let ids: Vec<String> = store.containers::<Container>().unwrap().containers.into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["keep"]);
        assert!(!store.container_dir("gone").exists());
        assert!(!exit_file(&store, "gone").exists(), "no exit file for a container about to go");
    }

    #[test]
    fn the_steps_record_before_they_tell_and_delete_last() {
        let at = |s| STEPS.iter().position(|x| *x == s).unwrap();
        assert!(at(Step::WriteExitFile) < at(Step::RecordEnd));
        assert!(at(Step::ReleaseNetwork) < at(Step::RecordEnd), "addresses are free once the end is recorded");
        assert!(at(Step::RecordEnd) < at(Step::TellClients));
        assert_eq!(STEPS.last(), Some(&Step::DeleteRemoved));
    }
}
