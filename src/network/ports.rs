//! `-p/--publish`, `--expose` and `-P/--publish-all` in Docker's forms:
//!
//! ```text
//! [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]
//!   80                    container port 80, a random host port, every host address
//!   8080:80               host port 8080
//!   127.0.0.1:8080:80     only on 127.0.0.1;  [::1]:8080:80 with brackets for IPv6
//!   127.0.0.1::80         a random host port on 127.0.0.1
//!   8000-8010:8000-8010   ranges of equal length;  8000-8010:80 = one free port of the range
//!   8080:80/udp           tcp (default) or udp
//! ```
//!
//! The error texts are Docker's (`invalid hostPort: 99999`).

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("invalid IP address: {0}")]
    InvalidIp(String),
    #[error("no port specified: {0}<empty>")]
    NoPort(String),
    #[error("invalid containerPort: {0}")]
    InvalidContainerPort(String),
    #[error("invalid hostPort: {0}")]
    InvalidHostPort(String),
    #[error("invalid ranges specified for container and host Ports: {container} and {host}")]
    RangeMismatch { container: String, host: String },
    #[error("invalid proto: {0}")]
    InvalidProto(String),
    #[error("invalid proto: sctp (berth forwards tcp and udp only)")]
    Sctp,
    #[error("invalid range format for --expose: {0}")]
    InvalidExpose(String),
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    pub fn parse(text: &str) -> Result<Protocol, PortError> {
        match text.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Err(PortError::Sctp),
            _ => Err(PortError::InvalidProto(text.to_owned())),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `start..=end`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn single(port: u16) -> PortRange {
        PortRange { start: port, end: port }
    }

    pub fn len(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    pub fn ports(&self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }

    /// "80" or "8000-8010", as Docker's `ParsePortRange` (decimal, 0-65535, start ≤ end).
    fn parse(text: &str) -> Option<PortRange> {
        let number = |t: &str| -> Option<u16> {
            if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.parse().ok()
        };
        let range = match text.split_once('-') {
            Some((a, b)) => PortRange { start: number(a)?, end: number(b)? },
            None => PortRange::single(number(text)?),
        };
        (range.start <= range.end).then_some(range)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end { write!(f, "{}", self.start) } else { write!(f, "{}-{}", self.start, self.end) }
    }
}

/// One `-p` as given.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PublishSpec {
    /// None: every address of the host (IPv4 and IPv6).
    pub host_ip: Option<IpAddr>,
    /// None: a random free port for each container port. A range of one port's width more
    /// than the container's: one free port of the range.
    pub host_ports: Option<PortRange>,
    pub container_ports: PortRange,
    pub protocol: Protocol,
}

/// One published port once the host port is known: what reservation holds and the firewall
/// (or pasta) forwards.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortMapping {
    /// None: every host address.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    /// Docker's `docker port` line: "80/tcp -> 0.0.0.0:8080".
    pub fn describe(&self) -> String {
        let ip = match self.host_ip {
            None => "0.0.0.0".to_owned(),
            Some(IpAddr::V6(a)) => format!("[{a}]"),
            Some(a) => a.to_string(),
        };
        format!("{}/{} -> {ip}:{}", self.container_port, self.protocol, self.host_port)
    }
}

/// A port the container listens on (`--expose`, the image's EXPOSE), published by `-P`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExposedPorts {
    pub ports: PortRange,
    pub protocol: Protocol,
}

/// Splits `[ip:][host:]container` from the right, as Docker's `splitParts`: everything before
/// the last two colons is the IP.
fn split_parts(raw: &str) -> (&str, &str, &str) {
    let Some((rest, container)) = raw.rsplit_once(':') else { return ("", "", raw) };
    match rest.rsplit_once(':') {
        Some((ip, host)) => (ip, host, container),
        None => ("", rest, container),
    }
}

/// One `-p` value.
pub fn parse_publish(raw: &str) -> Result<PublishSpec, PortError> {
    let (ip, host, container) = split_parts(raw);
    let (container, proto) = container.split_once('/').unwrap_or((container, ""));
    let host_ip = if ip.is_empty() {
        None
    } else {
        let bare = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
        Some(bare.parse::<IpAddr>().map_err(|_| PortError::InvalidIp(ip.to_owned()))?)
    };
    if container.is_empty() {
        return Err(PortError::NoPort(raw.to_owned()));
    }
    let container_ports = PortRange::parse(container)
        .filter(|r| r.start > 0)
        .ok_or_else(|| PortError::InvalidContainerPort(container.to_owned()))?;
    let host_ports = if host.is_empty() {
        None
    } else {
        let range = PortRange::parse(host).ok_or_else(|| PortError::InvalidHostPort(host.to_owned()))?;
        // Port 0 asks for a random port, as in Docker.
        (range != PortRange::single(0)).then_some(range)
    };
    if let Some(h) = host_ports
        && h.len() != container_ports.len()
        && container_ports.len() != 1
    {
        return Err(PortError::RangeMismatch { container: container.to_owned(), host: host.to_owned() });
    }
    if host_ports.is_some_and(|h| h.start == 0) {
        return Err(PortError::InvalidHostPort(host.to_owned()));
    }
    Ok(PublishSpec { host_ip, host_ports, container_ports, protocol: Protocol::parse(proto)? })
}

/// One `--expose` value ("80", "80/udp", "8000-8010") or an image's EXPOSE key ("80/tcp").
pub fn parse_expose(raw: &str) -> Result<ExposedPorts, PortError> {
    let (ports, proto) = raw.split_once('/').unwrap_or((raw, ""));
    let ports =
        PortRange::parse(ports).filter(|r| r.start > 0).ok_or_else(|| PortError::InvalidExpose(raw.to_owned()))?;
    Ok(ExposedPorts { ports, protocol: Protocol::parse(proto)? })
}

