//! What a container's sandbox is made of, as the supervisor hands it to the sandbox code: paths
//! on the host, the namespaces to create, and the process to run. The sandbox owns these types:
//! src/container builds them from a container's configuration (container/sandbox_spec.rs), and
//! `spawn` (in the supervisor) and the container's own first process consume them. Nothing here
//! is stored, so the types can change with the sandbox without touching any record on disk.

use std::path::PathBuf;

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
    pub network: NetworkNamespace,
    /// Files the container's first process writes "0" into to join its cgroup itself (see
    /// `Cgroup::self_join_files`), before it creates its cgroup namespace.
    pub cgroup_join_files: Vec<PathBuf>,
    /// Binds, volumes and tmpfs mounts, made after /proc, /dev, /sys and the /etc files, in
    /// order (a later mount may sit inside an earlier one).
    pub mounts: Vec<SandboxMount>,
    /// Remount the overlay root read-only once everything is mounted (`--read-only`).
    pub read_only_rootfs: bool,
    /// Rootless `--userns keep-id`: the container gets its own user namespace inside berth's,
    /// with these maps (lines of `/proc/PID/uid_map` and `gid_map`, in berth's namespace's ids).
    pub nested_id_maps: Option<(String, String)>,
    /// `--privileged`: no masked or read-only /proc and /sys paths, /sys writable, every host
    /// device.
    pub privileged: bool,
    /// `--device` as given; `spawn` looks the nodes up on the host and fills in `devices`.
    pub device_requests: Vec<DeviceRequest>,
    /// The device nodes made beyond the default ones: the requested ones, and every host
    /// device when privileged.
    pub devices: Vec<Device>,
    pub tuning: KernelTuning,
    pub process: ProcessSpec,
}

/// Kernel settings of the container beyond its mounts and cgroup limits.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelTuning {
    /// Written to /proc/self/oom_score_adj before the program runs (`--oom-score-adj`).
    pub oom_score_adj: Option<i32>,
    /// A cgroup namespace of its own (`--cgroupns private`); false: the host's.
    pub cgroup_namespace: bool,
    /// Bytes of the /dev/shm tmpfs.
    pub shm_size: u64,
    /// Sysctls of the container's own namespaces, written once they exist (`--sysctl`).
    pub sysctls: Vec<(String, String)>,
    /// Extra rules for the devices cgroup (`--device-cgroup-rule`, v1).
    pub device_cgroup_rules: Vec<String>,
    /// `--pid`: the supervisor enters a joined one around the clone (its children only).
    pub pid: SharedNamespace,
    /// `--ipc`: a joined one is entered by the container's first process.
    pub ipc: SharedNamespace,
    /// `--uts host`: no UTS namespace of its own, and the hostname is left alone.
    pub uts_host: bool,
    pub shm: ShmMount,
}

/// A namespace the container may share.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SharedNamespace {
    #[default]
    New,
    Host,
    /// `/proc/PID/ns/…` of another container.
    Join(PathBuf),
}

/// What is mounted at /dev/shm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShmMount {
    /// A tmpfs of `shm_size` bytes.
    #[default]
    Tmpfs,
    /// The host's /dev/shm, bound (`--ipc host`).
    Host,
    /// Nothing (`--ipc none`).
    None,
}

impl Default for KernelTuning {
    fn default() -> Self {
        KernelTuning {
            oom_score_adj: None,
            cgroup_namespace: true,
            shm_size: 64 << 20,
            sysctls: Vec::new(),
            device_cgroup_rules: Vec::new(),
            pid: SharedNamespace::New,
            ipc: SharedNamespace::New,
            uts_host: false,
            shm: ShmMount::Tmpfs,
        }
    }
}

/// The network namespace a container's first process lives in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkNamespace {
    /// A new one, its loopback interface brought up (Docker's `none`, and every private network
    /// before its interfaces are added from outside).
    #[default]
    New,
    /// The supervisor's own: the host's (`--network host`).
    Host,
    /// An existing one, joined through a path: `/proc/PID/ns/net` of another container
    /// (`--network container:X`) or a bind-mounted namespace file (a rootless user's shared
    /// network namespace). Its owner configures it; the container only joins it.
    Join(PathBuf),
}

/// A resource limit set with setrlimit before the program runs, by Docker's name for it
/// ("nofile", "nproc", …; see `process::set_rlimits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// A host device the container is to get (`--device`), looked up on the host at each start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    /// The node on the host, or a directory of nodes.
    pub host_path: String,
    /// Where it appears in the container.
    pub container_path: String,
    /// Some of r, w, m: what the devices cgroup allows.
    pub cgroup_permissions: String,
}

/// A device node to create in the container, as the host has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The node on the host (bind-mounted where no node can be made).
    pub host_path: PathBuf,
    /// Absolute path inside the container.
    pub path: String,
    pub block: bool,
    pub major: u64,
    pub minor: u64,
    /// Permission bits of the host's node.
    pub mode: u32,
    /// The access the devices cgroup grants: some of r (read), w (write), m (mknod).
    pub cgroup_permissions: String,
}

/// The security settings of a container process (its first one and every `exec`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSecurity {
    /// Capabilities kept (bit n = capability n): the bounding set, and for uid 0 the permitted
    /// and effective sets, as far as berth itself has them.
    pub capabilities: u64,
    /// Set no_new_privs before execve (Docker's `no-new-privileges`).
    pub no_new_privileges: bool,
    pub seccomp: SeccompProfile,
}

/// Docker's defaults: its capability set, no_new_privs, its seccomp profile.
impl Default for ProcessSecurity {
    fn default() -> Self {
        ProcessSecurity {
            capabilities: super::caps::default_mask(),
            no_new_privileges: true,
            seccomp: SeccompProfile::Default,
        }
    }
}

/// Which seccomp filter a process runs under; compiled by whoever starts the process.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SeccompProfile {
    /// Docker's default profile, built in.
    #[default]
    Default,
    /// No filter (`seccomp=unconfined`, `--privileged`).
    Unconfined,
    /// A profile in Docker's JSON format (its text).
    Custom(String),
}

/// One mount the user asked for, as the sandbox makes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxMount {
    /// Bind: the host path (a volume's `_data` directory for a volume). Tmpfs: unused.
    pub source: PathBuf,
    /// Absolute path inside the container, resolved inside the rootfs.
    pub destination: String,
    pub kind: SandboxMountKind,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SandboxMountKind {
    /// A recursive bind mount of `source`. `copy_up`: when `source` is an empty directory and
    /// the image has a directory at the destination, its content is copied into `source` first
    /// (what Docker does for a new volume). `propagation`: "" (private) or one of shared,
    /// rshared, slave, rslave, private, rprivate.
    Bind { copy_up: bool, propagation: String },
    /// A new tmpfs with Docker's `--tmpfs` options (flags such as `exec`, `ro`, and data such as
    /// `size=64m`, `mode=1777`); nosuid, nodev and noexec unless the options say otherwise.
    Tmpfs { options: String },
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
    pub rlimits: Vec<Rlimit>,
    /// Run berth's minimal init as pid 1 (reaps zombies, forwards signals) with the process as
    /// its child.
    pub init: bool,
    pub security: ProcessSecurity,
    /// `--group-add`: group names (looked up in the container's /etc/group) or ids, added to
    /// the supplementary groups.
    pub additional_groups: Vec<String>,
}
