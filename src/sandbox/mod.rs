//! Everything that touches namespaces, mounts, cgroups, capabilities and seccomp. All of berth's
//! `unsafe` lives below this module.

pub mod fds;
pub mod spec;
pub mod userns;
