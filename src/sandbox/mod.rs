//! Everything that touches namespaces, mounts, cgroups, capabilities and seccomp, and the
//! fd-relative filesystem code (`fs_at`). All of berth's `unsafe` lives below this module: the
//! crate root denies it everywhere else.
#![allow(unsafe_code)]

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
