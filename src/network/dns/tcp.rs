//! The responder's TCP side: clients (a two-byte length before each message, several queries
//! per connection), and for each forwarded TCP query a connection to the upstream (a reply
//! that did not fit UDP would not fit a UDP forward either). Everything non-blocking and
//! bounded: 16 clients, 8 queries in flight per client, messages of at most 64 KiB, idle
//! clients closed after 10 s.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrStorage, connect, socket};

use super::message::{self, RCODE_SERVFAIL};
use super::names::NameSource;
use super::server::{Client, Responder, Verdict};

const MAX_CLIENTS: usize = 16;
const MAX_IN_FLIGHT: usize = 8;
const IDLE: Duration = Duration::from_secs(10);
const MAX_FRAME: usize = 2 + 65535;

pub(super) struct TcpClient {
    token: u64,
    stream: TcpStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// The client closed its side: close ours once everything is answered.
    eof: bool,
    pub deadline: Instant,
}

impl TcpClient {
    pub fn poll(&self) -> (BorrowedFd<'_>, PollFlags) {
        let flags = if self.outbuf.is_empty() { PollFlags::POLLIN } else { PollFlags::POLLIN | PollFlags::POLLOUT };
        (self.stream.as_fd(), flags)
    }
}

/// A TCP connection to an upstream for one forwarded query.
pub(super) struct Uplink {
    pub pending: u16,
    stream: TcpStream,
    /// What is left to send (the framed query).
    out: Vec<u8>,
    inbuf: Vec<u8>,
    pub deadline: Instant,
}