/// `-P`: every exposed port to a random host port on every host address, skipping ports an
/// explicit `-p` already publishes (Docker's precedence).
pub fn publish_all(exposed: &[ExposedPorts], explicit: &[PublishSpec]) -> Vec<PublishSpec> {
    let taken = |port: u16, protocol: Protocol| {
        explicit.iter().any(|s| s.protocol == protocol && s.container_ports.ports().any(|p| p == port))
    };
    let mut out: Vec<PublishSpec> = Vec::new();
    for e in exposed {
        for port in e.ports.ports() {
            let spec = PublishSpec {
                host_ip: None,
                host_ports: None,
                container_ports: PortRange::single(port),
                protocol: e.protocol,
            };
            if !taken(port, e.protocol) && !out.contains(&spec) {
                out.push(spec);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ip: Option<&str>, host: Option<(u16, u16)>, container: (u16, u16), protocol: Protocol) -> PublishSpec {
        PublishSpec {
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_ports: host.map(|(start, end)| PortRange { start, end }),
            container_ports: PortRange { start: container.0, end: container.1 },
            protocol,
        }
    }

    #[test]
    fn every_docker_form() {
        use Protocol::*;
        let cases = [
            ("80", spec(None, None, (80, 80), Tcp)),
            ("8080:80", spec(None, Some((8080, 8080)), (80, 80), Tcp)),
            ("127.0.0.1:8080:80", spec(Some("127.0.0.1"), Some((8080, 8080)), (80, 80), Tcp)),
            ("[::1]:8080:80", spec(Some("::1"), Some((8080, 8080)), (80, 80), Tcp)),
            ("::1:8080:80", spec(Some("::1"), Some((8080, 8080)), (80, 80), Tcp)),
            ("8080:80/udp", spec(None, Some((8080, 8080)), (80, 80), Udp)),
            ("8080:80/TCP", spec(None, Some((8080, 8080)), (80, 80), Tcp)),
            ("8000-8010:8000-8010", spec(None, Some((8000, 8010)), (8000, 8010), Tcp)),
            ("9000-9010:8000-8010/udp", spec(None, Some((9000, 9010)), (8000, 8010), Udp)),
            ("8000-8010:80", spec(None, Some((8000, 8010)), (80, 80), Tcp)),
            ("127.0.0.1::80", spec(Some("127.0.0.1"), None, (80, 80), Tcp)),
            ("[::]::53/udp", spec(Some("::"), None, (53, 53), Udp)),
            ("0:80", spec(None, None, (80, 80), Tcp)),
            ("8000-8002", spec(None, None, (8000, 8002), Tcp)),
            ("65535:65535", spec(None, Some((65535, 65535)), (65535, 65535), Tcp)),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_publish(raw).as_ref(), Ok(&want), "{raw}");
        }
    }

    #[test]
    fn hostile_input_gets_dockers_errors() {
        let cases = [
            ("99999:80", "invalid hostPort: 99999"),
            ("80:99999", "invalid containerPort: 99999"),
            ("8080:0", "invalid containerPort: 0"),
            ("8080:", "no port specified: 8080:<empty>"),
            ("", "no port specified: <empty>"),
            ("1.2.3:8080:80", "invalid IP address: 1.2.3"),
            ("[::1:8080:80", "invalid IP address: [::1"),
            ("x:80", "invalid hostPort: x"),
            ("-1:80", "invalid hostPort: -1"),
            ("8010-8000:80", "invalid hostPort: 8010-8000"),
            ("8000-8010:8000-8005", "invalid ranges specified for container and host Ports: 8000-8005 and 8000-8010"),
            ("8080:80/icmp", "invalid proto: icmp"),
            ("8080:80/sctp", "invalid proto: sctp (berth forwards tcp and udp only)"),
            ("+80", "invalid containerPort: +80"),
            ("0-5:80", "invalid hostPort: 0-5"),
        ];
        for (raw, message) in cases {
            assert_eq!(parse_publish(raw).map_err(|e| e.to_string()), Err(message.to_owned()), "{raw}");
        }
    }

    #[test]
    fn expose_and_publish_all() {
        assert_eq!(parse_expose("80").unwrap(), ExposedPorts { ports: PortRange::single(80), protocol: Protocol::Tcp });
        assert_eq!(parse_expose("53/udp").unwrap().protocol, Protocol::Udp);
        assert_eq!(parse_expose("8000-8002/tcp").unwrap().ports.len(), 3);
        assert_eq!(parse_expose("x").unwrap_err().to_string(), "invalid range format for --expose: x");
        assert!(parse_expose("0").is_err() && parse_expose("80/foo").is_err());

        let exposed = [parse_expose("80/tcp").unwrap(), parse_expose("53/udp").unwrap(), parse_expose("80").unwrap()];
        let explicit = [parse_publish("8080:53/udp").unwrap()];
        let all = publish_all(&exposed, &explicit);
        assert_eq!(all, vec![spec(None, None, (80, 80), Protocol::Tcp)]);
    }

    #[test]
    fn mappings_print_like_docker_port() {
        let m = PortMapping { host_ip: None, host_port: 8080, container_port: 80, protocol: Protocol::Tcp };
        assert_eq!(m.describe(), "80/tcp -> 0.0.0.0:8080");
        let m = PortMapping { host_ip: Some("::1".parse().unwrap()), protocol: Protocol::Udp, ..m };
        assert_eq!(m.describe(), "80/udp -> [::1]:8080");
    }
}
