//! Container networking: user-defined and default bridge networks, addresses, published ports,
//! the firewall, /etc/hosts and /etc/resolv.conf, the embedded DNS responder, and rootless
//! networking through pasta. A feature module: it depends on `sandbox` and `store` only, never
//! on `container` or `cmd` (what it needs to know of containers comes in as arguments, such as
//! the liveness check of an owner).
//!
//! One job per file:
//! - `subnet`, `record`, `pool`: prefixes, network records, where subnets come from;
//! - `state`, `ipam`: the runtime state of a network (endpoints, addresses) and allocation;
//! - `ports`, `reserve`: `-p`/`--expose`/`-P` and holding the host ports;
//! - `netlink`, `plumbing`, `sysctl`: the kernel objects (bridge, veth, addresses, routes);
//! - `firewall`: berth's own nftables table;
//! - `hosts`, `resolv`: the content of a container's /etc/hosts and /etc/resolv.conf;
//! - `dns`: the per-container DNS responder at 127.0.0.11;
//! - `pasta`, `slirp`, `rootless_netns`: rootless networking; `rootless`: a rootless container's
//!   own network (pasta or slirp4netns as its supervisor's child);
//! - `manage`, `gc`, `inspect`: what the `network` commands call;
//! - `attach`, `setup`: what the container's supervisor calls (`setup` is all of it in one).

mod error;

pub mod firewall;
pub mod gc;
pub mod inspect;
pub mod ipam;
pub mod kernel;
pub mod manage;
pub mod netlink;
pub mod plumbing;
pub mod pool;
pub mod record;
pub mod state;
pub mod subnet;
pub mod sysctl;

// Called by the container start path and its supervisor, which are wired to them separately
// (see ARCHITECTURE.md, "Network set-up"); until then only their tests use some of them.
#[cfg_attr(not(test), allow(dead_code))]
pub mod attach;
#[cfg_attr(not(test), allow(dead_code))]
pub mod dns;
#[cfg_attr(not(test), allow(dead_code))]
pub mod hosts;
#[cfg_attr(not(test), allow(dead_code))]
pub mod pasta;
#[cfg_attr(not(test), allow(dead_code))]
pub mod ports;
#[cfg_attr(not(test), allow(dead_code))]
pub mod reserve;
#[cfg_attr(not(test), allow(dead_code))]
pub mod resolv;
pub mod rootless;
#[cfg_attr(not(test), allow(dead_code))]
pub mod rootless_netns;
#[cfg_attr(not(test), allow(dead_code))]
pub mod setup;
#[cfg_attr(not(test), allow(dead_code))]
pub mod slirp;

pub use error::NetworkError;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
