//! Containers: records, lifecycle, supervisor.

pub mod attach;
pub mod commit;
pub mod copy;
pub mod create;
pub mod etc_files;
pub mod export;
pub mod index;
pub mod inspect;
pub mod lifecycle;
pub mod liveness;
pub mod logfile;
pub mod logs;
pub mod mounts;
pub mod protocol;
pub mod record;
pub mod sandbox_spec;
pub mod signals;
pub mod start;
pub mod supervisor;
pub mod teardown;
pub mod top;
pub mod volumes;

/// The old name of [`index`], kept while other branches still say `container::store`; new code
/// says `index` (two modules called `store` were one too many).
pub use index as store;
