//! The embedded DNS responder of one container, made to live in its supervisor's poll loop:
//! non-blocking sockets, no threads, no runtime. It listens on 127.0.0.11 in the container's
//! network namespace (UDP and TCP, at ports the kernel picked; `firewall::dns` sends port 53
//! there), answers the names of the containers on its networks (A, AAAA, PTR) and forwards
//! everything else, id rewritten, to upstream servers: the host's, from the host's namespace
//! (so a loopback server such as systemd-resolved's 127.0.0.53 works), or `--dns` ones from the
//! container's. An upstream that times out (4 s), fails (SERVFAIL) or refuses is followed by
//! the next; after the last the client gets SERVFAIL. TCP queries are forwarded over TCP (see
//! `tcp`).
//!
//! The supervisor's loop calls [`Responder::poll_fds`], then [`Responder::ready`] for each fd
//! that polled ready, and [`Responder::expire`] when [`Responder::deadline`] has passed.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use super::message::{
    self, CLASS_IN, RCODE_FORMERR, RCODE_NOERROR, RCODE_NOTIMP, RCODE_REFUSED, RCODE_SERVFAIL, Record, TYPE_A,
    TYPE_AAAA, TYPE_ANY, TYPE_PTR,
};
use super::names::NameSource;
use super::tcp::{TcpClient, Uplink};
use crate::network::firewall::dns::RESOLVER_ADDR;

/// How long one upstream gets to answer (Docker's figure).
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);
/// Queries forwarded and not yet answered, at most (more get SERVFAIL at once).
pub const MAX_PENDING: usize = 256;
/// Names of containers change as containers come and go: answers are not to be cached.
pub const TTL: u32 = 0;
/// The largest UDP message read (a forwarded EDNS reply may exceed 512 bytes).
const UDP_BUFFER: usize = 16 * 1024;
/// Datagrams handled per readiness, so one busy socket cannot starve the supervisor's loop.
const BATCH: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    #[error("entering the container's network namespace: {0}")]
    Netns(nix::errno::Errno),
    #[error("binding the DNS responder to {addr}: {error}")]
    Bind { addr: String, error: io::Error },
    #[error("duplicating the container's network namespace fd: {0}")]
    Dup(io::Error),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponderConfig {
    /// Where unknown names go, in order; none (internal networks): the client gets REFUSED.
    pub upstreams: Vec<SocketAddr>,
    /// Query the upstreams from the container's namespace (`--dns`), not the caller's.
    pub upstreams_in_container: bool,
}

/// Who asked a forwarded query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Client {
    Udp(SocketAddr),
    Tcp(u64),
}

#[derive(Debug)]
pub(super) struct Pending {
    pub id: u16,
    pub client: Client,
    pub client_id: u16,
    /// The query with our id.
    pub query: Vec<u8>,
    pub upstream: usize,
    pub deadline: Instant,
}

/// What to do with a query.
pub(super) enum Verdict {
    Reply(Vec<u8>),
    Forward,
    Drop,
}

pub struct Responder<N: NameSource> {
    udp: UdpSocket,
    tcp: TcpListener,
    upstream_v4: Option<UdpSocket>,
    upstream_v6: Option<UdpSocket>,
    /// Where TCP connections to upstreams are made: the container's namespace for `--dns`
    /// servers, else the one the responder was bound from.
    upstream_netns: OwnedFd,
    pub(super) config: ResponderConfig,
    names: N,
    pub(super) pending: Vec<Pending>,
    pub(super) clients: Vec<TcpClient>,
    pub(super) uplinks: Vec<Uplink>,
    pub(super) next_token: u64,
    buf: Vec<u8>,
}

fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, ResponderError> {
    let socket = UdpSocket::bind(addr).map_err(|error| ResponderError::Bind { addr: addr.to_string(), error })?;
    socket.set_nonblocking(true).map_err(|error| ResponderError::Bind { addr: addr.to_string(), error })?;
    Ok(socket)
}

