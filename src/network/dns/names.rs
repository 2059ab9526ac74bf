//! The names a container's responder answers: every container attached to one of the
//! container's DNS-enabled networks, by its name, its `--network-alias`es and its short id,
//! with its addresses on those networks; and the reverse (PTR) of those addresses. Read from
//! the networks' runtime state files, again whenever one of them changed (a container came or
//! went), without the networks lock: each file is replaced atomically, so a reader sees the
//! old or the new content.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::network::state::NetworkState;

/// Names to addresses, and addresses to a name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameTable {
    forward: BTreeMap<String, Vec<IpAddr>>,
    reverse: BTreeMap<IpAddr, String>,
}

impl NameTable {
    /// The table of the endpoints in `states`.
    pub fn from_states<'a>(states: impl IntoIterator<Item = &'a NetworkState>) -> NameTable {
        let mut table = NameTable::default();
        for state in states {
            for endpoint in state.endpoints.values() {
                for name in endpoint.dns_names() {
                    let addrs = table.forward.entry(name.to_ascii_lowercase()).or_default();
                    for addr in &endpoint.addresses {
                        if !addrs.contains(addr) {
                            addrs.push(*addr);
                        }
                    }
                }
                for addr in &endpoint.addresses {
                    table.reverse.entry(*addr).or_insert_with(|| endpoint.container_name.clone());
                }
            }
        }
        table
    }

    /// The addresses of `name` (lower case), if it is a container's.
    pub fn lookup(&self, name: &str) -> Option<&[IpAddr]> {
        self.forward.get(name).map(Vec::as_slice)
    }

    /// The container name for `addr`.
    pub fn reverse(&self, addr: IpAddr) -> Option<&str> {
        self.reverse.get(&addr).map(String::as_str)
    }
}

/// Where names come from.
pub trait NameSource {
    /// The current table (reloaded first if its sources changed).
    fn table(&mut self) -> &NameTable;
}

/// A fixed table (tests; a container on networks whose membership never changes).
impl NameSource for NameTable {
    fn table(&mut self) -> &NameTable {
        self
    }
}

/// The state files of the container's DNS-enabled networks, reread when one changes.
pub struct StateFiles {
    paths: Vec<PathBuf>,
    stamps: Vec<Option<(SystemTime, u64)>>,
    table: NameTable,
    loaded: bool,
}

impl StateFiles {
    /// `paths`: `Store::network_state_path` of each network.
    pub fn new(paths: Vec<PathBuf>) -> StateFiles {
        StateFiles { stamps: vec![None; paths.len()], paths, table: NameTable::default(), loaded: false }
    }

    fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }
}

impl NameSource for StateFiles {
    fn table(&mut self) -> &NameTable {
        let stamps: Vec<_> = self.paths.iter().map(StateFiles::stamp).collect();
        if !self.loaded || stamps != self.stamps {
            let states: Vec<NetworkState> = self
                .paths
                .iter()
                .filter_map(|p| std::fs::read(p).ok())
                .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
                .collect();
            self.table = NameTable::from_states(&states);
            self.stamps = stamps;
            self.loaded = true;
        }
        &self.table
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::network::state::{Endpoint, Owner};

    pub(crate) fn endpoint(id: &str, name: &str, aliases: &[&str], addrs: &[&str]) -> Endpoint {
        Endpoint {
            container_id: id.into(),
            container_name: name.into(),
            owner: Owner { pid: 1, start_time: 1 },
            ifname: "eth0".into(),
            host_veth: "veth0".into(),
            mac: String::new(),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ports: Vec::new(),
            complete: true,
        }
    }

    pub(crate) fn state(endpoints: Vec<Endpoint>) -> NetworkState {
        NetworkState {
            endpoints: endpoints.into_iter().map(|e| (e.container_id.clone(), e)).collect(),
            last: BTreeMap::new(),
        }
    }

    #[test]
    fn names_aliases_and_short_ids_resolve() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let front = state(vec![
            endpoint(id, "Web", &["www"], &["10.78.0.2", "fd00::2"]),
            endpoint("ff", "db", &[], &["10.78.0.3"]),
        ]);
        let back = state(vec![endpoint(id, "Web", &[], &["10.79.0.2"])]);
        let table = NameTable::from_states([&front, &back]);
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        assert_eq!(table.lookup("web").unwrap(), [ip("10.78.0.2"), ip("fd00::2"), ip("10.79.0.2")]);
        assert_eq!(table.lookup("www").unwrap(), [ip("10.78.0.2"), ip("fd00::2")]);
        assert_eq!(table.lookup("0123456789ab").unwrap()[0], ip("10.78.0.2"));
        assert_eq!(table.lookup("db").unwrap(), [ip("10.78.0.3")]);
        assert_eq!(table.lookup("nobody"), None);
        assert_eq!(table.reverse(ip("10.78.0.3")), Some("db"));
        assert_eq!(table.reverse(ip("10.1.1.1")), None);
    }

    #[test]
    fn state_files_are_reread_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("net.json");
        let mut source = StateFiles::new(vec![path.clone(), dir.path().join("missing.json")]);
        assert_eq!(source.table().lookup("a"), None);
        std::fs::write(&path, serde_json::to_vec(&state(vec![endpoint("1", "a", &[], &["10.0.0.2"])])).unwrap())
            .unwrap();
        assert!(source.table().lookup("a").is_some());
        std::fs::write(&path, serde_json::to_vec(&state(vec![endpoint("2", "bb", &[], &["10.0.0.3"])])).unwrap())
            .unwrap();
        assert!(source.table().lookup("bb").is_some(), "a longer file is a change even within the same mtime tick");
        assert!(source.table().lookup("a").is_none());
    }
}
