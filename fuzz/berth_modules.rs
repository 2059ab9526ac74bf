//! berth's modules as a library for the fuzz targets: the same files as the binary's (its
//! crate root is src/main.rs), so `crate::` paths inside them resolve as they do there. `cmd`
//! and main.rs stay out: no parser lives there.
#![allow(dead_code, unused_imports)]

#[path = "../src/build/mod.rs"]
pub mod build;
#[path = "../src/compose/mod.rs"]
pub mod compose;
#[path = "../src/config.rs"]
pub mod config;
#[path = "../src/container/mod.rs"]
pub mod container;
#[path = "../src/fuzz.rs"]
pub mod fuzz;
#[path = "../src/image/mod.rs"]
pub mod image;
#[path = "../src/network/mod.rs"]
pub mod network;
#[path = "../src/sandbox/mod.rs"]
pub mod sandbox;
#[path = "../src/store/mod.rs"]
pub mod store;
