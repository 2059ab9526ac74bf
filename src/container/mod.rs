//! Containers: records, lifecycle, supervisor.

#[cfg(feature = "wip")]
pub mod attach;
pub mod create;
pub mod liveness;
pub mod logfile;
pub mod protocol;
pub mod record;
pub mod signals;
#[cfg(feature = "wip")]
pub mod start;
pub mod store;
#[cfg(feature = "wip")]
pub mod supervisor;