impl Uplink {
    pub fn poll(&self) -> (BorrowedFd<'_>, PollFlags) {
        let flags = if self.out.is_empty() { PollFlags::POLLIN } else { PollFlags::POLLOUT };
        (self.stream.as_fd(), flags)
    }
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&u16::try_from(msg.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// Takes one whole framed message off the front of `buf`.
fn take_frame(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    if buf.len() < 2 + len {
        return None;
    }
    let msg = buf[2..2 + len].to_vec();
    buf.drain(..2 + len);
    Some(msg)
}

/// Reads what is there; Ok(true) at end of stream.
fn read_available(stream: &mut TcpStream, into: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                if into.len() + n > MAX_FRAME * 2 {
                    return Err(io::Error::from(io::ErrorKind::InvalidData));
                }
                into.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes what the socket takes now.
fn write_available(stream: &mut TcpStream, from: &mut Vec<u8>) -> io::Result<()> {
    while !from.is_empty() {
        match stream.write(from) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                from.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A non-blocking TCP connection to `addr`, under way.
fn connect_nonblocking(addr: SocketAddr) -> io::Result<TcpStream> {
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)?;
    match connect(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

impl<N: NameSource> Responder<N> {
    pub(super) fn accept(&mut self, now: Instant) {
        loop {
            let Ok((stream, _)) = self.tcp_listener().accept() else { return };
            if self.clients.len() >= MAX_CLIENTS || stream.set_nonblocking(true).is_err() {
                continue; // dropped: closed
            }
            self.next_token += 1;
            let client = TcpClient {
                token: self.next_token,
                stream,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                eof: false,
                deadline: now + IDLE,
            };
            self.clients.push(client);
        }
    }

    pub(super) fn tcp_ready(&mut self, fd: RawFd, now: Instant) {
        if let Some(at) = self.clients.iter().position(|c| c.stream.as_raw_fd() == fd) {
            let client = self.clients.swap_remove(at);
            if let Some(client) = self.serve_client(client, now) {
                self.clients.push(client);
            }
        } else if let Some(at) = self.uplinks.iter().position(|u| u.stream.as_raw_fd() == fd) {
            let uplink = self.uplinks.swap_remove(at);
            self.serve_uplink(uplink, now);
        }
    }

    fn in_flight(&self, token: u64) -> usize {
        self.pending.iter().filter(|p| p.client == Client::Tcp(token)).count()
    }

    /// Reads, answers and writes what it can; None once the client is done with.
    fn serve_client(&mut self, mut client: TcpClient, now: Instant) -> Option<TcpClient> {
        client.deadline = now + IDLE;
        match read_available(&mut client.stream, &mut client.inbuf) {
            Ok(eof) => client.eof |= eof,
            Err(_) => return None,
        }
        while let Some(msg) = take_frame(&mut client.inbuf) {
            match self.verdict(&msg) {
                Verdict::Reply(reply) => client.outbuf.extend(frame(&reply)),
                Verdict::Forward if self.in_flight(client.token) >= MAX_IN_FLIGHT => {
                    if let Some(reply) = message::error_without_question(&msg, RCODE_SERVFAIL) {
                        client.outbuf.extend(frame(&reply));
                    }
                }
                Verdict::Forward => self.forward(msg, Client::Tcp(client.token), now),
                Verdict::Drop => {}
            }
        }
        if write_available(&mut client.stream, &mut client.outbuf).is_err() {
            return None;
        }
        let done = client.eof && client.outbuf.is_empty() && self.in_flight(client.token) == 0;
        let stuck = client.inbuf.len() >= MAX_FRAME && take_frame(&mut client.inbuf.clone()).is_none();
        (!done && !stuck).then_some(client)
    }

    pub(super) fn queue_tcp_reply(&mut self, token: u64, reply: &[u8]) {
        if let Some(at) = self.clients.iter().position(|c| c.token == token) {
            let client = &mut self.clients[at];
            client.outbuf.extend(frame(reply));
            if write_available(&mut client.stream, &mut client.outbuf).is_err() {
                self.clients.swap_remove(at);
            }
        }
    }

    /// Opens a TCP connection to `addr` for pending query `id`; false if it cannot even start.
    pub(super) fn start_uplink(&mut self, id: u16, addr: SocketAddr, now: Instant) -> bool {
        let Some(query) = self.pending.iter().find(|p| p.id == id).map(|p| frame(&p.query)) else { return false };
        // On a thread in the upstreams' namespace: the loop may run anywhere.
        let stream = crate::sandbox::netns::in_netns(self.upstream_netns(), || connect_nonblocking(addr))
            .ok()
            .and_then(Result::ok);
        let Some(stream) = stream else { return false };
        self.uplinks.retain(|u| u.pending != id);
        self.uplinks.push(Uplink {
            pending: id,
            stream,
            out: query,
            inbuf: Vec::new(),
            deadline: now + super::server::UPSTREAM_TIMEOUT,
        });
        true
    }

    fn serve_uplink(&mut self, mut uplink: Uplink, now: Instant) {
        let id = uplink.pending;
        if !uplink.out.is_empty() {
            let failed = matches!(uplink.stream.take_error(), Ok(Some(_)) | Err(_))
                || write_available(&mut uplink.stream, &mut uplink.out).is_err();
            if failed {
                self.fail_over(id, now);
            } else {
                self.uplinks.push(uplink);
            }
            return;
        }
        let eof = match read_available(&mut uplink.stream, &mut uplink.inbuf) {
            Ok(eof) => eof,
            Err(_) => {
                self.fail_over(id, now);
                return;
            }
        };
        match take_frame(&mut uplink.inbuf) {
            Some(reply) if message::id(&reply) == Some(id) => self.upstream_reply(id, reply, now),
            Some(_) => self.fail_over(id, now),
            None if eof => self.fail_over(id, now),
            None => self.uplinks.push(uplink),
        }
    }

    pub(super) fn expire_tcp(&mut self, now: Instant) {
        let idle: Vec<u64> = self.clients.iter().filter(|c| c.deadline <= now).map(|c| c.token).collect();
        for token in idle {
            if self.in_flight(token) == 0 {
                self.clients.retain(|c| c.token != token);
            }
        }
    }
}
