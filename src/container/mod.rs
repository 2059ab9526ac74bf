//! Containers: records, lifecycle, supervisor.

pub mod attach;
pub mod commit;
pub mod cp;
pub mod create;
pub mod diff;
pub mod etc_files;
pub mod export;
pub mod index;
pub mod inspect;
pub mod lifecycle;
pub mod liveness;
pub mod logfile;
pub mod logs;
pub mod mounts;
pub mod options;
pub mod protocol;
pub mod query;
pub mod record;
pub mod sandbox_spec;
pub mod signals;
pub mod start;
pub mod supervisor;
pub mod teardown;
pub mod top;
pub mod volumes;
