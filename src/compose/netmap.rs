//! A service's networking as the words of `run` (container::options' NetFlags) and, once those
//! are parsed, the per-network details a flag cannot say: each project network the container
//! joins gets the service name and the service's aliases as DNS names, and its own address.

use crate::container::create::CreateOptions;
use crate::container::net_config::NetFlags;

use super::engine::{EngineError, container_name};
use super::model::{Port, Project, Service};

type R<T> = Result<T, EngineError>;

/// The networks a service joins (network keys, the first gets the default route and the
/// published ports): by priority as compose-go sorts them, which without priorities is by key.
fn network_keys(s: &Service) -> Vec<&str> {
    s.networks.keys().map(String::as_str).collect()
}

/// `ports:` entry as `-p` text: `[ip:][published:]target/protocol`.
pub fn publish_text(p: &Port) -> String {
    let mut out = String::new();
    if let Some(ip) = p.host_ip.as_deref().filter(|ip| !ip.is_empty()) {
        if ip.contains(':') {
            out.push_str(&format!("[{ip}]:"));
        } else {
            out.push_str(&format!("{ip}:"));
        }
        out.push_str(p.published.as_deref().unwrap_or(""));
        out.push(':');
    } else if let Some(published) = p.published.as_deref().filter(|p| !p.is_empty()) {
        out.push_str(&format!("{published}:"));
    }
    out.push_str(&format!("{}/{}", p.target, p.protocol));
    out
}

/// The service's network keys as `run` flags. Rootless, where berth has no user networks yet,
/// a service that would join project networks gets what a rootless `run` gets (loopback).
pub fn flags(project: &Project, name: &str, s: &Service, rootless: bool) -> R<NetFlags> {
    let unsupported = |message: String| EngineError::Unsupported { service: name.into(), message };
    let networks = match s.network_mode.as_deref() {
        None if rootless => vec!["private".to_owned()],
        None => network_keys(s)
            .into_iter()
            .map(|key| {
                project.networks.get(key).map(|n| n.name.clone()).ok_or_else(|| {
                    unsupported(format!("joins network {key:?}, which the top-level networks do not define"))
                })
            })
            .collect::<R<Vec<String>>>()?,
        Some(mode) => match mode.strip_prefix("service:") {
            Some(other) => {
                let Some(target) = project.services.get(other) else {
                    return Err(unsupported(format!("network_mode {mode:?} names no service of the project")));
                };
                vec![format!("container:{}", container_name(project, other, target, 1))]
            }
            None => vec![mode.to_owned()],
        },
    };
    let on_project_networks = s.network_mode.is_none() && !rootless;
    Ok(NetFlags {
        networks,
        publish: if rootless { Vec::new() } else { s.ports.iter().map(publish_text).collect() },
        expose: s.expose.clone(),
        // The first network's address is set per network in `joins`; a mac_address is the
        // service's, given to the first network as --mac-address is.
        mac_address: if on_project_networks { s.mac_address.clone() } else { None },
        add_hosts: s.extra_hosts.clone(),
        dns: s.dns.clone(),
        dns_search: s.dns_search.clone(),
        dns_options: s.dns_opt.clone(),
        domainname: s.domainname.clone(),
        ..NetFlags::default()
    })
}

/// Each project network joined: the service name and its aliases as DNS names there, and the
/// addresses the file gives (checked as `--ip` is).
pub fn joins(project: &Project, name: &str, s: &Service, options: &mut CreateOptions) -> R<()> {
    if s.network_mode.is_some() {
        return Ok(());
    }
    let bad = |what: &str, value: &str| EngineError::Unsupported {
        service: name.into(),
        message: format!("invalid {what} {value:?}"),
    };
    for join in &mut options.net.networks {
        let Some(key) =
            network_keys(s).into_iter().find(|k| project.networks.get(*k).is_some_and(|n| n.name == join.network))
        else {
            continue;
        };
        if !join.aliases.iter().any(|a| a == name) {
            join.aliases.insert(0, name.to_owned());
        }
        let Some(Some(given)) = s.networks.get(key) else { continue };
        for alias in &given.aliases {
            if !join.aliases.contains(alias) {
                join.aliases.push(alias.clone());
            }
        }
        if let Some(ip) = &given.ipv4_address {
            join.ipv4 = Some(ip.parse().map_err(|_| bad("ipv4_address", ip))?);
        }
        if let Some(ip) = &given.ipv6_address {
            join.ipv6 = Some(ip.parse().map_err(|_| bad("ipv6_address", ip))?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(host_ip: Option<&str>, published: Option<&str>, target: u16, protocol: &str) -> Port {
        Port {
            mode: "ingress".into(),
            host_ip: host_ip.map(Into::into),
            target,
            published: published.map(Into::into),
            protocol: protocol.into(),
        }
    }

    #[test]
    fn ports_become_publish_flags() {
        assert_eq!(publish_text(&port(None, None, 80, "tcp")), "80/tcp");
        assert_eq!(publish_text(&port(None, Some("8080"), 80, "tcp")), "8080:80/tcp");
        assert_eq!(publish_text(&port(Some("127.0.0.1"), Some("8080"), 80, "udp")), "127.0.0.1:8080:80/udp");
        assert_eq!(publish_text(&port(Some("127.0.0.1"), None, 80, "tcp")), "127.0.0.1::80/tcp");
        assert_eq!(publish_text(&port(Some("::1"), Some("9000-9001"), 80, "tcp")), "[::1]:9000-9001:80/tcp");
    }
}
