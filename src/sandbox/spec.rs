//! What a container's sandbox is made of, as the supervisor hands it to the sandbox code: paths
//! on the host, the namespaces to create, and the process to run. Built from a container record
//! by src/container; consumed by `spawn` (in the supervisor) and by the container's own first
//! process.

use std::path::PathBuf;

use crate::container::record::{NetworkMode, Ulimit};

#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSpec {
    pub id: String,
    /// Running inside berth's user namespace (rootless): no mknod, `userxattr` overlay option,
    /// device nodes are bind mounts of the host's.
    pub rootless: bool,
    /// Unpacked layer directories, TOP-MOST FIRST (overlayfs `lowerdir=` order).
    pub lower_dirs: Vec<PathBuf>,
    pub upper_dir: PathBuf,
    pub work_dir: PathBuf,
    /// Where the overlay is mounted (inside the container's own mount namespace only).
    pub rootfs: PathBuf,
    pub hostname: String,
    /// Host files bind-mounted over paths in the container (/etc/hostname, /etc/hosts,
    /// /etc/resolv.conf), created by the caller.
    pub etc_files: Vec<(PathBuf, String)>,
    pub network: NetworkMode,
    /// Files the container's first process writes "0" into to join its cgroup itself (see
    /// `Cgroup::self_join_files`), before it creates its cgroup namespace.
    pub cgroup_join_files: Vec<PathBuf>,
    pub process: ProcessSpec,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Absolute path inside the container; created if missing (as Docker does).
    pub cwd: String,
    /// "", "name", "uid", "uid:gid", "name:group", resolved against the container's
    /// /etc/passwd and /etc/group; supplementary groups from /etc/group.
    pub user: String,
    pub tty: bool,
    pub rlimits: Vec<Ulimit>,
    /// Run berth's minimal init as pid 1 (reaps zombies, forwards signals) with the process as
    /// its child.
    pub init: bool,
}