fn upstream_sockets(upstreams: &[SocketAddr]) -> Result<(Option<UdpSocket>, Option<UdpSocket>), ResponderError> {
    let v4 = upstreams
        .iter()
        .any(SocketAddr::is_ipv4)
        .then(|| bind_udp(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)))
        .transpose()?;
    let v6 = upstreams
        .iter()
        .any(SocketAddr::is_ipv6)
        .then(|| bind_udp(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)))
        .transpose()?;
    Ok((v4, v6))
}

impl<N: NameSource> Responder<N> {
    /// Binds the responder's listening sockets in `container_netns`; its upstream sockets are
    /// made in the caller's namespace (the host's, for the supervisor), or in the container's
    /// with `upstreams_in_container`.
    pub fn bind(container_netns: OwnedFd, config: ResponderConfig, names: N) -> Result<Responder<N>, ResponderError> {
        let listen = SocketAddr::new(IpAddr::V4(RESOLVER_ADDR), 0);
        let in_container = config.upstreams_in_container;
        let upstreams = config.upstreams.clone();
        let (udp, tcp, inside) = crate::sandbox::netns::in_netns(container_netns.as_fd(), || {
            let udp = bind_udp(listen)?;
            let tcp =
                TcpListener::bind(listen).map_err(|error| ResponderError::Bind { addr: listen.to_string(), error })?;
            tcp.set_nonblocking(true).map_err(|error| ResponderError::Bind { addr: listen.to_string(), error })?;
            let inside = if in_container { Some(upstream_sockets(&upstreams)?) } else { None };
            Ok::<_, ResponderError>((udp, tcp, inside))
        })
        .map_err(ResponderError::Netns)??;
        let (upstream_v4, upstream_v6) = match inside {
            Some(sockets) => sockets,
            None => upstream_sockets(&config.upstreams)?,
        };
        let upstream_netns = if in_container {
            container_netns
        } else {
            crate::sandbox::netns::open_own_netns()
                .map_err(|e| ResponderError::Netns(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))))?
        };
        Ok(Responder {
            udp,
            tcp,
            upstream_v4,
            upstream_v6,
            upstream_netns,
            config,
            names,
            pending: Vec::new(),
            clients: Vec::new(),
            uplinks: Vec::new(),
            next_token: 0,
            buf: vec![0u8; UDP_BUFFER],
        })
    }

    /// The UDP and TCP ports the responder listens on at 127.0.0.11 (for the DNAT rules).
    pub fn ports(&self) -> (u16, u16) {
        let port = |a: io::Result<SocketAddr>| a.map(|a| a.port()).unwrap_or(0);
        (port(self.udp.local_addr()), port(self.tcp.local_addr()))
    }

    /// The fds to poll and for what.
    pub fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        let mut fds = vec![(self.udp.as_fd(), PollFlags::POLLIN), (self.tcp.as_fd(), PollFlags::POLLIN)];
        fds.extend(self.upstream_v4.iter().chain(&self.upstream_v6).map(|s| (s.as_fd(), PollFlags::POLLIN)));
        fds.extend(self.clients.iter().map(TcpClient::poll));
        fds.extend(self.uplinks.iter().map(Uplink::poll));
        fds
    }

    /// Handles readiness of `fd` (one of [`Responder::poll_fds`]).
    pub fn ready(&mut self, fd: RawFd, now: Instant) {
        if fd == self.udp.as_raw_fd() {
            self.read_clients(now);
        } else if fd == self.tcp.as_raw_fd() {
            self.accept(now);
        } else if self.upstream_v4.as_ref().is_some_and(|s| s.as_raw_fd() == fd) {
            self.read_upstream(false, now);
        } else if self.upstream_v6.as_ref().is_some_and(|s| s.as_raw_fd() == fd) {
            self.read_upstream(true, now);
        } else {
            self.tcp_ready(fd, now);
        }
    }

    /// The earliest time [`Responder::expire`] has work.
    pub fn deadline(&self) -> Option<Instant> {
        let pending = self.pending.iter().map(|p| p.deadline);
        let clients = self.clients.iter().map(|c| c.deadline);
        let uplinks = self.uplinks.iter().map(|u| u.deadline);
        pending.chain(clients).chain(uplinks).min()
    }

    /// Moves timed-out queries to the next upstream (or fails them) and drops idle TCP clients.
    pub fn expire(&mut self, now: Instant) {
        let due: Vec<u16> = self.pending.iter().filter(|p| p.deadline <= now).map(|p| p.id).collect();
        for id in due {
            self.uplinks.retain(|u| u.pending != id);
            self.fail_over(id, now);
        }
        self.expire_tcp(now);
    }

    /// The answer to `msg`, from the names this container can see.
    pub(super) fn verdict(&mut self, msg: &[u8]) -> Verdict {
        let query = match message::parse_query(msg) {
            Ok(q) => q,
            Err(message::MessageError::NotQuery) => return Verdict::Drop,
            Err(_) => {
                return message::error_without_question(msg, RCODE_FORMERR).map_or(Verdict::Drop, Verdict::Reply);
            }
        };
        if query.opcode() != 0 {
            return Verdict::Reply(message::response(&query, msg, RCODE_NOTIMP, &[], TTL));
        }
        let table = self.names.table();
        if query.qclass == CLASS_IN || query.qclass == TYPE_ANY {
            if query.qtype == TYPE_PTR
                && let Some(name) = message::parse_reverse_name(&query.name).and_then(|a| table.reverse(a))
            {
                let records = [Record::Ptr(name.to_owned())];
                return Verdict::Reply(message::response(&query, msg, RCODE_NOERROR, &records, TTL));
            }
            if let Some(addrs) = table.lookup(&query.name) {
                let records: Vec<Record> = addrs
                    .iter()
                    .filter_map(|a| match (a, query.qtype) {
                        (IpAddr::V4(v4), TYPE_A | TYPE_ANY) => Some(Record::A(*v4)),
                        (IpAddr::V6(v6), TYPE_AAAA | TYPE_ANY) => Some(Record::Aaaa(*v6)),
                        _ => None,
                    })
                    .collect();
                // A name that exists without records of the asked type: NOERROR, no answers.
                return Verdict::Reply(message::response(&query, msg, RCODE_NOERROR, &records, TTL));
            }
        }
        if self.config.upstreams.is_empty() {
            return Verdict::Reply(message::response(&query, msg, RCODE_REFUSED, &[], TTL));
        }
        Verdict::Forward
    }

    fn read_clients(&mut self, now: Instant) {
        for _ in 0..BATCH {
            let (n, from) = match self.udp.recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let msg = self.buf[..n].to_vec();
            match self.verdict(&msg) {
                Verdict::Reply(reply) => {
                    let _ = self.udp.send_to(&reply, from);
                }
                Verdict::Forward => self.forward(msg, Client::Udp(from), now),
                Verdict::Drop => {}
            }
        }
    }

    fn fresh_id(&self) -> u16 {
        loop {
            let id: u16 = rand::random();
            if !self.pending.iter().any(|p| p.id == id) {
                return id;
            }
        }
    }

    /// Sends `msg` on to the first upstream and remembers whom to answer.
    pub(super) fn forward(&mut self, mut msg: Vec<u8>, client: Client, now: Instant) {
        let Some(client_id) = message::id(&msg) else { return };
        if self.pending.len() >= MAX_PENDING {
            self.deliver(client, message::error_without_question(&msg, RCODE_SERVFAIL));
            return;
        }
        let id = self.fresh_id();
        message::set_id(&mut msg, id);
        self.pending.push(Pending { id, client, client_id, query: msg, upstream: 0, deadline: now });
        self.send_upstream(id, 0, now);
    }

    /// Sends pending query `id` to upstream `index` or later ones; fails it when none is left.
    fn send_upstream(&mut self, id: u16, mut index: usize, now: Instant) {
        while index < self.config.upstreams.len() {
            let addr = self.config.upstreams[index];
            let Some(p) = self.pending.iter_mut().find(|p| p.id == id) else { return };
            p.upstream = index;
            p.deadline = now + UPSTREAM_TIMEOUT;
            let sent = match p.client {
                Client::Tcp(_) => self.start_uplink(id, addr, now),
                Client::Udp(_) => {
                    let socket = if addr.is_ipv4() { &self.upstream_v4 } else { &self.upstream_v6 };
                    socket.as_ref().is_some_and(|s| s.send_to(&p.query, addr).is_ok())
                }
            };
            if sent {
                return;
            }
            index += 1;
        }
        self.finish(id, None);
    }

    /// The next upstream for `id`, or SERVFAIL.
    pub(super) fn fail_over(&mut self, id: u16, now: Instant) {
        let Some(p) = self.pending.iter().find(|p| p.id == id) else { return };
        let next = p.upstream + 1;
        self.send_upstream(id, next, now);
    }

    /// A reply (or, None, a failure) for pending query `id`.
    pub(super) fn finish(&mut self, id: u16, reply: Option<Vec<u8>>) {
        let Some(at) = self.pending.iter().position(|p| p.id == id) else { return };
        let p = self.pending.swap_remove(at);
        let reply = match reply {
            Some(mut reply) => {
                message::set_id(&mut reply, p.client_id);
                Some(reply)
            }
            None => {
                let mut query = p.query;
                message::set_id(&mut query, p.client_id);
                message::parse_query(&query)
                    .ok()
                    .map(|q| message::response(&q, &query, RCODE_SERVFAIL, &[], TTL))
                    .or_else(|| message::error_without_question(&query, RCODE_SERVFAIL))
            }
        };
        self.deliver(p.client, reply);
    }

    /// An upstream's reply to pending `id`: passed on, unless it is a failure another
    /// upstream may not have.
    pub(super) fn upstream_reply(&mut self, id: u16, reply: Vec<u8>, now: Instant) {
        let failed = matches!(message::response_rcode(&reply), Some(RCODE_SERVFAIL | RCODE_REFUSED));
        let more =
            self.pending.iter().find(|p| p.id == id).is_some_and(|p| p.upstream + 1 < self.config.upstreams.len());
        if failed && more {
            self.fail_over(id, now);
        } else {
            self.finish(id, Some(reply));
        }
    }

    fn deliver(&mut self, client: Client, reply: Option<Vec<u8>>) {
        let Some(reply) = reply else { return };
        match client {
            Client::Udp(addr) => {
                let _ = self.udp.send_to(&reply, addr);
            }
            Client::Tcp(token) => self.queue_tcp_reply(token, &reply),
        }
    }

    fn read_upstream(&mut self, v6: bool, now: Instant) {
        for _ in 0..BATCH {
            let socket = if v6 { &self.upstream_v6 } else { &self.upstream_v4 };
            let Some(socket) = socket else { return };
            let (n, from) = match socket.recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let reply = self.buf[..n].to_vec();
            let Some(id) = message::id(&reply) else { continue };
            // Only the server it was sent to may answer a query (no spoofed replies from others).
            let expected = self.pending.iter().find(|p| p.id == id).map(|p| self.config.upstreams[p.upstream]);
            if expected == Some(from) && message::response_rcode(&reply).is_some() {
                self.upstream_reply(id, reply, now);
            }
        }
    }

    pub(super) fn upstream_netns(&self) -> BorrowedFd<'_> {
        self.upstream_netns.as_fd()
    }

    pub(super) fn tcp_listener(&self) -> &TcpListener {
        &self.tcp
    }
}
