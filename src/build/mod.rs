//! `berth build`, front half: everything before a step runs.
#![allow(dead_code)]

pub mod context;
pub mod copy_source;
pub mod dockerfile;
pub mod expand;
pub mod glob;
pub mod ignore;
pub mod paths;
pub mod shell;
pub mod stages;
pub mod steps;
pub mod vars;
