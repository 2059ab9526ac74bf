//! Everything that touches namespaces, mounts, cgroups, capabilities and seccomp, and the
//! fd-relative filesystem code (`fs_at`). All of berth's `unsafe` lives below this module: the
//! crate root denies it everywhere else.
#![allow(unsafe_code)]

/// Exit status of a container process that could not be set up (berth failed before the
/// program could run): Docker's 125.
pub const EXIT_SETUP: i32 = 125;
/// Exit status when the program exists but cannot be run (permissions, not executable): 126.
pub const EXIT_CANNOT_INVOKE: i32 = 126;
/// Exit status when the program does not exist: 127.
pub const EXIT_NOT_FOUND: i32 = 127;

pub mod caps;
pub mod cgroup;
pub mod container_fs;
pub mod devices;
pub mod exec;
pub mod fds;
pub mod fs_at;
pub mod init;
pub mod memory;
pub mod mounts;
pub mod netns;
pub mod pidfd;
pub mod process;
pub mod seccomp;
pub mod spawn;
pub mod spec;
pub mod syscall;
pub mod userns;
pub mod users;
