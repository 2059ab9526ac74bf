//! `berth system service`: the Docker Engine API on a unix (or loopback TCP) socket, served on
//! demand. Each request runs the same library code the CLI runs (container, image, volume and
//! network modules) against the same store, so what the API creates `berth ps` shows and the
//! other way round. One job per file: the listener and socket activation, routing with the
//! version prefixes, the HTTP plumbing (bodies, errors), one file per endpoint group, and the
//! stream encodings (multiplexed frames, JSON lines).
//!
//! tokio runs here on a current-thread runtime made after the user namespace was entered (the
//! caller, `cmd::system`, runs in it); store work, which blocks on flocks and files, goes to
//! tokio's blocking pool.

mod archive;
mod attach;
mod containers;
mod create_body;
mod error;
mod events;
mod exec;
mod filters;
mod hijack;
mod http;
mod images;
mod listener;
mod live;
mod logs;
mod networks;
mod router;
mod service;
mod stream;
mod system;
mod volumes;
mod wait;

pub use listener::Address;
pub use service::{ServeOptions, serve};

/// The API version berth speaks (Docker 28.2's); older prefixes are served the same way, as
/// Podman does, because clients negotiate down to what the server says.
pub const API_VERSION: &str = "1.50";
/// The oldest version `/version` admits to.
pub const MIN_API_VERSION: &str = "1.24";
