//! `berth build`, front half: everything before a step runs.
#![allow(dead_code)]

pub mod cache_key;
pub mod context;
pub mod copy_source;
pub mod digest;
pub mod dockerfile;
pub mod epoch;
pub mod expand;
pub mod glob;
pub mod ignore;
pub mod paths;
#[cfg(test)]
mod robustness;
pub mod shell;
pub mod stages;
pub mod stat_cache;
pub mod steps;
pub mod vars;
