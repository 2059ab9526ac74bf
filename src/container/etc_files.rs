//! A container's /etc/hostname, /etc/hosts and /etc/resolv.conf: written into its directory at
//! each start and bind-mounted over the image's. The inputs are what networking fills in (the
//! container's addresses and names, `--add-host` entries, other containers on its networks,
//! nameservers, search domains and options); without it a container has loopback only.

use std::io;
use std::path::{Path, PathBuf};

use super::record::{ContainerConfig, NetworkMode};

/// The host's resolver configuration, which a container's starts from.
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// What the three files say.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EtcFiles {
    pub hostname: String,
    /// Docker's `--domainname`; empty for none.
    pub domain: String,
    /// /etc/hosts lines after the loopback ones, in order: the container's own addresses,
    /// `--add-host` entries, other containers.
    pub hosts: Vec<HostEntry>,
    pub resolv: ResolvConf,
}

/// One /etc/hosts line.
#[derive(Debug, Clone, PartialEq)]
pub struct HostEntry {
    pub address: String,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResolvConf {
    /// The host's file as it is: a container on the host's network resolves as the host does.
    Host(String),
    /// A file written for the container.
    Own(Dns),
}

impl Default for ResolvConf {
    fn default() -> Self {
        ResolvConf::Own(Dns::default())
    }
}

/// The resolver settings of a container with a network namespace of its own.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dns {
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Dns {
    /// The settings in a resolv.conf text. As the resolver reads it: the last `search` or
    /// `domain` line gives the search list, `options` lines add up.
    pub fn parse(text: &str) -> Dns {
        let mut dns = Dns::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => dns.nameservers.extend(words.next().map(str::to_owned)),
                Some("search" | "domain") => dns.search = words.map(str::to_owned).collect(),
                Some("options") => dns.options.extend(words.map(str::to_owned)),
                _ => {}
            }
        }
        dns
    }

    /// Without nameservers on the host's loopback (a local caching resolver), which a container
    /// with a network namespace of its own cannot reach.
    pub fn without_loopback_nameservers(mut self) -> Dns {
        self.nameservers.retain(|ns| !(ns.starts_with("127.") || ns == "::1"));
        self
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.search.is_empty() {
            out.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

impl EtcFiles {
    /// The files of a container with `config` before networking adds anything: its hostname,
    /// loopback, and the host's resolver (without its loopback nameservers unless the container
    /// is on the host's network).
    pub fn for_config(config: &ContainerConfig) -> EtcFiles {
        let host_resolv = std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
        let resolv = match config.network {
            NetworkMode::Host => ResolvConf::Host(host_resolv),
            NetworkMode::Private | NetworkMode::None | NetworkMode::Bridge => {
                ResolvConf::Own(Dns::parse(&host_resolv).without_loopback_nameservers())
            }
        };
        EtcFiles { hostname: config.hostname.clone(), domain: String::new(), hosts: Vec::new(), resolv }
    }

    /// `name.domain name`, or the name alone.
    fn own_names(&self) -> String {
        if self.domain.is_empty() {
            self.hostname.clone()
        } else {
            format!("{}.{} {}", self.hostname, self.domain, self.hostname)
        }
    }

    pub fn hosts_text(&self) -> String {
        let mut out = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for entry in &self.hosts {
            out.push_str(&format!("{}\t{}\n", entry.address, entry.names.join(" ")));
        }
        // Debian's convention for a name with no address of its own, so it still resolves.
        let named = self.hosts.iter().any(|e| e.names.contains(&self.hostname));
        if !named && !self.hostname.is_empty() {
            out.push_str(&format!("127.0.1.1\t{}\n", self.own_names()));
        }
        out
    }

    pub fn resolv_text(&self) -> String {
        match &self.resolv {
            ResolvConf::Host(text) => text.clone(),
            ResolvConf::Own(dns) => dns.render(),
        }
    }

    /// Writes the files into `dir` (the container's directory); returns (host file, container
    /// path) pairs for the sandbox to bind-mount.
    pub fn write(&self, dir: &Path) -> Result<Vec<(PathBuf, String)>, EtcFilesError> {
        let mut out = Vec::with_capacity(3);
        for (name, content, target) in [
            ("hostname", format!("{}\n", self.hostname), "/etc/hostname"),
            ("hosts", self.hosts_text(), "/etc/hosts"),
            ("resolv.conf", self.resolv_text(), "/etc/resolv.conf"),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, content).map_err(|source| EtcFilesError { path: path.clone(), source })?;
            out.push((path, target.to_owned()));
        }
        Ok(out)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("writing {}", path.display())]
pub struct EtcFilesError {
    path: PathBuf,
    source: io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# written by the installer\ndomain example.org\nsearch a.example b.example\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver ::1\noptions edns0\noptions ndots:2 timeout:1\n";

    #[test]
    fn a_private_namespace_keeps_the_hosts_settings_but_not_its_loopback_resolvers() {
        let dns = Dns::parse(HOST).without_loopback_nameservers();
        assert_eq!(dns.nameservers, ["10.0.0.1"]);
        assert_eq!(dns.search, ["a.example", "b.example"], "the last search/domain line wins");
        assert_eq!(dns.options, ["edns0", "ndots:2", "timeout:1"]);
        assert_eq!(dns.render(), "search a.example b.example\nnameserver 10.0.0.1\noptions edns0 ndots:2 timeout:1\n");
        assert_eq!(Dns::default().render(), "");
    }

    #[test]
    fn hosts_name_the_container_once() {
        let mut files = EtcFiles { hostname: "web".into(), ..Default::default() };
        assert_eq!(
            files.hosts_text(),
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tweb\n"
        );
        files.domain = "example.org".into();
        assert!(files.hosts_text().ends_with("127.0.1.1\tweb.example.org web\n"));
        // Networking gives the container an address of its own: that line names it instead.
        files.hosts = vec![
            HostEntry { address: "10.88.0.2".into(), names: vec!["web.example.org".into(), "web".into()] },
            HostEntry { address: "10.88.0.3".into(), names: vec!["db".into()] },
        ];
        let text = files.hosts_text();
        assert!(text.contains("10.88.0.2\tweb.example.org web\n10.88.0.3\tdb\n"), "{text}");
        assert!(!text.contains("127.0.1.1"), "{text}");
    }

    #[test]
    fn files_are_written_for_bind_mounting() {
        let dir = tempfile::tempdir().unwrap();
        let files = EtcFiles {
            hostname: "h1".into(),
            resolv: ResolvConf::Host("nameserver 127.0.0.53\n".into()),
            ..Default::default()
        };
        let written = files.write(dir.path()).unwrap();
        let targets: Vec<&str> = written.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(targets, ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]);
        assert_eq!(std::fs::read_to_string(dir.path().join("hostname")).unwrap(), "h1\n");
        // The host's network: the host's resolver, loopback and all.
        assert_eq!(std::fs::read_to_string(dir.path().join("resolv.conf")).unwrap(), "nameserver 127.0.0.53\n");
        let err = files.write(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing/hostname"), "{err}");
    }

    #[test]
    fn the_network_mode_chooses_the_resolver() {
        let host = EtcFiles::for_config(&ContainerConfig { network: NetworkMode::Host, ..Default::default() });
        assert!(matches!(host.resolv, ResolvConf::Host(_)));
        for mode in [NetworkMode::Private, NetworkMode::None] {
            let own = EtcFiles::for_config(&ContainerConfig { network: mode, ..Default::default() });
            let ResolvConf::Own(dns) = own.resolv else { panic!("{mode:?}: a file of its own") };
            assert!(dns.nameservers.iter().all(|ns| !ns.starts_with("127.")));
        }
    }
}
