//! The networking flags of `run` and `create`, kept together (flattened into `CreateArgs`).

use clap::Args;

use crate::container::net_config::NetFlags;

#[derive(Args, Debug, Clone, Default)]
pub struct NetworkArgs {
    /// Connect to a network: bridge (the default), none, host, or a network's name (repeatable)
    #[arg(long, alias = "net", value_name = "NETWORK")]
    pub network: Vec<String>,
    /// Add a network-scoped alias for the container (on its first network)
    #[arg(long, alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// Publish a container's port(s) to the host: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]
    #[arg(short = 'p', long, value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random host ports
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Expose a port or a range of ports (PORT[-PORT][/PROTO])
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,
    /// IPv4 address on the first network (e.g. 10.78.0.10)
    #[arg(long, value_name = "ADDRESS")]
    pub ip: Option<String>,
    /// IPv6 address on the first network
    #[arg(long, value_name = "ADDRESS")]
    pub ip6: Option<String>,
    /// MAC address on the first network (e.g. 02:42:0a:4e:00:0a)
    #[arg(long, value_name = "ADDRESS")]
    pub mac_address: Option<String>,
    /// Add a custom host-to-IP mapping (NAME:IP, or NAME:host-gateway)
    #[arg(long, value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_name = "ADDRESS")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long, alias = "dns-opt", value_name = "OPTION")]
    pub dns_option: Vec<String>,
    /// Container NIS domain name
    #[arg(long, value_name = "NAME")]
    pub domainname: Option<String>,
}

impl NetworkArgs {
    pub fn flags(&self) -> NetFlags {
        NetFlags {
            networks: self.network.clone(),
            aliases: self.network_alias.clone(),
            publish: self.publish.clone(),
            publish_all: self.publish_all,
            expose: self.expose.clone(),
            ip: self.ip.clone(),
            ip6: self.ip6.clone(),
            mac_address: self.mac_address.clone(),
            add_hosts: self.add_host.clone(),
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_option.clone(),
            domainname: self.domainname.clone(),
        }
    }
}
